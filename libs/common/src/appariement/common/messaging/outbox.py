"""Transactional outbox: ``publish`` inside the caller's transaction, ``OutboxRelay`` sends.

One active relay per schema: the relay holds a session advisory lock (keyed by the schema
name) on a dedicated connection, and other instances wait as hot standbys, taking over
within ``lock_retry_seconds`` when the holder's connection drops. We chose the lock over
``FOR UPDATE SKIP LOCKED`` because the latter lets two relays send rows of one key out of
order; a single relay sending batches is far faster than any service's write rate.
"""

from __future__ import annotations

import asyncio
import contextlib
import json
import time
import uuid
from collections.abc import Awaitable, Callable, Sequence
from dataclasses import dataclass
from datetime import datetime
from typing import Any, cast

import asyncpg
import structlog
from aiokafka import AIOKafkaProducer
from aiokafka.errors import KafkaError

from appariement.common.events.base import IntegrationEvent
from appariement.common.events.envelope import EventEnvelope
from appariement.common.messaging.errors import DB_UNAVAILABLE
from appariement.common.messaging.kafka import make_producer, missing_topics
from appariement.common.messaging.metrics import OUTBOX_RELAYS_ACTIVE, OUTBOX_SENT

log = structlog.get_logger(__name__)


def _context_value(name: str) -> str | None:
    value = structlog.contextvars.get_contextvars().get(name)
    return None if value is None else str(value)


async def publish(
    conn: asyncpg.Connection,
    event: IntegrationEvent,
    *,
    correlation_id: str | None = None,
    causation_id: str | None = None,
    caused_by: EventEnvelope | None = None,
    topic: str | None = None,
) -> EventEnvelope:
    """Write ``event`` to the outbox in the caller's open transaction; returns its envelope.

    Ids default, in order, to ``caused_by`` (the event being handled), then to the
    ``correlation_id`` / ``event_id`` bound in structlog's context (the consumer and the
    HTTP middleware bind them), so a chain of events keeps one correlation id.
    """
    if not conn.is_in_transaction():
        raise RuntimeError("publish() must run inside the transaction of the state change")
    if caused_by is not None:
        correlation_id = correlation_id or caused_by.correlation_id or str(caused_by.id)
        causation_id = causation_id or str(caused_by.id)
    envelope = EventEnvelope.wrap(
        event,
        correlation_id=correlation_id or _context_value("correlation_id"),
        causation_id=causation_id or _context_value("event_id"),
    )
    await publish_envelope(conn, envelope, topic=topic or event.topic)
    return envelope


async def publish_envelope(
    conn: asyncpg.Connection, envelope: EventEnvelope, *, topic: str
) -> None:
    """Write a ready envelope to the outbox (same transaction rule as :func:`publish`)."""
    if not conn.is_in_transaction():
        raise RuntimeError("publish_envelope() must run inside a transaction")
    headers = {
        "event_id": str(envelope.id),
        "event_type": envelope.type,
        "event_version": str(envelope.version),
        "correlation_id": envelope.correlation_id or "",
        "content_type": "application/json",
    }
    await conn.execute(
        "INSERT INTO outbox (event_id, topic, key, headers, payload)"
        " VALUES ($1, $2, $3, $4::jsonb, $5::jsonb)",
        envelope.id,
        topic,
        envelope.key,
        json.dumps(headers),
        envelope.model_dump_json(),
    )


async def purge_sent(conn: asyncpg.Connection, *, older_than: datetime) -> int:
    """Delete rows sent before ``older_than`` (ops keep a few days for inspection)."""
    status = await conn.execute(
        "DELETE FROM outbox WHERE sent_at IS NOT NULL AND sent_at < $1", older_than
    )
    return int(status.split()[-1])


@dataclass(frozen=True)
class OutboxRow:
    id: int
    event_id: uuid.UUID
    topic: str
    key: str | None
    headers: dict[str, str]
    payload: bytes


AfterSendHook = Callable[[Sequence[OutboxRow]], Awaitable[None]]
"""Called after a batch is delivered and before it is marked sent (tests crash here)."""


class OutboxRelay:
    """Sends pending outbox rows of the pool's schema to Kafka until cancelled.

    Wakes on the ``<schema>.outbox`` NOTIFY of each commit, and polls every
    ``poll_interval`` seconds in case a notification was missed. Each batch is read in id
    order, sent, awaited, then marked in one UPDATE: a crash in between re-sends the batch
    after restart (at least once; consumers dedupe by event id). While the broker is
    unreachable it retries with exponential backoff, keeping the rows pending.
    """

    def __init__(
        self,
        pool: asyncpg.Pool,
        *,
        bootstrap_servers: str,
        enable_idempotence: bool,
        batch_size: int = 500,
        poll_interval: float = 1.0,
        lock_retry_seconds: float = 2.0,
        backoff_initial: float = 0.2,
        backoff_max: float = 15.0,
        producer_factory: Callable[[], AIOKafkaProducer] | None = None,
        after_send: AfterSendHook | None = None,
        missing_topic_recheck_seconds: float = 10.0,
    ) -> None:
        self._pool = pool
        self._batch_size = batch_size
        self._poll_interval = poll_interval
        self._lock_retry = lock_retry_seconds
        self._backoff_initial = backoff_initial
        self._backoff_max = backoff_max
        self._producer_factory = producer_factory or (
            lambda: make_producer(
                bootstrap_servers,
                enable_idempotence=enable_idempotence,
                client_id="outbox-relay",
            )
        )
        self._after_send = after_send
        self._bootstrap = bootstrap_servers
        self._known_topics: set[str] = set()
        self._missing_topics: set[str] = set()
        self._missing_checked_at = 0.0
        self._missing_recheck = missing_topic_recheck_seconds
        self._wake = asyncio.Event()
        self.active = asyncio.Event()
        """Set while this instance holds the schema's relay lock (tests and /readyz)."""
        self.sent_count = 0
        self.backend_pid: int | None = None
        """PostgreSQL backend of the relay's session (holds the lock and the LISTEN)."""

    async def run(self) -> None:
        """Relay until cancelled; reconnects with backoff while the database is away."""
        backoff = self._backoff_initial
        while True:
            try:
                async with self._pool.acquire() as conn:
                    await self._run_with(cast(asyncpg.Connection, conn))
            except DB_UNAVAILABLE as exc:
                if self.active.is_set():
                    backoff = self._backoff_initial  # it worked for a while: start over
                log.warning("outbox_relay_db_unavailable", error=repr(exc), retry_in=backoff)
                await asyncio.sleep(backoff)
                backoff = min(backoff * 2, self._backoff_max)
            finally:
                if self.active.is_set():
                    OUTBOX_RELAYS_ACTIVE.dec()
                self.active.clear()

    async def _run_with(self, conn: asyncpg.Connection) -> None:
        schema = cast(str, await conn.fetchval("SELECT current_schema()"))
        lock_key = cast(
            int, await conn.fetchval("SELECT hashtextextended($1, 0)", f"{schema}.outbox_relay")
        )
        # Standby: poll the lock (a held advisory lock cannot be awaited across sessions).
        while not await conn.fetchval("SELECT pg_try_advisory_lock($1)", lock_key):  # noqa: ASYNC110
            await asyncio.sleep(self._lock_retry)
        channel = f"{schema}.outbox"
        await conn.add_listener(channel, self._on_notify)
        producer: AIOKafkaProducer | None = None
        try:
            self.backend_pid = conn.get_server_pid()
            self.active.set()
            OUTBOX_RELAYS_ACTIVE.inc()
            log.info("outbox_relay_active", schema=schema, backend_pid=self.backend_pid)
            producer = await self._start_producer()
            backoff = self._backoff_initial
            while True:
                self._wake.clear()
                try:
                    complete = await self._relay_batches(conn, producer)
                except KafkaError as exc:
                    log.warning(
                        "outbox_relay_broker_unavailable", error=repr(exc), retry_in=backoff
                    )
                    await asyncio.sleep(backoff)
                    backoff = min(backoff * 2, self._backoff_max)
                    continue
                backoff = self._backoff_initial
                if complete:
                    with contextlib.suppress(TimeoutError):
                        await asyncio.wait_for(self._wake.wait(), self._poll_interval)
        finally:
            if producer is not None:
                await producer.stop()
            # On a dead connection the lock is gone with the session: nothing to undo.
            with contextlib.suppress(*DB_UNAVAILABLE):
                await conn.remove_listener(channel, self._on_notify)
                await conn.execute("SELECT pg_advisory_unlock($1)", lock_key)

    def _on_notify(self, *_args: Any) -> None:
        self._wake.set()

    async def _start_producer(self) -> AIOKafkaProducer:
        backoff = self._backoff_initial
        while True:
            producer = self._producer_factory()
            try:
                await producer.start()
                return producer
            except KafkaError as exc:
                await producer.stop()
                log.warning("outbox_relay_broker_unavailable", error=repr(exc), retry_in=backoff)
                await asyncio.sleep(backoff)
                backoff = min(backoff * 2, self._backoff_max)

    async def _relay_batches(self, conn: asyncpg.Connection, producer: AIOKafkaProducer) -> bool:
        """Send batches until none is pending; True when the outbox was drained."""
        now = time.monotonic()
        if self._missing_topics and now - self._missing_checked_at > self._missing_recheck:
            self._missing_topics.clear()  # look again: someone may have created them
        while True:
            pending = await self._pending(conn)
            if not pending:
                return True
            rows = await self._without_missing_topics(pending)
            if rows:
                await self._send(conn, producer, rows)
            if len(pending) < self._batch_size:
                return True

    async def _pending(self, conn: asyncpg.Connection) -> list[OutboxRow]:
        records = await conn.fetch(
            "SELECT id, event_id, topic, key, headers::text AS headers, payload::text AS payload"
            " FROM outbox WHERE sent_at IS NULL AND NOT (topic = ANY($2::text[]))"
            " ORDER BY id LIMIT $1",
            self._batch_size,
            sorted(self._missing_topics),
        )
        return [
            OutboxRow(
                id=r["id"],
                event_id=r["event_id"],
                topic=r["topic"],
                key=r["key"],
                headers=json.loads(r["headers"]),
                payload=r["payload"].encode(),
            )
            for r in records
        ]

    async def _without_missing_topics(self, rows: list[OutboxRow]) -> list[OutboxRow]:
        """Hold back rows whose topic does not exist instead of letting the send create it.

        A producer's metadata request would auto-create the topic with the broker's
        default partitions; the rows wait (logged) until ``ensure_topics`` creates it.
        Keys never span topics, so holding a topic back keeps every key in order.
        """
        unchecked = {row.topic for row in rows} - self._known_topics
        if unchecked:
            missing = set(await missing_topics(self._bootstrap, unchecked))
            self._known_topics |= unchecked - missing
            if missing:
                log.error("outbox_topic_missing", topics=sorted(missing))
                self._missing_topics |= missing
                self._missing_checked_at = time.monotonic()
        return [row for row in rows if row.topic not in self._missing_topics]

    async def _send(
        self, conn: asyncpg.Connection, producer: AIOKafkaProducer, rows: list[OutboxRow]
    ) -> None:
        """Send in id order, await every delivery, then mark the delivered rows.

        aiokafka queues the batch per partition in call order with one request in flight
        per partition, so rows of one key (one partition) arrive in id order. If part of
        the batch fails, the delivered rows are marked and the rest stays pending for the
        next attempt; the first failure is raised to trigger the backoff.
        """
        futures = [
            await producer.send(
                row.topic,
                value=row.payload,
                key=row.key.encode() if row.key is not None else None,
                headers=[(k, v.encode()) for k, v in row.headers.items()],
            )
            for row in rows
        ]
        results = await asyncio.gather(*futures, return_exceptions=True)
        delivered = [
            row
            for row, res in zip(rows, results, strict=True)
            if not isinstance(res, BaseException)
        ]
        if self._after_send is not None:
            await self._after_send(delivered)
        if delivered:
            await conn.execute(
                "UPDATE outbox SET sent_at = now() WHERE id = ANY($1::bigint[])",
                [row.id for row in delivered],
            )
            self.sent_count += len(delivered)
            OUTBOX_SENT.inc(len(delivered))
        failures = [res for res in results if isinstance(res, BaseException)]
        if failures:
            log.warning("outbox_relay_send_failed", failed=len(failures), delivered=len(delivered))
            if isinstance(failures[0], KafkaError):
                raise failures[0]
            raise KafkaError(repr(failures[0])) from failures[0]
