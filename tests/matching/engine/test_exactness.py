"""The engine against a brute-force enumeration of all weakly stable matchings.

Thousands of tiny random instances (ties, refusals, 0 hearts, capacity 0): the optimal
solver must reach the brute-force lexicographic optimum, the checker must flag every
unstable matching and accept every stable one, and on strict preferences deferred
acceptance must give each candidate their best post among all stable matchings. On a
failure the message holds a shrunk, minimal instance to paste into a regression test.
"""

from __future__ import annotations

import json
import random
from collections.abc import Callable
from typing import Any

from appariement.matching.engine import Instance, check, evaluate, solve

from .brute_force import Enumeration, Tiny, candidate_optimal, enumerate_matchings, objective
from .tiny import shrink, tiny_instance

TIE_INSTANCES = 4000
STRICT_INSTANCES = 1000
LARGER_INSTANCES = 800


def _fail(d: dict[str, Any], gap: Callable[[dict[str, Any]], str | None]) -> str:
    """Failure message: the gap on a shrunk, minimal instance, ready for a regression test."""
    minimal = shrink(d, lambda e: gap(e) is not None)
    return f"{gap(minimal)}; minimal instance:\n{json.dumps(minimal, sort_keys=True)}"


def _objective_dict(obj: tuple[int, int, int, int]) -> dict[str, int]:
    keys = ("assigned", "perfect_couples", "total_hearts", "sum_of_ranks")
    return dict(zip(keys, obj, strict=True))


def _optimal_gap(d: dict[str, Any]) -> str | None:
    """Why ``solve`` is wrong on ``d``, or None when it matches the brute force."""
    t = Tiny.from_dict(d)
    best = enumerate_matchings(t).best(t)
    inst = Instance.from_dict(d)
    res = solve(inst, seed=0, workers=1)
    if check(inst, res):
        return f"result not stable: {check(inst, res)}"
    got = objective(t, res.assignments)
    if got != best:
        return f"objective {got} but brute-force optimum is {best}"
    if res.report["objective"] != _objective_dict(got):
        return f"report objective {res.report['objective']} but the assignments give {got}"
    ev = evaluate(inst, res.assignments)
    if (ev.assigned, ev.perfect_couples, ev.total_hearts, ev.sum_of_ranks) != got:
        return f"evaluate() says {ev} but the assignments give {got}"
    if not all(p["proven_optimal"] for p in res.report["partitions"]):
        return "a tiny partition was not proven optimal"
    for c in t.candidates:
        if c in res.assignments:
            continue
        with_place = [p for p in t.acceptable[c] if t.capacity[p] > 0]
        expected = (
            "outranked" if with_place else "no_place" if t.acceptable[c] else "no_acceptable_wish"
        )
        if res.unassigned.get(c) != expected:
            return f"candidate {c} unassigned with reason {res.unassigned.get(c)!r}, not {expected}"
    return None


def test_optimal_solver_reaches_the_brute_force_optimum_on_tiny_instances_with_ties() -> None:
    rng = random.Random(20240313)
    for _ in range(TIE_INSTANCES):
        d = tiny_instance(rng)
        gap = _optimal_gap(d)
        assert gap is None, _fail(d, _optimal_gap)


def test_optimal_solver_reaches_the_brute_force_optimum_on_up_to_eight_candidates() -> None:
    rng = random.Random(8)
    for _ in range(LARGER_INSTANCES):
        d = tiny_instance(rng, larger=True)
        gap = _optimal_gap(d)
        assert gap is None, _fail(d, _optimal_gap)


def _checker_gap(d: dict[str, Any]) -> str | None:
    t = Tiny.from_dict(d)
    inst = Instance.from_dict(d)
    enum: Enumeration = enumerate_matchings(t)
    for m in enum.stable:
        if check(inst, m):
            return f"check flags the stable matching {m}: {check(inst, m)}"
    for m in enum.unstable:
        kinds = {v.kind for v in check(inst, m)}
        if "blocking_pair" not in kinds:
            return f"check misses the blocking pairs of {m}: {kinds or 'no violation'}"
    return None


def test_check_flags_every_unstable_matching_and_accepts_every_stable_one() -> None:
    rng = random.Random(7)
    for _ in range(TIE_INSTANCES // 4):
        d = tiny_instance(rng)
        gap = _checker_gap(d)
        assert gap is None, _fail(d, _checker_gap)


def test_check_flags_capacity_unacceptable_and_unknown_ids() -> None:
    d = {
        "posts": [{"id": "p0", "capacity": 1, "subdivision": "Lyon"}],
        "candidates": [
            {"id": "d0", "subdivision": "Lyon"},
            {"id": "d1", "subdivision": "Lyon"},
            {"id": "d2", "subdivision": "Lyon"},
        ],
        "wishes": [
            {"candidate": "d0", "post": "p0", "hearts": 2},
            {"candidate": "d1", "post": "p0", "hearts": 2},
            {"candidate": "d2", "post": "p0", "hearts": 0},
        ],
        "rankings": [
            {"post": "p0", "candidate": "d0", "rank": 1},
            {"post": "p0", "candidate": "d1", "rank": 1},
            {"post": "p0", "candidate": "d2", "rank": 1},
        ],
    }
    inst = Instance.from_dict(d)
    assert {v.kind for v in check(inst, {"d0": "p0", "d1": "p0"})} >= {"capacity"}
    assert {v.kind for v in check(inst, {"d2": "p0"})} >= {"unacceptable"}
    assert {v.kind for v in check(inst, {"d9": "p0"})} >= {"unknown_id"}
    assert {v.kind for v in check(inst, {"d0": "p7"})} >= {"unknown_id"}


def _deferred_acceptance_gap(d: dict[str, Any]) -> str | None:
    t = Tiny.from_dict(d)
    expected = candidate_optimal(t, enumerate_matchings(t).stable)
    inst = Instance.from_dict(d)
    got = solve(inst, seed=3, method="deferred_acceptance", workers=1).assignments
    if dict(got) != expected:
        return f"deferred acceptance gave {dict(got)}, candidate-optimal is {expected}"
    return None


def test_deferred_acceptance_is_candidate_optimal_with_strict_preferences() -> None:
    rng = random.Random(11)
    for _ in range(STRICT_INSTANCES):
        d = tiny_instance(rng, strict=True)
        gap = _deferred_acceptance_gap(d)
        assert gap is None, _fail(d, _deferred_acceptance_gap)


def test_deferred_acceptance_with_ties_is_weakly_stable() -> None:
    rng = random.Random(5)
    for seed in range(TIE_INSTANCES // 4):
        d = tiny_instance(rng)
        inst = Instance.from_dict(d)
        res = solve(inst, seed=seed, method="deferred_acceptance", workers=1)
        t = Tiny.from_dict(d)
        assert check(inst, res) == [], d
        assert res.assignments in enumerate_matchings(t).stable, d
