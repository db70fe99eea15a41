"""The one envelope every event travels in, as JSON bytes on the wire."""

from __future__ import annotations

import json
import uuid
from datetime import UTC, datetime
from typing import Any

from pydantic import AwareDatetime, BaseModel, ConfigDict, Field, ValidationError, field_validator

from appariement.common.events.base import IntegrationEvent


class EnvelopeError(ValueError):
    """Bytes that are not a valid envelope (bad JSON, missing or ill-typed fields)."""


def _utcnow() -> datetime:
    return datetime.now(UTC)


class EventEnvelope(BaseModel):
    """Metadata common to all events plus the payload as plain JSON data.

    ``correlation_id`` follows one user action from the HTTP request through every event
    it causes; ``causation_id`` is the id of the event (or request) that directly caused
    this one.
    """

    model_config = ConfigDict(frozen=True, extra="ignore")

    id: uuid.UUID = Field(default_factory=uuid.uuid4)
    type: str
    version: int
    source: str
    occurred_at: AwareDatetime = Field(default_factory=_utcnow)
    key: str | None = None
    correlation_id: str | None = None
    causation_id: str | None = None
    data: dict[str, Any]

    @field_validator("occurred_at")
    @classmethod
    def _as_utc(cls, value: datetime) -> datetime:
        return value.astimezone(UTC)

    @classmethod
    def wrap(
        cls,
        event: IntegrationEvent,
        *,
        correlation_id: str | None = None,
        causation_id: str | None = None,
        source: str | None = None,
        event_id: uuid.UUID | None = None,
        occurred_at: datetime | None = None,
    ) -> EventEnvelope:
        """Envelope a payload; a new event starts its own correlation when given none."""
        new_id = event_id or uuid.uuid4()
        return cls(
            id=new_id,
            type=event.event_type,
            version=event.version,
            source=source or event.source,
            occurred_at=occurred_at or _utcnow(),
            key=event.kafka_key(),
            correlation_id=correlation_id or str(new_id),
            causation_id=causation_id,
            data=event.model_dump(mode="json"),
        )

    def caused(self, event: IntegrationEvent, *, source: str | None = None) -> EventEnvelope:
        """Envelope an event caused by this one: same correlation, causation = this id."""
        return EventEnvelope.wrap(
            event,
            correlation_id=self.correlation_id or str(self.id),
            causation_id=str(self.id),
            source=source,
        )

    def to_bytes(self) -> bytes:
        return self.model_dump_json().encode()

    @classmethod
    def from_bytes(cls, raw: bytes | None) -> EventEnvelope:
        """Parse wire bytes; any defect raises :class:`EnvelopeError` with the reason."""
        if raw is None:
            raise EnvelopeError("empty message (tombstone)")
        try:
            decoded = json.loads(raw)
        except (UnicodeDecodeError, json.JSONDecodeError) as exc:
            raise EnvelopeError(f"not JSON: {exc}") from exc
        if not isinstance(decoded, dict):
            raise EnvelopeError("not a JSON object")
        try:
            return cls.model_validate(decoded)
        except ValidationError as exc:
            raise EnvelopeError(f"invalid envelope: {exc}") from exc
