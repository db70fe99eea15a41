"""Kafka helpers for tests: create topics, publish raw bytes, collect until a predicate.

Also :class:`ProbeEvent`, a test-only event type (registered on import) that messaging
tests publish through the outbox and apply with a tiny handler.
"""

from __future__ import annotations

import asyncio
import time
import uuid
from collections.abc import Callable, Iterable, Sequence
from typing import Any, ClassVar

import asyncpg
from aiokafka import AIOKafkaConsumer, AIOKafkaProducer, TopicPartition

from appariement.common.events.base import IntegrationEvent
from appariement.common.events.envelope import EventEnvelope
from appariement.common.events.registry import model_for, register
from appariement.common.events.topics import TopicSpec, ensure_topics

TEST_SESSION_TIMEOUT_MS = 3000
"""Consumer session timeout in tests: Tansu answers a JoinGroup after half of it."""


class ProbeEvent(IntegrationEvent):
    """Test-only event: ``seq`` orders a key's events, ``fail`` asks the handler to raise."""

    event_type: ClassVar[str] = "TestProbe"
    source: ClassVar[str] = "tests"
    topic: ClassVar[str] = "tests.probe"  # tests publish to their own topics
    key_field: ClassVar[str] = "key"

    key: str
    seq: int
    fail: bool = False
    delay_ms: int = 0


PROBE_TABLE_SQL = """
CREATE TABLE IF NOT EXISTS probe_applied (
    id bigserial PRIMARY KEY,
    event_id uuid NOT NULL,
    key text NOT NULL,
    seq int NOT NULL
)
"""
"""Effects of :func:`apply_probe`; deliberately no unique key: a double effect shows."""


async def apply_probe(conn: asyncpg.Connection, event: ProbeEvent, envelope: EventEnvelope) -> None:
    """The tests' handler: record the effect, optionally slowly, or fail on demand."""
    if event.fail:
        raise RuntimeError(f"probe {event.key}/{event.seq} fails on purpose")
    await conn.execute(
        "INSERT INTO probe_applied (event_id, key, seq) VALUES ($1, $2, $3)",
        envelope.id,
        event.key,
        event.seq,
    )
    if event.delay_ms:
        await asyncio.sleep(event.delay_ms / 1000)


def probe_bytes(key: str, seq: int, **fields: Any) -> tuple[EventEnvelope, bytes]:
    """An enveloped :class:`ProbeEvent` ready for :func:`publish_raw`."""
    envelope = EventEnvelope.wrap(ProbeEvent(key=key, seq=seq, **fields))
    return envelope, envelope.to_bytes()


if model_for(ProbeEvent.event_type, ProbeEvent.version) is None:
    register(ProbeEvent)


async def create_topics(bootstrap_servers: str, names: Iterable[str], partitions: int = 3) -> None:
    """Create test topics (idempotent), never relying on auto-creation."""
    await ensure_topics(bootstrap_servers, [TopicSpec(n, partitions) for n in names])


async def publish_raw(
    bootstrap_servers: str,
    topic: str,
    values: Sequence[bytes],
    *,
    key: bytes | None = None,
    headers: Sequence[tuple[str, bytes]] = (),
) -> None:
    """Send raw bytes (e.g. malformed JSON) straight to a topic, waiting for delivery."""
    producer = AIOKafkaProducer(bootstrap_servers=bootstrap_servers, acks="all")
    await producer.start()
    try:
        for value in values:
            await producer.send_and_wait(topic, value=value, key=key, headers=list(headers))
    finally:
        await producer.stop()


async def collect(
    bootstrap_servers: str,
    topic: str,
    until: Callable[[list[Any]], bool],
    *,
    timeout: float = 30.0,  # noqa: ASYNC109 (a deadline with a readable error)
) -> list[Any]:
    """Read ``topic`` from the start of every partition (no group) until ``until(messages)``.

    Raises ``TimeoutError`` with what was read when the deadline passes first.
    """
    consumer = AIOKafkaConsumer(
        bootstrap_servers=bootstrap_servers,
        group_id=None,
        enable_auto_commit=False,
        auto_offset_reset="earliest",
        client_id=f"collect-{uuid.uuid4().hex[:8]}",
    )
    await consumer.start()
    try:
        partitions = consumer.partitions_for_topic(topic)
        deadline = time.monotonic() + timeout
        while not partitions:
            if time.monotonic() > deadline:
                raise TimeoutError(f"topic {topic!r} not found")
            await consumer._client.force_metadata_update()
            partitions = consumer.partitions_for_topic(topic)
            await asyncio.sleep(0.1)
        tps = [TopicPartition(topic, p) for p in sorted(partitions)]
        consumer.assign(tps)
        await consumer.seek_to_beginning(*tps)
        messages: list[Any] = []
        while not until(messages):
            remaining = deadline - time.monotonic()
            if remaining <= 0:
                raise TimeoutError(
                    f"{len(messages)} messages read from {topic!r}: {messages!r:.2000}"
                )
            batch = await consumer.getmany(timeout_ms=int(min(remaining, 0.5) * 1000))
            for tp_messages in batch.values():
                messages.extend(tp_messages)
        return messages
    finally:
        await consumer.stop()
