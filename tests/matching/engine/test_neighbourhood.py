"""Large-neighbourhood search (partitions too big for the exact search): it never loses
what the warm start had, every step keeps the matching weakly stable, and freeing the whole
partition in one step is the exact search on the first two levels (placed, perfect
couples)."""

from __future__ import annotations

import importlib
import random
from typing import Any

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from appariement.matching.engine import Instance, check, evaluate, solve
from appariement.matching.engine.deferred_acceptance import deferred_acceptance
from appariement.matching.engine.generator import generate
from appariement.matching.engine.neighbourhood import more_placed
from appariement.matching.engine.objective import Objective

from .helpers import assignment
from .tiny import tiny_instance

solve_module = importlib.import_module("appariement.matching.engine.solve")


def _key(o: Objective) -> tuple[int, int, int, int]:
    return (o.assigned, o.perfect_couples, o.total_hearts, -o.sum_of_ranks)


def _tied(candidates: int, seed: int) -> dict[str, Any]:
    return generate(
        candidates=candidates,
        posts=candidates // 3,
        partitions=1,
        places=candidates * 7 // 6,
        seed=seed,
    )


@settings(max_examples=150, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(st.integers(0, 2**32 - 1), st.integers(0, 1000), st.integers(1, 4))
def test_every_step_keeps_a_weakly_stable_matching_never_worse_than_the_start(
    instance_seed: int, seed: int, size: int
) -> None:
    d = tiny_instance(random.Random(instance_seed), larger=True)
    inst = Instance.from_dict(d)
    for problem in inst.problems():
        start = deferred_acceptance(problem, seed)
        found = more_placed(problem, start, seed=seed, neighbourhood=size, steps=3)
        got = assignment(problem, found)
        assert check(inst, got) == []
        assert _key(evaluate(inst, got)) >= _key(evaluate(inst, assignment(problem, start)))


def test_freeing_the_whole_partition_gives_the_exact_first_two_levels() -> None:
    d = _tied(42, seed=6)  # deferred acceptance places 38, the optimum 39
    inst = Instance.from_dict(d)
    (problem,) = inst.problems()
    exact = solve(inst, workers=1)
    assert exact.report["partitions"][0]["proven_optimal"] is True
    start = deferred_acceptance(problem, 0)
    found = more_placed(problem, start, seed=0, neighbourhood=42, steps=1)
    got = assignment(problem, found)
    assert check(inst, got) == []
    first_two = evaluate(inst, got).to_dict()
    for level in ("assigned", "perfect_couples"):  # one step optimises both, in this order
        assert first_two[level] == exact.report["objective"][level]
    assert len(assignment(problem, start)) < len(got)  # the instance leaves room to improve


def test_small_neighbourhoods_improve_step_by_step_and_a_seed_gives_one_result() -> None:
    d = _tied(150, seed=2)
    inst = Instance.from_dict(d)
    (problem,) = inst.problems()
    start = deferred_acceptance(problem, 0)
    runs = [more_placed(problem, start, seed=7, neighbourhood=30, steps=12) for _ in range(2)]
    assert runs[0] == runs[1]
    got = assignment(problem, runs[0])
    assert check(inst, got) == []
    assert _key(evaluate(inst, got)) >= _key(evaluate(inst, assignment(problem, start)))


def test_solve_runs_the_search_on_large_partitions_and_still_proves_the_optimum(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    d = _tied(42, seed=6)
    expected = solve(Instance.from_dict(d), workers=1).report["objective"]
    monkeypatch.setattr(solve_module, "SEARCHED_FROM", 30)  # this partition counts as large
    res = solve(Instance.from_dict(d), workers=1)
    assert res.report["partitions"][0]["proven_optimal"] is True
    assert res.report["objective"] == expected
