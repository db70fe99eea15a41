"""Events published by the notification service (topic ``notification.events``, key: email id).

The event that caused the email is the envelope's ``causation_id``.
"""

from __future__ import annotations

import uuid
from datetime import datetime
from typing import ClassVar

from pydantic import Field

from appariement.common.events.base import IntegrationEvent
from appariement.common.events.topics import NOTIFICATION_EVENTS


class NotificationEvent(IntegrationEvent):
    source: ClassVar[str] = "notification"
    topic: ClassVar[str] = NOTIFICATION_EVENTS.name
    key_field: ClassVar[str] = "email_id"

    email_id: uuid.UUID
    recipient: str
    template: str


class EmailSent(NotificationEvent):
    event_type: ClassVar[str] = "EmailSent"

    sent_at: datetime


class EmailFailed(NotificationEvent):
    """Delivery given up after ``attempts`` tries."""

    event_type: ClassVar[str] = "EmailFailed"

    error: str
    attempts: int = Field(ge=1)
    failed_at: datetime
