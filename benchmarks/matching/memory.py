"""Peak resident memory of this process and all its descendants (worker processes).

``getrusage`` gives the peak of this process and of the largest *finished* child, not the
peak of their sum; a sampler adds up the RSS of the whole process tree from /proc every few
milliseconds, which is what the machine actually had to hold.

The sampler is a process of its own, not a thread: the engine forks its workers from a
process that runs one thread (the CLI) and starts them from a fork server when other
threads run (processes.py), so a sampler thread would have the benchmark measure another
path than the one operators run.
"""

from __future__ import annotations

import os
import resource
import subprocess
import sys
import threading
from pathlib import Path
from types import TracebackType

PROC = Path("/proc")


def _rss_kib(pid: int) -> int:
    try:
        for line in (PROC / str(pid) / "status").read_text().splitlines():
            if line.startswith("VmRSS:"):
                return int(line.split()[1])
    except (OSError, ValueError):
        pass
    return 0


def _children(pid: int) -> list[int]:
    out: list[int] = []
    try:
        for task in (PROC / str(pid) / "task").iterdir():
            out.extend(int(c) for c in (task / "children").read_text().split())
    except OSError:
        pass
    return out


def tree_rss_kib(root: int, skip: int | None = None) -> int:
    """RSS of `root` and its descendants, `skip` and its own left out."""
    total, stack = 0, [root]
    while stack:
        pid = stack.pop()
        if pid == skip:
            continue
        total += _rss_kib(pid)
        stack.extend(_children(pid))
    return total


def sample(root: int, interval_s: float) -> None:
    """The sampler process: sample `root`'s tree (itself left out) until a line comes on
    stdin, then print the peak in MiB."""
    me, peak = os.getpid(), 0
    stop = threading.Event()
    threading.Thread(target=lambda: (sys.stdin.readline(), stop.set()), daemon=True).start()
    print("ready", flush=True)
    while not stop.is_set():
        peak = max(peak, tree_rss_kib(root, skip=me))
        stop.wait(interval_s)
    print(peak / 1024, flush=True)


class PeakMemory:
    """Context manager: ``peak_mib`` (sampled process tree) and ``rusage_mib`` afterwards."""

    def __init__(self, interval_s: float = 0.01) -> None:
        self.interval_s = interval_s
        self.peak_mib = 0.0
        self.rusage_mib = 0.0
        self._available = (PROC / "self" / "status").exists()
        self._sampler: subprocess.Popen[str] | None = None

    def __enter__(self) -> PeakMemory:
        if self._available:
            self._sampler = subprocess.Popen(
                [sys.executable, __file__, str(os.getpid()), str(self.interval_s)],
                stdin=subprocess.PIPE,
                stdout=subprocess.PIPE,
                text=True,
            )
            assert self._sampler.stdout is not None
            self._sampler.stdout.readline()  # "ready": sampling from here on
        return self

    def __exit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        if self._sampler is not None:
            out, _ = self._sampler.communicate("stop\n", timeout=30)
            self.peak_mib = float(out)
        own = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss
        children = resource.getrusage(resource.RUSAGE_CHILDREN).ru_maxrss
        self.rusage_mib = (own + children) / 1024  # Linux reports KiB


if __name__ == "__main__":
    sample(int(sys.argv[1]), float(sys.argv[2]))
