"""Pool and migrations on the real PostgreSQL of the test stack."""

import asyncio
from collections.abc import Callable
from pathlib import Path

import asyncpg
import pytest

from appariement.common.db import (
    COMMON_MIGRATIONS,
    MigrationError,
    MigrationSource,
    create_pool,
    open_database,
    run_migrations,
)
from appariement.common.settings import BaseServiceSettings
from appariement.common.stack.info import StackInfo


def source(directory: Path, label: str = "svc", **files: str) -> MigrationSource:
    """A migration directory holding `files` (name -> SQL)."""
    directory.mkdir(parents=True, exist_ok=True)
    for name, sql in files.items():
        (directory / name).write_text(sql)
    return MigrationSource(label, directory)


async def applied(conn: asyncpg.Connection, schema: str) -> list[tuple[str, str]]:
    rows = await conn.fetch(
        f'SELECT source, name FROM "{schema}".schema_migrations ORDER BY applied_at, name'
    )
    return [(row["source"], row["name"]) for row in rows]


async def tables(conn: asyncpg.Connection, schema: str) -> set[str]:
    rows = await conn.fetch(
        "SELECT table_name FROM information_schema.tables WHERE table_schema = $1", schema
    )
    return {row["table_name"] for row in rows}


async def test_migrations_apply_in_name_order_once_and_are_recorded(
    pg_pool: asyncpg.Pool, pg_schema: str, tmp_path: Path
) -> None:
    migrations = source(
        tmp_path / "m",
        **{
            # 0010 sorts after 0002 by name; it needs the table 0002 creates.
            "0010_seed.sql": "INSERT INTO posts (id) VALUES (1), (2);",
            "0001_sites.sql": "CREATE TABLE sites (id int PRIMARY KEY);",
            "0002_posts.sql": "CREATE TABLE posts (id int PRIMARY KEY);",
            "README.md": "not a migration",
        },
    )

    first = await run_migrations(pg_pool, schema=pg_schema, sources=[migrations])
    second = await run_migrations(pg_pool, schema=pg_schema, sources=[migrations])

    assert first == ["svc/0001_sites.sql", "svc/0002_posts.sql", "svc/0010_seed.sql"]
    assert second == []
    async with pg_pool.acquire() as conn:
        assert await applied(conn, pg_schema) == [
            ("svc", "0001_sites.sql"),
            ("svc", "0002_posts.sql"),
            ("svc", "0010_seed.sql"),
        ]
        assert await conn.fetchval(f'SELECT count(*) FROM "{pg_schema}".posts') == 2
        checksum = await conn.fetchval(
            f'SELECT checksum FROM "{pg_schema}".schema_migrations WHERE name = $1',
            "0001_sites.sql",
        )
    assert len(checksum) == 64


async def test_common_migrations_run_first_then_the_service_own(
    pg_pool: asyncpg.Pool, pg_schema: str, tmp_path: Path
) -> None:
    own = source(tmp_path / "own", "candidature", **{"0001_wishes.sql": "CREATE TABLE w (x int);"})

    done = await run_migrations(pg_pool, schema=pg_schema, sources=[COMMON_MIGRATIONS, own])

    assert done[0] == "common/0001_outbox_inbox.sql"
    assert done[-1] == "candidature/0001_wishes.sql"
    async with pg_pool.acquire() as conn:
        assert {"outbox", "w", "schema_migrations"} <= await tables(conn, pg_schema)


async def test_a_failing_migration_rolls_back_only_itself_and_stops(
    pg_pool: asyncpg.Pool, pg_schema: str, tmp_path: Path
) -> None:
    migrations = source(
        tmp_path / "m",
        **{
            "0001_ok.sql": "CREATE TABLE good (id int);",
            "0002_broken.sql": "CREATE TABLE half (id int); SELECT no_such_column FROM good;",
            "0003_later.sql": "CREATE TABLE later (id int);",
        },
    )

    with pytest.raises(MigrationError, match=r"0002_broken\.sql"):
        await run_migrations(pg_pool, schema=pg_schema, sources=[migrations])

    async with pg_pool.acquire() as conn:
        assert await applied(conn, pg_schema) == [("svc", "0001_ok.sql")]
        assert await tables(conn, pg_schema) == {"schema_migrations", "good"}


async def test_an_edited_applied_migration_refuses_to_start(
    pg_pool: asyncpg.Pool, pg_schema: str, tmp_path: Path
) -> None:
    directory = tmp_path / "m"
    migrations = source(directory, **{"0001_a.sql": "CREATE TABLE a (id int);"})
    await run_migrations(pg_pool, schema=pg_schema, sources=[migrations])
    (directory / "0001_a.sql").write_text("CREATE TABLE a (id bigint);")
    (directory / "0002_b.sql").write_text("CREATE TABLE b (id int);")

    with pytest.raises(MigrationError, match=r"svc/0001_a\.sql"):
        await run_migrations(pg_pool, schema=pg_schema, sources=[migrations])

    async with pg_pool.acquire() as conn:
        assert "b" not in await tables(conn, pg_schema)  # nothing applied after the refusal


async def test_line_endings_do_not_change_the_checksum(
    pg_pool: asyncpg.Pool, pg_schema: str, tmp_path: Path
) -> None:
    directory = tmp_path / "m"
    migrations = source(directory, **{"0001_a.sql": "CREATE TABLE a (id int);\n"})
    await run_migrations(pg_pool, schema=pg_schema, sources=[migrations])
    (directory / "0001_a.sql").write_bytes(b"CREATE TABLE a (id int);\r\n")

    assert await run_migrations(pg_pool, schema=pg_schema, sources=[migrations]) == []


async def test_concurrent_starters_apply_each_migration_once(
    stack: StackInfo, pg_schema: str, tmp_path: Path
) -> None:
    # Without the lock both runners would see 0001 pending and the second CREATE would fail.
    migrations = source(
        tmp_path / "m",
        **{"0001_slow.sql": "SELECT pg_sleep(0.3); CREATE TABLE once (id int);"},
    )
    first = await asyncpg.connect(stack.database_url)
    second = await asyncpg.connect(stack.database_url)
    try:
        results = await asyncio.gather(
            run_migrations(first, schema=pg_schema, sources=[migrations]),
            run_migrations(second, schema=pg_schema, sources=[migrations]),
        )
        assert sorted(results) == [[], ["svc/0001_slow.sql"]]
        assert await applied(first, pg_schema) == [("svc", "0001_slow.sql")]
    finally:
        await first.close()
        await second.close()


async def test_pool_creates_its_schema_and_uses_it_in_utc(
    stack: StackInfo, unique_name: Callable[[str], str]
) -> None:
    schema = unique_name("pool")
    pool = await create_pool(stack.database_url, schema=schema, min_size=1, max_size=2)
    try:
        async with pool.acquire() as conn:
            assert await conn.fetchval("SELECT current_schema()") == schema
            assert await conn.fetchval("SHOW timezone") == "UTC"
            await conn.execute("CREATE TABLE mine (id int)")  # lands in the schema
            assert await tables(conn, schema) == {"mine"}
        # A second start finds the schema there.
        again = await create_pool(stack.database_url, schema=schema, min_size=1, max_size=1)
        await again.close()
    finally:
        await pool.close()
        conn = await asyncpg.connect(stack.database_url)
        try:
            await conn.execute(f'DROP SCHEMA "{schema}" CASCADE')
        finally:
            await conn.close()


def test_badly_named_or_duplicate_numbered_files_are_refused(tmp_path: Path) -> None:
    misnamed = source(tmp_path / "a", **{"create_posts.sql": "SELECT 1;"})
    duplicated = source(tmp_path / "b", **{"0002_a.sql": "SELECT 1;", "0002_b.sql": "SELECT 1;"})

    with pytest.raises(MigrationError, match=r"NNNN_name\.sql"):
        misnamed.migrations()
    with pytest.raises(MigrationError, match="share a number"):
        duplicated.migrations()


def test_sources_resolve_only_when_read() -> None:
    later = MigrationSource("later", "appariement.not_written_yet.migrations")
    with pytest.raises(MigrationError, match="no package"):
        later.migrations()
    assert next(m.name for m in COMMON_MIGRATIONS.migrations()) == "0001_outbox_inbox.sql"


async def test_open_database_makes_the_pool_and_migrates(
    stack: StackInfo, unique_name: Callable[[str], str], tmp_path: Path
) -> None:
    schema = unique_name("svc")
    settings = BaseServiceSettings(
        environment="test", database_url=stack.database_url, database_schema=schema
    )
    own = source(tmp_path / "m", "support", **{"0001_tickets.sql": "CREATE TABLE tickets ();"})
    pool = await open_database(settings, sources=[COMMON_MIGRATIONS, own])
    try:
        async with pool.acquire() as conn:
            assert {"outbox", "tickets"} <= await tables(conn, schema)
            assert [name for _, name in await applied(conn, schema)][-1] == "0001_tickets.sql"
    finally:
        await pool.close()
        conn = await asyncpg.connect(stack.database_url)
        try:
            await conn.execute(f'DROP SCHEMA "{schema}" CASCADE')
        finally:
            await conn.close()
