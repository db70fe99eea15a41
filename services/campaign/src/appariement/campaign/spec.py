"""How the runner starts the campaign service: its settings, routers and workers."""

from appariement.campaign.api.app import routers
from appariement.campaign.config import Settings
from appariement.common.service import ServiceSpec

SPEC = ServiceSpec(
    name="campaign",
    title="Appariement — campagnes (référentiel, postes, tours, calendrier)",
    settings_class=Settings,
    routers=routers,
)
