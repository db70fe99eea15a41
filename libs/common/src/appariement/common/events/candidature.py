"""Events published by the candidature service (topic ``candidature.events``).

All are keyed by matching partition (campaign, round, specialty, region), so the
:class:`CandidaturesFrozen` of a partition follows all its wishes and rankings on the same
Kafka partition; its counts and checksums let matching check it has every one of them.
"""

from __future__ import annotations

import hashlib
import uuid
from collections.abc import Iterable
from datetime import datetime
from typing import ClassVar

from pydantic import BaseModel, ConfigDict, Field

from appariement.common.events.base import PartitionScoped
from appariement.common.events.topics import CANDIDATURE_EVENTS


class CandidatureEvent(PartitionScoped):
    source: ClassVar[str] = "candidature"
    topic: ClassVar[str] = CANDIDATURE_EVENTS.name


class Wish(BaseModel):
    model_config = ConfigDict(frozen=True)

    post_id: uuid.UUID
    hearts: int = Field(ge=0, le=5)
    """0 = never, 5 = most wanted; ties allowed."""


class RankEntry(BaseModel):
    model_config = ConfigDict(frozen=True)

    candidate_id: uuid.UUID
    rank: int = Field(ge=1)
    """1 = best; ties allowed. Refused applicants are not listed."""


class WishesSubmitted(CandidatureEvent):
    """The candidate's complete current wish list (replaces any earlier one)."""

    event_type: ClassVar[str] = "WishesSubmitted"

    candidate_id: uuid.UUID
    wishes: list[Wish]


class RankingSubmitted(CandidatureEvent):
    """The supervisor's complete current ranking of one post (replaces any earlier one)."""

    event_type: ClassVar[str] = "RankingSubmitted"

    post_id: uuid.UUID
    supervisor_id: uuid.UUID
    ranks: list[RankEntry]


class CandidaturesFrozen(CandidatureEvent):
    """No more wishes or rankings for the partition; what matching must have received.

    ``wishes_count`` candidates and ``rankings_count`` posts are in the partition; the
    checksums are :func:`submission_checksum` of the envelope ids of the latest
    :class:`WishesSubmitted` per candidate and :class:`RankingSubmitted` per post.
    Candidates left out (below the minimum number of wishes) are excluded from both.
    """

    event_type: ClassVar[str] = "CandidaturesFrozen"

    wishes_count: int = Field(ge=0)
    rankings_count: int = Field(ge=0)
    wishes_checksum: str
    rankings_checksum: str
    excluded_candidate_ids: list[uuid.UUID] = Field(default_factory=list)
    frozen_at: datetime


def submission_checksum(event_ids: Iterable[uuid.UUID | str]) -> str:
    """Order-independent SHA-256 of a set of event ids (hex); both sides compute it alike."""
    digest = hashlib.sha256()
    for event_id in sorted({str(e) for e in event_ids}):
        digest.update(event_id.encode())
        digest.update(b"\n")
    return digest.hexdigest()
