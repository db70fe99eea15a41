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

    blocking: list[Violation] = []
    hearts, ranks, posts = instance.hearts, instance.ranks, instance.posts
    for (c, p), h in hearts.items():
        r = ranks.get((c, p), 0)
        if h < 1 or r < 1:
            continue  # not an acceptable pair: it cannot block
        current = matched.get(c)
        if current == p or (current is not None and h <= hearts.get((c, current), 0)):
            continue  # c holds p, or does not strictly prefer p
        held = holders.get(p, 0)
        room = held < posts[p].capacity
        if room or (held > 0 and r < worst[p]):
            why = "has a free place" if room else "prefers them to one of its holders"
            blocking.append(Violation("blocking_pair", f"({c}, {p}) blocks: {p} {why}", c, p))
    return violations + sorted(blocking, key=lambda v: (v.candidate or "", v.post or ""))
