"""Compact builders for hand-made engine instances (shared by the engine's unit tests)."""

from __future__ import annotations

from typing import Any

from appariement.matching.engine.model import Problem


def instance(
    posts: dict[str, int],
    wishes: dict[str, dict[str, int]],
    ranks: dict[str, dict[str, int]],
    *,
    partition: dict[str, str] | None = None,
) -> dict[str, Any]:
    """posts: id -> capacity; wishes: candidate -> {post: hearts}; ranks: post -> {candidate:
    rank}; partition: id (post or candidate) -> partition name, when not the default one."""
    part = partition or {}

    def with_partition(entry: dict[str, Any]) -> dict[str, Any]:
        if entry["id"] in part:
            entry["partition"] = part[entry["id"]]
        return entry

    return {
        "posts": [
            with_partition({"id": p, "capacity": c, "subdivision": "Lyon"})
            for p, c in posts.items()
        ],
        "candidates": [with_partition({"id": c, "subdivision": "Lyon"}) for c in wishes],
        "wishes": [
            {"candidate": c, "post": p, "hearts": h}
            for c, ws in wishes.items()
            for p, h in ws.items()
        ],
        "rankings": [
            {"post": p, "candidate": c, "rank": r} for p, rs in ranks.items() for c, r in rs.items()
        ],
    }


def assignment(problem: Problem, holding: list[int]) -> dict[str, str]:
    """Candidate id -> post id of a matching given as a pair index per candidate (-1: none)."""
    return {
        problem.candidates[problem.pairs[k].candidate]: problem.posts[problem.pairs[k].post]
        for k in holding
        if k >= 0
    }
