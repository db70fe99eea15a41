"""Outbox and relay against the real database and broker."""

from __future__ import annotations

import asyncio
import signal
import sys
import uuid
from collections.abc import Sequence
from pathlib import Path
from typing import Any

import asyncpg
import pytest
from aiokafka import AIOKafkaProducer
from prometheus_client import REGISTRY

from appariement.common.events.envelope import EventEnvelope
from appariement.common.messaging.consumer import IdempotentConsumer
from appariement.common.messaging.kafka import make_producer, missing_topics
from appariement.common.messaging.outbox import OutboxRelay, publish, purge_sent
from appariement.common.stack.info import StackInfo
from appariement.common.testing.kafka import (
    TEST_SESSION_TIMEOUT_MS,
    ProbeEvent,
    apply_probe,
    collect,
    create_topics,
    publish_raw,
)
from appariement.common.testing.polling import wait_until

RELAY_PROCESS = Path(__file__).with_name("relay_process.py")


async def publish_to(conn: asyncpg.Connection, topic: str, key: str, seq: int) -> EventEnvelope:
    """publish() a ProbeEvent to this test's own topic."""
    return await publish(conn, ProbeEvent(key=key, seq=seq), topic=topic)


def relay_for(stack: StackInfo, pool: asyncpg.Pool, **kwargs: Any) -> OutboxRelay:
    return OutboxRelay(
        pool,
        bootstrap_servers=stack.kafka_bootstrap_servers,
        enable_idempotence=stack.kafka_enable_idempotence,
        poll_interval=0.5,
        **kwargs,
    )


def ids_of(messages: Sequence[Any]) -> list[uuid.UUID]:
    return [EventEnvelope.from_bytes(m.value).id for m in messages]


async def pending_count(pool: asyncpg.Pool) -> int:
    return int(await pool.fetchval("SELECT count(*) FROM outbox WHERE sent_at IS NULL"))


async def test_publish_outside_a_transaction_is_refused(pool: asyncpg.Pool) -> None:
    async with pool.acquire() as conn:
        with pytest.raises(RuntimeError, match="transaction"):
            await publish(conn, ProbeEvent(key="k", seq=1))
        assert await conn.fetchval("SELECT count(*) FROM outbox") == 0


async def test_event_of_a_rolled_back_transaction_is_never_sent(
    stack: StackInfo, pool: asyncpg.Pool, topics: Any, background: Any
) -> None:
    (topic,) = await topics("outbox")
    rolled_back: list[EventEnvelope] = []

    async def failing_state_change(conn: asyncpg.Connection) -> None:
        async with conn.transaction():
            rolled_back.append(await publish_to(conn, topic, "k", 1))
            raise ZeroDivisionError("the state change fails after publishing")

    async with pool.acquire() as conn:
        with pytest.raises(ZeroDivisionError):
            await failing_state_change(conn)
        async with conn.transaction():
            committed = await publish_to(conn, topic, "k", 2)
    relay = relay_for(stack, pool)
    background(relay.run())
    # The committed event is the marker: once it arrived, the relay has passed its turn.
    messages = await collect(
        stack.kafka_bootstrap_servers, topic, lambda ms: committed.id in ids_of(ms), timeout=20
    )
    assert ids_of(messages) == [committed.id]
    assert rolled_back[0].id not in ids_of(messages)
    assert await pool.fetchval("SELECT count(*) FROM outbox") == 1
    assert await wait_until(
        lambda: _all_marked(pool), timeout=10, message="committed row marked sent"
    )


async def _all_marked(pool: asyncpg.Pool) -> bool:
    return await pending_count(pool) == 0


async def test_relay_killed_between_send_and_mark_resends_and_the_inbox_applies_once(
    stack: StackInfo,
    pool: asyncpg.Pool,
    pg_schema: str,
    topics: Any,
    background: Any,
    unique_name: Any,
) -> None:
    topic, dlq = await topics("outbox", "dlq")
    async with pool.acquire() as conn, conn.transaction():
        sent = [await publish_to(conn, topic, f"k{i % 2}", i) for i in range(6)]

    args = [stack.database_url, pg_schema, stack.kafka_bootstrap_servers, "--die-after-send"]
    doomed = await asyncio.create_subprocess_exec(sys.executable, str(RELAY_PROCESS), *args)
    assert await asyncio.wait_for(doomed.wait(), 60) == -signal.SIGKILL
    assert await pending_count(pool) == 6, "nothing marked: it died before the UPDATE"
    first = await collect(stack.kafka_bootstrap_servers, topic, lambda ms: len(ms) >= 6)
    assert sorted(ids_of(first)) == sorted(e.id for e in sent)

    restarted = relay_for(stack, pool)
    background(restarted.run())
    await wait_until(lambda: _all_marked(pool), timeout=20, message="rows re-sent and marked")
    twice = await collect(stack.kafka_bootstrap_servers, topic, lambda ms: len(ms) >= 12)
    assert sorted(ids_of(twice)) == sorted([e.id for e in sent] * 2)

    consumer = IdempotentConsumer(
        pool,
        topics=[topic],
        group_id=unique_name("g"),
        handlers={ProbeEvent: apply_probe},
        bootstrap_servers=stack.kafka_bootstrap_servers,
        enable_idempotence=stack.kafka_enable_idempotence,
        dead_letter_topic=dlq,
        session_timeout_ms=TEST_SESSION_TIMEOUT_MS,
    )
    background(consumer.run())
    await wait_until(
        lambda: consumer.stats["applied"] + consumer.stats["duplicates"] == 12,
        timeout=30,
        message=f"12 deliveries handled, got {consumer.stats}",
    )
    rows = await pool.fetch("SELECT event_id, count(*) AS n FROM probe_applied GROUP BY event_id")
    assert {r["event_id"]: r["n"] for r in rows} == {e.id: 1 for e in sent}
    assert consumer.stats["duplicates"] == 6


@pytest.mark.parametrize(
    "request_timeout_ms",
    [
        pytest.param(30_000, id="sends-wait-out-the-pause"),
        pytest.param(1_000, id="sends-time-out-and-are-retried"),
    ],
)
async def test_broker_paused_then_resumed_delivers_everything_in_order_per_key(
    stack: StackInfo, pool: asyncpg.Pool, topics: Any, background: Any, request_timeout_ms: int
) -> None:
    (topic,) = await topics("outbox")

    def producer() -> AIOKafkaProducer:
        return make_producer(
            stack.kafka_bootstrap_servers,
            enable_idempotence=stack.kafka_enable_idempotence,
            request_timeout_ms=request_timeout_ms,
        )

    relay = relay_for(stack, pool, producer_factory=producer, backoff_max=1.0)
    background(relay.run())
    keys = ["a", "b", "c"]
    published: list[EventEnvelope] = []

    async def publish_round(start: int, count: int) -> None:
        async with pool.acquire() as conn:
            for seq in range(start, start + count):
                async with conn.transaction():
                    published.append(await publish_to(conn, topic, keys[seq % 3], seq))

    await publish_round(0, 15)
    await wait_until(lambda: _all_marked(pool), timeout=20, message="first events sent")
    stack.pause_broker()
    try:
        await publish_round(15, 15)
        await asyncio.sleep(0.5)
        await publish_round(30, 15)
        # The fault itself: the broker stays frozen for several seconds while we commit.
        await asyncio.sleep(4)
        assert await pending_count(pool) > 0, "nothing can be marked while the broker sleeps"
    finally:
        stack.resume_broker()
    await wait_until(lambda: _all_marked(pool), timeout=60, message="all rows sent after resume")
    expected = {e.id for e in published}
    messages = await collect(
        stack.kafka_bootstrap_servers, topic, lambda ms: expected <= set(ids_of(ms)), timeout=30
    )
    seen: dict[str, list[int]] = {k: [] for k in keys}
    first_seen: set[uuid.UUID] = set()
    for message in messages:  # per partition, in offset order
        envelope = EventEnvelope.from_bytes(message.value)
        if envelope.id in first_seen:
            continue  # a redelivery: the inbox would skip it
        first_seen.add(envelope.id)
        seen[message.key.decode()].append(envelope.data["seq"])
    assert seen == {k: [s for s in range(45) if keys[s % 3] == k] for k in keys}


def _metric(name: str) -> float:
    return REGISTRY.get_sample_value(name) or 0.0


async def test_second_relay_on_a_schema_stands_by_and_takes_over_when_the_first_stops(
    stack: StackInfo, pool: asyncpg.Pool, topics: Any, background: Any
) -> None:
    (topic,) = await topics("outbox")
    # What Prometheus sees: relays holding a lock in this process, rows sent.
    active_before = _metric("outbox_relays_active")
    sent_before = _metric("outbox_events_sent_total")
    first = relay_for(stack, pool, lock_retry_seconds=0.2)
    second = relay_for(stack, pool, lock_retry_seconds=0.2)
    first_task = background(first.run())
    await wait_until(first.active.is_set, timeout=10, message="first relay active")
    background(second.run())
    async with pool.acquire() as conn, conn.transaction():
        before = await publish_to(conn, topic, "k", 1)
    await wait_until(lambda: _all_marked(pool), timeout=20, message="sent by the first")
    assert (first.sent_count, second.active.is_set()) == (1, False)
    assert _metric("outbox_relays_active") == active_before + 1  # the standby is not counted

    first_task.cancel()
    await wait_until(second.active.is_set, timeout=10, message="second relay took over")
    async with pool.acquire() as conn, conn.transaction():
        after = await publish_to(conn, topic, "k", 2)
    await wait_until(lambda: _all_marked(pool), timeout=20, message="sent by the second")
    assert (first.sent_count, second.sent_count) == (1, 1)
    await wait_until(
        lambda: _metric("outbox_relays_active") == active_before + 1,
        timeout=10,
        message="the stopped relay is no longer counted active",
    )
    assert _metric("outbox_events_sent_total") == sent_before + 2
    messages = await collect(stack.kafka_bootstrap_servers, topic, lambda ms: len(ms) >= 2)
    assert ids_of(messages) == [before.id, after.id]


async def test_an_event_published_by_a_handler_carries_the_correlation_of_its_cause(
    stack: StackInfo, pool: asyncpg.Pool, topics: Any, background: Any, unique_name: Any
) -> None:
    inbound, outbound, dlq = await topics("in", "out", "dlq")

    async def react(conn: asyncpg.Connection, event: ProbeEvent, envelope: EventEnvelope) -> None:
        await publish(conn, ProbeEvent(key=event.key, seq=event.seq + 1), topic=outbound)

    cause = EventEnvelope.wrap(ProbeEvent(key="k", seq=1), correlation_id="req-from-http")
    await publish_raw(stack.kafka_bootstrap_servers, inbound, [cause.to_bytes()])
    consumer = IdempotentConsumer(
        pool,
        topics=[inbound],
        group_id=unique_name("g"),
        handlers={ProbeEvent: react},
        bootstrap_servers=stack.kafka_bootstrap_servers,
        enable_idempotence=stack.kafka_enable_idempotence,
        dead_letter_topic=dlq,
        session_timeout_ms=TEST_SESSION_TIMEOUT_MS,
    )
    background(consumer.run())
    payload = await wait_until(
        lambda: pool.fetchval("SELECT payload::text FROM outbox WHERE topic = $1", outbound),
        timeout=30,
        message="the handler published its event",
    )
    effect = EventEnvelope.model_validate_json(payload)
    assert (effect.correlation_id, effect.causation_id) == ("req-from-http", str(cause.id))
    assert effect.data["seq"] == 2


async def test_purge_removes_only_rows_sent_before_the_cutoff(pool: asyncpg.Pool) -> None:
    async with pool.acquire() as conn:
        async with conn.transaction():
            old = await publish_to(conn, "t", "k", 1)
            recent = await publish_to(conn, "t", "k", 2)
            await publish_to(conn, "t", "k", 3)  # never sent
        await conn.execute(
            "UPDATE outbox SET sent_at = now() - interval '8 days' WHERE event_id = $1", old.id
        )
        await conn.execute("UPDATE outbox SET sent_at = now() WHERE event_id = $1", recent.id)
        cutoff = await conn.fetchval("SELECT now() - interval '7 days'")
        assert await purge_sent(conn, older_than=cutoff) == 1
        remaining = await conn.fetch("SELECT payload->'data'->>'seq' AS s FROM outbox")
        assert sorted(r["s"] for r in remaining) == ["2", "3"]


async def test_rows_for_an_undeclared_topic_wait_without_creating_it_and_others_flow(
    stack: StackInfo, pool: asyncpg.Pool, topics: Any, background: Any, unique_name: Any
) -> None:
    (declared,) = await topics("declared")
    undeclared = unique_name("undeclared")
    async with pool.acquire() as conn, conn.transaction():
        held = await publish_to(conn, undeclared, "a", 1)
        flowing = await publish_to(conn, declared, "b", 2)
    relay = relay_for(stack, pool, missing_topic_recheck_seconds=0.2)
    background(relay.run())
    await collect(stack.kafka_bootstrap_servers, declared, lambda ms: flowing.id in ids_of(ms))
    await wait_until(lambda: relay.sent_count == 1, timeout=10, message="declared row sent")
    assert await missing_topics(stack.kafka_bootstrap_servers, [undeclared]) == [undeclared]
    assert await pending_count(pool) == 1

    await create_topics(stack.kafka_bootstrap_servers, [undeclared])
    messages = await collect(
        stack.kafka_bootstrap_servers, undeclared, lambda ms: held.id in ids_of(ms)
    )
    assert ids_of(messages) == [held.id]
    await wait_until(lambda: _all_marked(pool), timeout=10, message="held row marked")


async def test_relay_reconnects_when_its_database_session_is_killed(
    stack: StackInfo, pool: asyncpg.Pool, topics: Any, background: Any
) -> None:
    (topic,) = await topics("outbox")
    relay = relay_for(stack, pool, backoff_initial=0.05)
    background(relay.run())
    await wait_until(relay.active.is_set, timeout=10, message="relay active")
    killed_pid = relay.backend_pid
    assert await pool.fetchval("SELECT pg_terminate_backend($1)", killed_pid)
    await wait_until(
        lambda: relay.active.is_set() and relay.backend_pid != killed_pid,
        timeout=15,
        message="relay back on a new session",
    )
    async with pool.acquire() as conn, conn.transaction():
        after = await publish_to(conn, topic, "k", 1)
    messages = await collect(stack.kafka_bootstrap_servers, topic, lambda ms: len(ms) >= 1)
    assert ids_of(messages) == [after.id]
