"""Large-neighbourhood search (partitions too big for the exact search): it never loses
what the warm start had, what it returns is weakly stable, it finds the room the warm start
left, and under a work limit a seed gives one result."""

from __future__ import annotations

import importlib
import random
from typing import Any

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from appariement.matching.engine import Instance, check, evaluate, solve
from appariement.matching.engine.budget import Budget
from appariement.matching.engine.deferred_acceptance import deferred_acceptance
from appariement.matching.engine.generator import generate
from appariement.matching.engine.neighbourhood import UNLIMITED_WORK, more_placed
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
@given(st.integers(0, 2**32 - 1), st.integers(0, 1000))
def test_the_search_returns_a_weakly_stable_matching_never_worse_than_the_start(
    instance_seed: int, seed: int
) -> None:
    d = tiny_instance(random.Random(instance_seed), larger=True)
    inst = Instance.from_dict(d)
    for problem in inst.problems():
        start = deferred_acceptance(problem, seed)
        found = more_placed(problem, start, seed=seed, budget=Budget(work=0.01))
        got = assignment(problem, found)
        assert check(inst, got) == []
        assert _key(evaluate(inst, got)) >= _key(evaluate(inst, assignment(problem, start)))


def test_the_search_finds_the_candidate_deferred_acceptance_left_out() -> None:
    d = _tied(42, seed=6)  # deferred acceptance places 38, the optimum 39
    inst = Instance.from_dict(d)
    (problem,) = inst.problems()
    exact = solve(inst, workers=1)
    assert exact.report["partitions"][0]["proven_optimal"] is True
    start = deferred_acceptance(problem, 0)
    assert len(assignment(problem, start)) == 38
    found = more_placed(problem, start, seed=0, budget=Budget(work=0.5))
    got = assignment(problem, found)
    assert check(inst, got) == []
    reached = evaluate(inst, got).to_dict()
    assert reached["assigned"] == exact.report["objective"]["assigned"] == 39
    assert reached["perfect_couples"] <= exact.report["objective"]["perfect_couples"]


def test_a_work_limit_gives_one_result_per_seed_and_no_limit_still_ends() -> None:
    d = _tied(150, seed=2)
    inst = Instance.from_dict(d)
    (problem,) = inst.problems()
    start = deferred_acceptance(problem, 0)
    runs = [more_placed(problem, start, seed=7, budget=Budget(work=0.3)) for _ in range(2)]
    assert runs[0] == runs[1]
    unlimited = Budget()
    more_placed(problem, start, seed=7, budget=unlimited)  # ends: UNLIMITED_WORK at most
    assert 0 < unlimited.spent_work <= UNLIMITED_WORK * 1.01  # CP-SAT stops just past it
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
