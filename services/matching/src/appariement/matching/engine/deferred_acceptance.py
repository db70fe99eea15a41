"""Candidate-proposing deferred acceptance with seeded tie-breaking, on one partition.

Always weakly stable. With strict preferences it gives the candidate-optimal stable
matching and is strategy-proof for candidates. With ties, the seed breaks them: hearts ties
on the candidate's side by a random order of their wishes, rank ties on the post's side by
one random order of candidates (single tie-breaking). It is the exact solver's warm start.

The outcome does not depend on the order in which free candidates propose (Gale and
Shapley; Dubins and Freedman), so large partitions run it in rounds, vectorised: every free
candidate proposes at once and each post keeps its best holders and proposers. Small ones
run it one proposal at a time, where numpy's per-call cost would dominate.
"""

from __future__ import annotations

import heapq
import random
from collections.abc import Callable
from itertools import repeat
from operator import add, mul, neg, sub
from typing import NamedTuple

import numpy as np
import numpy.typing as npt

from appariement.matching.engine.model import Problem, paused_gc

IN_ROUNDS_FROM = 4_000  # acceptable pairs; the two paths cross between 3,000 and 6,000


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
    with paused_gc():  # transposing the pairs makes one iterator per pair (see paused_gc)
        columns = _columns(problem)
        if len(pairs) >= IN_ROUNDS_FROM:  # values ≤ MAX_VALUE: numpy's integers hold them
            return _in_rounds(problem, columns, candidate_order, rand)
        return _one_by_one(problem, columns, candidate_order, rand)


class _Columns(NamedTuple):
    """The acceptable pairs, column by column."""

    candidate: tuple[int, ...]
    post: tuple[int, ...]
    hearts: tuple[int, ...]
    rank: tuple[int, ...]


def _columns(problem: Problem) -> _Columns:
    """One pass in C transposes the pairs into their columns."""
    candidate, post, hearts, rank, _ = zip(*problem.pairs, strict=True)
    return _Columns(candidate, post, hearts, rank)


def _one_by_one(
    problem: Problem, columns: _Columns, candidate_order: list[float], rand: Callable[[], float]
) -> list[int]:
    """One proposal at a time; each post holds a min-heap of its holders, worst first."""
    n, pairs = len(problem.candidates), problem.pairs
    cand_of, post_of, hearts, ranks = columns
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


def _in_rounds(
    problem: Problem, columns: _Columns, candidate_order: list[float], rand: Callable[[], float]
) -> list[int]:
    """Every free candidate proposes to their best wish not yet tried, all at once; each post
    that received proposals keeps its best `capacity` among holders and proposers; the
    refused are free for the next round. Same preferences and tie-breaks as `_one_by_one`,
    hence the same matching (~30 rounds on 5,000 candidates with 10 wishes each)."""
    n, pairs = len(problem.candidates), problem.pairs
    m = len(pairs)
    cand, post, hearts, ranks = map(_ints, columns)
    # Wishes sorted by (candidate, hearts[, seeded order]) as in `_one_by_one`, then read
    # backwards: candidates in decreasing order, each one's wishes best first.
    low = int(hearts.min())
    grade = cand * (int(hearts.max()) - low + 1) + (hearts - low)
    wish = np.argsort(grade, kind="stable")
    graded = grade[wish]
    if bool((graded[1:] == graded[:-1]).any()):
        proposal_order = np.array([rand() for _ in pairs])
        wish = np.lexsort((proposal_order, grade))  # stable: index breaks what is left
    wish = wish[::-1]
    counts = np.bincount(cand, minlength=n)
    nxt = m - np.cumsum(counts)  # position of each candidate's next wish in `wish`
    end = nxt + counts
    # A post prefers a better rank, then an earlier candidate in the seeded order; equal
    # orders (never seen) go to the larger candidate index, as `_one_by_one` gives them to
    # the larger pair index (pairs are sorted by candidate). `priority`: smaller is better.
    order = np.array(candidate_order)
    seeded = np.empty(n, dtype=np.int64)
    seeded[np.lexsort((-np.arange(n), order))] = np.arange(n)
    priority = np.empty(m, dtype=np.int64)
    priority[np.lexsort((seeded[cand], ranks))] = np.arange(m)
    capacity = np.array(problem.capacity, dtype=np.int64)
    holding = np.full(n, -1, dtype=np.int64)
    held = np.empty(0, dtype=np.int64)  # pairs held
    hit = np.zeros(len(capacity), dtype=bool)
    free = np.flatnonzero(counts)
    while free.size:
        free = free[nxt[free] < end[free]]
        if not free.size:
            break
        proposed = wish[nxt[free]]
        nxt[free] += 1
        hit[:] = False
        hit[post[proposed]] = True
        contested = hit[post[held]]
        contest = np.concatenate((held[contested], proposed))
        contest = contest[np.argsort(post[contest] * m + priority[contest])]
        at = post[contest]
        place = np.arange(at.size) - np.searchsorted(at, at)  # 0 for each post's best
        kept = place < capacity[at]
        winners, losers = contest[kept], contest[~kept]
        held = np.concatenate((held[~contested], winners))
        holding[cand[winners]] = winners
        free = cand[losers]
        holding[free] = -1
    return holding.tolist()


def _ints(values: tuple[int, ...]) -> npt.NDArray[np.int64]:
    return np.fromiter(values, dtype=np.int64, count=len(values))
