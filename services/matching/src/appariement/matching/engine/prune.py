"""Remove pairs that no weakly stable matching can use, keeping the set of stable matchings.

Rule: let S_p be the candidates whose strictly best remaining wish is p alone. Each d in S_p
is at p or p is full with candidates ranked ≤ r_p(d). If at least c_p of them are ranked
≤ t, then p is always full with candidates ranked ≤ t, so a pair (e, p) with r_p(e) > t is
in no stable matching and never blocks one: drop it. Dropping pairs can put more
candidates in some S_p; repeat until nothing changes. (The c_p best-ranked members of S_p
never lose their pair with p, so the argument holds in the reduced instance too.)
"""

from __future__ import annotations

from appariement.matching.engine.model import Problem


def removable_pairs(problem: Problem) -> set[int]:
    """Indices of pairs that no weakly stable matching of `problem` uses."""
    pairs = problem.pairs
    of_candidate: dict[int, list[int]] = {}
    for k, pair in enumerate(pairs):
        of_candidate.setdefault(pair.candidate, []).append(k)
    removed: set[int] = set()
    changed = True
    while changed:
        changed = False
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
