"""Inbox: the event ids a consumer has applied, claimed in the transaction of the effect."""

from __future__ import annotations

import uuid
from datetime import datetime

import asyncpg


async def claim(
    conn: asyncpg.Connection, consumer: str, event_id: uuid.UUID, event_type: str
) -> bool:
    """Record ``event_id`` as applied by ``consumer``; False if it already was.

    Must run in the transaction that applies the effect, so that both commit or neither:
    a concurrent duplicate blocks on the primary key until the first one commits, then
    gets False.
    """
    if not conn.is_in_transaction():
        raise RuntimeError("inbox claim must share the transaction of the effect")
    claimed = await conn.fetchval(
        "INSERT INTO inbox (consumer, event_id, event_type) VALUES ($1, $2, $3)"
        " ON CONFLICT DO NOTHING RETURNING true",
        consumer,
        event_id,
        event_type,
    )
    return bool(claimed)


async def purge(conn: asyncpg.Connection, *, older_than: datetime) -> int:
    """Forget ids processed before ``older_than`` (older than any possible redelivery)."""
    status = await conn.execute("DELETE FROM inbox WHERE processed_at < $1", older_than)
    return int(status.split()[-1])
