"""Fixtures of the messaging tests: a schema with the outbox/inbox migration, test topics."""

from __future__ import annotations

import asyncio
import contextlib
from collections.abc import AsyncIterator, Awaitable, Callable, Coroutine
from typing import Any

import asyncpg
import pytest
import pytest_asyncio

from appariement.common.messaging import migrations_path
from appariement.common.stack.info import StackInfo
from appariement.common.testing.kafka import PROBE_TABLE_SQL, create_topics


@pytest_asyncio.fixture(loop_scope="session")
async def pool(stack: StackInfo, pg_schema: str) -> AsyncIterator[asyncpg.Pool]:
    """A pool whose search_path is a fresh schema holding outbox, inbox and probe_applied."""
    schema_pool = await asyncpg.create_pool(
        stack.database_url, min_size=1, max_size=8, server_settings={"search_path": pg_schema}
    )
    try:
        async with schema_pool.acquire() as conn:
            for sql in sorted(migrations_path().iterdir(), key=lambda p: p.name):
                if sql.name.endswith(".sql"):
                    await conn.execute(sql.read_text())
            await conn.execute(PROBE_TABLE_SQL)
        yield schema_pool
    finally:
        await schema_pool.close()


@pytest_asyncio.fixture(loop_scope="session")
async def topics(
    stack: StackInfo, unique_name: Callable[[str], str]
) -> Callable[..., Awaitable[list[str]]]:
    """``await topics("events", "dlq")`` -> unique topic names, created with 3 partitions."""

    async def make(*prefixes: str, partitions: int = 3) -> list[str]:
        names = [unique_name(p) for p in prefixes]
        await create_topics(stack.kafka_bootstrap_servers, names, partitions)
        return names

    return make


@pytest_asyncio.fixture(loop_scope="session")
async def background() -> AsyncIterator[Callable[[Coroutine[Any, Any, None]], asyncio.Task[None]]]:
    """Run coroutines (relays, consumers) as tasks cancelled at the end of the test."""
    tasks: list[asyncio.Task[None]] = []

    def start(coro: Coroutine[Any, Any, None]) -> asyncio.Task[None]:
        task = asyncio.create_task(coro)
        tasks.append(task)
        return task

    yield start
    for task in tasks:
        task.cancel()
    for task in tasks:
        with contextlib.suppress(asyncio.CancelledError, Exception):
            await task


@pytest.fixture
def bootstrap(stack: StackInfo) -> str:
    return stack.kafka_bootstrap_servers
