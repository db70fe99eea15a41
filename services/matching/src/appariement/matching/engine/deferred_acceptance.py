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
    n, pairs = len(problem.candidates), problem.pairs
    rand = rng.random
    candidate_order = [rand() for _ in range(n)]
    proposal_order = [rand() for _ in pairs]
    cand_of = [pair.candidate for pair in pairs]
    post_of = [pair.post for pair in pairs]
    neg_rank = [-pair.rank for pair in pairs]
    # All wishes sorted by (candidate, hearts, seeded order, index): each candidate's block,
    # read from its end, gives their best wish first (most hearts, then seeded order).
    by_candidate = sorted(
        zip(
            cand_of,
            [pair.hearts for pair in pairs],
            proposal_order,
            range(len(pairs)),
            strict=True,
        )
    )
    wish = [entry[3] for entry in by_candidate]
    start = [0] * n  # candidate c's wishes are wish[start[c]:end[c]]
    end = [0] * n
    for i, entry in enumerate(by_candidate):
        c = entry[0]
        if not end[c]:
            start[c] = i
        end[c] = i + 1
    neg_order = [-x for x in candidate_order]

    capacity = problem.capacity
    held: list[list[tuple[int, float, int]]] = [[] for _ in capacity]  # min-heaps: worst first
    holding = [-1] * n
    free = [c for c in range(n) if end[c]]
    push, replace = heapq.heappush, heapq.heapreplace
    while free:
        c = free.pop()
        i, first = end[c], start[c]
        while i > first:
            i -= 1
            k = wish[i]
            p = post_of[k]
            room = capacity[p]
            if room == 0:
                continue
            key = (neg_rank[k], neg_order[c], k)
            heap = held[p]
            if len(heap) < room:
                push(heap, key)
                holding[c] = k
                break
            if key > heap[0]:  # better rank (or better tie-break) than the worst holder
                loser = cand_of[replace(heap, key)[2]]
                holding[c] = k
                holding[loser] = -1
                free.append(loser)
                break
        end[c] = i
    return holding
