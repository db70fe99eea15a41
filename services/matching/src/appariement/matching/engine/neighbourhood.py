"""Large-neighbourhood search: more candidates placed on partitions too big for the exact search.

On the 959-candidate partition of the national benchmark, HiGHS spends its first 25 s on
the root LP and cuts of the whole model and keeps the warm start (862 placed). Freeing the
pairs of a few hundred candidates around a random post, every other pair fixed at its
current value, leaves a sub-MIP that HiGHS solves in ~0.3 s. Its solutions are weakly
stable in the whole partition (the fixed pairs stay in every stability row), so keeping
each better one is safe: 886 placed after 3.6 s, 896 after 23 s, with 400 candidates
freed a step (200: 876 after 5.4 s; 60: 863 after 3.3 s). On the 8 partitions of
100–200 candidates, which all stop at 5 s, half the partition freed a step and half the
time: 1,004 placed instead of 994, none proven either way; on 14 partitions of 50–99 it
loses (900 instead of 902): the exact search does better there with all the time.
Each step maximises the perfect couples too (second in the objective): on the partitions of
100+ candidates 97 perfect couples instead of 62, and 1,888 placed instead of 1,884.
"""

from __future__ import annotations

import random
import time
from collections import deque

import highspy
import numpy as np

from appariement.matching.engine.model import Problem
from appariement.matching.engine.optimal import build_model, objective_levels, pruned

NEIGHBOURHOOD = 400  # at most this many candidates freed a step, at most half the partition
SEARCHED_FROM = 100  # candidates: below, the whole time limit goes to the exact search
STEPS = 100  # steps when no time limit is given (a count keeps the result reproducible)


def more_placed(
    problem: Problem,
    holding: list[int],
    *,
    seed: int,
    time_limit_s: float | None,
    neighbourhood: int | None = None,
    steps: int = STEPS,
) -> list[int]:
    """A weakly stable matching at least as good as `holding` (pair index per candidate, -1
    when unassigned) on the four levels, improved step by step: each step frees the pairs
    of `neighbourhood` candidates (default: half the partition, at most NEIGHBOURHOOD)
    reached from a random post (its applicants, their other posts' applicants, …), fixes
    the others and maximises the number placed, then the perfect couples; a solution better
    on (assigned, perfect couples, hearts, ranks) replaces the current one. Stops after
    `steps` steps or at `time_limit_s`."""
    started = time.perf_counter()
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

    h, model = build_model(reduced)
    h.setOptionValue("random_seed", seed % 2_147_483_647)
    h.changeObjectiveSense(highspy.ObjSense.kMaximize)
    columns = np.arange(n, dtype=np.int32)
    every_column = np.arange(h.getNumCol(), dtype=np.int32)
    # Most placed, then most perfect couples, in one objective (perfect couples ≤ candidates).
    h.changeColsCost(n, columns, levels[0] * (len(reduced.candidates) + 1) + levels[1])
    usable = np.array([float(reduced.capacity[p.post] > 0) for p in reduced.pairs])
    pairs_of: dict[int, list[int]] = {}
    applicants: dict[int, list[int]] = {}
    for k, pair in enumerate(reduced.pairs):
        pairs_of.setdefault(pair.candidate, []).append(k)
        applicants.setdefault(pair.post, []).append(pair.candidate)
    posts = sorted(applicants)
    rng = random.Random(f"{seed}/{problem.partition}/neighbourhood")

    for _ in range(steps):
        if time_limit_s is not None:
            remaining = time_limit_s - (time.perf_counter() - started)
            if remaining <= 0:
                break
            h.setOptionValue("time_limit", remaining)
        free = np.zeros(n, dtype=bool)
        for c in _around(rng.choice(posts), applicants, pairs_of, reduced, neighbourhood):
            free[pairs_of[c]] = True
        h.changeColsBounds(
            n, columns, np.where(free, 0.0, current), np.where(free, usable, current)
        )
        h.setSolution(len(every_column), every_column, model.full(current))
        h.run()
        if h.getInfo().primal_solution_status != 2:  # kSolutionStatusFeasible
            continue
        found = np.round(np.array(h.getSolution().col_value))[:n]
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
