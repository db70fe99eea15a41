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
    """The sampler process: from a first line on stdin, sample `root`'s tree (itself left
    out) until a second line comes, then print the peak in MiB."""
    me, peak = os.getpid(), 0
    sys.stdin.readline()
    stop = threading.Event()

    def until_told() -> None:
        sys.stdin.readline()
        stop.set()

    threading.Thread(target=until_told, daemon=True).start()
    print("sampling", flush=True)
    while not stop.is_set():
        peak = max(peak, tree_rss_kib(root, skip=me))
        stop.wait(interval_s)
    print(peak / 1024, flush=True)


class PeakMemory:
    """Context manager: ``peak_mib`` (sampled process tree) and ``rusage_mib`` afterwards.

    Build it before the process grows (before generating the instance): the sampler starts
    then. The getrusage figure is read before the sampler is waited for, since a child's
    peak includes the memory of the process it was forked from."""

    def __init__(self, interval_s: float = 0.01) -> None:
        self.interval_s = interval_s
        self.peak_mib = 0.0
        self.rusage_mib = 0.0
        self._sampler: subprocess.Popen[str] | None = None
        if (PROC / "self" / "status").exists():
            self._sampler = subprocess.Popen(
                [sys.executable, __file__, str(os.getpid()), str(interval_s)],
                stdin=subprocess.PIPE,
                stdout=subprocess.PIPE,
                text=True,
            )

    def __enter__(self) -> PeakMemory:
        if self._sampler is not None:
            assert self._sampler.stdin is not None
            assert self._sampler.stdout is not None
            self._sampler.stdin.write("start\n")
            self._sampler.stdin.flush()
            self._sampler.stdout.readline()  # "sampling": from here on
        return self

    def __exit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        if self._sampler is not None:
            assert self._sampler.stdin is not None
            assert self._sampler.stdout is not None
            self._sampler.stdin.write("stop\n")
            self._sampler.stdin.close()
            self.peak_mib = float(self._sampler.stdout.readline())
            self._sampler.stdout.close()
        # Before the sampler is waited for: getrusage counts only children waited for, and
        # the sampler's peak includes this process as it was when the sampler was forked.
        own = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss
        children = resource.getrusage(resource.RUSAGE_CHILDREN).ru_maxrss
        self.rusage_mib = (own + children) / 1024  # Linux reports KiB
        if self._sampler is not None:
            self._sampler.wait(timeout=30)


if __name__ == "__main__":
    sample(int(sys.argv[1]), float(sys.argv[2]))
