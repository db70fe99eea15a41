"""The four objective values of a matching, in the order they are optimised (DESIGN §4)."""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import asdict, dataclass

from appariement.matching.engine.model import Instance


@dataclass(frozen=True, order=True)
class Objective:
    """Most assigned, then most perfect couples, then most hearts, then fewest rank points."""

    assigned: int = 0
    perfect_couples: int = 0
    total_hearts: int = 0
    sum_of_ranks: int = 0

    def to_dict(self) -> dict[str, int]:
        return asdict(self)

    def __add__(self, other: Objective) -> Objective:
        return Objective(
            self.assigned + other.assigned,
            self.perfect_couples + other.perfect_couples,
            self.total_hearts + other.total_hearts,
            self.sum_of_ranks + other.sum_of_ranks,
        )


def evaluate(instance: Instance, assignments: Mapping[str, str]) -> Objective:
    """Objective values of `assignments` (candidate -> post), summed over all partitions.

    A perfect couple: the candidate gave the post the most hearts they gave to any wish
    (refused or not), and the post gave the candidate the best rank it gave to anyone.
    """
    v = instance.view
    n_posts = len(v.posts)
    perfect = hearts = ranks = 0
    for c, p in assignments.items():
        ci, pi = v.candidate_code.get(c), v.post_code.get(p)
        if ci is None or pi is None:
            continue  # an unknown id: no hearts, no rank (the checker reports it)
        key = ci * n_posts + pi
        h, r = v.hearts_at.get(key, 0), v.rank_at.get(key, 0)
        hearts += h
        ranks += r
        perfect += h == v.best_hearts[ci] and r == v.best_rank[pi] and r >= 1  # 0: no best
    return Objective(len(assignments), perfect, hearts, ranks)
