"""Remove pairs that no weakly stable matching can use, keeping the set of stable matchings.

Rule: let S_p be the candidates whose strictly best remaining wish is p alone. Each d in S_p
is at p or p is full with candidates ranked ≤ r_p(d). If at least c_p of them are ranked
≤ t, then p is always full with candidates ranked ≤ t, so a pair (e, p) with r_p(e) > t is
in no stable matching and never blocks one: drop it. Dropping pairs can put more
candidates in some S_p; repeat until nothing changes. (The c_p best-ranked members of S_p
never lose their pair with p, so the argument holds in the reduced instance too.)

Candidate side: if fewer than c_p other remaining applicants of p are ranked ≤ r_p(d), p can
never be full with candidates ranked ≤ r_p(d) without d, so d always holds a post it gives at
least h(d, p) hearts: d's wishes with fewer hearts are in no stable matching and never block.
Each removal keeps the set of weakly stable matchings of the current instance unchanged.
"""

from __future__ import annotations

import bisect

from appariement.matching.engine.model import Problem


def removable_pairs(problem: Problem) -> set[int]:
    """Indices of pairs that no weakly stable matching of `problem` uses."""
    pairs = problem.pairs
    of_candidate: dict[int, list[int]] = {}
    for k, pair in enumerate(pairs):
        of_candidate.setdefault(pair.candidate, []).append(k)
    of_post: dict[int, list[int]] = {}
    for k, pair in enumerate(pairs):
        if problem.capacity[pair.post] > 0:
            of_post.setdefault(pair.post, []).append(k)
    removed: set[int] = set()
    changed = True
    while changed:
        changed = False
        safe_hearts: dict[int, int] = {}  # candidate -> hearts of a post that cannot refuse them
        for post, ks in of_post.items():
            alive = sorted(pairs[k].rank for k in ks if k not in removed)
            cap = problem.capacity[post]
            for k in ks:
                if k in removed:
                    continue
                # applicants ranked ≤ r_p(d), d included: at most c_p means d is safe at p
                at_most = _count_at_most(alive, pairs[k].rank)
                if at_most <= cap:
                    c = pairs[k].candidate
                    safe_hearts[c] = max(safe_hearts.get(c, 0), pairs[k].hearts)
        for c, hearts in safe_hearts.items():
            for k in of_candidate[c]:
                if k not in removed and pairs[k].hearts < hearts:
                    removed.add(k)
                    changed = True
        single_top: dict[int, list[int]] = {}  # post -> ranks of candidates with it alone on top
        for ks in of_candidate.values():
            alive = [k for k in ks if k not in removed]
            if not alive:
                continue
            best = max(pairs[k].hearts for k in alive)
            top = [k for k in alive if pairs[k].hearts == best]
            if len(top) == 1:
                single_top.setdefault(pairs[top[0]].post, []).append(pairs[top[0]].rank)
        threshold: dict[int, int] = {}
        for post, ranks in single_top.items():
            cap = problem.capacity[post]
            if cap > 0 and len(ranks) >= cap:
                threshold[post] = sorted(ranks)[cap - 1]
        for k, pair in enumerate(pairs):
            if k not in removed and pair.post in threshold and pair.rank > threshold[pair.post]:
                removed.add(k)
                changed = True
    return removed


def _count_at_most(sorted_ranks: list[int], rank: int) -> int:
    return bisect.bisect_right(sorted_ranks, rank)
