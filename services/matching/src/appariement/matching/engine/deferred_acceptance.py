"""Candidate-proposing deferred acceptance with seeded tie-breaking, on one partition.

Always weakly stable. With strict preferences it gives the candidate-optimal stable
matching and is strategy-proof for candidates. With ties, the seed breaks them: hearts ties
on the candidate's side by a random order of their wishes, rank ties on the post's side by
one random order of candidates (single tie-breaking). It is the exact solver's warm start.
"""

from __future__ import annotations

import heapq
import random

from appariement.matching.engine.model import Problem


def tie_break_rng(seed: int, partition: str) -> random.Random:
    """A generator that depends only on the seed and the partition (never on input order)."""
    return random.Random(f"{seed}/{partition}")


def deferred_acceptance(problem: Problem, seed: int) -> list[int]:
    """Index of the pair each candidate holds at the end, or -1 when unassigned."""
    rng = tie_break_rng(seed, problem.partition)
    n = len(problem.candidates)
    candidate_order = [rng.random() for _ in range(n)]
    proposal_order = [rng.random() for _ in problem.pairs]
    prefs: list[list[int]] = [[] for _ in range(n)]
    for k, pair in enumerate(problem.pairs):
        prefs[pair.candidate].append(k)
    for wishes in prefs:
        # Pop from the end: best wish last (most hearts, then seeded order).
        wishes.sort(key=lambda k: (problem.pairs[k].hearts, proposal_order[k]))

    capacity = problem.capacity
    held: list[list[tuple[int, float, int]]] = [[] for _ in capacity]  # max-heap by (rank, order)
    holding = [-1] * n
    free = [c for c in range(n) if prefs[c]]
    pairs = problem.pairs
    while free:
        c = free.pop()
        wishes = prefs[c]
        while wishes:
            k = wishes.pop()
            p = pairs[k].post
            if capacity[p] == 0:
                continue
            key = (-pairs[k].rank, -candidate_order[c], k)
            heap = held[p]
            if len(heap) < capacity[p]:
                heapq.heappush(heap, key)
                holding[c] = k
                break
            if key > heap[0]:  # better rank (or better tie-break) than the worst holder
                _, _, rejected = heapq.heapreplace(heap, key)
                holding[c] = k
                loser = pairs[rejected].candidate
                holding[loser] = -1
                free.append(loser)
                break
    return holding
