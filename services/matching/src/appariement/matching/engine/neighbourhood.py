"""Large-neighbourhood search: more candidates placed on partitions too big for the exact search.

On the 959-candidate partition of the national benchmark the exact search of the whole
model finds nothing better than the warm start (862 placed) in seconds. CP-SAT's own
large-neighbourhood search does: it presolves the model once, then repeatedly frees part
of the current matching (random or neighbouring variables and constraints) and solves the
rest fixed, in C++. Every solution it keeps is a solution of the whole model, hence weakly
stable. Its subsolvers run interleaved on one thread, so the search is deterministic under
a work limit, and uses one core like every partition.

Measured on that partition from the same warm start, 5 s of search alone: 898–900 placed,
where our earlier Python loop over neighbourhoods (each step presolving the whole model
again, ~0.75 s a step) reached 869–877, and 892 in 30 s; within `solve_partition` (warm
start, then three quarters of the rest here and a quarter in the exact search), 887 at 5 s
and 903 at 10 s. Probing and repeated presolve passes are off: with them the presolve alone
took 7 s. From 100 candidates on, the search placed as many as the exact search alone on
the 8 partitions of 100–199 measured one at a time, but in the national run it took the
time two of them (Urologie) needed to prove "placed": they stopped on that level with 120
and 121 placed, where the exact search alone proves it and goes on. The threshold stays at
200.
"""

from __future__ import annotations

import numpy as np
from ortools.sat.python import cp_model

from appariement.matching.engine.budget import MIN_LIMIT, Budget
from appariement.matching.engine.model import Problem
from appariement.matching.engine.optimal import (
    build_model,
    linear,
    new_solver,
    objective_levels,
    pruned,
)

SEARCHED_FROM = 200  # candidates: below, the whole time limit goes to the exact search
# CP-SAT counts little deterministic time for its neighbourhood solves: 0.37–0.97 units in
# 5 s here, where its exact search counts one unit per 1.7–2.5 s. The search is charged, and
# limited, WORK_SCALE times what CP-SAT counts, so that a work limit means about as much
# wall-clock time in both.
WORK_SCALE = 6.0
UNLIMITED_WORK = 5.0  # the search only ends at a limit: with none given, this much work


def more_placed(
    problem: Problem, holding: list[int], *, seed: int, budget: Budget | None = None
) -> list[int]:
    """A weakly stable matching at least as good as `holding` (pair index per candidate, -1
    when unassigned) on the four levels, searched for most placed, then most perfect couples
    (one objective) until `budget` ends (UNLIMITED_WORK units when it has no limit)."""
    budget = budget or Budget()
    reduced, keep = pruned(problem, seed=seed)
    n = len(reduced.pairs)
    if n == 0:
        return holding
    new_index = {k: i for i, k in enumerate(keep)}
    current = np.zeros(n)
    for k in holding:
        if k >= 0:
            current[new_index[k]] = 1.0  # a stable matching uses no pruned pair
    levels = np.array(objective_levels(reduced))

    model, x = build_model(reduced)
    # Most placed, then most perfect couples, in one objective (perfect couples ≤ candidates).
    model.maximize(linear(x, levels[0] * (len(reduced.candidates) + 1) + levels[1]))
    for k in range(n):
        model.add_hint(x[k], bool(current[k]))
    solver = new_solver(seed=seed, budget=budget)
    params = solver.parameters
    params.num_workers = 2  # two subsolvers, interleaved one task at a time on one thread
    params.interleave_search = True
    params.interleave_batch_size = 1
    params.use_lns_only = True
    params.cp_model_probing_level = 0
    params.max_presolve_iterations = 1
    work = budget.remaining_work()
    if work is None and budget.seconds is None:
        work = UNLIMITED_WORK
    if work is not None:
        params.max_deterministic_time = max(work / WORK_SCALE, MIN_LIMIT)
    status = solver.solve(model)
    budget.charge(solver.deterministic_time * WORK_SCALE)
    if status in (cp_model.OPTIMAL, cp_model.FEASIBLE):
        found = np.array([float(solver.boolean_value(v)) for v in x])
        if tuple(levels @ found) > tuple(levels @ current):
            current = found
    best = [-1] * len(problem.candidates)
    for j in np.flatnonzero(current > 0.5).tolist():
        best[reduced.pairs[j].candidate] = keep[j]
    return best
