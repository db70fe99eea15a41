"""How the runner starts the candidature service: its settings, routers and workers."""

from appariement.candidature.api.app import routers
from appariement.candidature.config import Settings
from appariement.common.service import ServiceSpec

SPEC = ServiceSpec(
    name="candidature",
    title="Appariement — candidatures (dossiers, vœux, classements)",
    settings_class=Settings,
    routers=routers,
)
