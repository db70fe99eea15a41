"""Deferred acceptance with promotion: a weakly stable matching that places more candidates.

Plain deferred acceptance breaks a post's rank ties by a fixed random order, so a candidate
who loses every tie goes unassigned even when a place held by a tied rival could have gone
to them and the rival elsewhere. Király's idea (approximation algorithms for the largest
stable matching with ties, 2013): a candidate who has been refused everywhere gets one
second round, *promoted*; between candidates of equal rank a post now prefers the promoted
one. The result is still weakly stable (a post only ever swaps a holder for a candidate it
ranks at least as well, so a refusal still means "full with candidates ranked at least as
well"), and on tied instances it is usually larger. It feeds the exact solver's warm start.

`perfect_first`: among wishes with the same hearts, a candidate proposes first to a post
that ranks them best (a would-be perfect couple); such a post keeps them unless it ties
them with a rival, so the run ends with about as many perfect couples as the partition
allows. On 40 partitions of 25–49 candidates of the national benchmark, the warm start
then already had the optimal (assigned, perfect couples) in 25 instead of 7, and the exact
solver's "perfect couples" level (HiGHS then) took a third less time.
"""

from __future__ import annotations

import heapq

from appariement.matching.engine.deferred_acceptance import tie_break_rng
from appariement.matching.engine.model import Problem


def promoted_deferred_acceptance(
    problem: Problem, seed: int, *, perfect_first: bool = False, promote: bool = True
) -> list[int]:
    """Index of the pair each candidate holds at the end, or -1 when unassigned.

    `promote=False` gives plain deferred acceptance (with this module's tie-breaking)."""
    rng = tie_break_rng(seed, problem.partition)
    n = len(problem.candidates)
    candidate_order = [rng.random() for _ in range(n)]
    proposal_order = [rng.random() for _ in problem.pairs]
    pairs = problem.pairs
    ranked: list[list[int]] = [[] for _ in range(n)]
    for k, pair in enumerate(pairs):
        if problem.capacity[pair.post] > 0:
            ranked[pair.candidate].append(k)
    for wishes in ranked:
        # Popped from the end: best wish last (most hearts, perfect couple if asked for,
        # then seeded order).
        wishes.sort(
            key=lambda k: (pairs[k].hearts, perfect_first and pairs[k].perfect, proposal_order[k])
        )
    todo = [list(wishes) for wishes in ranked]
    promoted = [False] * n

    capacity = problem.capacity
    # Min-heap of holders by (rank reversed, promoted, order): heap[0] is the worst holder.
    held: list[list[tuple[int, bool, float, int]]] = [[] for _ in capacity]
    holding = [-1] * n
    free = [c for c in range(n) if todo[c]]
    while free:
        c = free.pop()
        wishes = todo[c]
        while True:
            if not wishes:
                if not promote or promoted[c] or not ranked[c]:
                    break
                promoted[c] = True  # a second round, now winning the post's ties
                wishes.extend(ranked[c])
            k = wishes.pop()
            p = pairs[k].post
            key = (-pairs[k].rank, promoted[c], -candidate_order[c], k)
            heap = held[p]
            if len(heap) < capacity[p]:
                heapq.heappush(heap, key)
                holding[c] = k
                break
            if key > heap[0]:
                rejected = heapq.heapreplace(heap, key)[3]
                holding[c] = k
                loser = pairs[rejected].candidate
                holding[loser] = -1
                free.append(loser)
                break
    return holding
