"""An outbox relay in its own process, so a test can have it die between send and mark.

Usage: relay_process.py DATABASE_URL SCHEMA BOOTSTRAP [--die-after-send]
With ``--die-after-send`` the process SIGKILLs itself once a batch is delivered and
before it is marked sent: no finally block, no clean disconnect.
"""

from __future__ import annotations

import asyncio
import os
import signal
import sys
from collections.abc import Sequence

import asyncpg

from appariement.common.messaging.outbox import OutboxRelay, OutboxRow


async def die(rows: Sequence[OutboxRow]) -> None:
    print(f"delivered {len(rows)} rows, dying before marking them", flush=True)
    os.kill(os.getpid(), signal.SIGKILL)


async def main(database_url: str, schema: str, bootstrap: str, *flags: str) -> None:
    pool = await asyncpg.create_pool(
        database_url, min_size=1, max_size=2, server_settings={"search_path": schema}
    )
    relay = OutboxRelay(
        pool,
        bootstrap_servers=bootstrap,
        enable_idempotence=False,
        after_send=die if "--die-after-send" in flags else None,
    )
    try:
        await relay.run()
    finally:
        await pool.close()


if __name__ == "__main__":
    asyncio.run(main(*sys.argv[1:]))
