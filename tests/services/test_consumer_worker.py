"""A service's consumer declared with `consumer_worker` runs under the runner: it consumes
its topic with the service's pool and broker settings, and the inbox makes a message
delivered twice take effect once."""

import os
import signal
import subprocess
import sys
import textwrap
from collections.abc import Callable
from pathlib import Path

import asyncpg

from appariement.common.stack.info import StackInfo
from appariement.common.stack.ports import free_port
from appariement.common.testing.kafka import (
    PROBE_TABLE_SQL,
    TEST_SESSION_TIMEOUT_MS,
    create_topics,
    probe_bytes,
    publish_raw,
)
from appariement.common.testing.polling import wait_until


def _start(args: list[str], env: dict[str, str], log: Path) -> subprocess.Popen[bytes]:
    with log.open("wb") as out:
        return subprocess.Popen(args, env=env, stdout=out, stderr=subprocess.STDOUT)


SERVICE = textwrap.dedent(
    """
    import os
    import sys

    from appariement.common.service import ServiceSpec, consumer_worker, main
    from appariement.common.testing.kafka import ProbeEvent, apply_probe
    from appariement.support.config import Settings

    SPEC = ServiceSpec(
        name="support",
        title="Appariement — consumer worker test",
        settings_class=Settings,
        workers=[
            consumer_worker(
                "probes", topics=[os.environ["PROBE_TOPIC"]], handlers={ProbeEvent: apply_probe}
            )
        ],
        relay=False,
    )
    sys.exit(main(SPEC, sys.argv[1:]))
    """
)


async def test_consumer_worker_applies_a_redelivered_event_once_then_stops_cleanly(
    stack: StackInfo,
    unique_name: Callable[[str], str],
    pg_pool: asyncpg.Pool,
    tmp_path: Path,
) -> None:
    schema, topic = unique_name("consumer"), unique_name("probes")
    async with pg_pool.acquire() as conn:
        await conn.execute(f"CREATE SCHEMA {schema}")
        await conn.execute(f"SET search_path TO {schema}")
        await conn.execute(PROBE_TABLE_SQL)
    await create_topics(stack.kafka_bootstrap_servers, [topic], partitions=1)
    script = tmp_path / "service.py"
    script.write_text(SERVICE)
    log = tmp_path / "service.log"
    env = {
        **os.environ,
        **stack.env,
        "APPARIEMENT_STACK_ENV": "",
        "DATABASE_SCHEMA": schema,
        "HTTP_PORT": str(free_port()),  # workers serve /healthz and /metrics too
        "KAFKA_SESSION_TIMEOUT_MS": str(TEST_SESSION_TIMEOUT_MS),
        "LOG_FORMAT": "console",
        "PROBE_TOPIC": topic,
    }
    process = _start([sys.executable, str(script), "--only", "workers"], env, log)
    try:
        envelope, value = probe_bytes("k1", 1)
        # The same message twice (at-least-once delivery): the inbox applies it once.
        await publish_raw(stack.kafka_bootstrap_servers, topic, [value, value], key=b"k1")

        async def applied() -> list[asyncpg.Record]:
            return await pg_pool.fetch(f"SELECT event_id, key, seq FROM {schema}.probe_applied")

        async def seen_twice() -> bool:
            assert process.poll() is None, log.read_text()
            return "event_duplicate" in log.read_text() or len(await applied()) > 1

        async def applied_once() -> bool:
            assert process.poll() is None, log.read_text()
            return bool(await applied())

        await wait_until(applied_once, timeout=60, message="the consumer never applied it")
        await wait_until(seen_twice, timeout=30, message="the duplicate was never consumed")
        rows = await applied()
        assert [(r["event_id"], r["key"], r["seq"]) for r in rows] == [(envelope.id, "k1", 1)]
        assert "consumer_started" in log.read_text()
        process.send_signal(signal.SIGINT)
        assert process.wait(timeout=20) == 0, log.read_text()
    finally:
        if process.poll() is None:
            process.kill()
            process.wait()
        async with pg_pool.acquire() as conn:
            await conn.execute(f"DROP SCHEMA IF EXISTS {schema} CASCADE")
