"""Candidate-proposing deferred acceptance with seeded tie-breaking, on one partition.

Always weakly stable. With strict preferences it gives the candidate-optimal stable
matching and is strategy-proof for candidates. With ties, the seed breaks them: hearts ties
on the candidate's side by a random order of their wishes, rank ties on the post's side by
one random order of candidates (single tie-breaking). It is the exact solver's warm start.
"""

from __future__ import annotations

import heapq
import random
from itertools import repeat
from operator import add, mul, neg, sub

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
    if not pairs:
        return [-1] * n
    # One pass in C transposes the pairs into their columns.
    cand_of, post_of, hearts, ranks, _ = zip(*pairs, strict=True)
    neg_rank = list(map(neg, ranks))
    # All wishes sorted by (candidate, hearts, seeded order, index): each candidate's block,
    # read from its end, gives their best wish first (most hearts, then seeded order). The
    # sort is by one integer (candidate, hearts) unless a candidate gave two wishes the same
    # hearts; ties left are broken by index either way (the sort is stable).
    m, low = len(pairs), min(hearts, default=0)
    spread = repeat(max(hearts, default=0) - low + 1)
    grade = list(map(add, map(mul, cand_of, spread), map(sub, hearts, repeat(low))))
    if len(set(grade)) == m:
        wish = sorted(range(m), key=grade.__getitem__)
    else:
        # Drawn only when needed, after the candidates' order: the same numbers either way.
        proposal_order = [rand() for _ in pairs]
        with_order = list(zip(grade, proposal_order, strict=True))
        wish = sorted(range(m), key=with_order.__getitem__)
    # Candidate c's wishes are wish[start[c]:end[c]] (dicts keep the last value of a key).
    by_candidate = list(map(cand_of.__getitem__, wish))
    last_of = dict(zip(by_candidate, range(1, m + 1), strict=True))
    first_of = dict(zip(reversed(by_candidate), range(m - 1, -1, -1), strict=True))
    end = [last_of.get(c, 0) for c in range(n)]
    start = [first_of.get(c, 0) for c in range(n)]
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
