"""`solve`: split an instance into partitions, solve each (in parallel), assemble the Result.

Partitions are independent (one specialty in one region), so they run in worker processes,
biggest first. Every result is checked (capacity, acceptability, weak stability) before it
is returned: the engine never hands out a matching it has not verified.
"""

from __future__ import annotations

import os
import threading
import time
from collections.abc import Callable
from dataclasses import dataclass
from functools import partial
from typing import Any, Literal

from appariement.matching.engine.budget import Budget
from appariement.matching.engine.checker import check
from appariement.matching.engine.deferred_acceptance import deferred_acceptance
from appariement.matching.engine.model import Instance, Problem, paused_gc
from appariement.matching.engine.neighbourhood import SEARCHED_FROM, more_placed
from appariement.matching.engine.objective import Objective, evaluate
from appariement.matching.engine.optimal import solve_exact, solver_version
from appariement.matching.engine.processes import Cancelled, run_in_processes
from appariement.matching.engine.promotion import promoted_deferred_acceptance
from appariement.matching.engine.reasons import unassigned_reasons
from appariement.matching.engine.result import Result

ENGINE_VERSION = "1.1.0"
Method = Literal["optimal", "deferred_acceptance"]
Progress = Callable[[int, int], None]


def available_cpus() -> int:
    """The cores this process may run on: a container or `taskset` may allow fewer than the
    machine has, and each partition's search keeps one core busy."""
    try:
        return len(os.sched_getaffinity(0))
    except AttributeError:  # not on Linux
        return os.cpu_count() or 1


@dataclass(frozen=True)
class PartitionOutcome:
    partition: str
    assignments: dict[str, str]
    objective: Objective
    proven_optimal: bool | None  # None for deferred acceptance: it does not seek the optimum
    gap: float | None
    time_s: float
    open_level: str | None = None
    bound: int | None = None


MIN_WARM_STARTS = 8
MAX_WARM_STARTS = 64  # also the stride between seeds, so two seeds never share a tie-break
MID_SIZED = 50  # candidates: from here the exact search often stops at its time limit
WARM_START_WORK = 4_096  # candidates × tie-breaks on mid-sized partitions (~0.3 s)
SEARCH_SHARE = 0.75  # of a large partition's time after the warm start, for neighbourhoods


def warm_starts(problem: Problem) -> int:
    """How many seeded tie-breaks the warm start tries (four runs each). Small partitions
    are solved exactly in milliseconds: a few. Mid-sized ones often stop at their time limit
    and return the warm start improved a little: up to 64 (instead of 8: 4 more candidates
    placed on the 51 partitions of 50 candidates or more of the national benchmark), fewer
    on the largest, where each run costs more. A count, not a time, so that the result never
    depends on the machine's speed."""
    n = len(problem.candidates)
    if n < MID_SIZED:
        return MIN_WARM_STARTS
    return max(MIN_WARM_STARTS, min(MAX_WARM_STARTS, WARM_START_WORK // n))


def _key(problem: Problem, holding: list[int]) -> tuple[int, int, int, int]:
    """Lexicographic objective of a matching, larger is better."""
    chosen = [problem.pairs[k] for k in holding if k >= 0]
    return (
        len(chosen),
        sum(p.perfect for p in chosen),
        sum(p.hearts for p in chosen),
        -sum(p.rank for p in chosen),
    )


def solve_partition(
    problem: Problem,
    *,
    seed: int,
    method: Method,
    time_limit_s: float | None,
    work_limit: float | None = None,
) -> PartitionOutcome:
    """Solve one partition (runs in a worker process; pure)."""
    started = time.perf_counter()
    budget = Budget(time_limit_s, work_limit, started)  # the warm start counts: wall clock
    holding = deferred_acceptance(problem, seed)
    proven: bool | None = None
    gap: float | None = None
    open_level: str | None = None
    bound: int | None = None
    if method == "optimal":
        # Warm start: the best of a few seeded tie-breaks, plain and with promotion, perfect
        # couples first or not (cheap, and often already optimal on the first levels, which
        # then need no search at all).
        for extra in range(warm_starts(problem)):
            run = seed * MAX_WARM_STARTS + extra
            for other in (
                deferred_acceptance(problem, run) if extra else holding,
                promoted_deferred_acceptance(problem, run),
                promoted_deferred_acceptance(problem, run, perfect_first=True),
                promoted_deferred_acceptance(problem, run, perfect_first=True, promote=False),
            ):
                if _key(problem, other) > _key(problem, holding):
                    holding = other
        if len(problem.candidates) >= SEARCHED_FROM:
            # From here the exact search stops at its limit: most of what is left goes to a
            # large-neighbourhood search, which places more (see neighbourhood.py); the
            # exact search keeps the rest, for its bound and the later levels (959
            # candidates, 5 s: 876 placed with 3/4 of the time for our earlier search, 877
            # with all, over the limit).
            search = budget.share(SEARCH_SHARE)
            holding = more_placed(problem, holding, seed=seed, budget=search)
            budget.charge(search.spent_work)
        outcome = solve_exact(problem, seed=seed, warm=holding, budget=budget)
        holding, proven, gap = outcome.holding, outcome.proven_optimal, outcome.gap
        open_level, bound = outcome.open_level, outcome.bound
    chosen = [problem.pairs[k] for k in holding if k >= 0]
    assignments = {problem.candidates[p.candidate]: problem.posts[p.post] for p in chosen}
    objective = Objective(
        len(chosen),
        sum(p.perfect for p in chosen),
        sum(p.hearts for p in chosen),
        sum(p.rank for p in chosen),
    )
    return PartitionOutcome(
        problem.partition,
        assignments,
        objective,
        proven,
        gap,
        round(time.perf_counter() - started, 4),
        open_level,
        bound,
    )


def _run_all(
    problems: list[Problem],
    *,
    seed: int,
    method: Method,
    time_limit_s: float | None,
    work_limit: float | None,
    workers: int,
    progress: Progress | None,
    interruptible: bool = False,
    cancel: threading.Event | None = None,
) -> dict[str, PartitionOutcome]:
    run = partial(
        solve_partition,
        seed=seed,
        method=method,
        time_limit_s=time_limit_s,
        work_limit=work_limit,
    )
    order = sorted(problems, key=lambda p: (-len(p.pairs), p.partition))
    outcomes: dict[str, PartitionOutcome] = {}
    total = len(order)
    alone = workers <= 1 or total <= 1
    stoppable = interruptible or cancel is not None
    if method == "deferred_acceptance" or total == 0 or (alone and not stoppable):
        # Deferred acceptance takes well under a second for a national instance: worker
        # processes would cost more (start-up, sending the partitions) than they save.
        for pb in order:
            if cancel is not None and cancel.is_set():
                raise Cancelled
            outcomes[pb.partition] = run(pb)
            if progress:
                progress(len(outcomes), total)
        return outcomes
    stop = None if cancel is None else cancel.is_set
    for outcome in run_in_processes(run, order, workers, stop=stop):
        outcomes[outcome.partition] = outcome
        if progress:
            progress(len(outcomes), total)
    return outcomes


def solve(
    instance: Instance,
    *,
    seed: int = 0,
    time_limit_s: float | None = None,
    method: Method = "optimal",
    workers: int | None = None,
    progress: Progress | None = None,
    work_limit: float | None = None,
    interruptible: bool = False,
    cancel: threading.Event | None = None,
) -> Result:
    """Match `instance`. `method="optimal"`: among all weakly stable matchings, the most
    assigned, then most perfect couples, most hearts, fewest rank points (DESIGN §4);
    `"deferred_acceptance"`: candidate-proposing, seeded tie-breaking. `time_limit_s` bounds
    each partition's search in seconds, warm start included, `work_limit` in CP-SAT
    deterministic time (see budget.py); a partition stopped by either returns the best
    stable matching found, with `proven_optimal: false`. Same input, seed and work limit:
    same result. A wall-clock limit is the exception: where it stops a search depends on
    the machine's speed and load, so a partition it stopped may differ between runs. With
    neither limit a national round may not end (its largest partitions are never proven):
    callers that run rounds pass one, e.g. `budget.DEFAULT_WORK` as the CLI does.

    `interruptible=True` runs the optimal searches in worker processes even for one
    partition or one worker: a CP-SAT search running in this process sees a Ctrl-C or a
    SIGTERM only when it returns, which with no limit may be never. A caller that must be
    able to stop a run (the CLI, a service) passes it; tests on tiny instances need not.

    `cancel`, set from another thread, stops the run within POLL_S (processes.py): solve
    raises Cancelled, its worker processes stopped, nothing returned. Signals reach only
    the main thread; a service that solves from a worker thread stops a run this way, when
    it shuts down or an operator calls the run off. Given it, the searches run in worker
    processes, as with `interruptible`."""
    if method not in ("optimal", "deferred_acceptance"):
        raise ValueError(f"unknown method {method!r} (optimal | deferred_acceptance)")
    started = time.perf_counter()
    problems = instance.problems()
    outcomes = _run_all(
        problems,
        seed=seed,
        method=method,
        time_limit_s=time_limit_s,
        work_limit=work_limit,
        workers=workers if workers is not None else available_cpus(),
        progress=progress,
        interruptible=interruptible,
        cancel=cancel,
    )
    with paused_gc():  # assembling and checking build many acyclic objects (see paused_gc)
        result = _assemble(instance, problems, outcomes, seed=seed, method=method)
        # An audit rerun needs the limits too: a work limit gives the same result again.
        result.report["limits"] = {"time_s": time_limit_s, "work": work_limit}
        result.report["time_s"] = round(time.perf_counter() - started, 4)
        violations = check(instance, result)
    if violations:
        raise RuntimeError(f"engine produced an invalid matching: {violations[:5]}")
    return result


def _assemble(
    instance: Instance,
    problems: list[Problem],
    outcomes: dict[str, PartitionOutcome],
    *,
    seed: int,
    method: Method,
) -> Result:
    assignments: dict[str, str] = {}
    for outcome in outcomes.values():
        assignments.update(outcome.assignments)
    unassigned = unassigned_reasons(instance, assignments)
    report = _report(instance, problems, outcomes, assignments, seed=seed, method=method)
    return Result(assignments, unassigned, report)


def _report(
    instance: Instance,
    problems: list[Problem],
    outcomes: dict[str, PartitionOutcome],
    assignments: dict[str, str],
    *,
    seed: int,
    method: Method,
) -> dict[str, Any]:
    partitions = []
    total = Objective()
    for pb in problems:
        outcome = outcomes[pb.partition]
        objective = outcome.objective
        total = total + objective
        partitions.append(
            {
                "partition": pb.partition,
                "candidates": len(pb.candidates),
                "posts": len(pb.posts),
                "places": pb.places,
                "objective": objective.to_dict(),
                "proven_optimal": outcome.proven_optimal,
                "gap": outcome.gap,
                "open_level": outcome.open_level,
                "bound": outcome.bound,
                "warnings": list(pb.warnings),
                "time_s": outcome.time_s,
            }
        )
    if total != evaluate(instance, assignments):  # two independent computations must agree
        raise RuntimeError(f"objective mismatch: {total} vs {evaluate(instance, assignments)}")
    return {
        "engine_version": ENGINE_VERSION,
        "method": method,
        "solver": solver_version() if method == "optimal" else None,
        "seed": seed,
        "input_sha256": instance.sha256(),
        "objective": total.to_dict(),
        "partitions": partitions,
    }
