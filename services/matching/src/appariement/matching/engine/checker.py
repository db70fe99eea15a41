"""`check`: does a matching respect capacities, acceptability and weak stability?

Linear in the size of the preference lists: one pass to count each post's holders and its
worst-ranked holder, one pass over the wishes to find blocking pairs (on the instance's
integer form, so that the pass runs column by column at C speed). Given a Result, it also
checks that the result accounts for every candidate and gives each unassigned one the reason
the instance implies (reasons.py). The solver runs it on every result it returns; auditors run
it on any RESULT.json.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import asdict, dataclass
from itertools import compress
from math import inf
from operator import gt, lt, mul
from typing import Literal

from appariement.matching.engine.model import Instance, grouped
from appariement.matching.engine.reasons import unassigned_reasons
from appariement.matching.engine.result import Result

ViolationKind = Literal[
    "capacity", "unacceptable", "blocking_pair", "unknown_id", "duplicate", "missing", "reason"
]


@dataclass(frozen=True)
class Violation:
    kind: ViolationKind
    message: str
    candidate: str | None = None
    post: str | None = None

    def to_dict(self) -> dict[str, str | None]:
        return asdict(self)


def check(instance: Instance, result: Result | Mapping[str, str]) -> list[Violation]:
    """Every violation of `result` (a Result or a candidate -> post mapping), sorted."""
    violations: list[Violation] = []
    v = instance.view
    if isinstance(result, Result):
        assignments: Mapping[str, str] = result.assignments
        violations += [
            Violation("duplicate", f"le candidat {c} est à la fois affecté et non affecté", c)
            for c in sorted(set(result.assignments) & set(result.unassigned))
        ]
        # A result accounts for every candidate: one left out was never told anything.
        listed = result.assignments.keys() | result.unassigned.keys()
        violations += [
            Violation("missing", f"le candidat {c} n'est ni affecté ni non affecté", c)
            for c in v.candidates
            if c not in listed
        ]
        violations += [
            Violation("unknown_id", f"candidat inconnu {c!r} parmi les non affectés", c)
            for c in sorted(result.unassigned.keys() - v.candidate_code.keys())
        ]
        # The reason is what the candidate is told: a wrong one is a false explanation.
        expected = unassigned_reasons(instance, result.assignments)
        violations += [
            Violation(
                "reason",
                f"le candidat {c} est non affecté avec le motif {r!r}, attendu {expected[c]!r}",
                c,
            )
            for c, r in sorted(result.unassigned.items())
            if c in expected and r != expected[c]
        ]
    else:
        assignments = result

    n_posts = len(v.posts)
    holders = [0] * n_posts  # by post code
    # Worst rank among a post's holders; one the post did not rank (rank 0 or none) is worse
    # than every candidate it ranked, not better (0 would hide the pairs they block).
    worst: list[float] = [0] * n_posts
    held_hearts = [0] * len(v.candidates)  # hearts a candidate gave the post they hold
    for c, p in sorted(assignments.items()):
        ci, pi = v.candidate_code.get(c), v.post_code.get(p)
        if ci is None or pi is None:
            unknown = c if ci is None else p
            violations.append(
                Violation("unknown_id", f"identifiant inconnu {unknown!r} dans ({c}, {p})", c, p)
            )
            continue
        key = ci * n_posts + pi
        h, r = v.hearts_at.get(key, 0), v.rank_at.get(key, 0)
        if h < 1 or r < 1:
            violations.append(
                Violation("unacceptable", f"{c} -> {p} n'est pas une paire acceptable", c, p)
            )
        held_hearts[ci] = h
        holders[pi] += 1
        worst[pi] = max(worst[pi], r if r >= 1 else inf)
    for pi in compress(range(n_posts), map(gt, holders, v.capacity)):
        p, n, cap = v.posts[pi], holders[pi], v.capacity[pi]
        violations.append(Violation("capacity", _over_capacity(p, n, cap), None, p))

    # A pair (c, p) blocks when it is acceptable, c strictly prefers p to what c holds
    # (anything beats nothing) and p has a free place or ranks c strictly better than its
    # worst holder: hearts > held_hearts[c] and 1 ≤ rank < worse_than[p]. One pass over the
    # wishes, column by column.
    worse_than = [
        inf if n < cap else w if n > 0 else 0
        for n, cap, w in zip(holders, v.capacity, worst, strict=True)
    ]
    prefers = map(gt, v.wish_hearts, map(held_hearts.__getitem__, v.wish_candidate))
    wanted = map(lt, v.wish_rank, map(worse_than.__getitem__, v.wish_post))
    blocks = map(mul, map(mul, prefers, wanted), v.wish_rank)  # rank ≥ 1 too (ranks are ≥ 0)
    blocking = []
    for k in compress(range(len(v.wish_rank)), blocks):
        c, pi = v.candidates[v.wish_candidate[k]], v.wish_post[k]
        p = v.posts[pi]
        why = (
            f"{p} a une place libre"
            if holders[pi] < v.capacity[pi]
            else f"{p} préfère {c} à l'un de ses affectés"
        )
        blocking.append(Violation("blocking_pair", f"({c}, {p}) est bloquante : {why}", c, p))
    return violations + blocking  # the wishes are in (candidate, post) order


def _over_capacity(post: str, holders: int, capacity: int) -> str:
    """The capacity violation's message, in French (0 and 1 take the singular)."""
    held = f"{grouped(holders)} candidat{'s' if holders > 1 else ''}"
    places = f"{grouped(capacity)} place{'s' if capacity > 1 else ''}"
    return f"le poste {post} accueille {held} pour {places}"
