"""A consumer in its own process, so a test can SIGKILL it mid-batch.

Usage: consumer_process.py DATABASE_URL SCHEMA BOOTSTRAP TOPIC DEAD_LETTER_TOPIC GROUP
"""

from __future__ import annotations

import asyncio
import contextlib
import sys

import asyncpg

from appariement.common.messaging.consumer import IdempotentConsumer
from appariement.common.testing.kafka import TEST_SESSION_TIMEOUT_MS, ProbeEvent, apply_probe


async def main(
    database_url: str, schema: str, bootstrap: str, topic: str, dlq: str, group: str
) -> None:
    pool = await asyncpg.create_pool(
        database_url, min_size=1, max_size=2, server_settings={"search_path": schema}
    )
    consumer = IdempotentConsumer(
        pool,
        topics=[topic],
        group_id=group,
        handlers={ProbeEvent: apply_probe},
        bootstrap_servers=bootstrap,
        enable_idempotence=False,
        dead_letter_topic=dlq,
        session_timeout_ms=TEST_SESSION_TIMEOUT_MS,
        max_poll_records=10,
    )
    try:
        await consumer.run()
    finally:
        await pool.close()


if __name__ == "__main__":
    with contextlib.suppress(KeyboardInterrupt):
        asyncio.run(main(*sys.argv[1:7]))
