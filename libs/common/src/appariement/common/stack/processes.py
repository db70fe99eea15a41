"""Child processes of the stack: spawned in their own process group, recorded in pid files.

Two ways to run a server:
- attached (pytest, `run`): the child dies with its parent thanks to Linux's parent-death
  signal, so a killed test run or launcher leaves no orphan;
- detached (`up`): the child starts its own session and outlives the command; `down` stops it.
Either way a pid file under `<var>/run/` names the process with its start time, so the next
start can tell a leftover of ours from an unrelated process that reused the pid, and stop it.
"""

import contextlib
import ctypes
import json
import os
import pwd
import signal
import subprocess
import sys
import time
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import IO, Any

import structlog

log = structlog.get_logger(__name__)

_PR_SET_PDEATHSIG = 1


@dataclass(frozen=True)
class ProcessRecord:
    """What a pid file holds: enough to find the process again and to be sure it is ours."""

    name: str
    pid: int
    start_ticks: int | None
    stop_signal: int

    def is_alive(self) -> bool:
        """True while the recorded process runs (a zombie or a reused pid does not count)."""
        state = _proc_state(self.pid)
        if state is None or state == "Z":
            return False
        return self.start_ticks is None or _start_ticks(self.pid) == self.start_ticks


def _proc_stat_fields(pid: int) -> list[str] | None:
    try:
        raw = Path(f"/proc/{pid}/stat").read_text()
    except OSError:
        return None
    # The command name (field 2) may hold spaces and parentheses: split after the last ")".
    return raw[raw.rfind(")") + 2 :].split()


def _proc_state(pid: int) -> str | None:
    """One-letter process state from /proc, or None when the process is gone."""
    fields = _proc_stat_fields(pid)
    if fields is not None:
        return fields[0]
    if sys.platform.startswith("linux"):
        return None
    try:  # no /proc (macOS): existence is all we can tell
        os.kill(pid, 0)
    except ProcessLookupError:
        return None
    except PermissionError:
        return "S"
    return "S"


def _start_ticks(pid: int) -> int | None:
    fields = _proc_stat_fields(pid)
    # Field 22 of /proc/<pid>/stat (index 19 once pid and comm are cut off): start time.
    return int(fields[19]) if fields is not None else None


def _die_with_parent(sig: int) -> Callable[[], None]:
    """A preexec_fn asking Linux to send `sig` to the child when the spawning thread exits."""
    parent = os.getpid()
    # Resolved before fork: no dynamic-loader work in the child of a threaded parent.
    prctl = ctypes.CDLL(None, use_errno=True).prctl

    def preexec() -> None:
        prctl(_PR_SET_PDEATHSIG, sig, 0, 0, 0)
        if os.getppid() != parent:  # the parent died before prctl took effect
            os.kill(os.getpid(), sig)

    return preexec


def spawn(
    name: str,
    argv: Sequence[str],
    *,
    run_dir: Path,
    log_file: IO[bytes],
    env: Mapping[str, str],
    attached: bool,
    stop_signal: int = signal.SIGTERM,
    user: str | None = None,
    cwd: Path | None = None,
) -> subprocess.Popen[bytes]:
    """Start `argv` in its own process group and record it in `<run_dir>/<name>.pid`.

    Must be called from the thread that lives as long as the stack (the event loop's), since
    the parent-death signal fires when the spawning *thread* exits.
    """
    preexec = _die_with_parent(stop_signal) if attached and sys.platform == "linux" else None
    proc = subprocess.Popen(
        list(argv),
        stdin=subprocess.DEVNULL,
        stdout=log_file,
        stderr=subprocess.STDOUT,
        env=dict(env),
        cwd=cwd,
        **identity(user),
        start_new_session=not attached,
        process_group=0 if attached else None,
        preexec_fn=preexec,
    )
    record = ProcessRecord(
        name=name, pid=proc.pid, start_ticks=_start_ticks(proc.pid), stop_signal=stop_signal
    )
    write_record(run_dir, record)
    log.debug("process_started", name=name, pid=proc.pid, attached=attached)
    return proc


def identity(user: str | None) -> dict[str, Any]:
    """Popen arguments to run as `user` with its own group only: keeping root's group would
    make 0701 directories owned by root:root unreachable (group bits win over other bits)."""
    if user is None:
        return {}
    entry = pwd.getpwnam(user)
    return {"user": entry.pw_uid, "group": entry.pw_gid, "extra_groups": []}


def write_record(run_dir: Path, record: ProcessRecord) -> None:
    run_dir.mkdir(parents=True, exist_ok=True)
    path = run_dir / f"{record.name}.pid"
    tmp = path.with_suffix(".tmp")
    tmp.write_text(
        json.dumps(
            {
                "name": record.name,
                "pid": record.pid,
                "start_ticks": record.start_ticks,
                "stop_signal": record.stop_signal,
            }
        )
    )
    os.replace(tmp, path)


def read_records(run_dir: Path) -> list[ProcessRecord]:
    """Every pid file under `run_dir`; unreadable ones are removed (they can only be stale)."""
    records: list[ProcessRecord] = []
    if not run_dir.is_dir():
        return records
    for path in sorted(run_dir.glob("*.pid")):
        try:
            data = json.loads(path.read_text())
            records.append(
                ProcessRecord(
                    name=str(data["name"]),
                    pid=int(data["pid"]),
                    start_ticks=None if data["start_ticks"] is None else int(data["start_ticks"]),
                    stop_signal=int(data["stop_signal"]),
                )
            )
        except (OSError, ValueError, KeyError, TypeError):
            path.unlink(missing_ok=True)
    return records


def forget(run_dir: Path, name: str) -> None:
    (run_dir / f"{name}.pid").unlink(missing_ok=True)


def stop_process(
    record: ProcessRecord,
    *,
    popen: subprocess.Popen[bytes] | None = None,
    timeout: float = 10.0,
) -> None:
    """Ask the process to stop, wait, then SIGKILL what is left of its process group
    (postgres backends, a service's own children), also when the leader stopped cleanly.

    The group is only touched when the process is ours: our Popen, or a recorded pid whose
    start time still matches (a reused pid leads to someone else's group).
    """
    ours = popen is not None or record.is_alive()
    if not ours:
        return
    if record.is_alive():
        try:
            os.kill(record.pid, record.stop_signal)
            os.kill(record.pid, signal.SIGCONT)  # a paused (SIGSTOPped) broker must see it
        except ProcessLookupError:
            pass
        if not _wait_gone(record, popen, timeout):
            log.warning("process_killed", name=record.name, pid=record.pid, after_seconds=timeout)
    _kill_group(record.pid)
    _wait_gone(record, popen, 5.0)
    _reap(popen)


def _kill_group(pgid: int) -> None:
    with contextlib.suppress(ProcessLookupError, PermissionError):
        os.killpg(pgid, signal.SIGKILL)


def _reap(popen: subprocess.Popen[bytes] | None) -> None:
    if popen is not None:
        with contextlib.suppress(subprocess.TimeoutExpired):
            popen.wait(timeout=1.0)


def _wait_gone(
    record: ProcessRecord, popen: subprocess.Popen[bytes] | None, timeout: float
) -> bool:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if popen is not None and popen.poll() is not None:
            return True
        if popen is None and not record.is_alive():
            return True
        time.sleep(0.02)
    return False


def reap_leftovers(run_dir: Path, *, prefix: str = "") -> list[str]:
    """Stop processes a previous, killed run left behind and drop stale pid files
    (only those whose name starts with `prefix`)."""
    stopped: list[str] = []
    for record in read_records(run_dir):
        if not record.name.startswith(prefix):
            continue
        if record.is_alive():
            log.info("process_stopped", name=record.name, pid=record.pid)
            stop_process(record)
            stopped.append(record.name)
        forget(run_dir, record.name)
    return stopped
