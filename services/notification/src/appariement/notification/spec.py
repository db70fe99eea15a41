"""How the runner starts the notification service: its settings, routers and workers."""

from appariement.common.service import ServiceSpec
from appariement.notification.api.app import routers
from appariement.notification.config import Settings

SPEC = ServiceSpec(
    name="notification",
    title="Appariement — notifications (e-mails)",
    settings_class=Settings,
    routers=routers,
)
