"""`make run`: the backing servers, every service that exists, the demo campaign, one table.

Each service runs as `python -m appariement.<service>` with the stack's settings in its
environment, in its own process group (so the terminal's Ctrl-C reaches only us and we stop
things in order: services first, then the servers) and dies with us if we are killed.
"""

import asyncio
import contextlib
import fcntl
import importlib
import importlib.util
import inspect
import os
import signal
import socket
import subprocess
import sys
import time
from collections.abc import Awaitable, Callable, Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import IO, cast

import httpx
import structlog

from appariement.common.stack import processes
from appariement.common.stack.core import (
    ENV_FILE,
    RunningStack,
    healthy_recorded_stack,
    start_stack,
)
from appariement.common.stack.info import StackInfo

log = structlog.get_logger(__name__)

#: Service name -> default port (the conventions of issue 2; services keep fixed defaults).
SERVICES: dict[str, int] = {
    "identity": 8001,
    "campaign": 8002,
    "candidature": 8003,
    "matching": 8004,
    "notification": 8005,
    "support": 8006,
}
DEMO_MODULE = "appariement.campaign.demo"
_SERVICE_PREFIX = "service-"
_STATUS_FR = {"skipped": "absent", "failed": "en échec", "unhealthy": "pas prêt"}


@dataclass
class Service:
    name: str
    port: int
    popen: subprocess.Popen[bytes] | None = None
    status: str = "skipped"
    note: str = ""
    log_path: Path | None = None

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.port}"


def port_is_free(port: int) -> bool:
    """A service's fixed port held by another program would answer our health check."""
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as probe:
        # Like the servers: a TIME_WAIT left by the previous run does not make the port busy.
        probe.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        try:
            probe.bind(("127.0.0.1", port))
        except OSError:
            return False
        return True


def service_available(name: str) -> bool:
    """A service can be launched once its package has a `__main__` module."""
    try:
        return importlib.util.find_spec(f"appariement.{name}.__main__") is not None
    except ImportError:
        return False


def parse_services(spec: str) -> dict[str, int]:
    """`identity,campaign` or `identity:9001` -> {name: port} (default ports when omitted)."""
    chosen: dict[str, int] = {}
    for item in filter(None, (part.strip() for part in spec.split(","))):
        name, _, port = item.partition(":")
        if not port and name not in SERVICES:
            raise ValueError(f"unknown service {name!r}: give its port as {name}:PORT")
        chosen[name] = int(port) if port else SERVICES[name]
    return chosen


async def run(
    var_dir: Path,
    *,
    environ: Mapping[str, str],
    services: Mapping[str, int] = SERVICES,
    health_within: float = 60.0,
) -> None:
    """Run until cancelled (Ctrl-C, SIGTERM), then stop everything we started.

    `var_dir` must be absolute; `services` maps `appariement.<name>` to the port it serves.
    """
    run_dir = var_dir / "run"
    lock = _hold_launcher_lock(var_dir)
    loop = asyncio.get_running_loop()
    task = asyncio.current_task()
    if task is not None:  # also when started with SIGINT ignored (`cmd &` in a script)
        for sig in (signal.SIGINT, signal.SIGTERM):
            loop.add_signal_handler(sig, task.cancel)
    started: list[Service] = []
    running: RunningStack | None = None
    log_files: list[IO[bytes]] = []
    try:
        processes.reap_leftovers(run_dir, prefix=_SERVICE_PREFIX)
        info = await healthy_recorded_stack(var_dir)
        if info is None:
            running = await start_stack(var_dir, attached=True, environ=environ)
            info = running.info
        else:
            log.info("stack_reused", hint="started by `make stack`; `... stack down` stops it")
        env = {**environ, **info.env, "APPARIEMENT_STACK_ENV": str(var_dir / ENV_FILE)}
        for name, port in services.items():
            service = Service(name, port)
            started.append(service)
            if not service_available(name):
                service.note = f"appariement.{name} n'a pas encore de __main__"
                log.warning("service_skipped", service=name, reason=service.note)
                continue
            if not port_is_free(port):
                service.status = "failed"
                service.note = f"port {port} déjà pris par un autre programme"
                log.error("service_port_taken", service=name, port=port)
                continue
            service.log_path = var_dir / "log" / f"{name}.log"
            handle = service.log_path.open("ab")
            log_files.append(handle)
            service.popen = processes.spawn(
                _SERVICE_PREFIX + name,
                [sys.executable, "-m", f"appariement.{name}"],
                run_dir=run_dir,
                log_file=handle,
                env=env | {"HTTP_PORT": str(port)},  # BaseServiceSettings.http_port
                attached=True,
            )
            service.status = "starting"
        await asyncio.gather(*(_wait_healthy(s, health_within) for s in started if s.popen))
        await _load_demo(info.env)
        sys.stdout.write(summary(info, started, var_dir, shared=running is None))
        sys.stdout.flush()
        await _watch(started)
    finally:
        # A second Ctrl-C must not cut the clean-up short and leave orphans.
        previous = {}
        for sig in (signal.SIGINT, signal.SIGTERM):
            with contextlib.suppress(ValueError, RuntimeError):
                loop.remove_signal_handler(sig)
            previous[sig] = signal.signal(sig, signal.SIG_IGN)
        _stop_services(started, run_dir)
        for log_file in log_files:
            log_file.close()
        if running is not None:
            running.stop()
        lock.close()
        sys.stdout.write("Tout est arrêté.\n")
        for sig, handler in previous.items():
            signal.signal(sig, handler)


class AlreadyRunningError(RuntimeError):
    """Another `run` owns this var dir."""


def _hold_launcher_lock(var_dir: Path) -> IO[str]:
    """One `run` per var dir. An flock, not a pid file: the kernel drops it when we die, so
    it can never be stale."""
    var_dir.mkdir(parents=True, exist_ok=True)
    handle = (var_dir / "launcher.lock").open("a+")
    try:
        fcntl.flock(handle, fcntl.LOCK_EX | fcntl.LOCK_NB)
    except BlockingIOError:
        handle.seek(0)
        owner = handle.read().strip() or "?"
        handle.close()
        raise AlreadyRunningError(
            f"`run` tourne déjà sur {var_dir} (pid {owner}) : arrêtez-le d'abord (Ctrl-C)"
        ) from None
    handle.truncate(0)
    handle.write(str(os.getpid()))
    handle.flush()
    return handle


async def _wait_healthy(service: Service, within: float) -> None:
    assert service.popen is not None
    deadline = time.monotonic() + within
    async with httpx.AsyncClient(timeout=2.0) as client:
        while time.monotonic() < deadline:
            if service.popen.poll() is not None:
                service.status = "failed"
                service.note = f"arrêté (code {service.popen.returncode}), voir {service.log_path}"
                log.error("service_failed", service=service.name, code=service.popen.returncode)
                return
            with contextlib.suppress(httpx.HTTPError):
                response = await client.get(f"{service.url}/healthz")
                if response.status_code == 200:
                    service.status = "healthy"
                    return
            await asyncio.sleep(0.2)
    service.status = "unhealthy"
    service.note = f"/healthz muet après {within:.0f} s, voir {service.log_path}"
    log.error("service_unhealthy", service=service.name, url=f"{service.url}/healthz")


async def _load_demo(settings_env: dict[str, str]) -> None:
    """The campaign issue provides `appariement.campaign.demo.load_demo`; until then, nothing.
    A failing demo is logged, never fatal: the services stay up."""
    try:
        if importlib.util.find_spec(DEMO_MODULE) is None:
            return
    except ImportError:
        return
    try:
        module = importlib.import_module(DEMO_MODULE)
        load_demo = cast(
            Callable[[dict[str, str]], Awaitable[None]] | None, getattr(module, "load_demo", None)
        )
        if load_demo is None or not inspect.iscoroutinefunction(load_demo):
            log.warning("demo_skipped", reason=f"{DEMO_MODULE} has no async load_demo(env)")
            return
        await load_demo(dict(settings_env))
        log.info("demo_loaded")
    except Exception:
        log.exception("demo_failed")


async def _watch(services: list[Service]) -> None:
    """Wait for Ctrl-C; meanwhile report a service that dies (it is not restarted)."""
    reported: set[str] = set()
    while True:
        for service in services:
            code = service.popen.poll() if service.popen is not None else None
            if code is not None and service.name not in reported:
                reported.add(service.name)
                log.error("service_exited", service=service.name, code=code)
        await asyncio.sleep(1.0)


def _stop_services(services: list[Service], run_dir: Path) -> None:
    live = [s for s in services if s.popen is not None and s.popen.poll() is None]
    for service in live:  # signal all first, then wait: they stop in parallel
        assert service.popen is not None
        with contextlib.suppress(ProcessLookupError):
            os.kill(service.popen.pid, signal.SIGTERM)
    for service in services:
        if service.popen is None:
            continue
        record = processes.ProcessRecord(
            name=_SERVICE_PREFIX + service.name,
            pid=service.popen.pid,
            start_ticks=None,
            stop_signal=signal.SIGTERM,
        )
        processes.stop_process(record, popen=service.popen, timeout=10.0)
        processes.forget(run_dir, record.name)


def summary(info: StackInfo, services: list[Service], var_dir: Path, *, shared: bool) -> str:
    """The table `make run` prints once everything is up."""
    rows = [("service", "état", "API", "documentation OpenAPI")]
    for s in services:
        if s.status == "healthy":
            rows.append((s.name, "prêt", s.url, f"{s.url}/docs"))
        else:
            rows.append((s.name, _STATUS_FR.get(s.status, s.status), s.note, ""))
    widths = [max(len(row[i]) for row in rows) for i in range(4)]
    lines = ["", "Appariement tourne :"]
    for index, row in enumerate(rows):
        lines.append("  " + "  ".join(cell.ljust(widths[i]) for i, cell in enumerate(row)))
        if index == 0:
            lines.append("  " + "  ".join("-" * w for w in widths))
    lines += [
        "",
        f"  Boîte aux lettres (Maildir) : {info.maildir}",
        f"  DATABASE_URL                : {info.database_url}",
        f"  Broker Kafka (Tansu)        : {info.kafka_bootstrap_servers}",
        f"  SMTP                        : {info.smtp_host}:{info.smtp_port}",
        f"  Réglages pour vos outils    : {var_dir / 'stack.env'}",
        f"  Journaux                    : {var_dir / 'log'}",
        "",
        (
            "Ctrl-C arrête les services ; les serveurs de `make stack` restent en marche "
            "(`python -m appariement.common.stack down` les arrête)."
            if shared
            else "Ctrl-C arrête tout."
        ),
        "",
    ]
    return "\n".join(lines)
