"""Start the three backing servers concurrently, health-check them, write stack.env, stop them.

Layout of a var dir: `postgres/` (data), `mail/` (Maildir), `log/<server>.log`,
`run/<server>.pid`, `stack.env`. `DATABASE_URL`, `KAFKA_BOOTSTRAP_SERVERS` or `SMTP_HOST` in
the environment point to an external server, which is then checked but not started.
"""

import asyncio
import contextlib
import signal
import subprocess
import time
from collections.abc import Awaitable, Callable, Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import IO

import structlog

from appariement.common.stack import broker, postgres, processes, smtp_sink
from appariement.common.stack.envfile import read_env, write_env
from appariement.common.stack.info import StackInfo
from appariement.common.stack.ports import free_port

log = structlog.get_logger(__name__)

ENV_FILE = "stack.env"
_PORT_ATTEMPTS = 3


@dataclass
class RunningStack:
    """The servers this process started (external ones are not ours to stop)."""

    info: StackInfo
    var_dir: Path
    children: dict[str, subprocess.Popen[bytes]] = field(default_factory=dict)
    logs: list[IO[bytes]] = field(default_factory=list)

    @property
    def run_dir(self) -> Path:
        return self.var_dir / "run"

    def stop(self) -> None:
        """Stop every server we started (SMTP and broker first, the database last)."""
        records = {r.name: r for r in processes.read_records(self.run_dir)}
        for name in (smtp_sink.NAME, broker.NAME, postgres.NAME):
            popen = self.children.pop(name, None)
            if popen is None:
                continue
            record = records.get(name) or processes.ProcessRecord(
                name=name, pid=popen.pid, start_ticks=None, stop_signal=signal.SIGTERM
            )
            processes.stop_process(record, popen=popen)
            processes.forget(self.run_dir, name)
        (self.var_dir / ENV_FILE).unlink(missing_ok=True)
        for handle in self.logs:
            handle.close()
        self.logs.clear()
        log.info("stack_stopped", var_dir=str(self.var_dir))


async def start_stack(
    var_dir: Path,
    *,
    attached: bool = True,
    ephemeral: bool = False,
    environ: Mapping[str, str] | None = None,
    ready_within: float = 60.0,
) -> RunningStack:
    """Start what is not external, wait until all three answer, write `<var_dir>/stack.env`.

    attached: servers die with this process (pytest, `run`); otherwise they outlive it (`up`).
    ephemeral: a throw-away database (tests): durability settings off for speed.
    """
    environ = dict(environ or {})
    var_dir = _prepare_var_dir(var_dir)
    running = RunningStack(
        info=StackInfo("", "", False, "", 0, var_dir / "mail", {}), var_dir=var_dir
    )
    processes.reap_leftovers(running.run_dir)
    started = time.monotonic()
    try:
        # A TaskGroup, not gather: if one server fails, the others are cancelled and finished
        # before we stop what was started (nothing is spawned after the clean-up).
        async with asyncio.TaskGroup() as group:
            database = group.create_task(
                _database(
                    running,
                    environ,
                    attached=attached,
                    ephemeral=ephemeral,
                    ready_within=ready_within,
                )
            )
            kafka = group.create_task(
                _broker(running, environ, attached=attached, ready_within=ready_within)
            )
            smtp = group.create_task(
                _smtp(running, environ, attached=attached, ready_within=ready_within)
            )
    except BaseExceptionGroup as failures:
        running.stop()
        raise failures.exceptions[0] from failures
    except BaseException:
        running.stop()
        raise
    database_url, bootstrap = database.result(), kafka.result()
    smtp_host, smtp_port, maildir = smtp.result()
    idempotence = (
        environ.get("KAFKA_ENABLE_IDEMPOTENCE", "true")
        if broker.NAME not in running.children
        else "false"  # Tansu refuses the idempotent producer
    )
    env = {
        "DATABASE_URL": database_url,
        "KAFKA_BOOTSTRAP_SERVERS": bootstrap,
        "KAFKA_ENABLE_IDEMPOTENCE": idempotence,
        "SMTP_HOST": smtp_host,
        "SMTP_PORT": str(smtp_port),
        "MAILDIR": str(maildir),
    }
    broker_proc = running.children.get(broker.NAME)
    running.info = StackInfo(
        database_url=database_url,
        kafka_bootstrap_servers=bootstrap,
        kafka_enable_idempotence=idempotence.lower() in {"1", "true", "yes"},
        smtp_host=smtp_host,
        smtp_port=smtp_port,
        maildir=maildir,
        env=env,
        broker_pid=broker_proc.pid if broker_proc is not None else None,
        var_dir=var_dir,
    )
    write_env(var_dir / ENV_FILE, env)
    log.info(
        "stack_up",
        seconds=round(time.monotonic() - started, 2),
        started=sorted(running.children),
        **env,
    )
    return running


def _tail(path: Path, lines: int = 15) -> str:
    try:
        return "\n".join(path.read_text(errors="replace").splitlines()[-lines:])
    except OSError:
        return "(no log)"


def _prepare_var_dir(var_dir: Path) -> Path:
    var_dir = var_dir.resolve()
    var_dir.mkdir(parents=True, exist_ok=True)
    (var_dir / "log").mkdir(exist_ok=True)
    return var_dir


def _log_file(running: RunningStack, name: str) -> IO[bytes]:
    handle = (running.var_dir / "log" / f"{name}.log").open("ab")
    running.logs.append(handle)
    return handle


async def _with_free_port(
    name: str,
    running: RunningStack,
    spawn: Callable[[int], subprocess.Popen[bytes]],
    ready: Callable[[int, subprocess.Popen[bytes]], Awaitable[None]],
) -> int:
    """Spawn on a free port and wait until ready; if the server died (port taken by a racing
    stack between our probe and its bind), try another port."""
    for attempt in range(1, _PORT_ATTEMPTS + 1):
        port = free_port()
        popen = spawn(port)
        running.children[name] = popen
        try:
            await ready(port, popen)
            return port
        except RuntimeError as exc:
            if attempt == _PORT_ATTEMPTS:
                log_path = running.var_dir / "log" / f"{name}.log"
                raise RuntimeError(f"{exc}; last lines of {log_path}:\n{_tail(log_path)}") from exc
            log.warning("server_start_retry", server=name, port=port, attempt=attempt)
            running.children.pop(name, None)
            with contextlib.suppress(subprocess.TimeoutExpired):
                popen.wait(timeout=5.0)
    raise AssertionError("unreachable")


async def _database(
    running: RunningStack,
    environ: Mapping[str, str],
    *,
    attached: bool,
    ephemeral: bool,
    ready_within: float,
) -> str:
    external = environ.get("DATABASE_URL")
    if external:
        await postgres.wait_ready(external, None, ready_within)
        return external
    data_dir = running.var_dir / "postgres"
    log_file = _log_file(running, postgres.NAME)
    if data_dir.exists():
        postgres.clear_stale_server(data_dir)
    user = await asyncio.to_thread(postgres.prepare_cluster, data_dir, log_file)

    def spawn(port: int) -> subprocess.Popen[bytes]:
        return postgres.start(
            data_dir,
            port=port,
            user=user,
            log_file=log_file,
            run_dir=running.run_dir,
            attached=attached,
            ephemeral=ephemeral,
        )

    async def ready(port: int, popen: subprocess.Popen[bytes]) -> None:
        await postgres.wait_ready(postgres.database_url(port, "postgres"), popen, ready_within)

    port = await _with_free_port(postgres.NAME, running, spawn, ready)
    await postgres.ensure_database(port)
    return postgres.database_url(port)


async def _broker(
    running: RunningStack, environ: Mapping[str, str], *, attached: bool, ready_within: float
) -> str:
    external = environ.get("KAFKA_BOOTSTRAP_SERVERS")
    if external:
        await broker.wait_ready(external, None, ready_within)
        return external
    log_file = _log_file(running, broker.NAME)

    def spawn(port: int) -> subprocess.Popen[bytes]:
        return broker.start(
            port=port, log_file=log_file, run_dir=running.run_dir, attached=attached
        )

    async def ready(port: int, popen: subprocess.Popen[bytes]) -> None:
        await broker.wait_ready(broker.bootstrap_servers(port), popen, ready_within)

    port = await _with_free_port(broker.NAME, running, spawn, ready)
    return broker.bootstrap_servers(port)


async def _smtp(
    running: RunningStack, environ: Mapping[str, str], *, attached: bool, ready_within: float
) -> tuple[str, int, Path]:
    external = environ.get("SMTP_HOST")
    if external:
        port = int(environ.get("SMTP_PORT", "25"))
        await smtp_sink.wait_ready(external, port, None, ready_within)
        return external, port, Path(environ.get("MAILDIR") or running.var_dir / "mail")
    maildir = running.var_dir / "mail"
    smtp_sink.ensure_maildir(maildir)
    log_file = _log_file(running, smtp_sink.NAME)

    def spawn(port: int) -> subprocess.Popen[bytes]:
        return smtp_sink.start(
            port=port,
            maildir=maildir,
            log_file=log_file,
            run_dir=running.run_dir,
            attached=attached,
        )

    async def ready(port: int, popen: subprocess.Popen[bytes]) -> None:
        await smtp_sink.wait_ready("127.0.0.1", port, popen, ready_within)

    port = await _with_free_port(smtp_sink.NAME, running, spawn, ready)
    return "127.0.0.1", port, maildir


def recorded_processes(var_dir: Path) -> list[processes.ProcessRecord]:
    """The servers a detached `up` (or a killed run) left running in this var dir."""
    return [r for r in processes.read_records(var_dir.resolve() / "run") if r.is_alive()]


def recorded_env(var_dir: Path) -> dict[str, str] | None:
    path = var_dir / ENV_FILE
    return read_env(path) if path.exists() else None


async def healthy_recorded_stack(var_dir: Path) -> StackInfo | None:
    """The stack a detached `up` started in `var_dir`, if all its servers still answer."""
    env = recorded_env(var_dir)
    records = processes.read_records(var_dir / "run")
    alive = {r.name: r for r in records if r.is_alive()}
    if env is None or not alive or len(alive) < len(records):
        return None
    try:
        await asyncio.gather(
            postgres.wait_ready(env["DATABASE_URL"], None, 3.0),
            broker.wait_ready(env["KAFKA_BOOTSTRAP_SERVERS"], None, 3.0),
            smtp_sink.wait_ready(env["SMTP_HOST"], int(env["SMTP_PORT"]), None, 3.0),
        )
    except (KeyError, ValueError, TimeoutError, RuntimeError):
        return None
    broker_record = alive.get(broker.NAME)
    return StackInfo(
        database_url=env["DATABASE_URL"],
        kafka_bootstrap_servers=env["KAFKA_BOOTSTRAP_SERVERS"],
        kafka_enable_idempotence=env.get("KAFKA_ENABLE_IDEMPOTENCE", "true") == "true",
        smtp_host=env["SMTP_HOST"],
        smtp_port=int(env["SMTP_PORT"]),
        maildir=Path(env.get("MAILDIR", str(var_dir / "mail"))),
        env=env,
        broker_pid=broker_record.pid if broker_record is not None else None,
        var_dir=var_dir,
    )


def stop_recorded_stack(var_dir: Path) -> list[str]:
    """Stop the servers recorded under `var_dir/run` (`down`); return their names."""
    var_dir = var_dir.resolve()
    stopped = processes.reap_leftovers(var_dir / "run")
    (var_dir / ENV_FILE).unlink(missing_ok=True)
    return stopped
