"""How the runner starts the identity service: its settings, routers and workers."""

from appariement.common.service import ServiceSpec
from appariement.identity.api.app import routers
from appariement.identity.config import Settings

SPEC = ServiceSpec(
    name="identity",
    title="Appariement — identité (personnes, e-mails, rôles, liens de connexion)",
    settings_class=Settings,
    routers=routers,
)
