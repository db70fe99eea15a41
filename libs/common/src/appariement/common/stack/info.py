"""What a started stack tells its users: where each server is, and the broker's pause switch."""

import contextlib
import os
import signal
import time
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path


@dataclass(frozen=True)
class StackInfo:
    """Connection settings of a running stack; `env` is the `stack.env` mapping, ready to be
    merged into a subprocess's environment."""

    database_url: str
    kafka_bootstrap_servers: str
    kafka_enable_idempotence: bool
    smtp_host: str
    smtp_port: int
    maildir: Path
    env: dict[str, str]
    broker_pid: int | None = None
    var_dir: Path | None = None

    def pause_broker(self) -> None:
        """Freeze the broker (SIGSTOP): connections stay open but nothing answers, like a
        broker stuck in a long GC or a network partition. Killing it instead would lose
        every topic, since Tansu keeps them in memory. Returns once every thread of the
        broker is stopped, so whatever the caller does next meets a frozen broker."""
        pid = self._own_broker_pid()
        os.kill(pid, signal.SIGSTOP)
        _wait_threads(pid, stopped=True)

    def resume_broker(self) -> None:
        pid = self._own_broker_pid()
        os.kill(pid, signal.SIGCONT)
        _wait_threads(pid, stopped=False)

    @contextlib.contextmanager
    def broker_paused(self) -> Iterator[None]:
        """`with stack.broker_paused(): ...`: resumed on the way out, even if the body fails
        (a broker left frozen would hang every later test of the session)."""
        self.pause_broker()
        try:
            yield
        finally:
            self.resume_broker()

    def _own_broker_pid(self) -> int:
        if self.broker_pid is None:
            raise RuntimeError(
                "the broker is external (KAFKA_BOOTSTRAP_SERVERS is set): "
                "this stack cannot pause or resume it"
            )
        return self.broker_pid


def _thread_states(pid: int) -> list[str]:
    states = []
    for stat in Path(f"/proc/{pid}/task").glob("*/stat"):
        with contextlib.suppress(OSError):
            raw = stat.read_text()
            states.append(raw[raw.rfind(")") + 2])
    return states


def _wait_threads(pid: int, *, stopped: bool, within: float = 5.0) -> None:
    """Signals are delivered asynchronously: poll /proc until every thread shows the state."""
    if not Path(f"/proc/{pid}").exists():
        return  # no /proc (macOS): trust the signal
    deadline = time.monotonic() + within
    while time.monotonic() < deadline:
        states = _thread_states(pid)
        if states and all((state in "Tt") == stopped for state in states):
            return
        time.sleep(0.005)
    raise RuntimeError(f"broker {pid} did not {'stop' if stopped else 'resume'} in {within}s")
