"""Exact solver for one partition: a MIP over weakly stable matchings, solved with HiGHS.

x_k ∈ {0,1} for each acceptable pair k = (d, p). Rows: each candidate at most one post;
each post at most its capacity; weak stability for each pair (d, p) with c_p > 0:

    c_p · Σ_{q: h(d,q) ≥ h(d,p)} x_dq + Σ_{e: r_p(e) ≤ r_p(d)} x_ep ≥ c_p

(either d holds a post it likes at least as much, or p is full with candidates it ranks at
least as well). The four objectives are optimised one after the other, each optimum then
fixed by a row (all coefficients are integers, so fixing is exact); remaining ties follow
HiGHS's deterministic search under a random seed derived from the run's seed. Each level
starts from the previous level's solution (the first from deferred acceptance).
"""

from __future__ import annotations

import functools
import time
from dataclasses import dataclass, replace

import highspy
import numpy as np

from appariement.matching.engine.model import Problem
from appariement.matching.engine.prune import removable_pairs

LEVELS = ("assigned", "perfect_couples", "total_hearts", "sum_of_ranks")


@functools.cache
def solver_version() -> str:
    """The MIP solver behind `method="optimal"`, for the report: among equally good matchings
    the one returned depends on its search, so a rerun must name it to be reproducible."""
    return f"HiGHS {highspy.Highs().version()}"  # type: ignore[no-untyped-call]


@dataclass(frozen=True)
class ExactOutcome:
    holding: list[int]  # pair index per candidate, -1 when unassigned
    proven_optimal: bool
    gap: float | None  # 0 when proven; else the open level's relative gap, None if unknown
    open_level: str | None = None  # the first objective level not proven optimal
    bound: int | None = None  # best bound on that level (natural sense: a lower bound for ranks)


def _stability_rows(problem: Problem) -> tuple[list[int], list[int], list[float], list[float]]:
    """Row-wise CSR (starts, indices, values) and lower bounds of the stability rows."""
    pairs = problem.pairs
    by_candidate: dict[int, list[int]] = {}
    by_post: dict[int, list[int]] = {}
    for k, pair in enumerate(pairs):
        by_candidate.setdefault(pair.candidate, []).append(k)
        by_post.setdefault(pair.post, []).append(k)
    for ks in by_candidate.values():
        ks.sort(key=lambda k: -pairs[k].hearts)
    for ks in by_post.values():
        ks.sort(key=lambda k: pairs[k].rank)

    starts: list[int] = []
    index: list[int] = []
    value: list[float] = []
    lower: list[float] = []
    for pair in pairs:
        cap = problem.capacity[pair.post]
        if cap == 0:
            continue
        row: dict[int, float] = {}
        for q in by_candidate[pair.candidate]:
            if pairs[q].hearts < pair.hearts:
                break
            row[q] = float(cap)
        for e in by_post[pair.post]:
            if pairs[e].rank > pair.rank:
                break
            row[e] = row.get(e, 0.0) + 1.0
        starts.append(len(index))
        index.extend(row)
        value.extend(row.values())
        lower.append(float(cap))
    return starts, index, value, lower


def _build(problem: Problem) -> highspy.Highs:
    pairs = problem.pairs
    n = len(pairs)
    starts: list[int] = []
    index: list[int] = []
    value: list[float] = []
    lower: list[float] = []
    upper: list[float] = []

    def add(members: list[int], lo: float, hi: float) -> None:
        starts.append(len(index))
        index.extend(members)
        value.extend([1.0] * len(members))
        lower.append(lo)
        upper.append(hi)

    of_candidate: dict[int, list[int]] = {}
    of_post: dict[int, list[int]] = {}
    for k, pair in enumerate(pairs):
        of_candidate.setdefault(pair.candidate, []).append(k)
        of_post.setdefault(pair.post, []).append(k)
    for members in of_candidate.values():
        add(members, 0.0, 1.0)
    for post, members in of_post.items():
        cap = problem.capacity[post]
        if len(members) > cap:
            add(members, 0.0, float(cap))

    s_starts, s_index, s_value, s_lower = _stability_rows(problem)
    offset = len(index)
    starts.extend(s + offset for s in s_starts)
    index.extend(s_index)
    value.extend(s_value)
    lower.extend(s_lower)
    upper.extend([highspy.kHighsInf] * len(s_lower))

    lp = highspy.HighsLp()
    lp.num_col_ = n
    lp.num_row_ = len(lower)
    lp.col_cost_ = np.zeros(n)
    lp.col_lower_ = np.zeros(n)
    lp.col_upper_ = np.array(
        [0.0 if problem.capacity[pair.post] == 0 else 1.0 for pair in pairs], dtype=np.float64
    )
    lp.row_lower_ = np.array(lower, dtype=np.float64)
    lp.row_upper_ = np.array(upper, dtype=np.float64)
    lp.a_matrix_.format_ = highspy.MatrixFormat.kRowwise
    lp.a_matrix_.start_ = np.array([*starts, len(index)], dtype=np.int32)
    lp.a_matrix_.index_ = np.array(index, dtype=np.int32)
    lp.a_matrix_.value_ = np.array(value, dtype=np.float64)
    lp.integrality_ = [highspy.HighsVarType.kInteger] * n

    h = highspy.Highs()  # type: ignore[no-untyped-call]
    h.setOptionValue("output_flag", False)
    h.setOptionValue("threads", 1)
    h.setOptionValue("mip_rel_gap", 0.0)
    h.setOptionValue("mip_abs_gap", 0.5)  # objectives are integers: a gap below 1 is optimal
    h.passModel(lp)
    return h


def _levels(problem: Problem) -> list[np.ndarray]:
    """Objective coefficients to maximise, level by level."""
    pairs = problem.pairs
    return [
        np.ones(len(pairs)),
        np.array([1.0 if p.perfect else 0.0 for p in pairs]),
        np.array([float(p.hearts) for p in pairs]),
        np.array([-float(p.rank) for p in pairs]),
    ]


def solve_exact(
    problem: Problem, *, seed: int, warm: list[int], time_limit_s: float | None
) -> ExactOutcome:
    """The lexicographically best weakly stable matching of `problem` (see module doc).

    Pairs that no stable matching uses are pruned first (`prune`: same set of stable
    matchings, about half the pairs on a national instance); indices are mapped back."""
    removed = removable_pairs(problem)
    if not removed:
        return _solve_exact(problem, seed=seed, warm=warm, time_limit_s=time_limit_s)
    keep = [k for k in range(len(problem.pairs)) if k not in removed]
    new_index = {k: i for i, k in enumerate(keep)}
    reduced = replace(problem, pairs=tuple(problem.pairs[k] for k in keep))
    outcome = _solve_exact(
        reduced,
        seed=seed,
        warm=[new_index.get(k, -1) for k in warm],  # a stable warm start uses no pruned pair
        time_limit_s=time_limit_s,
    )
    holding = [keep[k] if k >= 0 else -1 for k in outcome.holding]
    return replace(outcome, holding=holding)


def _solve_exact(
    problem: Problem, *, seed: int, warm: list[int], time_limit_s: float | None
) -> ExactOutcome:
    n = len(problem.pairs)
    if n == 0:
        return ExactOutcome(warm, True, None)
    started = time.perf_counter()
    h = _build(problem)
    h.setOptionValue("random_seed", seed % 2_147_483_647)
    h.changeObjectiveSense(highspy.ObjSense.kMaximize)
    columns = np.arange(n, dtype=np.int32)
    current = np.zeros(n)
    for k in warm:
        if k >= 0:
            current[k] = 1.0

    usable = [k for k, pair in enumerate(problem.pairs) if problem.capacity[pair.post] > 0]
    all_assigned = False
    for level, coefficients in enumerate(_levels(problem)):
        if (
            coefficients @ current
            >= _upper_bound(problem, usable, coefficients, all_assigned) - 0.5
        ):
            # The current matching already reaches a bound no matching can pass: optimal
            # for this level without a search (common: every candidate placed, top wishes).
            _fix(h, coefficients, float(coefficients @ current))
            all_assigned = all_assigned or level == 0
            continue
        if time_limit_s is not None:
            remaining = time_limit_s - (time.perf_counter() - started)
            if remaining <= 0:
                return _outcome(problem, current, False, None, level)
            h.setOptionValue("time_limit", remaining)
        h.changeColsCost(n, columns, coefficients)
        h.setSolution(n, columns, current)
        h.run()
        status = h.getModelStatus()
        info = h.getInfo()
        solution = np.round(np.array(h.getSolution().col_value))
        if status == highspy.HighsModelStatus.kOptimal:
            current = solution
        else:
            feasible = info.primal_solution_status == 2  # kSolutionStatusFeasible
            if feasible and coefficients @ solution >= coefficients @ current:
                current = solution
            # Before its root LP is solved HiGHS's bound can be weaker than the trivial one
            # (1,028 for a 959-candidate partition): report the better of the two.
            trivial = _upper_bound(problem, usable, coefficients, all_assigned)
            bound = min(float(info.mip_dual_bound), trivial)
            return _time_limited(problem, current, level, coefficients, bound)
        _fix(h, coefficients, float(coefficients @ current))
        if level == 0:  # everyone with a usable pair placed: the same holds at every level
            placeable = len({problem.pairs[k].candidate for k in usable})
            all_assigned = bool(coefficients @ current >= placeable - 0.5)
    return _outcome(problem, current, True, 0.0)


def _time_limited(
    problem: Problem, x: np.ndarray, level: int, coefficients: np.ndarray, dual_bound: float
) -> ExactOutcome:
    """The outcome when a level's search stops at the time limit: its best bound, in the
    level's own sense, and the relative gap |bound - value| / max(|bound|, |value|, 1), in
    [0, 1] (HiGHS's own gap divides by the incumbent and can exceed 1)."""
    if not np.isfinite(dual_bound) or abs(dual_bound) >= highspy.kHighsInf:
        return _outcome(problem, x, False, None, level)
    value = round(float(coefficients @ x))
    best = int(np.floor(dual_bound + 1e-6))  # objectives are integers: the bound rounds down
    if level == len(LEVELS) - 1:  # maximising -ranks: report the sum of ranks and its floor
        value, best = -value, -best
    gap = abs(best - value) / max(abs(best), abs(value), 1)
    return _outcome(problem, x, False, round(gap, 6), level, best)


def _fix(h: highspy.Highs, coefficients: np.ndarray, achieved: float) -> None:
    """Keep a level at its optimum while the next levels are optimised (integers: exact)."""
    nonzero = np.flatnonzero(coefficients)
    h.addRow(
        achieved - 0.5,
        highspy.kHighsInf,
        len(nonzero),
        nonzero.astype(np.int32),
        coefficients[nonzero],
    )


def _upper_bound(
    problem: Problem, usable: list[int], coefficients: np.ndarray, all_assigned: bool
) -> float:
    """Each candidate adds at most its best coefficient (or 0 when it may stay unassigned;
    once the first level has placed every candidate that has a usable pair, all must stay)."""
    best: dict[int, float] = {}
    for k in usable:
        c = problem.pairs[k].candidate
        value = float(coefficients[k])
        if c not in best or value > best[c]:
            best[c] = value
    if all_assigned:
        return sum(best.values())
    return sum(max(0.0, v) for v in best.values())


def _outcome(
    problem: Problem,
    x: np.ndarray,
    proven: bool,
    gap: float | None,
    level: int | None = None,
    bound: int | None = None,
) -> ExactOutcome:
    holding = [-1] * len(problem.candidates)
    for k in np.flatnonzero(x > 0.5):
        holding[problem.pairs[int(k)].candidate] = int(k)
    return ExactOutcome(holding, proven, gap, None if level is None else LEVELS[level], bound)
