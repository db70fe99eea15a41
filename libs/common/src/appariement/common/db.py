"""PostgreSQL access: one asyncpg pool per service on its own schema, and plain-SQL migrations.

Migrations are `NNNN_name.sql` files applied at start-up in name order, common ones first
(outbox, inbox), then the service's own. Each file runs in its own transaction and is
recorded in `<schema>.schema_migrations`; a session advisory lock makes concurrent starters
(several replicas, API and workers) apply each file once; a file edited after it was applied
stops the start-up, because the database no longer matches the code that describes it.
A file therefore never holds BEGIN/COMMIT nor statements that refuse a transaction
(`CREATE INDEX CONCURRENTLY`); unqualified names in it land in the service's schema.
"""

import contextlib
import hashlib
import re
from collections.abc import Sequence
from dataclasses import dataclass
from importlib.resources import files
from importlib.resources.abc import Traversable
from pathlib import Path
from typing import Any, cast

import asyncpg
import structlog

from appariement.common.settings import BaseServiceSettings

log = structlog.get_logger(__name__)

_IDENTIFIER = re.compile(r"^[a-z_][a-z0-9_]{0,62}$")
_MIGRATION_NAME = re.compile(r"^(\d+)_[A-Za-z0-9_]+\.sql$")
# Two-int advisory lock key: (namespace of this module, hash of the schema).
_LOCK_NAMESPACE = 0x41505052  # "APPR"

Connection = asyncpg.Connection
Pool = asyncpg.Pool


class MigrationError(RuntimeError):
    """A migration could not be applied, or the applied ones no longer match the files."""


def quote_ident(name: str) -> str:
    """A schema name checked and double-quoted (names come from settings, never from users)."""
    if not _IDENTIFIER.match(name):
        raise ValueError(f"{name!r} is not a lowercase SQL identifier")
    return f'"{name}"'


@dataclass(frozen=True)
class MigrationSource:
    """Where one set of migrations lives: a package (`"appariement.identity.migrations"`,
    read with importlib.resources, so it works installed) or a directory path. Resolved only
    when migrations run, so a source may be declared before its files exist."""

    label: str
    package_or_path: str | Path

    def directory(self) -> Traversable:
        target = self.package_or_path
        if isinstance(target, Path) or "/" in target or "\\" in target:
            path = Path(target)
            if not path.is_dir():
                raise MigrationError(f"migrations {self.label!r}: {path} is not a directory")
            return path
        try:
            return files(target)
        except ModuleNotFoundError as exc:
            raise MigrationError(f"migrations {self.label!r}: no package {target!r}") from exc

    def migrations(self) -> list["Migration"]:
        """The source's `.sql` files in name order; refuses badly named or duplicate numbers."""
        found: list[Migration] = []
        numbers: dict[int, str] = {}
        for entry in self.directory().iterdir():
            if not entry.is_file() or not entry.name.endswith(".sql"):
                continue
            match = _MIGRATION_NAME.match(entry.name)
            if match is None:
                raise MigrationError(
                    f"migrations {self.label!r}: {entry.name!r} is not named NNNN_name.sql"
                )
            number = int(match.group(1))
            if number in numbers:
                raise MigrationError(
                    f"migrations {self.label!r}: {numbers[number]!r} and {entry.name!r} "
                    "share a number"
                )
            numbers[number] = entry.name
            sql = entry.read_text(encoding="utf-8")
            found.append(Migration(self.label, entry.name, sql, checksum(sql)))
        return sorted(found, key=lambda m: m.name)


@dataclass(frozen=True)
class Migration:
    source: str
    name: str
    sql: str
    checksum: str


def checksum(sql: str) -> str:
    """SHA-256 of the file's text with line endings normalised (a checkout with CRLF is the
    same migration)."""
    return hashlib.sha256(sql.replace("\r\n", "\n").encode("utf-8")).hexdigest()


COMMON_MIGRATIONS = MigrationSource("common", "appariement.common.messaging.migrations")


async def ensure_schema(conn: Connection, schema: str) -> None:
    """Create the schema if missing; tolerates a concurrent creator."""
    # A concurrent creator can win between the existence check and the insert.
    with contextlib.suppress(asyncpg.UniqueViolationError, asyncpg.DuplicateSchemaError):
        await conn.execute(f"CREATE SCHEMA IF NOT EXISTS {quote_ident(schema)}")


async def create_pool(
    database_url: str,
    *,
    schema: str,
    min_size: int = 1,
    max_size: int = 10,
    **connect_kwargs: Any,
) -> Pool:
    """A pool whose connections use `schema` as search_path and UTC as time zone.

    The schema is created first if missing, so a fresh database needs no manual step.
    Other keyword arguments (`init=`, `command_timeout=`...) go to `asyncpg.create_pool`.
    """
    conn = await asyncpg.connect(database_url)
    try:
        await ensure_schema(conn, schema)
    finally:
        await conn.close()
    server_settings = {"search_path": quote_ident(schema), "timezone": "UTC"}
    server_settings.update(connect_kwargs.pop("server_settings", {}))
    pool = await asyncpg.create_pool(
        database_url,
        min_size=min_size,
        max_size=max_size,
        server_settings=server_settings,
        **connect_kwargs,
    )
    return pool


async def open_database(
    settings: BaseServiceSettings, *, sources: Sequence[MigrationSource]
) -> Pool:
    """The start-up step of a service: its pool on its schema, migrations applied.

    Typically `sources=[COMMON_MIGRATIONS, MigrationSource("identity",
    "appariement.identity.migrations")]`. The pool is closed again if the migrations fail.
    """
    pool = await create_pool(
        settings.database_url,
        schema=settings.database_schema,
        min_size=settings.database_pool_min_size,
        max_size=settings.database_pool_max_size,
    )
    try:
        await run_migrations(pool, schema=settings.database_schema, sources=sources)
    except BaseException:
        await pool.close()
        raise
    return pool


async def run_migrations(
    pool_or_conn: Pool | Connection,
    *,
    schema: str,
    sources: Sequence[MigrationSource],
) -> list[str]:
    """Apply the pending migrations of `sources` (in that order) to `schema`.

    Returns the `source/name` of the files applied now (empty when up to date). Raises
    MigrationError when an applied file's checksum changed (before applying anything) or
    when a file fails (its transaction is rolled back; files before it stay applied).
    """
    if isinstance(pool_or_conn, asyncpg.Pool):
        async with pool_or_conn.acquire() as conn:
            return await _run_locked(cast(Connection, conn), schema, sources)
    return await _run_locked(pool_or_conn, schema, sources)


async def _run_locked(
    conn: Connection, schema: str, sources: Sequence[MigrationSource]
) -> list[str]:
    wanted = [migration for source in sources for migration in source.migrations()]
    qschema = quote_ident(schema)
    await conn.execute(
        "SELECT pg_advisory_lock($1::int, hashtext($2::text))", _LOCK_NAMESPACE, schema
    )
    try:
        await ensure_schema(conn, schema)
        await conn.execute(
            f"""CREATE TABLE IF NOT EXISTS {qschema}.schema_migrations (
                source text NOT NULL,
                name text NOT NULL,
                checksum text NOT NULL,
                applied_at timestamptz NOT NULL DEFAULT now(),
                PRIMARY KEY (source, name))"""
        )
        rows = await conn.fetch(f"SELECT source, name, checksum FROM {qschema}.schema_migrations")
        applied = {(row["source"], row["name"]): row["checksum"] for row in rows}
        changed = [
            f"{m.source}/{m.name}"
            for m in wanted
            if (m.source, m.name) in applied and applied[(m.source, m.name)] != m.checksum
        ]
        if changed:
            raise MigrationError(
                f"schema {schema}: applied migrations were edited since: {', '.join(changed)}; "
                "write a new migration instead"
            )
        done: list[str] = []
        for migration in wanted:
            if (migration.source, migration.name) in applied:
                continue
            await _apply(conn, qschema, migration)
            done.append(f"{migration.source}/{migration.name}")
        if done:
            log.info("migrations_applied", schema=schema, migrations=done)
        return done
    finally:
        if not conn.is_closed():  # a closed connection has released the lock already
            await conn.execute(
                "SELECT pg_advisory_unlock($1::int, hashtext($2::text))", _LOCK_NAMESPACE, schema
            )


async def _apply(conn: Connection, qschema: str, migration: Migration) -> None:
    try:
        async with conn.transaction():
            # Unqualified names in the file land in the service's schema.
            await conn.execute(f"SET LOCAL search_path TO {qschema}")
            await conn.execute(migration.sql)
            await conn.execute(
                f"INSERT INTO {qschema}.schema_migrations (source, name, checksum) "
                "VALUES ($1, $2, $3)",
                migration.source,
                migration.name,
                migration.checksum,
            )
    except asyncpg.PostgresError as exc:
        raise MigrationError(
            f"migration {migration.source}/{migration.name} failed and was rolled back: "
            f"{type(exc).__name__}: {exc}"
        ) from exc


__all__ = [
    "COMMON_MIGRATIONS",
    "Connection",
    "MigrationError",
    "MigrationSource",
    "Pool",
    "create_pool",
    "ensure_schema",
    "open_database",
    "quote_ident",
    "run_migrations",
]
