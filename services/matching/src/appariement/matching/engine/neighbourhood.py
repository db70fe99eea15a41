"""Large-neighbourhood search: more candidates placed on partitions too big for the exact search.

On the 959-candidate partition of the national benchmark the exact search of the whole
model finds nothing better than the warm start (862 placed) in seconds. Freeing the pairs of
a few hundred candidates around a random post, every other pair fixed at its current value,
leaves a sub-problem CP-SAT solves in under a second. Its solutions are weakly stable in the
whole partition (the fixed pairs stay in every stability clause), so keeping each better one
is safe: 880 placed and 26 perfect couples after 5 s with 400 candidates freed a step (250:
872; 150: 865). On the 8 partitions of 100–200 candidates, which all stop at 5 s, the exact
search alone places a little more (1,009 against 1,004 with the search taking three
quarters of the time), hence the threshold.
Each step maximises the perfect couples too (second in the objective).
"""

from __future__ import annotations

import random
from collections import deque

import numpy as np
from ortools.sat.python import cp_model

from appariement.matching.engine.budget import Budget
from appariement.matching.engine.model import Problem
from appariement.matching.engine.optimal import (
    build_model,
    linear,
    new_solver,
    objective_levels,
    pruned,
)

NEIGHBOURHOOD = 400  # at most this many candidates freed a step, at most half the partition
SEARCHED_FROM = 200  # candidates: below, the whole time limit goes to the exact search
STEPS = 100  # steps at most (a count keeps the result reproducible when no limit is given)
# Work charged at least per step: CP-SAT's deterministic time leaves out loading the model
# and the Python around it, which dominate these short steps (959-candidate partition: a
# step took ~0.75 s of wall clock for 0.03–0.045 units), so a work limit would let the
# search run ~20 times longer than it says.
STEP_WORK = 0.1


def more_placed(
    problem: Problem,
    holding: list[int],
    *,
    seed: int,
    budget: Budget | None = None,
    neighbourhood: int | None = None,
    steps: int = STEPS,
) -> list[int]:
    """A weakly stable matching at least as good as `holding` (pair index per candidate, -1
    when unassigned) on the four levels, improved step by step: each step frees the pairs
    of `neighbourhood` candidates (default: half the partition, at most NEIGHBOURHOOD)
    reached from a random post (its applicants, their other posts' applicants, …), fixes
    the others and maximises the number placed, then the perfect couples; a solution better
    on (assigned, perfect couples, hearts, ranks) replaces the current one. Stops after
    `steps` steps or where `budget` ends."""
    budget = budget or Budget()
    if neighbourhood is None:
        neighbourhood = max(1, min(NEIGHBOURHOOD, len(problem.candidates) // 2))
    reduced, keep = pruned(problem)
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
    pairs_of: dict[int, list[int]] = {}
    applicants: dict[int, list[int]] = {}
    for k, pair in enumerate(reduced.pairs):
        pairs_of.setdefault(pair.candidate, []).append(k)
        applicants.setdefault(pair.post, []).append(pair.candidate)
    posts = sorted(applicants)
    rng = random.Random(f"{seed}/{problem.partition}/neighbourhood")

    for _ in range(steps):
        if budget.exhausted():
            break
        free = np.zeros(n, dtype=bool)
        for c in _around(rng.choice(posts), applicants, pairs_of, reduced, neighbourhood):
            free[pairs_of[c]] = True
        # Every pair outside the neighbourhood is hinted at its current value and fixed there.
        model.clear_hints()  # type: ignore[no-untyped-call]
        for k in np.flatnonzero(~free).tolist():
            model.add_hint(x[k], bool(current[k]))
        solver = new_solver(seed=seed, budget=budget)
        solver.parameters.fix_variables_to_their_hinted_value = True
        status = solver.solve(model)
        budget.charge(max(solver.deterministic_time, STEP_WORK))
        if status not in (cp_model.OPTIMAL, cp_model.FEASIBLE):
            continue
        found = np.array([float(solver.boolean_value(v)) for v in x])
        if tuple(levels @ found) > tuple(levels @ current):
            current = found
    best = [-1] * len(problem.candidates)
    for j in np.flatnonzero(current > 0.5).tolist():
        best[reduced.pairs[j].candidate] = keep[j]
    return best


def _around(
    post: int,
    applicants: dict[int, list[int]],
    pairs_of: dict[int, list[int]],
    problem: Problem,
    size: int,
) -> list[int]:
    """Up to `size` candidates reached from `post` breadth first: its applicants, then the
    applicants of their other posts, and so on."""
    chosen: dict[int, None] = {}
    queue, seen = deque([post]), {post}
    while queue and len(chosen) < size:
        for c in applicants[queue.popleft()]:
            if c in chosen:
                continue
            chosen[c] = None
            if len(chosen) == size:
                break
            for k in pairs_of[c]:
                other = problem.pairs[k].post
                if other not in seen:
                    seen.add(other)
                    queue.append(other)
    return list(chosen)
