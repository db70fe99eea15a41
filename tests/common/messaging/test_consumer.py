"""Idempotent consumer: dead letters, malformed input, unknown types, kill and restart."""

from __future__ import annotations

import asyncio
import os
import signal
import subprocess
import sys
import uuid
from collections.abc import Callable
from pathlib import Path
from types import SimpleNamespace
from typing import Any

import asyncpg
import pytest
from aiokafka import AIOKafkaConsumer, AIOKafkaProducer, TopicPartition
from prometheus_client import REGISTRY

from appariement.common.events.envelope import EventEnvelope
from appariement.common.messaging import dead_letters as dl
from appariement.common.messaging.consumer import IdempotentConsumer, TopicsMissingError
from appariement.common.messaging.guard import InboxGuard
from appariement.common.stack.info import StackInfo
from appariement.common.testing.kafka import (
    TEST_SESSION_TIMEOUT_MS,
    ProbeEvent,
    apply_probe,
    collect,
    probe_bytes,
    publish_raw,
)
from appariement.common.testing.polling import wait_until

CONSUMER_PROCESS = Path(__file__).with_name("consumer_process.py")


def consumer_for(
    stack: StackInfo, pool: asyncpg.Pool, topic: str, dlq: str, group: str, **kwargs: Any
) -> IdempotentConsumer:
    return IdempotentConsumer(
        pool,
        topics=[topic],
        group_id=group,
        handlers={ProbeEvent: apply_probe},
        bootstrap_servers=stack.kafka_bootstrap_servers,
        enable_idempotence=stack.kafka_enable_idempotence,
        dead_letter_topic=dlq,
        session_timeout_ms=TEST_SESSION_TIMEOUT_MS,
        retry_backoff=0.05,
        **kwargs,
    )


async def applied_seqs(pool: asyncpg.Pool) -> list[int]:
    return [r["seq"] for r in await pool.fetch("SELECT seq FROM probe_applied ORDER BY id")]


async def test_handler_that_always_fails_dead_letters_the_event_and_moves_on(
    stack: StackInfo, pool: asyncpg.Pool, topics: Any, background: Any, unique_name: Any
) -> None:
    topic, dlq = await topics("events", "dlq", partitions=1)
    poison, poison_bytes = probe_bytes("k", 1, fail=True)
    _, next_bytes = probe_bytes("k", 2)
    await publish_raw(stack.kafka_bootstrap_servers, topic, [poison_bytes, next_bytes], key=b"k")
    consumer = consumer_for(stack, pool, topic, dlq, unique_name("g"), max_attempts=3)
    background(consumer.run())

    await wait_until(lambda: applied_seqs(pool), timeout=30, message="next event applied")
    assert await applied_seqs(pool) == [2]
    (letter,) = await collect(stack.kafka_bootstrap_servers, dlq, lambda ms: len(ms) >= 1)
    assert letter.value == poison_bytes
    assert dl.header(letter, dl.H_EVENT_ID) == str(poison.id)
    assert dl.header(letter, dl.H_ERROR_TYPE) == "RuntimeError"
    assert "fails on purpose" in (dl.header(letter, dl.H_ERROR_MESSAGE) or "")
    assert dl.header(letter, dl.H_TOPIC) == topic
    assert (dl.header(letter, dl.H_PARTITION), dl.header(letter, dl.H_OFFSET)) == ("0", "0")
    assert dl.header(letter, dl.H_ATTEMPTS) == "3"
    assert dl.header(letter, dl.H_GROUP) == consumer.name
    inbox = await pool.fetchval("SELECT count(*) FROM inbox WHERE event_id = $1", poison.id)
    assert inbox == 0, "a failed handler's inbox claim is rolled back with it"


async def test_malformed_json_is_dead_lettered_and_not_fatal(
    stack: StackInfo, pool: asyncpg.Pool, topics: Any, background: Any, unique_name: Any
) -> None:
    topic, dlq = await topics("events", "dlq", partitions=1)
    _, valid = probe_bytes("k", 7)
    await publish_raw(stack.kafka_bootstrap_servers, topic, [b'{"id": oops', valid], key=b"k")
    consumer = consumer_for(stack, pool, topic, dlq, unique_name("g"))
    background(consumer.run())

    await wait_until(lambda: applied_seqs(pool), timeout=30, message="valid event applied")
    assert await applied_seqs(pool) == [7]
    (letter,) = await collect(stack.kafka_bootstrap_servers, dlq, lambda ms: len(ms) >= 1)
    assert letter.value == b'{"id": oops'
    assert dl.header(letter, dl.H_ERROR_TYPE) == "EnvelopeError"
    assert dl.header(letter, dl.H_EVENT_ID) == ""


async def test_unknown_event_type_is_skipped_and_a_redelivery_is_applied_once(
    stack: StackInfo, pool: asyncpg.Pool, topics: Any, background: Any, unique_name: Any
) -> None:
    topic, dlq = await topics("events", "dlq", partitions=1)
    known, known_bytes = probe_bytes("k", 1)
    unknown = known.model_copy(update={"type": "ProbeFromTheFuture", "id": uuid.uuid4()})
    newer = known.model_copy(update={"version": 2, "id": uuid.uuid4()})
    await publish_raw(
        stack.kafka_bootstrap_servers,
        topic,
        [unknown.to_bytes(), newer.to_bytes(), known_bytes, known_bytes],
        key=b"k",
    )
    consumer = consumer_for(stack, pool, topic, dlq, unique_name("g"))
    background(consumer.run())

    await wait_until(
        lambda: consumer.stats["duplicates"] == 1, timeout=30, message=f"{consumer.stats}"
    )
    assert consumer.stats == {"applied": 1, "duplicates": 1, "skipped": 2, "dead_lettered": 0}
    assert await applied_seqs(pool) == [1]


async def test_consumer_killed_mid_batch_and_restarted_applies_each_event_once(
    stack: StackInfo, pool: asyncpg.Pool, pg_schema: str, topics: Any, unique_name: Any
) -> None:
    topic, dlq = await topics("events", "dlq")
    total = 120
    payloads = [probe_bytes(f"k{i % 7}", i, delay_ms=10)[1] for i in range(total)]
    await publish_raw(stack.kafka_bootstrap_servers, topic, payloads)
    group = unique_name("g")

    def start() -> subprocess.Popen[bytes]:
        args = [stack.database_url, pg_schema, stack.kafka_bootstrap_servers, topic, dlq, group]
        return subprocess.Popen(
            [sys.executable, str(CONSUMER_PROCESS), *args],
            env={**os.environ, "PYTHONUNBUFFERED": "1"},
        )

    async def count() -> int:
        return int(await pool.fetchval("SELECT count(*) FROM probe_applied"))

    first = start()
    try:
        await wait_until(lambda: _gt(count, 20), timeout=60, message="first consumer applying")
        first.send_signal(signal.SIGKILL)  # no shutdown hook, no final commit
        await asyncio.to_thread(first.wait, 10)
    finally:
        first.kill()
    applied_before_kill = await count()
    assert applied_before_kill < total, "killed mid-stream, not after the end"
    committed = await committed_offsets(stack.kafka_bootstrap_servers, group, topic, 3)
    assert committed <= applied_before_kill, "offsets are committed only after the effects"
    second = start()
    try:
        await wait_until(
            lambda: _distinct_is(pool, total), timeout=90, message="all events applied"
        )
    finally:
        second.terminate()
        await asyncio.to_thread(second.wait, 15)
    rows = await pool.fetch("SELECT seq, count(*) AS n FROM probe_applied GROUP BY seq")
    assert {r["seq"]: r["n"] for r in rows} == dict.fromkeys(range(total), 1)


async def committed_offsets(bootstrap: str, group: str, topic: str, partitions: int) -> int:
    """Sum of the group's committed offsets: how many messages it will not re-read."""
    reader = AIOKafkaConsumer(bootstrap_servers=bootstrap, group_id=group, enable_auto_commit=False)
    await reader.start()  # not subscribed: it only asks the coordinator
    try:
        offsets = [await reader.committed(TopicPartition(topic, p)) for p in range(partitions)]
    finally:
        await reader.stop()
    return sum(offset or 0 for offset in offsets)


async def _gt(count: Callable[[], Any], threshold: int) -> bool:
    return bool(await count() > threshold)


async def _distinct_is(pool: asyncpg.Pool, total: int) -> bool:
    return bool(await pool.fetchval("SELECT count(DISTINCT seq) FROM probe_applied") == total)


async def test_consumer_refuses_to_start_on_a_topic_that_was_never_created(
    stack: StackInfo, pool: asyncpg.Pool, topics: Any, unique_name: Any
) -> None:
    (dlq,) = await topics("dlq")
    consumer = consumer_for(stack, pool, unique_name("never_created"), dlq, unique_name("g"))
    with pytest.raises(TopicsMissingError, match="never_created"):
        await asyncio.wait_for(consumer.run(), 20)


async def test_two_members_of_a_group_share_the_partitions_and_apply_each_event_once(
    stack: StackInfo, pool: asyncpg.Pool, topics: Any, background: Any, unique_name: Any
) -> None:
    topic, dlq = await topics("fanout", "dlq", partitions=12)
    group = unique_name("g")
    members = [consumer_for(stack, pool, topic, dlq, group) for _ in range(2)]
    for member in members:
        background(member.run())
    total = 60
    payloads = [probe_bytes(f"part{i % 12}", i)[1] for i in range(total)]
    for i, payload in enumerate(payloads):
        await publish_raw(
            stack.kafka_bootstrap_servers, topic, [payload], key=f"part{i % 12}".encode()
        )
    await wait_until(lambda: _distinct_is(pool, total), timeout=60, message="all applied")
    rows = await pool.fetch("SELECT seq, count(*) AS n FROM probe_applied GROUP BY seq")
    assert {r["seq"]: r["n"] for r in rows} == dict.fromkeys(range(total), 1)
    assert all(m.stats["applied"] > 0 for m in members), [m.stats for m in members]


async def test_inbox_guard_used_outside_the_consumer_loop_applies_a_message_once(
    stack: StackInfo, pool: asyncpg.Pool, topics: Any
) -> None:
    """What a faust agent does with ``event.message``: same guarantees, no aiokafka loop."""
    (dlq,) = await topics("dlq")
    producer = AIOKafkaProducer(bootstrap_servers=stack.kafka_bootstrap_servers)
    await producer.start()
    try:
        guard = InboxGuard(
            pool,
            name="stats-agent",
            handlers={ProbeEvent: apply_probe},
            dead_letter_producer=producer,
            dead_letter_topic=dlq,
        )
        _, value = probe_bytes("k", 3)
        record = SimpleNamespace(
            topic="t", partition=0, offset=9, key=b"k", value=value, headers=()
        )
        outcomes = [await guard.process(record), await guard.process(record)]
        malformed = SimpleNamespace(**{**vars(record), "value": b"\x00"})
        outcomes.append(await guard.process(malformed))
    finally:
        await producer.stop()
    assert outcomes == ["applied", "duplicates", "dead_lettered"]
    assert await applied_seqs(pool) == [3]
    # Prometheus counts each outcome per consumer (what ops graph and alert on).
    for outcome in ("applied", "duplicates", "dead_lettered"):
        labels = {"consumer": "stats-agent", "outcome": outcome}
        assert REGISTRY.get_sample_value("events_consumed_total", labels) == 1.0


async def test_database_session_lost_during_a_handler_is_retried_not_dead_lettered(
    stack: StackInfo, pool: asyncpg.Pool, topics: Any, background: Any, unique_name: Any
) -> None:
    topic, dlq = await topics("events", "dlq", partitions=1)
    sessions: list[int] = []

    async def loses_its_session_once(
        conn: asyncpg.Connection, event: ProbeEvent, envelope: EventEnvelope
    ) -> None:
        sessions.append(conn.get_server_pid())
        if len(sessions) == 1:  # the database drops us in the middle of the transaction
            await pool.fetchval("SELECT pg_terminate_backend($1)", sessions[0])
        await apply_probe(conn, event, envelope)

    _, value = probe_bytes("k", 5)
    await publish_raw(stack.kafka_bootstrap_servers, topic, [value])
    consumer = IdempotentConsumer(
        pool,
        topics=[topic],
        group_id=unique_name("g"),
        handlers={ProbeEvent: loses_its_session_once},
        bootstrap_servers=stack.kafka_bootstrap_servers,
        enable_idempotence=stack.kafka_enable_idempotence,
        dead_letter_topic=dlq,
        session_timeout_ms=TEST_SESSION_TIMEOUT_MS,
        max_attempts=1,  # a handler failure would dead-letter at once
        retry_backoff=0.05,
    )
    background(consumer.run())
    await wait_until(lambda: consumer.stats["applied"] == 1, timeout=30, message="applied")
    assert consumer.stats["dead_lettered"] == 0
    assert len(sessions) == 2
    assert sessions[0] != sessions[1]
    assert await applied_seqs(pool) == [5]
