"""How long one partition may search: wall-clock seconds, deterministic work, or both.

A wall-clock limit stops the search wherever the machine's speed and load happen to put it,
so a rerun of a partition stopped by it may return another (equally stable) matching. A
work limit counts CP-SAT's deterministic time instead (its unit is meant to be about a
second of search; on the 2-core development machine one unit took 1.7–2.5 s): a run
stopped by it gives the same matching on any machine with the same OR-Tools release, which
is what an audit rerun needs. Both may be set; the first one reached stops the search.
Work counts what CP-SAT counts, which is little for the neighbourhood search of large
partitions: that search is charged a multiple of it (neighbourhood.WORK_SCALE).
"""

from __future__ import annotations

import time
from dataclasses import dataclass, field

from ortools.sat.python import cp_model

MIN_LIMIT = 1e-3  # CP-SAT treats a limit of 0 as "no limit"
# What `appariement-match solve` gives each partition unless told otherwise: a work limit,
# so that a rerun (an audit, a second operator) gives the same bytes, and a national round
# ends in minutes; with no limit the largest partitions would search for hours (the
# 959-candidate one of the national benchmark has never been proven). That benchmark with
# 10 units, 2 workers: 217 s, 485 of 500 partitions proven, 11,645 placed, slowest
# partition 29 s (with 5 s of wall clock: 107–109 s, 473 proven, 11,624–11,636 placed).
DEFAULT_WORK = 10.0


@dataclass
class Budget:
    seconds: float | None = None  # wall clock, from the budget's creation
    work: float | None = None  # CP-SAT deterministic time
    started: float = field(default_factory=time.perf_counter)
    spent_work: float = 0.0

    def remaining_seconds(self) -> float | None:
        if self.seconds is None:
            return None
        return self.seconds - (time.perf_counter() - self.started)

    def remaining_work(self) -> float | None:
        return None if self.work is None else self.work - self.spent_work

    def exhausted(self) -> bool:
        return any(left is not None and left <= 0 for left in self._remaining())

    def share(self, fraction: float) -> Budget:
        """A budget for a sub-task: `fraction` of what remains of each limit, from now."""
        seconds, work = self._remaining()
        return Budget(
            None if seconds is None else max(0.0, seconds) * fraction,
            None if work is None else max(0.0, work) * fraction,
        )

    def less(self, kept: Budget) -> Budget:
        """What remains of this budget, from now, minus what `kept` holds (set aside by
        `share` earlier); this whole budget when it has no more left than twice that."""
        seconds, work = self._remaining()
        if (seconds is not None and kept.seconds is not None and seconds <= 2 * kept.seconds) or (
            work is not None and kept.work is not None and work <= 2 * kept.work
        ):
            return self
        return Budget(
            None if seconds is None or kept.seconds is None else seconds - kept.seconds,
            None if work is None or kept.work is None else work - kept.work,
        )

    def limit(self, solver: cp_model.CpSolver) -> None:
        """Stop `solver` where this budget ends."""
        seconds, work = self._remaining()
        if seconds is not None:
            solver.parameters.max_time_in_seconds = max(seconds, MIN_LIMIT)
        if work is not None:
            solver.parameters.max_deterministic_time = max(work, MIN_LIMIT)

    def charge(self, work: float) -> None:
        """Count deterministic time spent (by a solver, or by a sub-task's budget)."""
        self.spent_work += work

    def _remaining(self) -> tuple[float | None, float | None]:
        return self.remaining_seconds(), self.remaining_work()
