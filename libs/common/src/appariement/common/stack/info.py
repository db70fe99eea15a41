"""What a started stack tells its users: where each server is, and the broker's pause switch."""

import contextlib
import os
import signal
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
        every topic, since Tansu keeps them in memory."""
        os.kill(self._own_broker_pid(), signal.SIGSTOP)

    def resume_broker(self) -> None:
        os.kill(self._own_broker_pid(), signal.SIGCONT)

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
