"""`check`: capacity, acceptability and every weak-stability blocking pair, hand-checked."""

from __future__ import annotations

from appariement.matching.engine import Instance, Result, check

from .helpers import instance

# a and b both want p (cap 1) most; p ranks a first, b second; q (cap 1) ranks b only.
# c wants q with 0 hearts (never) and r, which refuses c.
INST = Instance.from_dict(
    instance(
        {"p": 1, "q": 1, "r": 2},
        {"a": {"p": 3, "q": 1}, "b": {"p": 3, "q": 2}, "c": {"q": 0, "r": 2}},
        {"p": {"a": 1, "b": 2}, "q": {"b": 1, "a": 1, "c": 1}, "r": {"c": 0}},
    )
)


def _kinds(assignments: dict[str, str]) -> list[tuple[str, str | None, str | None]]:
    return [(v.kind, v.candidate, v.post) for v in check(INST, assignments)]


def test_the_stable_matching_has_no_violation() -> None:
    assert check(INST, {"a": "p", "b": "q"}) == []
    assert check(INST, Result({"a": "p", "b": "q"}, {"c": "no_acceptable_wish"})) == []


def test_a_post_preferring_a_candidate_to_its_holder_blocks() -> None:
    # b holds p, but a wants p as much as anything and p ranks a (1) above b (2);
    # a holds q which it likes less. q has no free place (b left) -> (a, p) only.
    assert _kinds({"b": "p", "a": "q"}) == [("blocking_pair", "a", "p")]


def test_a_free_place_blocks_for_an_unassigned_or_improving_candidate() -> None:
    # b unassigned, q free and acceptable to b -> (b, q) blocks; nothing else.
    assert _kinds({"a": "p"}) == [("blocking_pair", "b", "q")]
    # nobody assigned: a and b both block with p and q.
    assert _kinds({}) == [
        ("blocking_pair", "a", "p"),
        ("blocking_pair", "a", "q"),
        ("blocking_pair", "b", "p"),
        ("blocking_pair", "b", "q"),
    ]


def test_ties_never_block() -> None:
    tie = Instance.from_dict(
        instance(
            {"p": 1, "q": 1},
            {"a": {"p": 2, "q": 2}, "b": {"p": 2}},
            {"p": {"a": 1, "b": 1}, "q": {"a": 1}},
        )
    )
    # b is left out but p ranks a and b equally; a likes p and q equally: weakly stable.
    assert check(tie, {"a": "p"}) == []
    # a left for q: now b has p's free place... b holds p; (a, p) is a tie for a -> stable.
    assert check(tie, {"a": "q", "b": "p"}) == []


def test_capacity_unacceptable_unknown_and_duplicate_are_reported() -> None:
    over = _kinds({"a": "q", "b": "q"})
    assert ("capacity", None, "q") in over
    assert _kinds({"a": "p", "b": "q", "c": "q"})[:1] == [("unacceptable", "c", "q")]  # 0 hearts
    assert ("unacceptable", "c", "r") in _kinds({"a": "p", "b": "q", "c": "r"})  # refused
    assert ("unknown_id", "zz", "p") in _kinds({"a": "p", "b": "q", "zz": "p"})
    assert ("unknown_id", "a", "nope") in _kinds({"a": "nope", "b": "q"})
    res = Result({"a": "p", "b": "q"}, {"a": "outranked", "c": "no_acceptable_wish"})
    assert [(v.kind, v.candidate) for v in check(INST, res)] == [("duplicate", "a")]


def test_violation_messages_are_readable() -> None:
    (v,) = check(INST, {"b": "p", "a": "q"})
    assert v.message == "(a, p) blocks: p prefers them to one of its holders"
    assert v.to_dict() == {
        "kind": "blocking_pair",
        "message": v.message,
        "candidate": "a",
        "post": "p",
    }
