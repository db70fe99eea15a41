"""pytest fixtures on real servers: one fresh stack per test session, isolation per test.

Registered for the whole repository with `-p appariement.common.testing` (root pyproject).
The stack lives in a pytest tmp dir, never in `var/`, so concurrent test runs and a developer's
`make run` do not meet. Each test isolates itself with `unique_name`, `pg_schema`, its own
topics and consumer groups.
"""

import mailbox
import os
import re
import secrets
from collections.abc import AsyncIterator, Callable

import asyncpg
import pytest
import pytest_asyncio

from appariement.common.stack.core import start_stack
from appariement.common.stack.info import StackInfo
from appariement.common.testing.schemas import fresh_schema

__all__ = ["maildir", "pg_pool", "pg_schema", "stack", "unique_name"]


@pytest_asyncio.fixture(scope="session", loop_scope="session")
async def stack(tmp_path_factory: pytest.TempPathFactory) -> AsyncIterator[StackInfo]:
    """PostgreSQL, Tansu and the SMTP sink, started once per session (concurrently)."""
    var_dir = tmp_path_factory.mktemp("stack")
    running = await start_stack(var_dir, attached=True, ephemeral=True, environ=os.environ)
    try:
        yield running.info
    finally:
        running.stop()


@pytest.fixture
def unique_name(request: pytest.FixtureRequest) -> Callable[[str], str]:
    """`unique_name("orders")` -> `orders_3f9a1c2b7e`: unique per call, valid as a topic,
    consumer group or Postgres identifier (lowercase `[a-z0-9_]`, at most 50 characters)."""
    del request

    def make(prefix: str) -> str:
        slug = re.sub(r"[^a-z0-9_]+", "_", prefix.lower()).strip("_")[:38] or "t"
        if slug[0].isdigit():
            slug = f"t{slug}"[:38]
        return f"{slug}_{secrets.token_hex(5)}"

    return make


@pytest_asyncio.fixture(loop_scope="session")
async def pg_schema(stack: StackInfo, unique_name: Callable[[str], str]) -> AsyncIterator[str]:
    """A fresh, empty schema for this test, dropped (CASCADE) afterwards."""
    async with fresh_schema(stack.database_url, unique_name("test")) as name:
        yield name


@pytest_asyncio.fixture(loop_scope="session")
async def pg_pool(stack: StackInfo) -> AsyncIterator[asyncpg.Pool]:
    """An asyncpg pool (1 to 5 connections) on the stack's database, closed afterwards."""
    pool = await asyncpg.create_pool(stack.database_url, min_size=1, max_size=5)
    try:
        yield pool
    finally:
        await pool.close()


@pytest.fixture
def maildir(stack: StackInfo) -> mailbox.Maildir:
    """The SMTP sink's Maildir (read it with `appariement.common.testing.maildir` helpers)."""
    return mailbox.Maildir(stack.maildir, create=True)
