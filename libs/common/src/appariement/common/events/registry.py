"""Event type + version -> payload model, and decoding that never crashes a consumer."""

from __future__ import annotations

import structlog
from pydantic import ValidationError

from appariement.common.events import campaign, candidature, identity, matching, notification
from appariement.common.events import support as support_events
from appariement.common.events.base import IntegrationEvent
from appariement.common.events.envelope import EventEnvelope

log = structlog.get_logger(__name__)

EVENT_MODELS: tuple[type[IntegrationEvent], ...] = (
    identity.MagicLinkRequested,
    identity.PersonRegistered,
    identity.PersonUpdated,
    campaign.CampaignOpened,
    campaign.CampaignClosed,
    campaign.PostPublished,
    campaign.PhaseOpened,
    campaign.PhaseClosed,
    campaign.RoundClosed,
    candidature.WishesSubmitted,
    candidature.RankingSubmitted,
    candidature.CandidaturesFrozen,
    matching.MatchingCompleted,
    matching.AffectationsPublished,
    notification.EmailSent,
    notification.EmailFailed,
    support_events.TicketOpened,
    support_events.TicketEscalated,
    support_events.TicketResolved,
)

_REGISTRY: dict[tuple[str, int], type[IntegrationEvent]] = {}


def register(model: type[IntegrationEvent]) -> type[IntegrationEvent]:
    """Add a model (usable as a decorator, e.g. for test-only events)."""
    key = (model.event_type, model.version)
    known = _REGISTRY.get(key)
    if known is not None and known is not model:
        raise ValueError(f"{key} already registered by {known.__qualname__}")
    _REGISTRY[key] = model
    return model


for _model in EVENT_MODELS:
    register(_model)


class EventDecodeError(ValueError):
    """A known event type whose data does not fit its model: a poison message."""


def model_for(event_type: str, version: int) -> type[IntegrationEvent] | None:
    return _REGISTRY.get((event_type, version))


def decode_event(envelope: EventEnvelope) -> IntegrationEvent | None:
    """The payload model, None for an unknown type/version (logged).

    Raises :class:`EventDecodeError` when the type is known but the data is invalid, so
    the consumer dead-letters it instead of skipping it silently.
    """
    model = model_for(envelope.type, envelope.version)
    if model is None:
        log.warning(
            "event_type_unknown",
            event_id=str(envelope.id),
            event_type=envelope.type,
            event_version=envelope.version,
        )
        return None
    try:
        return model.model_validate(envelope.data)
    except ValidationError as exc:
        raise EventDecodeError(f"{envelope.type} v{envelope.version}: {exc}") from exc


def parse_event(envelope: EventEnvelope) -> IntegrationEvent | None:
    """Like :func:`decode_event` but never raises: invalid data is logged, gives None."""
    try:
        return decode_event(envelope)
    except EventDecodeError as exc:
        log.error("event_data_invalid", event_id=str(envelope.id), error=str(exc))
        return None
