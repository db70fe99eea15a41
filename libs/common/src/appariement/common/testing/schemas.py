"""One throw-away Postgres schema per test: what the `pg_schema` fixture is made of."""

import contextlib
from collections.abc import AsyncIterator

import asyncpg


@contextlib.asynccontextmanager
async def fresh_schema(database_url: str, name: str) -> AsyncIterator[str]:
    """Create schema `name` (a `unique_name`), yield it, drop it with everything in it."""
    conn = await asyncpg.connect(database_url)
    try:
        await conn.execute(f'CREATE SCHEMA "{name}"')
    finally:
        await conn.close()
    try:
        yield name
    finally:
        conn = await asyncpg.connect(database_url)
        try:
            await conn.execute(f'DROP SCHEMA IF EXISTS "{name}" CASCADE')
        finally:
            await conn.close()
