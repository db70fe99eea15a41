"""How the runner starts the matching service: its settings, routers and workers."""

from appariement.common.service import ServiceSpec
from appariement.matching.api.app import routers
from appariement.matching.config import Settings

SPEC = ServiceSpec(
    name="matching",
    title="Appariement — appariement (calculs, affectations, publication)",
    settings_class=Settings,
    routers=routers,
)
