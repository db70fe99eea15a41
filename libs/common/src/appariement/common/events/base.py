"""The base of every integration event payload.

An integration event is a service's public contract: frozen, versioned, changed only
additively (a breaking change is a new ``version``). Consumers ignore fields they do not
know yet, so a producer may add one before its consumers are redeployed.
"""

from __future__ import annotations

import uuid
from typing import ClassVar

from pydantic import BaseModel, ConfigDict, Field


class IntegrationEvent(BaseModel):
    """Payload of one event type; the class carries where and how it is published."""

    model_config = ConfigDict(frozen=True, extra="ignore")

    event_type: ClassVar[str]
    """Name on the wire (past tense, e.g. ``WishesSubmitted``)."""
    version: ClassVar[int] = 1
    topic: ClassVar[str]
    """Topic name, declared in :mod:`appariement.common.events.topics`."""
    source: ClassVar[str]
    """The producing service."""
    key_field: ClassVar[str]
    """Payload field whose value is the Kafka key: one aggregate's events stay in order."""

    def kafka_key(self) -> str:
        """The Kafka key; override when the key is built from several fields."""
        return str(getattr(self, self.key_field))


def partition_key(campaign_id: object, round_number: int, specialty_code: str, region: str) -> str:
    """Key of one matching partition: a round of a campaign for one (specialty, region)."""
    return f"{campaign_id}:{round_number}:{specialty_code}:{region}"


class PartitionScoped(IntegrationEvent):
    """An event about one matching partition, keyed by it.

    Wishes, rankings, the freeze and the results of one partition share the key, so they
    land on one Kafka partition in order: a consumer sees every wish and ranking of a
    partition before its freeze event.
    """

    campaign_id: uuid.UUID
    round_number: int = Field(ge=1, le=3)
    specialty_code: str
    region_code: str

    def kafka_key(self) -> str:
        return partition_key(
            self.campaign_id, self.round_number, self.specialty_code, self.region_code
        )
