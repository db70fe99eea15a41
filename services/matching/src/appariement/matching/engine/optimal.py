"""Exact solver for one partition: a MIP over weakly stable matchings, solved with HiGHS.

x_k ∈ {0,1} for each acceptable pair k = (d, p). Each candidate holds at most one post, each
post at most its capacity, and for each pair (d, p) with c_p > 0, weak stability:

    c_p · Σ_{q: h(d,q) ≥ h(d,p)} x_dq + Σ_{e: r_p(e) ≤ r_p(d)} x_ep ≥ c_p

(either d holds a post it likes at least as much, or p is full with candidates it ranks at
least as well). Both sums are cumulative columns, one per candidate and hearts level and one
per post and rank level (see `Model`), so each stability row has two nonzeros. The four
objectives are optimised one after the other, each optimum then fixed by a row (all
coefficients are integers, so fixing is exact); remaining ties follow HiGHS's deterministic
search under a random seed derived from the run's seed. Each level starts from the previous
level's solution (the first from deferred acceptance).
"""

from __future__ import annotations

import functools
import time
from collections.abc import Callable
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


class Model:
    """The cumulative columns of `build_model`, after the pair columns x. For each candidate d
    and hearts level h, an integer column A = Σ_{q: h(d,q) ≥ h} x_dq (in [0, 1]: it is also
    the candidate's row); for each post p and rank level r, an integer column
    B = Σ_{e: r_p(e) ≤ r} x_ep (in [0, c_p]: the capacity row). Each is defined from the
    previous level by one equality row, and the stability row of (d, p) becomes
    c_p·A_{d,h(d,p)} + B_{p,r_p(d)} ≥ c_p: two nonzeros instead of one per pair d likes as
    much as p and per applicant p ranks as well as d (215,000 nonzeros → 50,000 on the
    959-candidate partition, whose search now stops at its time limit: 30.7 s for 30 s,
    61.8 s before). The columns must be integer: a continuous A or B made HiGHS 1.15.1's
    presolve return a wrong optimum (benchmarks/README.md)."""

    def __init__(self) -> None:
        self.chains: list[list[list[int]]] = []  # per cumulative chain: its levels' pairs

    def full(self, x: np.ndarray) -> np.ndarray:
        """The values of every column for a matching given on the pair columns."""
        values = [x]
        for chain in self.chains:
            total = 0.0
            levels = []
            for members in chain:
                total += float(x[members].sum())
                levels.append(total)
            values.append(np.array(levels))
        return np.concatenate(values)


def build_model(problem: Problem) -> tuple[highspy.Highs, Model]:
    """The MIP of `problem` (module doc), with no objective yet, and its cumulative columns."""
    pairs = problem.pairs
    model = Model()
    col_upper = [0.0 if problem.capacity[pair.post] == 0 else 1.0 for pair in pairs]
    starts: list[int] = []
    index: list[int] = []
    value: list[float] = []
    lower: list[float] = []
    upper: list[float] = []

    def row(cols: list[int], coefs: list[float], lo: float, hi: float) -> None:
        starts.append(len(index))
        index.extend(cols)
        value.extend(coefs)
        lower.append(lo)
        upper.append(hi)

    def chain(members: list[int], level_of: Callable[[int], int], top: float) -> dict[int, int]:
        """Cumulative columns over `members` grouped by level (in order); the column of
        each level."""
        groups: dict[int, list[int]] = {}
        for k in members:
            groups.setdefault(level_of(k), []).append(k)
        column_of: dict[int, int] = {}
        previous = -1
        for level in sorted(groups):
            column = len(col_upper)
            col_upper.append(top)
            ks = groups[level]
            cols = [column, *ks] + ([previous] if previous >= 0 else [])
            coefs = [1.0] + [-1.0] * len(ks) + ([-1.0] if previous >= 0 else [])
            row(cols, coefs, 0.0, 0.0)
            column_of[level] = previous = column
        model.chains.append([groups[level] for level in sorted(groups)])
        return column_of

    of_candidate: dict[int, list[int]] = {}
    of_post: dict[int, list[int]] = {}
    for k, pair in enumerate(pairs):
        of_candidate.setdefault(pair.candidate, []).append(k)
        of_post.setdefault(pair.post, []).append(k)
    hearts_column = {
        d: chain(ks, lambda k: -pairs[k].hearts, 1.0) for d, ks in of_candidate.items()
    }
    rank_column = {
        p: chain(ks, lambda k: pairs[k].rank, float(problem.capacity[p]))
        for p, ks in of_post.items()
        if problem.capacity[p] > 0
    }
    for pair in pairs:
        cap = problem.capacity[pair.post]
        if cap == 0:
            continue
        a = hearts_column[pair.candidate][-pair.hearts]
        b = rank_column[pair.post][pair.rank]
        row([a, b], [float(cap), 1.0], float(cap), highspy.kHighsInf)

    columns = len(col_upper)
    lp = highspy.HighsLp()
    lp.num_col_ = columns
    lp.num_row_ = len(lower)
    lp.col_cost_ = np.zeros(columns)
    lp.col_lower_ = np.zeros(columns)
    lp.col_upper_ = np.array(col_upper, dtype=np.float64)
    lp.row_lower_ = np.array(lower, dtype=np.float64)
    lp.row_upper_ = np.array(upper, dtype=np.float64)
    lp.a_matrix_.format_ = highspy.MatrixFormat.kRowwise
    lp.a_matrix_.start_ = np.array([*starts, len(index)], dtype=np.int32)
    lp.a_matrix_.index_ = np.array(index, dtype=np.int32)
    lp.a_matrix_.value_ = np.array(value, dtype=np.float64)
    lp.integrality_ = [highspy.HighsVarType.kInteger] * columns

    h = highspy.Highs()  # type: ignore[no-untyped-call]
    h.setOptionValue("output_flag", False)
    h.setOptionValue("threads", 1)
    h.setOptionValue("mip_rel_gap", 0.0)
    h.setOptionValue("mip_abs_gap", 0.5)  # objectives are integers: a gap below 1 is optimal
    h.passModel(lp)
    return h, model


def objective_levels(problem: Problem) -> list[np.ndarray]:
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

    Pairs that no stable matching uses are pruned first (`pruned`); indices are mapped
    back."""
    started = time.perf_counter()
    reduced, keep = pruned(problem)
    if time_limit_s is not None:  # the limit covers pruning too (0.4 s on 15,000 pairs)
        time_limit_s = max(0.0, time_limit_s - (time.perf_counter() - started))
    if len(keep) == len(problem.pairs):
        return _solve_exact(problem, seed=seed, warm=warm, time_limit_s=time_limit_s)
    new_index = {k: i for i, k in enumerate(keep)}
    outcome = _solve_exact(
        reduced,
        seed=seed,
        warm=[new_index.get(k, -1) for k in warm],  # a stable warm start uses no pruned pair
        time_limit_s=time_limit_s,
    )
    holding = [keep[k] if k >= 0 else -1 for k in outcome.holding]
    return replace(outcome, holding=holding)


def pruned(problem: Problem) -> tuple[Problem, list[int]]:
    """`problem` without the pairs no weakly stable matching uses (`prune`: the same stable
    matchings, about half the pairs on a national instance), and the index in `problem` of
    each pair kept."""
    removed = removable_pairs(problem)
    if not removed:
        return problem, list(range(len(problem.pairs)))
    keep = [k for k in range(len(problem.pairs)) if k not in removed]
    return replace(problem, pairs=tuple(problem.pairs[k] for k in keep)), keep


def _solve_exact(
    problem: Problem, *, seed: int, warm: list[int], time_limit_s: float | None
) -> ExactOutcome:
    n = len(problem.pairs)
    if n == 0:
        return ExactOutcome(warm, True, None)
    started = time.perf_counter()
    h, model = build_model(problem)
    every_column = np.arange(h.getNumCol(), dtype=np.int32)
    h.setOptionValue("random_seed", seed % 2_147_483_647)
    h.changeObjectiveSense(highspy.ObjSense.kMaximize)
    columns = np.arange(n, dtype=np.int32)
    current = np.zeros(n)
    for k in warm:
        if k >= 0:
            current[k] = 1.0

    usable = [k for k, pair in enumerate(problem.pairs) if problem.capacity[pair.post] > 0]
    all_assigned = False
    for level, coefficients in enumerate(objective_levels(problem)):
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
        h.setSolution(len(every_column), every_column, model.full(current))
        h.run()
        status = h.getModelStatus()
        info = h.getInfo()
        solution = np.round(np.array(h.getSolution().col_value))[:n]
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
