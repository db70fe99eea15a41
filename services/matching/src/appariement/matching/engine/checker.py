"""`check`: does a matching respect capacities, acceptability and weak stability?

Linear in the size of the preference lists: one pass to count each post's holders and its
worst-ranked holder, one pass over the wishes to find blocking pairs. The solver runs it on
every result it returns; auditors run it on any RESULT.json.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import asdict, dataclass
from typing import Literal

from appariement.matching.engine.model import Instance
from appariement.matching.engine.result import Result

ViolationKind = Literal["capacity", "unacceptable", "blocking_pair", "unknown_id", "duplicate"]


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
    if isinstance(result, Result):
        assignments: Mapping[str, str] = result.assignments
        violations += [
            Violation("duplicate", f"candidate {c} is both assigned and unassigned", c, None)
            for c in sorted(set(result.assignments) & set(result.unassigned))
        ]
    else:
        assignments = result

    holders: dict[str, int] = {}
    worst: dict[str, int] = {}
    matched: dict[str, str] = {}
    for c, p in sorted(assignments.items()):
        if c not in instance.candidates or p not in instance.posts:
            unknown = c if c not in instance.candidates else p
            violations.append(
                Violation("unknown_id", f"unknown id {unknown!r} in ({c}, {p})", c, p)
            )
            continue
        if not instance.acceptable(c, p):
            violations.append(
                Violation("unacceptable", f"{c} -> {p} is not an acceptable pair", c, p)
            )
        matched[c] = p
        holders[p] = holders.get(p, 0) + 1
        worst[p] = max(worst.get(p, 0), instance.ranks.get((c, p), 0))
    for p, n in sorted(holders.items()):
        if n > instance.posts[p].capacity:
            violations.append(
                Violation("capacity", f"post {p} holds {n} > {instance.posts[p].capacity}", None, p)
            )

    # A pair (c, p) blocks when it is acceptable, c strictly prefers p to what c holds
    # (anything beats nothing) and p has a free place or ranks c strictly better than its
    # worst holder. `held_hearts[c]` and `worse_than[p]` turn both sides into one comparison
    # each, so the pass over the wishes does the cheap tests before looking up the rank.
    hearts, ranks, posts = instance.hearts, instance.ranks, instance.posts
    held_hearts = {c: hearts.get((c, p), 0) for c, p in matched.items()}
    worse_than: dict[str, float] = {}  # p prefers a candidate ranked r iff r < worse_than[p]
    for p, post in posts.items():
        n = holders.get(p, 0)
        worse_than[p] = float("inf") if n < post.capacity else worst[p] if n > 0 else 0
    blocking: list[Violation] = []
    for (c, p), h in hearts.items():
        if h <= held_hearts.get(c, 0) or worse_than[p] <= 1:
            continue  # no heart, c does not strictly prefer p (or holds it), or p is happy
        r = ranks.get((c, p), 0)
        if 1 <= r < worse_than[p]:
            held = holders.get(p, 0)
            why = (
                "has a free place"
                if held < posts[p].capacity
                else "prefers them to one of its holders"
            )
            blocking.append(Violation("blocking_pair", f"({c}, {p}) blocks: {p} {why}", c, p))
    return violations + sorted(blocking, key=lambda v: (v.candidate or "", v.post or ""))
