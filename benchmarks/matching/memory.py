"""Peak resident memory of this process and all its descendants (worker processes).

``getrusage`` gives the peak of this process and of the largest *finished* child, not the
peak of their sum; a sampler thread adds up the RSS of the whole process tree from /proc
every few milliseconds, which is what the machine actually had to hold.
"""

from __future__ import annotations

import os
import resource
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


def tree_rss_kib(root: int) -> int:
    total, stack = 0, [root]
    while stack:
        pid = stack.pop()
        total += _rss_kib(pid)
        stack.extend(_children(pid))
    return total


class PeakMemory:
    """Context manager: ``peak_mib`` (sampled process tree) and ``rusage_mib`` afterwards."""

    def __init__(self, interval_s: float = 0.01) -> None:
        self.interval_s = interval_s
        self.peak_mib = 0.0
        self.rusage_mib = 0.0
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._sample, daemon=True)
        self._available = (PROC / "self" / "status").exists()

    def _sample(self) -> None:
        pid = os.getpid()
        while not self._stop.is_set():
            self.peak_mib = max(self.peak_mib, tree_rss_kib(pid) / 1024)
            self._stop.wait(self.interval_s)

    def __enter__(self) -> PeakMemory:
        if self._available:
            self._thread.start()
        return self

    def __exit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        if self._available:
            self._stop.set()
            self._thread.join()
        own = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss
        children = resource.getrusage(resource.RUSAGE_CHILDREN).ru_maxrss
        self.rusage_mib = (own + children) / 1024  # Linux reports KiB
