"""Exact solver for one partition: weakly stable matchings as a CP-SAT model (OR-Tools).

x_k ∈ {0,1} for each acceptable pair k = (d, p). Each candidate holds at most one post, each
post at most its capacity, and for each pair (d, p) with c_p > 0, weak stability is a clause:

    A[d, h(d,p)]  ∨  F[p, r_p(d)]

A[d, h] = Σ_{q: h(d,q) ≥ h} x_dq is a Boolean (d holds a post it gives at least h hearts);
F[p, r] is a Boolean that implies Σ_{e: r_p(e) ≤ r} x_ep ≥ c_p (p is full with candidates it
ranks r or better), F[p, r] ⇒ F[p, r'] for r' > r, and x_ep ⇒ ¬F[p, r] for r < r_p(e) (a
holder ranked worse takes a place): the "cut-off" model of DESIGN.md §4. The last clauses
follow from the capacity row, but stated as binary clauses they let CP-SAT's clause
learning and LP use them directly: on the 42 partitions of 50–99 candidates of the national
benchmark, 5 s each, 150–156 s and 19–21 proven against 166–169 s and 16–18 without; on the
92 of 25–49, all proven in 58.7 s against 89 in 65.6 s.
The objectives are optimised one after the other, each optimum then fixed by a constraint
(integers: fixing is exact; "placed" by one clause per candidate, `_placing_at_least`); each
search starts from the previous one's solution (the first from deferred acceptance) as a
hint. Hearts and ranks are searched together, as M·hearts − ranks with M one more than the
largest sum of ranks a matching can have: one heart more outweighs any ranks, so the order
stays lexicographic, and one search instead of two saves a presolve, a root LP and a proof;
placed and perfect couples likewise on partitions under 50 candidates (`_searches`). A
search stopped by the limit holds the best value it found instead, and the later ones still
improve the matching with the share of the budget each left them (RESERVE); the report
names the first level not proven.
Remaining ties follow CP-SAT's search (one worker: deterministic), which follows the order
of its variables more than its random seed: the pairs come in an order drawn from the
run's seed (`pruned`), so that the seed, not the ids, decides among equally good matchings.

Why CP-SAT and not a MIP solver: on these models clause learning settles the first two
levels (placed, perfect couples) in tenths of a second where HiGHS spent seconds in cut
separation, and with its LP at linearization level 2 it closes the last two (hearts, ranks)
as fast as HiGHS did: 20 sampled partitions of 25–49 candidates, all proven, 10.7 s against
HiGHS's 24.1 s (19 proven); 14 of 50–99 at 5 s each: 5 proven against 2, and a better
matching on 8 of the 9 neither proved (benchmarks/README.md).
"""

from __future__ import annotations

import functools
import math
import random
from collections.abc import Sequence
from dataclasses import dataclass, replace
from importlib.metadata import version

import numpy as np
from ortools.sat.python import cp_model

from appariement.matching.engine.budget import Budget
from appariement.matching.engine.model import Problem
from appariement.matching.engine.prune import removable_pairs

LEVELS = ("assigned", "perfect_couples", "total_hearts", "sum_of_ranks")
# CP-SAT's LP relaxation per level: 2 (cuts on every constraint) where the LP bound is what
# proves the level (placed, hearts, ranks), the default 1 for perfect couples, where search
# does the work. On the 92 partitions of 25–49 candidates of the national benchmark, 5 s
# each: 73.0 s and 90 proven, against 81.7 s and 87 with (1, 1, 2, 2); on the 51 slowest of
# 25–99: 199 s and 23 proven against 212 s and 20 (2 throughout: 204 s, 24; core-based
# search for "placed": 211 s, 19). From LARGE candidates on, where "placed" is seldom proven
# anyway, its level-2 LP costs more search than it saves: on the 8 partitions of 100–200
# candidates, 1,009 placed with 1 against 996 with 2 (5 s each).
LINEARIZATION = (2, 1, 2, 2)
LARGE = 100
LARGE_LINEARIZATION = (1, 1, 2, 2)
# Share of a partition's budget kept back from each level but the last: if a level stops
# at the limit, the later levels still improve on what it found (its value held). On the
# 50 partitions of 50–199 candidates of the national benchmark, 5 s each (four runs
# against three): 260–263 perfect couples against 256–257, as many placed (3,776), 23–25
# proven against 23; the 92 of 25–49 all proven as before (35.5 s against 34.9 s). With
# 0.3: 276 perfect couples but one candidate fewer placed.
RESERVE = 0.15
# Placed and perfect couples in one search below this many candidates. Above, where the
# search often stops at its limit, "placed" gets a search of its own: on the 50 partitions
# of 50–199 candidates, together placed 6 fewer (3,770 against 3,776) for 37 more perfect
# couples. On the 92 of 25–49, together: 27.6 s against 32.7–35.4 s, the same optimum; the
# whole national run under a work limit of 2.5 per partition (deterministic): the same
# result, 473 partitions proven, in 115.4 s against 121.5 s.
PLACED_ALONE_FROM = 50
# Hearts and ranks in one search (M·hearts − ranks) while every value stays an exact integer
# in a double (numpy evaluates the objectives in doubles). On the national benchmark, 5 s
# per partition, interleaved with two searches: the 92 partitions of 25–49 candidates in
# 32.7 and 35.4 s against 40.5 and 43.3 s (all proven, same objective; hearts and ranks
# 15.1–16.1 s against 22.4–23.7 s); the whole run 109.8 and 114.8 s, 473 partitions proven,
# against 115.0 and 122.1 s, 471.
EXACT = 2**53


@functools.cache
def solver_version() -> str:
    """The solver behind `method="optimal"`, for the report: among equally good matchings
    the one returned depends on its search, so a rerun must name it to be reproducible."""
    return f"OR-Tools CP-SAT {version('ortools')}"


@dataclass(frozen=True)
class ExactOutcome:
    holding: list[int]  # pair index per candidate, -1 when unassigned
    proven_optimal: bool
    gap: float | None  # 0 when proven; else the open level's relative gap, None if unknown
    open_level: str | None = None  # the first objective level not proven optimal
    bound: int | None = None  # best bound on that level (natural sense: a lower bound for ranks)


@dataclass(frozen=True, eq=False)
class _Search:
    """One CP-SAT search: the objective it maximises, the first level it decides and the
    coefficients of each level it decides (`parts`: one, or two searched as
    weight·first + second), each held apart once the search is over."""

    level: int  # index in LEVELS
    coefficients: np.ndarray
    parts: tuple[np.ndarray, ...]
    weight: int = 1  # of the first part: more than the second part's range
    low: int = 0  # the smallest value the second part can take


def _together(level: int, first: np.ndarray, second: np.ndarray, low: int, high: int) -> _Search:
    """Two consecutive levels in one search: weight·first + second, with the weight more
    than the second level's range [low, high], so one unit more of the first outweighs
    anything the second can lose: lexicographic."""
    weight = high - low + 1
    return _Search(level, first * weight + second, (first, second), weight, low)


def _searches(problem: Problem, usable: list[int], levels: list[np.ndarray]) -> list[_Search]:
    """The searches of `problem`: placed and perfect couples together below
    PLACED_ALONE_FROM candidates, else one after the other; then hearts and ranks together
    (module doc) when the weighted values stay exact, else one after the other (hearts and
    ranks may go up to a million each)."""
    placed, perfect, hearts, ranks = levels
    most_ranks: dict[int, int] = {}
    most_hearts: dict[int, int] = {}
    for k in usable:
        pair = problem.pairs[k]
        most_ranks[pair.candidate] = max(most_ranks.get(pair.candidate, 0), pair.rank)
        most_hearts[pair.candidate] = max(most_hearts.get(pair.candidate, 0), pair.hearts)
    n = len(problem.candidates)
    if n < PLACED_ALONE_FROM:
        first = [_together(0, placed, perfect, 0, n)]
    else:
        first = [_Search(0, placed, (placed,)), _Search(1, perfect, (perfect,))]
    worst = sum(most_ranks.values())  # more than any matching's sum of ranks
    if (worst + 1) * (sum(most_hearts.values()) + 1) >= EXACT:
        return [*first, _Search(2, hearts, (hearts,)), _Search(3, ranks, (ranks,))]
    return [*first, _together(2, hearts, ranks, -worst, 0)]


def _open_level(
    problem: Problem,
    usable: list[int],
    search: _Search,
    current: np.ndarray,
    bound: float,
    assigned: int | None,
) -> tuple[int, np.ndarray, float]:
    """The first level `search` left unproven, its coefficients and its bound, given the
    search's own bound. For two levels together (value W·F + S ≤ bound, S ≥ low):
    F ≤ (bound − low) / W; when the matching reaches that, the second level is open, and a
    matching with this F has S ≤ bound − W·F."""
    if len(search.parts) == 1:
        return search.level, search.coefficients, bound
    first, second = search.parts
    if not np.isfinite(bound):
        return search.level, first, bound
    best = math.floor(bound + 1e-6)
    first_bound = min(
        (best - search.low) // search.weight, _upper_bound(problem, usable, first, assigned)
    )
    found = round(float(first @ current))
    if first_bound > found:
        return search.level, first, first_bound
    return (
        search.level + 1,
        second,
        min(best - search.weight * found, _upper_bound(problem, usable, second, assigned)),
    )


def build_model(problem: Problem) -> tuple[cp_model.CpModel, list[cp_model.IntVar]]:
    """The CP-SAT model of `problem` (module doc), with no objective yet, and the pair
    variables x (in pair order)."""
    pairs = problem.pairs
    m = cp_model.CpModel()
    x = [m.new_bool_var(f"x{k}") for k in range(len(pairs))]
    of_candidate = _usable_of_candidate(problem)
    of_post: dict[int, list[int]] = {}
    for k, pair in enumerate(pairs):
        if problem.capacity[pair.post] == 0:
            m.add(x[k] == 0)
            continue
        of_post.setdefault(pair.post, []).append(k)

    holds: dict[tuple[int, int], cp_model.IntVar] = {}  # (candidate, hearts) -> A
    for d, ks in of_candidate.items():
        m.add_at_most_one(x[k] for k in ks)
        for hearts in sorted({pairs[k].hearts for k in ks}):
            members = [x[k] for k in ks if pairs[k].hearts >= hearts]
            if len(members) == 1:
                holds[d, hearts] = members[0]
            else:
                holds[d, hearts] = a = m.new_bool_var("")
                m.add(a == sum(members))

    full: dict[tuple[int, int], cp_model.IntVar] = {}  # (post, rank) -> F
    for p, ks in of_post.items():
        cap = problem.capacity[p]
        if len(ks) > cap:
            m.add(sum(x[k] for k in ks) <= cap)
        by_rank: dict[int, list[int]] = {}
        for k in ks:
            by_rank.setdefault(pairs[k].rank, []).append(k)
        ranked: list[cp_model.IntVar] = []  # holders ranked `rank` or better
        previous = None
        for rank in sorted(by_rank):
            ranked = ranked + [x[k] for k in by_rank[rank]]
            full[p, rank] = f = m.new_bool_var("")
            if cap == 1:
                m.add_bool_or(ranked).only_enforce_if(f)
            else:
                m.add(sum(ranked) >= cap).only_enforce_if(f)
            if previous is not None:
                m.add_implication(previous, f)
                # A holder ranked `rank` takes a place: p is not full with better-ranked ones.
                for k in by_rank[rank]:
                    m.add_implication(x[k], ~previous)
            previous = f

    for d, ks in of_candidate.items():
        for k in ks:
            pair = pairs[k]
            m.add_bool_or([holds[d, pair.hearts], full[pair.post, pair.rank]])
    return m, x


def _usable_of_candidate(problem: Problem) -> dict[int, list[int]]:
    """Each candidate's pairs with a post that has places, in pair order (candidates with
    none are absent)."""
    of_candidate: dict[int, list[int]] = {}
    for k, pair in enumerate(problem.pairs):
        if problem.capacity[pair.post] > 0:
            of_candidate.setdefault(pair.candidate, []).append(k)
    return of_candidate


def new_solver(*, seed: int, budget: Budget) -> cp_model.CpSolver:
    """One CP-SAT worker, stopped where `budget` ends. One worker is deterministic (and the
    partitions already share the machine's cores)."""
    solver = cp_model.CpSolver()
    solver.parameters.num_workers = 1
    solver.parameters.random_seed = seed % 2_147_483_647
    # By default CP-SAT takes a Ctrl-C as "stop here" and returns what it has: the run
    # went on and wrote a result its recorded limits do not reproduce. The interrupt is
    # the caller's (solve.py stops the whole run).
    solver.parameters.catch_sigint_signal = False
    budget.limit(solver)
    return solver


def linear(x: Sequence[cp_model.IntVar], coefficients: np.ndarray) -> cp_model.LinearExprT:
    """Σ coefficients · x over the nonzero integer coefficients."""
    nonzero = np.flatnonzero(coefficients).tolist()
    return cp_model.LinearExpr.weighted_sum(
        [x[k] for k in nonzero], [int(coefficients[k]) for k in nonzero]
    )


def objective_levels(problem: Problem) -> list[np.ndarray]:
    """Objective coefficients to maximise, level by level."""
    pairs = problem.pairs
    return [
        np.ones(len(pairs)),
        np.array([1.0 if p.perfect else 0.0 for p in pairs]),
        np.array([float(p.hearts) for p in pairs]),
        np.array([-float(p.rank) for p in pairs]),
    ]


def solve_exact(problem: Problem, *, seed: int, warm: list[int], budget: Budget) -> ExactOutcome:
    """The lexicographically best weakly stable matching of `problem` (see module doc),
    or the best found when `budget` runs out (its wall clock also covers pruning: 0.4 s on
    15,000 pairs).

    Pairs that no stable matching uses are pruned first, and the solver sees the others in
    an order drawn from the seed (`pruned`); indices are mapped back."""
    reduced, keep = pruned(problem, seed=seed)
    new_index = {k: i for i, k in enumerate(keep)}
    outcome = _solve_exact(
        reduced,
        seed=seed,
        warm=[new_index.get(k, -1) for k in warm],  # a stable warm start uses no pruned pair
        budget=budget,
    )
    holding = [keep[k] if k >= 0 else -1 for k in outcome.holding]
    return replace(outcome, holding=holding)


def pruned(problem: Problem, *, seed: int | None = None) -> tuple[Problem, list[int]]:
    """`problem` without the pairs no weakly stable matching uses (`prune`: the same stable
    matchings, about half the pairs on a national instance), and the index in `problem` of
    each pair kept.

    With a `seed`, the pairs kept come in an order drawn from it (no longer sorted by
    candidate and post, which the model does not need). Among equally good matchings
    CP-SAT returns one that follows its variables' order, not its random seed: with the
    pairs in id order, two candidates alike in every respect competing for one place gave
    it to the same one under every seed. In a seeded order the seed decides, as DESIGN §4
    says remaining ties are broken, and over seeds alike candidates fare alike."""
    removed = removable_pairs(problem)
    keep = [k for k in range(len(problem.pairs)) if k not in removed]
    if seed is not None:
        random.Random(f"{seed}/{problem.partition}/pairs").shuffle(keep)
    elif not removed:
        return problem, keep
    return replace(problem, pairs=tuple(problem.pairs[k] for k in keep)), keep


def _solve_exact(problem: Problem, *, seed: int, warm: list[int], budget: Budget) -> ExactOutcome:
    n = len(problem.pairs)
    if n == 0:  # nobody can be placed: proven, with no gap (as any proven partition)
        return ExactOutcome(warm, True, 0.0)
    model, x = build_model(problem)
    current = np.zeros(n)
    for k in warm:
        if k >= 0:
            current[k] = 1.0

    usable = [k for k, pair in enumerate(problem.pairs) if problem.capacity[pair.post] > 0]
    placeable = list(_usable_of_candidate(problem).values())
    searches = _searches(problem, usable, objective_levels(problem))
    reserve = budget.share(RESERVE)  # kept for the later searches if one stops unproven
    assigned: int | None = None  # the first level's optimum, once settled
    stopped: tuple[int, np.ndarray, float] | None = None  # first unproven level, its bound
    for search in searches:
        level, coefficients = search.level, search.coefficients
        objective = linear(x, coefficients)
        if coefficients @ current >= _upper_bound(problem, usable, coefficients, assigned) - 0.5:
            # The current matching already reaches a bound no matching can pass: optimal
            # for this level without a search (common: every candidate placed, top wishes).
            held = _hold(model, x, search, current, placeable)
            if level == 0:
                assigned = held
            continue
        if budget.exhausted():
            if stopped is not None:
                break
            # no search left for this level: its trivial bound
            bound = _upper_bound(problem, usable, coefficients, assigned)
            opened = _open_level(problem, usable, search, current, bound, assigned)
            return _time_limited(problem, current, *opened)
        model.maximize(objective)
        model.clear_hints()  # type: ignore[no-untyped-call]
        for k in range(n):
            model.add_hint(x[k], bool(current[k]))
        last = search is searches[-1]
        level_budget = budget if stopped is not None or last else budget.less(reserve)
        solver = new_solver(seed=seed, budget=level_budget)
        large = len(problem.candidates) >= LARGE
        solver.parameters.linearization_level = (LARGE_LINEARIZATION if large else LINEARIZATION)[
            level
        ]
        status = solver.solve(model)
        budget.charge(solver.deterministic_time)
        if status in (cp_model.OPTIMAL, cp_model.FEASIBLE):
            found = np.array([float(solver.boolean_value(v)) for v in x])
            if status == cp_model.OPTIMAL or coefficients @ found >= coefficients @ current:
                current = found
        if status != cp_model.OPTIMAL:
            if status not in (cp_model.FEASIBLE, cp_model.UNKNOWN):  # the warm start is a
                raise RuntimeError(f"CP-SAT: {solver.status_name(status)}")  # solution
            if stopped is None:
                bound = _upper_bound(problem, usable, coefficients, assigned)
                if status == cp_model.FEASIBLE:  # with no solution found, CP-SAT's bound is 0
                    bound = min(bound, solver.best_objective_bound)
                stopped = _open_level(problem, usable, search, current, bound, assigned)
        # Proven, or the best found when the level stopped: held while the later levels
        # improve (the report still names the first level not proven).
        held = _hold(model, x, search, current, placeable)
        if level == 0 and stopped is None:  # proven: every later matching places this many
            assigned = held
    if stopped is not None:
        return _time_limited(problem, current, *stopped)
    return _outcome(problem, current, True, 0.0)


def _hold(
    model: cp_model.CpModel,
    x: Sequence[cp_model.IntVar],
    search: _Search,
    current: np.ndarray,
    placeable: list[list[int]],
) -> int:
    """Keep each level `search` decided at least at its value in `current`, so that later
    searches cannot trade it away; the first level's value. "Placed" is held as
    `_placing_at_least` says, the others as a row."""
    values = [round(float(part @ current)) for part in search.parts]
    for i, (part, value) in enumerate(zip(search.parts, values, strict=True)):
        if search.level + i == 0:
            _placing_at_least(model, x, placeable, value)
        else:
            model.add(linear(x, part) >= value)
    return values[0]


def _placing_at_least(
    model: cp_model.CpModel, x: Sequence[cp_model.IntVar], placeable: list[list[int]], placed: int
) -> None:
    """At least `placed` candidates placed, said per candidate: each holds exactly one of its
    pairs (`placeable`) or is left out, and at most len(placeable) − placed are left out.
    The same matchings as Σ x ≥ placed, but a candidate's "one of these pairs" is a clause
    the solver propagates on its own: once the left-out quota is used up (at once when
    everyone is placed), a candidate whose other pairs are excluded must take the last.
    On the 50 partitions of 50–199 candidates of the national benchmark, work limit 10
    (one after the other): 274.9 s against 320.0 s, 38 proven as before, as many placed,
    292 perfect couples against 280; on the 92 of 25–49, 21.5 s against 23.8 s, the same
    optimum."""
    if placed <= 0:
        return  # every matching places at least that many
    left_out = []
    for pairs in placeable:
        out = model.new_bool_var("")
        model.add_exactly_one([*(x[k] for k in pairs), out])
        left_out.append(out)
    model.add(sum(left_out) <= len(placeable) - placed)


def _time_limited(
    problem: Problem, x: np.ndarray, level: int, coefficients: np.ndarray, dual_bound: float
) -> ExactOutcome:
    """The outcome when a level's search stops at the time limit: its best bound, in the
    level's own sense, and the relative gap |bound - value| / max(|bound|, |value|, 1), in
    [0, 1] (a solver's own gap divides by the incumbent and can exceed 1)."""
    if not np.isfinite(dual_bound):
        return _outcome(problem, x, False, None, level)
    value = round(float(coefficients @ x))
    best = int(np.floor(dual_bound + 1e-6))  # objectives are integers: the bound rounds down
    if level == len(LEVELS) - 1:  # maximising -ranks: report the sum of ranks and its floor
        value, best = -value, -best
    gap = abs(best - value) / max(abs(best), abs(value), 1)
    return _outcome(problem, x, False, round(gap, 6), level, best)


def _upper_bound(
    problem: Problem, usable: list[int], coefficients: np.ndarray, assigned: int | None
) -> float:
    """Each assigned candidate adds at most its best coefficient. Before the first level is
    settled any candidate may stay unassigned (adding 0); after it, exactly `assigned` are
    placed, so the bound is the sum of the `assigned` largest bests (for the ranks level, a
    sum of ranks of at least that many best ranks, where 0 was all it could say before)."""
    best: dict[int, float] = {}
    for k in usable:
        c = problem.pairs[k].candidate
        value = float(coefficients[k])
        if c not in best or value > best[c]:
            best[c] = value
    if assigned is None:
        return sum(max(0.0, v) for v in best.values())
    return sum(sorted(best.values(), reverse=True)[:assigned])


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
