"""Pruning keeps exactly the same set of weakly stable matchings (checked by enumeration)."""

from __future__ import annotations

import random
from typing import Any

from appariement.matching.engine import Instance
from appariement.matching.engine.prune import removable_pairs

from .brute_force import Tiny, enumerate_matchings
from .tiny import tiny_instance


def _stable_set(d: dict[str, Any]) -> set[frozenset[tuple[str, str]]]:
    return {frozenset(m.items()) for m in enumerate_matchings(Tiny.from_dict(d)).stable}


def test_pruned_instances_have_the_same_stable_matchings() -> None:
    rng = random.Random(7)
    pruned_some = 0
    for i in range(1500):
        d = tiny_instance(rng, larger=i % 2 == 1)
        (problem,) = Instance.from_dict(d).problems()
        removed = {
            (problem.candidates[problem.pairs[k].candidate], problem.posts[problem.pairs[k].post])
            for k in removable_pairs(problem)
        }
        if not removed:
            continue
        pruned_some += 1
        reduced = dict(d)
        reduced["wishes"] = [w for w in d["wishes"] if (w["candidate"], w["post"]) not in removed]
        assert _stable_set(reduced) == _stable_set(d), d
    assert pruned_some > 50  # the rule fires often enough for this test to mean something


def test_hand_checked_pruning() -> None:
    # a and b both want only p (capacity 1); p ranks a 1, b 2: a always holds p, so (b, p)
    # can never be used; b's pair with q stays.
    d = {
        "posts": [{"id": "p", "capacity": 1}, {"id": "q", "capacity": 1}],
        "candidates": [{"id": "a"}, {"id": "b"}],
        "wishes": [
            {"candidate": "a", "post": "p", "hearts": 5},
            {"candidate": "b", "post": "p", "hearts": 5},
            {"candidate": "b", "post": "q", "hearts": 1},
        ],
        "rankings": [
            {"post": "p", "candidate": "a", "rank": 1},
            {"post": "p", "candidate": "b", "rank": 2},
            {"post": "q", "candidate": "b", "rank": 1},
        ],
    }
    (problem,) = Instance.from_dict(d).problems()
    removed = [problem.pairs[k] for k in removable_pairs(problem)]
    assert [(problem.candidates[p.candidate], problem.posts[p.post]) for p in removed] == [
        ("b", "p")
    ]
