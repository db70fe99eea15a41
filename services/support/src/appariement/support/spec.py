"""How the runner starts the support service: its settings, routers and workers."""

from appariement.common.service import ServiceSpec
from appariement.support.api.app import routers
from appariement.support.config import Settings

SPEC = ServiceSpec(
    name="support",
    title="Appariement — support (tickets)",
    settings_class=Settings,
    routers=routers,
)
