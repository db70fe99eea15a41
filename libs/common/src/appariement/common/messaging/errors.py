"""Which failures mean "the database is away" (wait and retry) rather than "this is a bug"."""

from __future__ import annotations

import asyncpg

DB_UNAVAILABLE: tuple[type[Exception], ...] = (
    OSError,
    asyncpg.PostgresConnectionError,
    asyncpg.InterfaceError,  # includes ConnectionDoesNotExistError
    asyncpg.TooManyConnectionsError,
    asyncpg.CannotConnectNowError,  # starting up / shutting down
    asyncpg.AdminShutdownError,  # our session was terminated
    asyncpg.CrashShutdownError,
)
"""Retried without limit: a message is never dead-lettered because the database was down."""
