"""Integration events: the envelope on the wire, the versioned payload models, the topics.

Import payload models from their producer's module (``events.candidature``), the envelope
and the registry from here.
"""

from appariement.common.events.base import IntegrationEvent
from appariement.common.events.envelope import EnvelopeError, EventEnvelope
from appariement.common.events.registry import decode_event, model_for, parse_event

__all__ = [
    "EnvelopeError",
    "EventEnvelope",
    "IntegrationEvent",
    "decode_event",
    "model_for",
    "parse_event",
]
