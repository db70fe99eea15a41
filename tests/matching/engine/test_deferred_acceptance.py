"""Deferred acceptance: candidate-proposing, capacities, seeded tie-breaking."""

from __future__ import annotations

from typing import Any

from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from appariement.matching.engine import Instance, check, solve
from appariement.matching.engine.deferred_acceptance import (
    IN_ROUNDS_FROM,
    _columns,
    _in_rounds,
    _one_by_one,
    deferred_acceptance,
    tie_break_rng,
)
from appariement.matching.engine.generator import generate
from appariement.matching.engine.model import MAX_VALUE, Problem, paused_gc

from .brute_force import Tiny, candidate_optimal, enumerate_matchings
from .helpers import assignment, instance
from .test_properties import FAST, instances


def _da(inst: Instance, seed: int = 0) -> dict[str, str]:
    return solve(inst, seed=seed, method="deferred_acceptance", workers=1).assignments


# Strict preferences. Hand run: a->p, b->q, c->p (p keeps a: rank 2 < 3); c->q (q keeps c:
# 2 < 3, rejects b); b->p (p takes b: rank 1, rejects a); a->q (q takes a: rank 1, rejects
# c); c->r. Result a:q, b:p, c:r.
STRICT = instance(
    {"p": 1, "q": 1, "r": 1},
    {"a": {"p": 3, "q": 2, "r": 1}, "b": {"q": 3, "p": 2, "r": 1}, "c": {"p": 3, "q": 2, "r": 1}},
    {"p": {"b": 1, "a": 2, "c": 3}, "q": {"a": 1, "c": 2, "b": 3}, "r": {"a": 1, "b": 2, "c": 3}},
)


def test_strict_preferences_give_the_hand_computed_candidate_optimal_matching() -> None:
    inst = Instance.from_dict(STRICT)
    assert _da(inst) == {"a": "q", "b": "p", "c": "r"}
    t = Tiny.from_dict(STRICT)
    assert _da(inst) == candidate_optimal(t, enumerate_matchings(t).stable)


def test_candidates_prefer_their_own_best_over_the_posts_best() -> None:
    # a: p > q, b: q > p; p prefers b, q prefers a. Two stable matchings; DA gives the
    # candidates' one (a:p, b:q), not the posts' one (a:q, b:p).
    d = instance(
        {"p": 1, "q": 1},
        {"a": {"p": 2, "q": 1}, "b": {"q": 2, "p": 1}},
        {"p": {"b": 1, "a": 2}, "q": {"a": 1, "b": 2}},
    )
    for seed in range(5):
        assert _da(Instance.from_dict(d), seed) == {"a": "p", "b": "q"}


def test_capacities_hold_several_and_reject_the_worst_ranked() -> None:
    # p has 2 places for 3 candidates who all want it most; p ranks c last -> c goes to q.
    d = instance(
        {"p": 2, "q": 1, "z": 0},
        {"a": {"p": 2, "q": 1}, "b": {"p": 2, "q": 1}, "c": {"z": 3, "p": 2, "q": 1}},
        {"p": {"a": 1, "b": 2, "c": 3}, "q": {"a": 1, "b": 1, "c": 1}, "z": {"c": 1}},
    )
    inst = Instance.from_dict(d)
    assert _da(inst) == {"a": "p", "b": "p", "c": "q"}  # z has no place at all


# a only wants p; b wants p then q; p ranks a and b equally. If the tie-break favours b at
# p, a is left out (still weakly stable); the larger matching a:p, b:q is also stable.
TIE = instance(
    {"p": 1, "q": 1},
    {"a": {"p": 1}, "b": {"p": 2, "q": 1}},
    {"p": {"a": 1, "b": 1}, "q": {"b": 1}},
)


def test_tie_breaking_depends_on_the_seed_and_every_outcome_is_stable() -> None:
    inst = Instance.from_dict(TIE)
    outcomes = {}
    for seed in range(40):
        m = _da(inst, seed)
        assert check(inst, m) == []
        outcomes[tuple(sorted(m.items()))] = seed
    assert set(outcomes) == {(("a", "p"), ("b", "q")), (("b", "p"),)}


def test_same_seed_same_matching_and_the_partition_seeds_its_own_tie_break() -> None:
    inst = Instance.from_dict(TIE)
    (problem,) = inst.problems()
    assert all(
        deferred_acceptance(problem, s) == deferred_acceptance(problem, s) for s in range(10)
    )
    renamed = Problem("x", problem.candidates, problem.posts, problem.capacity, problem.pairs, ())
    results = {tuple(deferred_acceptance(renamed, s)) for s in range(40)}
    assert len(results) == 2  # the renamed partition still breaks the tie both ways


def test_unassigned_candidates_get_a_reason() -> None:
    d = instance(
        {"p": 1},
        {"a": {"p": 2}, "b": {"p": 1}, "c": {"p": 0}},
        {"p": {"a": 1, "b": 2, "c": 1}},
    )
    res = solve(Instance.from_dict(d), method="deferred_acceptance", workers=1)
    assert res.assignments == {"a": "p"}
    assert res.unassigned == {"b": "outranked", "c": "no_acceptable_wish"}


# Large partitions run deferred acceptance in rounds (every free candidate proposes at
# once), small ones one proposal at a time: both must give the same matching from the same
# tie-break draws, since the outcome does not depend on the order of proposals.


def _both_ways(problem: Problem, seed: int) -> tuple[list[int], list[int]]:
    runs = []
    for run in (_one_by_one, _in_rounds):
        rand = tie_break_rng(seed, problem.partition).random
        order = [rand() for _ in problem.candidates]
        with paused_gc():
            runs.append(run(problem, _columns(problem), order, rand))
    return runs[0], runs[1]


ROUNDS = settings(max_examples=300, deadline=None, suppress_health_check=[HealthCheck.too_slow])


@ROUNDS
@given(instances(), st.integers(0, 1000))
def test_rounds_give_the_same_matching_as_one_proposal_at_a_time(
    d: dict[str, Any], seed: int
) -> None:
    for problem in Instance.from_dict(d).problems():
        if problem.pairs:
            one, rounds = _both_ways(problem, seed)
            assert rounds == one


@FAST
@given(instances(strict=True), st.integers(0, 1000))
def test_rounds_give_the_candidate_optimal_matching_on_strict_preferences(
    d: dict[str, Any], seed: int
) -> None:
    got: dict[str, str] = {}
    for problem in Instance.from_dict(d).problems():
        if problem.pairs:
            _, rounds = _both_ways(problem, seed)
            got |= assignment(problem, rounds)
    stable = list(enumerate_matchings(Tiny.from_dict(d)).stable)
    assert got == candidate_optimal(Tiny.from_dict(d), stable)


def test_a_large_tied_partition_runs_in_rounds_with_the_same_stable_outcome() -> None:
    d = generate(candidates=500, posts=150, partitions=1, places=550, seed=7)
    inst = Instance.from_dict(d)
    problems = inst.problems()
    assert all(len(p.pairs) >= IN_ROUNDS_FROM for p in problems)  # the path under test
    for seed in (0, 1, 2):
        for problem in problems:
            one, rounds = _both_ways(problem, seed)
            assert rounds == one
            assert sum(k >= 0 for k in rounds) > len(problem.candidates) // 2
        res = solve(inst, seed=seed, method="deferred_acceptance", workers=1)
        assert check(inst, res) == []


def test_the_largest_hearts_and_ranks_accepted_give_the_same_matching_as_small_ones() -> None:
    """Only the order of hearts and ranks matters, up to the largest value accepted."""
    d = generate(candidates=500, posts=150, partitions=1, places=550, seed=11)
    top_hearts = max(w["hearts"] for w in d["wishes"])
    top_rank = max(r["rank"] for r in d["rankings"])
    large = {
        **d,
        "wishes": [w | {"hearts": w["hearts"] * (MAX_VALUE // top_hearts)} for w in d["wishes"]],
        "rankings": [r | {"rank": r["rank"] * (MAX_VALUE // top_rank)} for r in d["rankings"]],
    }
    (problem,) = Instance.from_dict(large).problems()
    assert len(problem.pairs) >= IN_ROUNDS_FROM  # the path under test
    assert max(p.hearts for p in problem.pairs) > MAX_VALUE // 2
    for seed in (0, 1):
        small = solve(Instance.from_dict(d), seed=seed, method="deferred_acceptance", workers=1)
        inst = Instance.from_dict(large)
        res = solve(inst, seed=seed, method="deferred_acceptance", workers=1)
        assert res.assignments == small.assignments
        assert check(inst, res) == []
