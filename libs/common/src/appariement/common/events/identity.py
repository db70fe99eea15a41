"""Events published by the identity service (topic ``identity.events``, key: person id)."""

from __future__ import annotations

import uuid
from datetime import datetime
from typing import ClassVar

from appariement.common.events.base import IntegrationEvent
from appariement.common.events.topics import IDENTITY_EVENTS


class IdentityEvent(IntegrationEvent):
    source: ClassVar[str] = "identity"
    topic: ClassVar[str] = IDENTITY_EVENTS.name
    key_field: ClassVar[str] = "person_id"

    person_id: uuid.UUID


class MagicLinkRequested(IdentityEvent):
    """A single-use login link to mail; notification sends it to ``email``."""

    event_type: ClassVar[str] = "MagicLinkRequested"

    email: str
    login_url: str
    expires_at: datetime


class PersonRegistered(IdentityEvent):
    event_type: ClassVar[str] = "PersonRegistered"

    primary_email: str
    first_name: str
    last_name: str
    roles: list[str]
    subdivision_code: str | None = None
    specialty_code: str | None = None


class PersonUpdated(IdentityEvent):
    """The person's current state after a change (consumers overwrite their copy)."""

    event_type: ClassVar[str] = "PersonUpdated"

    primary_email: str
    first_name: str
    last_name: str
    roles: list[str]
    phone: str | None = None
