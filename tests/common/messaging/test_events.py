"""Envelope and registry: pure behaviour, no servers."""

from __future__ import annotations

import uuid
from datetime import UTC, datetime, timedelta, timezone

import pytest

from appariement.common.events import topics
from appariement.common.events.base import IntegrationEvent
from appariement.common.events.candidature import CandidaturesFrozen, submission_checksum
from appariement.common.events.envelope import EnvelopeError, EventEnvelope
from appariement.common.events.registry import (
    EVENT_MODELS,
    EventDecodeError,
    decode_event,
    parse_event,
)
from appariement.common.events.support import TicketOpened

CAMPAIGN = uuid.UUID("00000000-0000-0000-0000-00000000c001")


def _ticket() -> TicketOpened:
    return TicketOpened(
        ticket_id=uuid.UUID("00000000-0000-0000-0000-0000000000a1"),
        subdivision_code="LYON",
        reporter_name="Jeanne Martin",
        reporter_email="jeanne@example.org",
        reporter_status="candidate",
        nature="connexion",
        opened_at=datetime(2024, 3, 4, 22, 59, tzinfo=UTC),
    )


def test_envelope_round_trips_through_wire_bytes_to_the_same_event() -> None:
    envelope = EventEnvelope.wrap(_ticket(), correlation_id="req-42")
    again = EventEnvelope.from_bytes(envelope.to_bytes())
    assert again == envelope
    assert decode_event(again) == _ticket()
    assert again.key == "00000000-0000-0000-0000-0000000000a1"
    assert (again.type, again.version, again.source) == ("TicketOpened", 1, "support")


def test_occurred_at_is_stored_in_utc() -> None:
    paris = timezone(timedelta(hours=1))
    envelope = EventEnvelope.wrap(_ticket(), occurred_at=datetime(2024, 3, 7, 23, 59, tzinfo=paris))
    assert envelope.occurred_at == datetime(2024, 3, 7, 22, 59, tzinfo=UTC)
    assert envelope.occurred_at.utcoffset() == timedelta(0)


def test_caused_event_keeps_the_correlation_and_points_to_its_cause() -> None:
    cause = EventEnvelope.wrap(_ticket(), correlation_id="req-42")
    effect = cause.caused(_ticket())
    assert effect.correlation_id == "req-42"
    assert effect.causation_id == str(cause.id)
    assert effect.id != cause.id


def test_a_new_event_without_correlation_starts_its_own() -> None:
    envelope = EventEnvelope.wrap(_ticket())
    assert envelope.correlation_id == str(envelope.id)
    assert envelope.causation_id is None


@pytest.mark.parametrize(
    "raw",
    [b"{not json", b"\xff\xfe", b"[1, 2]", b'{"type": "TicketOpened"}', None],
)
def test_malformed_bytes_raise_envelope_error(raw: bytes | None) -> None:
    with pytest.raises(EnvelopeError):
        EventEnvelope.from_bytes(raw)


def test_unknown_type_or_version_parses_to_none_without_raising() -> None:
    envelope = EventEnvelope.wrap(_ticket())
    assert parse_event(envelope.model_copy(update={"type": "TicketTeleported"})) is None
    assert parse_event(envelope.model_copy(update={"version": 2})) is None


def test_known_type_with_invalid_data_is_a_decode_error_but_parse_event_gives_none() -> None:
    envelope = EventEnvelope.wrap(_ticket()).model_copy(update={"data": {"ticket_id": "x"}})
    with pytest.raises(EventDecodeError):
        decode_event(envelope)
    assert parse_event(envelope) is None


def test_consumers_ignore_fields_added_by_a_newer_producer() -> None:
    envelope = EventEnvelope.wrap(_ticket())
    newer = envelope.model_copy(update={"data": {**envelope.data, "priority": "high"}})
    assert decode_event(newer) == _ticket()


def _concrete(cls: type[IntegrationEvent]) -> list[type[IntegrationEvent]]:
    found = [cls] if "event_type" in cls.__dict__ else []
    for sub in cls.__subclasses__():
        found += _concrete(sub)
    return found


def test_every_event_model_is_registered_once_on_a_declared_topic() -> None:
    declared = {spec.name for spec in topics.ALL_TOPICS}
    production = [m for m in _concrete(IntegrationEvent) if m.source != "tests"]
    assert set(production) == set(EVENT_MODELS)
    assert len({(m.event_type, m.version) for m in EVENT_MODELS}) == len(EVENT_MODELS)
    assert all(m.topic in declared for m in EVENT_MODELS)


def test_freeze_event_shares_the_partition_key_of_the_partition_it_closes() -> None:
    frozen = CandidaturesFrozen(
        campaign_id=CAMPAIGN,
        round_number=1,
        specialty_code="CARDIO",
        region_code="ARA",
        wishes_count=2,
        rankings_count=1,
        wishes_checksum=submission_checksum(["b", "a"]),
        rankings_checksum=submission_checksum(["c"]),
        frozen_at=datetime(2024, 3, 12, 23, 0, tzinfo=UTC),
    )
    assert frozen.kafka_key() == f"{CAMPAIGN}:1:CARDIO:ARA"
    assert frozen.wishes_checksum == submission_checksum(["a", "b", "a"])
    assert frozen.wishes_checksum != submission_checksum(["a"])
