"""Idempotent consumer: inbox claim and handler in one transaction, then the offset commit.

For each message, in partition order:
- bytes that are not an envelope, or a known type with invalid data -> dead-letter, go on;
- an unknown type/version, or a type without handler -> logged, skipped;
- otherwise one transaction: claim the event id in the inbox (already there -> skip) and
  run the handler. A failing handler is retried ``max_attempts`` times with backoff, then
  the message is dead-lettered and the consumer goes on. Database outages are not the
  message's fault: they are retried without limit and never dead-letter anything.
Offsets are committed (offset + 1) per partition only after the messages before them are
applied or dead-lettered, so a crash re-delivers at most the uncommitted tail, which the
inbox turns into no-ops.
"""

from __future__ import annotations

import asyncio
from collections.abc import Awaitable, Callable, Iterable, Mapping
from typing import Any, cast

import asyncpg
import structlog
from aiokafka import AIOKafkaConsumer, AIOKafkaProducer, ConsumerRebalanceListener, TopicPartition
from aiokafka.errors import CommitFailedError, KafkaError

from appariement.common.events.base import IntegrationEvent
from appariement.common.events.envelope import EnvelopeError, EventEnvelope
from appariement.common.events.registry import EventDecodeError, decode_event
from appariement.common.events.topics import DEAD_LETTERS
from appariement.common.messaging import inbox
from appariement.common.messaging.dead_letters import send_dead_letter
from appariement.common.messaging.kafka import make_consumer, make_producer, missing_topics

log = structlog.get_logger(__name__)

Handler = Callable[[asyncpg.Connection, Any, EventEnvelope], Awaitable[None]]
"""``async def handle(conn, event, envelope)``: runs inside the inbox transaction."""

INFRASTRUCTURE_ERRORS: tuple[type[BaseException], ...] = (
    OSError,
    asyncpg.PostgresConnectionError,
    asyncpg.InterfaceError,
    asyncpg.TooManyConnectionsError,
    asyncpg.CannotConnectNowError,
)
"""Errors that say the database is unavailable, not that the message is bad."""


class TopicsMissingError(RuntimeError):
    """A consumer's topic does not exist: run ``ensure_topics`` at start-up first."""


class IdempotentConsumer:
    """Consumes ``topics`` as group ``group_id`` and applies each event once.

    ``handlers`` maps payload model classes to handlers (a grep-able table); ``name`` is
    the inbox's consumer name, the group id by default (one inbox per group).
    """

    def __init__(
        self,
        pool: asyncpg.Pool,
        *,
        topics: Iterable[str],
        group_id: str,
        handlers: Mapping[type[IntegrationEvent], Handler],
        bootstrap_servers: str,
        enable_idempotence: bool,
        name: str | None = None,
        dead_letter_topic: str = DEAD_LETTERS.name,
        max_attempts: int = 3,
        retry_backoff: float = 0.2,
        retry_backoff_max: float = 10.0,
        session_timeout_ms: int = 10_000,
        max_poll_records: int = 100,
    ) -> None:
        self._pool = pool
        self._topics = list(topics)
        self._group_id = group_id
        self._handlers = dict(handlers)
        self._bootstrap = bootstrap_servers
        self._idempotence = enable_idempotence
        self.name = name or group_id
        self._dlq_topic = dead_letter_topic
        self._max_attempts = max_attempts
        self._backoff = retry_backoff
        self._backoff_max = retry_backoff_max
        self._session_timeout_ms = session_timeout_ms
        self._max_poll_records = max_poll_records
        self._consumer: AIOKafkaConsumer | None = None
        self._producer: AIOKafkaProducer | None = None
        self._uncommitted: dict[TopicPartition, int] = {}
        self.assigned = asyncio.Event()
        """Set once partitions are assigned (tests wait for it before publishing)."""
        self.stats = {"applied": 0, "duplicates": 0, "skipped": 0, "dead_lettered": 0}

    async def run(self) -> None:
        """Consume until cancelled (waits with backoff while the broker is unreachable)."""
        consumer, producer = await self._start_clients()
        self._consumer, self._producer = consumer, producer
        try:
            log.info("consumer_started", consumer=self.name, topics=self._topics)
            while True:
                batches = await consumer.getmany(timeout_ms=1000)
                for tp, messages in batches.items():
                    for message in messages:
                        if tp not in consumer.assignment():
                            break  # revoked meanwhile: the new owner continues from the commit
                        await self._process(message)
                        self._uncommitted[tp] = message.offset + 1
                    await self._commit([tp])
        finally:
            try:
                await self._commit(list(self._uncommitted))
            finally:
                await consumer.stop()
                await producer.stop()

    async def _start_clients(self) -> tuple[AIOKafkaConsumer, AIOKafkaProducer]:
        backoff = self._backoff
        while True:
            try:
                missing = await missing_topics(self._bootstrap, [*self._topics, self._dlq_topic])
            except KafkaError as exc:
                log.warning("consumer_broker_unavailable", error=repr(exc), retry_in=backoff)
            else:
                if missing:
                    raise TopicsMissingError(f"topics missing (run ensure_topics first): {missing}")
                producer = make_producer(
                    self._bootstrap,
                    enable_idempotence=self._idempotence,
                    client_id=f"{self.name}-dlq",
                )
                consumer = make_consumer(
                    [],
                    bootstrap_servers=self._bootstrap,
                    group_id=self._group_id,
                    client_id=self.name,
                    session_timeout_ms=self._session_timeout_ms,
                    max_poll_records=self._max_poll_records,
                )
                consumer.subscribe(self._topics, listener=_Listener(self))
                try:
                    await producer.start()
                    await consumer.start()
                    return consumer, producer
                except KafkaError as exc:
                    await consumer.stop()
                    await producer.stop()
                    log.warning("consumer_broker_unavailable", error=repr(exc), retry_in=backoff)
            await asyncio.sleep(backoff)
            backoff = min(backoff * 2, self._backoff_max)

    async def _commit(self, partitions: Iterable[TopicPartition]) -> None:
        consumer = self._consumer
        if consumer is None:
            return
        offsets = {tp: self._uncommitted.pop(tp) for tp in partitions if tp in self._uncommitted}
        if not offsets:
            return
        try:
            await consumer.commit(offsets)
        except (CommitFailedError, KafkaError) as exc:
            # The partition moved to another member, or the broker is away: the new owner
            # re-reads from the last commit and the inbox skips what we already applied.
            log.warning("consumer_commit_failed", consumer=self.name, error=repr(exc))

    async def _process(self, message: Any) -> None:
        try:
            envelope = EventEnvelope.from_bytes(message.value)
        except EnvelopeError as exc:
            log.error(
                "event_malformed",
                consumer=self.name,
                topic=message.topic,
                partition=message.partition,
                offset=message.offset,
                error=str(exc)[:500],
            )
            await self._dead_letter(message, exc, event_id=None, attempts=1)
            return
        with structlog.contextvars.bound_contextvars(
            correlation_id=envelope.correlation_id or str(envelope.id),
            event_id=str(envelope.id),
            event_type=envelope.type,
        ):
            await self._process_envelope(message, envelope)

    async def _process_envelope(self, message: Any, envelope: EventEnvelope) -> None:
        try:
            event = decode_event(envelope)
        except EventDecodeError as exc:
            log.error("event_data_invalid", consumer=self.name, error=str(exc)[:500])
            await self._dead_letter(message, exc, event_id=str(envelope.id), attempts=1)
            return
        handler = self._handlers.get(type(event)) if event is not None else None
        if event is None or handler is None:
            self.stats["skipped"] += 1
            return
        attempt = 0
        backoff = self._backoff
        while True:
            attempt += 1
            try:
                applied = await self._apply(handler, event, envelope)
            except asyncio.CancelledError:
                raise
            except INFRASTRUCTURE_ERRORS as exc:
                attempt -= 1  # not the message's fault: wait for the database, forever
                log.warning("consumer_db_unavailable", error=repr(exc), retry_in=backoff)
            except Exception as exc:
                if attempt >= self._max_attempts:
                    log.error(
                        "event_handler_failed",
                        consumer=self.name,
                        attempts=attempt,
                        error=repr(exc)[:500],
                    )
                    await self._dead_letter(
                        message, exc, event_id=str(envelope.id), attempts=attempt
                    )
                    return
                log.warning("event_handler_retry", attempt=attempt, error=repr(exc)[:500])
            else:
                self.stats["applied" if applied else "duplicates"] += 1
                return
            await asyncio.sleep(backoff)
            backoff = min(backoff * 2, self._backoff_max)

    async def _apply(
        self, handler: Handler, event: IntegrationEvent, envelope: EventEnvelope
    ) -> bool:
        async with self._pool.acquire() as pooled:
            conn = cast(asyncpg.Connection, pooled)
            async with conn.transaction():
                if not await inbox.claim(conn, self.name, envelope.id, envelope.type):
                    log.info("event_duplicate", consumer=self.name)
                    return False
                await handler(conn, event, envelope)
                return True

    async def _dead_letter(
        self, message: Any, error: BaseException, *, event_id: str | None, attempts: int
    ) -> None:
        """Never drop: retry the dead-letter send until the broker takes it."""
        assert self._producer is not None
        backoff = self._backoff
        while True:
            try:
                await send_dead_letter(
                    self._producer,
                    self._dlq_topic,
                    message,
                    consumer=self.name,
                    error=error,
                    event_id=event_id,
                    attempts=attempts,
                )
            except KafkaError as exc:
                log.warning("dead_letter_send_failed", error=repr(exc), retry_in=backoff)
                await asyncio.sleep(backoff)
                backoff = min(backoff * 2, self._backoff_max)
            else:
                self.stats["dead_lettered"] += 1
                log.warning(
                    "event_dead_lettered", consumer=self.name, dead_letter_topic=self._dlq_topic
                )
                return


class _Listener(ConsumerRebalanceListener):  # type: ignore[misc]
    """Commits what was applied before partitions move, logs assignments."""

    def __init__(self, owner: IdempotentConsumer) -> None:
        self._owner = owner

    async def on_partitions_revoked(self, revoked: set[TopicPartition]) -> None:
        await self._owner._commit(revoked)

    async def on_partitions_assigned(self, assigned: set[TopicPartition]) -> None:
        log.info(
            "partitions_assigned",
            consumer=self._owner.name,
            partitions=sorted(f"{tp.topic}:{tp.partition}" for tp in assigned),
        )
        self._owner.assigned.set()
