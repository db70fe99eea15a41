"""Events published by the matching service (topic ``matching.events``, key: partition)."""

from __future__ import annotations

import uuid
from datetime import datetime
from typing import ClassVar

from pydantic import BaseModel, ConfigDict, Field

from appariement.common.events.base import PartitionScoped
from appariement.common.events.topics import MATCHING_EVENTS


class MatchingEvent(PartitionScoped):
    source: ClassVar[str] = "matching"
    topic: ClassVar[str] = MATCHING_EVENTS.name


class MatchingCompleted(MatchingEvent):
    """A run finished for one partition; its assignments are not public yet."""

    event_type: ClassVar[str] = "MatchingCompleted"

    run_id: uuid.UUID
    assigned_count: int = Field(ge=0)
    unassigned_count: int = Field(ge=0)
    completed_at: datetime


class Assignment(BaseModel):
    model_config = ConfigDict(frozen=True)

    candidate_id: uuid.UUID
    post_id: uuid.UUID | None
    """None: the candidate is not assigned in this round."""


class AffectationsPublished(MatchingEvent):
    """The coordinator published the results of a partition; candidates may see them."""

    event_type: ClassVar[str] = "AffectationsPublished"

    run_id: uuid.UUID
    assignments: list[Assignment]
    published_at: datetime
