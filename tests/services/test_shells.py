"""Every service starts with `python -m appariement.<svc>`, serves the common endpoints on
the real stack, and stops cleanly on SIGINT — the convention `make run` and ops rely on."""

import os
import signal
import subprocess
import sys
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from pathlib import Path

import httpx
import pytest

from appariement.common.stack.info import StackInfo
from appariement.common.stack.ports import free_port
from appariement.common.testing.polling import wait_until

SERVICES = ("identity", "campaign", "candidature", "matching", "notification", "support")


@dataclass
class Running:
    name: str
    process: subprocess.Popen[bytes]
    port: int
    log: Path

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.port}"

    def output(self) -> str:
        return self.log.read_text(errors="replace")[-3000:]


@pytest.fixture
def start_service(
    stack: StackInfo, unique_name: Callable[[str], str], tmp_path: Path
) -> Iterator[Callable[..., Running]]:
    started: list[Running] = []

    def start(name: str, *args: str) -> Running:
        port = free_port()
        log = tmp_path / f"{name}.log"
        env = {
            **os.environ,
            **stack.env,
            "APPARIEMENT_STACK_ENV": "",
            "HTTP_PORT": str(port),
            "DATABASE_SCHEMA": unique_name(name),
        }
        with log.open("wb") as out:
            process = subprocess.Popen(
                [sys.executable, "-m", f"appariement.{name}", *args],
                env=env,
                stdout=out,
                stderr=subprocess.STDOUT,
            )
        running = Running(name, process, port, log)
        started.append(running)
        return running

    yield start
    for running in started:
        if running.process.poll() is None:
            running.process.kill()
            running.process.wait()


async def _status(url: str) -> int | None:
    try:
        async with httpx.AsyncClient(timeout=2) as client:
            return (await client.get(url)).status_code
    except httpx.HTTPError:
        return None


async def _is_ready(running: Running) -> bool:
    return await _status(f"{running.url}/readyz") == 200


def _descendants(pid: int) -> set[int]:
    """Every process started under `pid`, read from /proc (threads' children included)."""
    found: set[int] = set()
    for children in Path(f"/proc/{pid}/task").glob("*/children"):
        try:
            pids = {int(child) for child in children.read_text().split()}
        except OSError:
            continue
        for child in pids:
            found |= {child} | _descendants(child)
    return found


def _alive(pid: int) -> bool:
    try:
        state = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()[0]
    except (OSError, IndexError):
        return False
    return state != "Z"


def _stop(running: Running) -> int:
    """SIGINT, then the exit code; fails if the process or any child outlives the deadline."""
    children = _descendants(running.process.pid)
    running.process.send_signal(signal.SIGINT)
    try:
        code = running.process.wait(timeout=20)
    except subprocess.TimeoutExpired:
        pytest.fail(f"{running.name} did not stop within 20 s of SIGINT:\n{running.output()}")
    left = {pid for pid in children if _alive(pid)}
    assert not left, f"{running.name} left child processes {left} behind"
    return code


async def test_every_service_serves_health_docs_and_metrics_then_stops_on_sigint(
    start_service: Callable[..., Running],
) -> None:
    services = [start_service(name) for name in SERVICES]

    for running in services:
        await wait_until(
            lambda r=running: _is_ready(r),
            timeout=60,
            message=f"{running.name} never became ready",
        )
    for running in services:
        async with httpx.AsyncClient(base_url=running.url, timeout=5) as client:
            assert (await client.get("/healthz")).status_code == 200
            assert (await client.get("/docs")).status_code == 200
            openapi = (await client.get("/openapi.json")).json()
            metrics = (await client.get("/metrics")).text
        assert openapi["info"]["title"].startswith("Appariement")
        assert "http_requests_total" in metrics
        # The outbox relay runs in the default mode: the service's schema has its outbox.
        assert "outbox_relay_active" in running.output()

    for running in services:
        assert _stop(running) == 0, running.output()


async def test_only_api_serves_http_without_the_relay(
    start_service: Callable[..., Running],
) -> None:
    api = start_service("matching", "--only", "api")
    await wait_until(lambda: _is_ready(api), timeout=60)
    assert "outbox_relay_active" not in api.output()
    assert _stop(api) == 0, api.output()


async def test_only_workers_runs_the_relay_and_serves_only_the_ops_endpoints(
    start_service: Callable[..., Running],
) -> None:
    workers = start_service("matching", "--only", "workers")
    await wait_until(
        lambda: "outbox_relay_active" in workers.output(),
        timeout=60,
        message="the outbox relay never started",
    )
    await wait_until(lambda: _is_ready(workers), timeout=60)  # database and broker checked
    async with httpx.AsyncClient(timeout=5) as client:
        assert (await client.get(f"{workers.url}/healthz")).status_code == 200
        metrics = (await client.get(f"{workers.url}/metrics")).text
    assert "outbox_relays_active 1.0" in metrics  # Prometheus sees the relay holding its lock
    assert _stop(workers) == 0, workers.output()
