"""Events published by the support service (topic ``support.events``, key: ticket id)."""

from __future__ import annotations

import uuid
from datetime import datetime
from typing import ClassVar

from appariement.common.events.base import IntegrationEvent
from appariement.common.events.topics import SUPPORT_EVENTS


class SupportEvent(IntegrationEvent):
    source: ClassVar[str] = "support"
    topic: ClassVar[str] = SUPPORT_EVENTS.name
    key_field: ClassVar[str] = "ticket_id"

    ticket_id: uuid.UUID


class TicketOpened(SupportEvent):
    """Routed to the ARS and Scolarité agents of ``subdivision_code``."""

    event_type: ClassVar[str] = "TicketOpened"

    subdivision_code: str
    reporter_name: str
    reporter_email: str
    reporter_status: str
    nature: str
    opened_at: datetime


class TicketEscalated(SupportEvent):
    event_type: ClassVar[str] = "TicketEscalated"

    escalated_by: uuid.UUID
    reason: str
    escalated_at: datetime


class TicketResolved(SupportEvent):
    event_type: ClassVar[str] = "TicketResolved"

    resolved_by: uuid.UUID
    resolution: str
    resolved_at: datetime
