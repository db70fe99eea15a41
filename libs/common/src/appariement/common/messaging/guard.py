"""Inbox guard: what happens to one consumed message, whatever loop consumed it.

- bytes that are not an envelope, or a known type with invalid data -> dead-letter;
- an unknown type/version, or a type without handler -> logged, skipped;
- otherwise one transaction: claim the event id in the inbox (already there -> skip) and
  run the handler. A failing handler is retried ``max_attempts`` times with backoff, then
  the message is dead-lettered. Database outages are not the message's fault: they are
  retried without limit and never dead-letter anything.

:class:`~appariement.common.messaging.consumer.IdempotentConsumer` uses it in its aiokafka
loop; a faust agent (which acknowledges an event even when the agent raised) calls
``await guard.process(event.message)`` for each event to get the same guarantees.
"""

from __future__ import annotations

import asyncio
from collections.abc import Awaitable, Callable, Mapping
from typing import Any, Literal, cast

import asyncpg
import structlog
from aiokafka import AIOKafkaProducer
from aiokafka.errors import KafkaError

from appariement.common.events.base import IntegrationEvent
from appariement.common.events.envelope import EnvelopeError, EventEnvelope
from appariement.common.events.registry import EventDecodeError, decode_event
from appariement.common.messaging import inbox
from appariement.common.messaging.dead_letters import send_dead_letter
from appariement.common.messaging.errors import DB_UNAVAILABLE
from appariement.common.messaging.metrics import EVENTS_CONSUMED

log = structlog.get_logger(__name__)

Handler = Callable[[asyncpg.Connection, Any, EventEnvelope], Awaitable[None]]
"""``async def handle(conn, event, envelope)``: runs inside the inbox transaction."""

Outcome = Literal["applied", "duplicates", "skipped", "dead_lettered"]


class InboxGuard:
    """Applies one message once, or dead-letters it; never raises for a bad message.

    ``message`` is anything with aiokafka's ``ConsumerRecord`` attributes (``topic``,
    ``partition``, ``offset``, ``key``, ``value``, ``headers``), faust's included.
    """

    def __init__(
        self,
        pool: asyncpg.Pool,
        *,
        name: str,
        handlers: Mapping[type[IntegrationEvent], Handler],
        dead_letter_producer: AIOKafkaProducer,
        dead_letter_topic: str,
        max_attempts: int = 3,
        retry_backoff: float = 0.2,
        retry_backoff_max: float = 10.0,
    ) -> None:
        self._pool = pool
        self.name = name
        self._handlers = dict(handlers)
        self._producer = dead_letter_producer
        self._dlq_topic = dead_letter_topic
        self._max_attempts = max_attempts
        self._backoff = retry_backoff
        self._backoff_max = retry_backoff_max
        self.stats: dict[Outcome, int] = {
            "applied": 0,
            "duplicates": 0,
            "skipped": 0,
            "dead_lettered": 0,
        }

    async def process(self, message: Any) -> Outcome:
        outcome = await self._process(message)
        self.stats[outcome] += 1
        EVENTS_CONSUMED.labels(consumer=self.name, outcome=outcome).inc()
        return outcome

    async def _process(self, message: Any) -> Outcome:
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
            return await self._dead_letter(message, exc, event_id=None, attempts=1)
        with structlog.contextvars.bound_contextvars(
            correlation_id=envelope.correlation_id or str(envelope.id),
            event_id=str(envelope.id),
            event_type=envelope.type,
        ):
            return await self._process_envelope(message, envelope)

    async def _process_envelope(self, message: Any, envelope: EventEnvelope) -> Outcome:
        try:
            event = decode_event(envelope)
        except EventDecodeError as exc:
            log.error("event_data_invalid", consumer=self.name, error=str(exc)[:500])
            return await self._dead_letter(message, exc, event_id=str(envelope.id), attempts=1)
        handler = self._handlers.get(type(event)) if event is not None else None
        if event is None or handler is None:
            return "skipped"
        attempt = 0
        backoff = self._backoff
        while True:
            attempt += 1
            try:
                applied = await self._apply(handler, event, envelope)
            except asyncio.CancelledError:
                raise
            except DB_UNAVAILABLE as exc:
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
                    return await self._dead_letter(
                        message, exc, event_id=str(envelope.id), attempts=attempt
                    )
                log.warning("event_handler_retry", attempt=attempt, error=repr(exc)[:500])
            else:
                return "applied" if applied else "duplicates"
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
    ) -> Outcome:
        """Never drop: retry the dead-letter send until the broker takes it."""
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
                log.warning(
                    "event_dead_lettered", consumer=self.name, dead_letter_topic=self._dlq_topic
                )
                return "dead_lettered"
