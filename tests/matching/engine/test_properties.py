"""Properties on random small instances (hypothesis): validity, order and seed invariance."""

from __future__ import annotations

import json
import random
from typing import Any

from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from appariement.matching.engine import Instance, check, evaluate, solve

from .brute_force import Tiny, candidate_optimal, enumerate_matchings
from .tiny import tiny_instance

FAST = settings(max_examples=60, deadline=None, suppress_health_check=[HealthCheck.too_slow])
METHODS = st.sampled_from(["optimal", "deferred_acceptance"])


@st.composite
def instances(draw: st.DrawFn, *, strict: bool = False) -> dict[str, Any]:
    """A tiny instance (ties, refusals, 0 hearts, capacity 0 unless strict), maybe split in
    two partitions."""
    rng = random.Random(draw(st.integers(0, 2**32 - 1)))
    d = tiny_instance(rng, strict=strict, larger=draw(st.booleans()))
    if draw(st.booleans()):  # a second partition, a relabelled copy
        other = tiny_instance(rng, strict=strict)
        for key in ("posts", "candidates"):
            d[key] += [e | {"id": "x" + e["id"], "partition": "x"} for e in other[key]]
        d["wishes"] += [
            w | {"candidate": "x" + w["candidate"], "post": "x" + w["post"]}
            for w in other["wishes"]
        ]
        d["rankings"] += [
            r | {"candidate": "x" + r["candidate"], "post": "x" + r["post"]}
            for r in other["rankings"]
        ]
    return d


def _bytes(res: Any) -> str:
    return json.dumps(res.to_dict(timings=False), sort_keys=True)


@FAST
@given(instances(), METHODS, st.integers(0, 1000))
def test_every_result_is_valid_and_never_uses_an_unacceptable_pair(
    d: dict[str, Any], method: Any, seed: int
) -> None:
    inst = Instance.from_dict(d)
    res = solve(inst, seed=seed, method=method, workers=1)
    assert check(inst, res) == []
    for c, p in res.assignments.items():
        assert inst.hearts[(c, p)] >= 1
        assert inst.ranks.get((c, p), 0) >= 1
    assert set(res.assignments) | set(res.unassigned) == set(inst.candidates)
    assert res.report["objective"] == evaluate(inst, res.assignments).to_dict()


@FAST
@given(instances(), METHODS, st.integers(0, 1000), st.randoms(use_true_random=False))
def test_input_order_changes_nothing(
    d: dict[str, Any], method: Any, seed: int, rng: random.Random
) -> None:
    shuffled = {key: rng.sample(d[key], len(d[key])) for key in d}
    a = solve(Instance.from_dict(d), seed=seed, method=method, workers=1)
    b = solve(Instance.from_dict(shuffled), seed=seed, method=method, workers=1)
    assert a.report["objective"] == b.report["objective"]
    assert _bytes(a) == _bytes(b)  # stronger: sorted ids make the order irrelevant


@settings(max_examples=20, deadline=None)
@given(instances(), METHODS, st.integers(0, 1000))
def test_same_seed_same_bytes_with_or_without_worker_processes(
    d: dict[str, Any], method: Any, seed: int
) -> None:
    inst = Instance.from_dict(d)
    first = _bytes(solve(inst, seed=seed, method=method, workers=1))
    assert first == _bytes(solve(inst, seed=seed, method=method, workers=1))
    assert first == _bytes(solve(inst, seed=seed, method=method, workers=2))


@FAST
@given(instances(), st.integers(0, 1000))
def test_optimal_is_never_worse_than_deferred_acceptance(d: dict[str, Any], seed: int) -> None:
    inst = Instance.from_dict(d)
    da = evaluate(inst, solve(inst, seed=seed, method="deferred_acceptance", workers=1).assignments)
    opt = evaluate(inst, solve(inst, seed=seed, workers=1).assignments)
    key = (opt.assigned, opt.perfect_couples, opt.total_hearts, -opt.sum_of_ranks)
    assert key >= (da.assigned, da.perfect_couples, da.total_hearts, -da.sum_of_ranks)


@FAST
@given(instances(strict=True), st.integers(0, 1000))
def test_strict_preferences_give_the_candidate_optimal_stable_matching(
    d: dict[str, Any], seed: int
) -> None:
    inst = Instance.from_dict(d)
    res = solve(inst, seed=seed, method="deferred_acceptance", workers=1)
    stable = list(enumerate_matchings(Tiny.from_dict(d)).stable)
    assert res.assignments == candidate_optimal(Tiny.from_dict(d), stable)
