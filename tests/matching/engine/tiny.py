"""Tiny random instances (a handful of candidates and posts) and a shrinker for failures.

Seeded ``random.Random`` rather than hypothesis so that thousands of instances run in a
few seconds, always the same ones; ``shrink`` gives back a minimal failing instance.
"""

from __future__ import annotations

import copy
import random
from collections.abc import Callable
from typing import Any


def tiny_instance(
    rng: random.Random, *, strict: bool = False, larger: bool = False
) -> dict[str, Any]:
    """Up to 6 candidates and 4 posts (``larger``: 3–8 candidates, capacities up to 3);
    ties, refusals, 0 hearts and capacity 0 unless strict."""
    n_cand = rng.randint(3, 8) if larger else rng.randint(1, 6)
    n_post = rng.randint(1, 4)
    capacities = [0, 1, 1, 2, 2, 3] if larger else [0, 1, 1, 1, 2, 2]
    wish_probability = 0.6 if larger else 0.75
    posts = [
        {
            "id": f"p{j}",
            "capacity": rng.choice([1, 1, 2]) if strict else rng.choice(capacities),
            "subdivision": rng.choice(["Lyon", "Grenoble"]),
        }
        for j in range(n_post)
    ]
    candidates = [
        {"id": f"d{i}", "subdivision": rng.choice(["Lyon", "Grenoble"])} for i in range(n_cand)
    ]
    wishes, rankings = [], []
    applicants: dict[str, list[str]] = {p["id"]: [] for p in posts}
    for c in candidates:
        chosen = [p["id"] for p in posts if rng.random() < wish_probability]
        if strict:
            levels = rng.sample(range(1, 10), len(chosen))
        else:
            levels = [rng.choice([0, 1, 1, 2, 2, 3]) for _ in chosen]
        for p, h in zip(chosen, levels, strict=True):
            wishes.append({"candidate": c["id"], "post": p, "hearts": h})
            applicants[p].append(c["id"])
    for p, cands in applicants.items():
        ranks = rng.sample(range(1, 10), len(cands)) if strict else None
        for k, c in enumerate(cands):
            if rng.random() < 0.2:
                if rng.random() < 0.5:
                    rankings.append({"post": p, "candidate": c, "rank": 0})
                continue  # refused: rank 0 or no entry
            rank = ranks[k] if ranks is not None else rng.choice([1, 1, 1, 2, 2, 3])
            rankings.append({"post": p, "candidate": c, "rank": rank})
    return {"posts": posts, "candidates": candidates, "wishes": wishes, "rankings": rankings}


def _reductions(d: dict[str, Any]) -> list[dict[str, Any]]:
    """Instances one step smaller than ``d``."""
    out = []
    for c in d["candidates"]:
        e = copy.deepcopy(d)
        e["candidates"] = [x for x in e["candidates"] if x["id"] != c["id"]]
        e["wishes"] = [w for w in e["wishes"] if w["candidate"] != c["id"]]
        e["rankings"] = [r for r in e["rankings"] if r["candidate"] != c["id"]]
        out.append(e)
    for p in d["posts"]:
        e = copy.deepcopy(d)
        e["posts"] = [x for x in e["posts"] if x["id"] != p["id"]]
        e["wishes"] = [w for w in e["wishes"] if w["post"] != p["id"]]
        e["rankings"] = [r for r in e["rankings"] if r["post"] != p["id"]]
        out.append(e)
    for i, w in enumerate(d["wishes"]):
        e = copy.deepcopy(d)
        del e["wishes"][i]
        e["rankings"] = [
            r for r in e["rankings"] if (r["candidate"], r["post"]) != (w["candidate"], w["post"])
        ]
        out.append(e)
    for i in range(len(d["rankings"])):
        e = copy.deepcopy(d)
        del e["rankings"][i]
        out.append(e)
    for i, p in enumerate(d["posts"]):
        if p["capacity"] > 0:
            e = copy.deepcopy(d)
            e["posts"][i]["capacity"] -= 1
            out.append(e)
    return out


def shrink(d: dict[str, Any], fails: Callable[[dict[str, Any]], bool]) -> dict[str, Any]:
    """Greedily remove entries while ``fails`` stays true; returns a locally minimal instance."""
    improved = True
    while improved:
        improved = False
        for smaller in _reductions(d):
            try:
                still = fails(smaller)
            except Exception:
                still = False
            if still:
                d, improved = smaller, True
                break
    return d
