"""Events published by the campaign service.

``campaign.events`` carries campaign, post and phase changes keyed by campaign (posts by
post id); ``campaign.round-closures`` carries one :class:`RoundClosed` per (specialty,
region) partition so that several matching workers share a round.
"""

from __future__ import annotations

import uuid
from datetime import datetime
from typing import ClassVar, Literal

from pydantic import Field

from appariement.common.events.base import IntegrationEvent, PartitionScoped
from appariement.common.events.topics import CAMPAIGN_EVENTS, ROUND_CLOSURES

Phase = Literal["preparation", "wishes", "ranking", "matching", "results"]


class CampaignEvent(IntegrationEvent):
    source: ClassVar[str] = "campaign"
    topic: ClassVar[str] = CAMPAIGN_EVENTS.name
    key_field: ClassVar[str] = "campaign_id"

    campaign_id: uuid.UUID


class CampaignOpened(CampaignEvent):
    event_type: ClassVar[str] = "CampaignOpened"

    name: str
    opens_at: datetime
    closes_at: datetime


class CampaignClosed(CampaignEvent):
    event_type: ClassVar[str] = "CampaignClosed"

    closed_at: datetime


class PostPublished(CampaignEvent):
    """A post (training site + places) open in a round; keyed by post."""

    event_type: ClassVar[str] = "PostPublished"
    key_field: ClassVar[str] = "post_id"

    post_id: uuid.UUID
    round_number: int = Field(ge=1, le=3)
    training_site_id: uuid.UUID
    supervisor_id: uuid.UUID | None = None
    specialty_code: str
    region_code: str
    subdivision_code: str
    places: int = Field(ge=0)


class PhaseOpened(CampaignEvent):
    event_type: ClassVar[str] = "PhaseOpened"

    round_number: int = Field(ge=1, le=3)
    phase: Phase
    opens_at: datetime
    closes_at: datetime


class PhaseClosed(CampaignEvent):
    event_type: ClassVar[str] = "PhaseClosed"

    round_number: int = Field(ge=1, le=3)
    phase: Phase
    closed_at: datetime


class RoundClosed(PartitionScoped):
    """Wishes and rankings of one partition are closed: matching may run once frozen."""

    event_type: ClassVar[str] = "RoundClosed"
    source: ClassVar[str] = "campaign"
    topic: ClassVar[str] = ROUND_CLOSURES.name

    closed_at: datetime
