"""Idempotent consumer: an aiokafka group loop around the inbox guard, committing late.

Each message goes through :class:`~appariement.common.messaging.guard.InboxGuard` (applied
once in one transaction with its inbox claim, skipped, or dead-lettered). Offsets are
committed (offset + 1) per partition only after the messages before them are applied or
dead-lettered, so a crash re-delivers at most the uncommitted tail, which the inbox turns
into no-ops. A rebalance listener commits what was applied before partitions move.
"""

from __future__ import annotations

import asyncio
from collections.abc import Iterable, Mapping

import asyncpg
import structlog
from aiokafka import AIOKafkaConsumer, AIOKafkaProducer, ConsumerRebalanceListener, TopicPartition
from aiokafka.errors import CommitFailedError, KafkaError

from appariement.common.events.base import IntegrationEvent
from appariement.common.events.topics import DEAD_LETTERS
from appariement.common.messaging.guard import Handler, InboxGuard, Outcome
from appariement.common.messaging.kafka import make_consumer, make_producer, missing_topics

log = structlog.get_logger(__name__)

__all__ = ["Handler", "IdempotentConsumer", "TopicsMissingError"]


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
        self._guard: InboxGuard | None = None
        self.assigned = asyncio.Event()
        """Set once partitions are assigned (tests wait for it before publishing)."""

    @property
    def stats(self) -> dict[Outcome, int]:
        """Messages handled so far, by outcome."""
        if self._guard is None:
            return {"applied": 0, "duplicates": 0, "skipped": 0, "dead_lettered": 0}
        return dict(self._guard.stats)

    async def run(self) -> None:
        """Consume until cancelled (waits with backoff while the broker is unreachable)."""
        consumer, producer = await self._start_clients()
        self._consumer, self._producer = consumer, producer
        guard = self._guard = InboxGuard(
            self._pool,
            name=self.name,
            handlers=self._handlers,
            dead_letter_producer=producer,
            dead_letter_topic=self._dlq_topic,
            max_attempts=self._max_attempts,
            retry_backoff=self._backoff,
            retry_backoff_max=self._backoff_max,
        )
        try:
            log.info("consumer_started", consumer=self.name, topics=self._topics)
            while True:
                batches = await consumer.getmany(timeout_ms=1000)
                for tp, messages in batches.items():
                    for message in messages:
                        if tp not in consumer.assignment():
                            break  # revoked meanwhile: the new owner continues from the commit
                        await guard.process(message)
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
