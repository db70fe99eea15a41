"""Dead letters: a message a consumer cannot handle, kept with why and where it came from."""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Any

from aiokafka import AIOKafkaProducer

MAX_ERROR_CHARS = 2000

H_GROUP = "dlq.consumer"
H_ERROR_TYPE = "dlq.error_type"
H_ERROR_MESSAGE = "dlq.error_message"
H_EVENT_ID = "dlq.event_id"
H_TOPIC = "dlq.original_topic"
H_PARTITION = "dlq.original_partition"
H_OFFSET = "dlq.original_offset"
H_FAILED_AT = "dlq.failed_at"
H_ATTEMPTS = "dlq.attempts"


def dead_letter_headers(
    message: Any,
    *,
    consumer: str,
    error: BaseException,
    event_id: str | None,
    attempts: int,
) -> list[tuple[str, bytes]]:
    """Original headers plus ours: the error and the message's origin, for a later replay."""
    ours = {
        H_GROUP: consumer,
        H_ERROR_TYPE: type(error).__qualname__,
        H_ERROR_MESSAGE: str(error)[:MAX_ERROR_CHARS],
        H_EVENT_ID: event_id or "",
        H_TOPIC: message.topic,
        H_PARTITION: str(message.partition),
        H_OFFSET: str(message.offset),
        H_FAILED_AT: datetime.now(UTC).isoformat(),
        H_ATTEMPTS: str(attempts),
    }
    original = [(k, v) for k, v in (message.headers or ()) if not k.startswith("dlq.")]
    return original + [(k, v.encode()) for k, v in ours.items()]


async def send_dead_letter(
    producer: AIOKafkaProducer,
    topic: str,
    message: Any,
    *,
    consumer: str,
    error: BaseException,
    event_id: str | None,
    attempts: int,
) -> None:
    """Send the original bytes unchanged and wait until the broker has them."""
    await producer.send_and_wait(
        topic,
        value=message.value if message.value is not None else b"",
        key=message.key,
        headers=dead_letter_headers(
            message, consumer=consumer, error=error, event_id=event_id, attempts=attempts
        ),
    )


def header(message: Any, name: str) -> str | None:
    """A header of a consumed message as text (None when absent)."""
    for key, value in message.headers or ():
        if key == name:
            return bytes(value).decode(errors="replace")
    return None
