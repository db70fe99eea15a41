"""Instance validation, canonical form and SHA-256, split into partitions."""

from __future__ import annotations

import copy
from typing import Any

import pytest

from appariement.matching.engine import Instance, InvalidInstance

from .helpers import instance


def _base() -> dict[str, Any]:
    return instance(
        {"p1": 1, "p2": 2},
        {"d1": {"p1": 3, "p2": 1}, "d2": {"p1": 2}},
        {"p1": {"d1": 1, "d2": 2}, "p2": {"d1": 1}},
    )


@pytest.mark.parametrize(
    ("mutate", "message"),
    [
        (
            lambda d: d["wishes"].append({"candidate": "d1", "post": "p9", "hearts": 1}),
            "wishes[3]: unknown post 'p9'",
        ),
        (
            lambda d: d["rankings"].append({"post": "p1", "candidate": "dX", "rank": 1}),
            "rankings[3]: unknown candidate 'dX'",
        ),
        (
            lambda d: d["wishes"].append({"candidate": "d1", "post": "p1", "hearts": 2}),
            "wishes[3]: duplicate wishes entry for ('d1', 'p1')",
        ),
        (
            lambda d: d["rankings"].append({"post": "p1", "candidate": "d1", "rank": 4}),
            "rankings[3]: duplicate rankings entry for ('d1', 'p1')",
        ),
        (lambda d: d["wishes"][1].update(hearts=-1), "wishes[1]: hearts must be ≥ 0, got -1"),
        (lambda d: d["rankings"][0].update(rank=-2), "rankings[0]: rank must be ≥ 0, got -2"),
        (lambda d: d["posts"][1].update(capacity=-1), "posts[1]: capacity must be ≥ 0, got -1"),
        (lambda d: d["posts"][0].update(capacity="2"), "posts[0]: capacity must be an integer"),
        (lambda d: d["wishes"][0].update(hearts=True), "wishes[0]: hearts must be an integer"),
        (lambda d: d["posts"].append({"id": "p1", "capacity": 1}), "posts[2]: duplicate post id"),
        (lambda d: d["candidates"].append({"id": "d2"}), "candidates[2]: duplicate candidate id"),
        (lambda d: d["candidates"][1].pop("id"), "candidates[1]: missing field 'id'"),
        (
            lambda d: d["posts"][0].update(partition="cardio"),
            "wishes[0]: candidate 'd1' (partition '') and post 'p1' (partition 'cardio') are in "
            "different partitions",
        ),
        (lambda d: d.update(wishes={}), "wishes: must be a list"),
    ],
)
def test_bad_instances_are_rejected_naming_the_entry(mutate: Any, message: str) -> None:
    d = _base()
    mutate(d)
    with pytest.raises(InvalidInstance) as raised:
        Instance.from_dict(d)
    assert str(raised.value).startswith(message)


def test_a_valid_instance_keeps_every_wish_and_ranking_including_zeros() -> None:
    d = _base()
    d["wishes"].append({"candidate": "d2", "post": "p2", "hearts": 0})
    d["rankings"].append({"post": "p2", "candidate": "d2", "rank": 0})
    inst = Instance.from_dict(d)
    assert inst.hearts[("d2", "p2")] == 0
    assert inst.ranks[("d2", "p2")] == 0
    assert inst.acceptable("d1", "p1")
    assert inst.acceptable("d1", "p2")
    assert not inst.acceptable("d2", "p2")  # 0 hearts and refused
    assert inst.best_hearts() == {"d1": 3, "d2": 2}
    assert inst.best_ranks() == {"p1": 1, "p2": 1}


def test_canonical_form_and_hash_ignore_input_order_but_not_content() -> None:
    d = _base()
    shuffled = copy.deepcopy(d)
    for key in ("posts", "candidates", "wishes", "rankings"):
        shuffled[key].reverse()
    a, b = Instance.from_dict(d), Instance.from_dict(shuffled)
    assert a.to_dict() == b.to_dict()
    assert a.sha256() == b.sha256()
    assert len(a.sha256()) == 64
    assert [w["candidate"] + w["post"] for w in a.to_dict()["wishes"]] == ["d1p1", "d1p2", "d2p1"]
    assert Instance.from_dict(a.to_dict()) == a  # the canonical form is itself a valid input
    d["wishes"][0]["hearts"] = 4
    assert Instance.from_dict(d).sha256() != a.sha256()


def test_partitions_are_split_sorted_and_carry_warnings() -> None:
    d = instance(
        {"q": 1, "p": 2, "r": 1},
        {"b": {"p": 2}, "a": {"p": 1, "r": 3}, "z": {"q": 1}, "y": {"q": 0}},
        {"p": {"a": 1, "b": 1}, "r": {"a": 0}, "q": {"z": 1}},
        partition={"q": "neuro", "z": "neuro", "y": "neuro"},
    )
    problems = Instance.from_dict(d).problems()
    assert [pb.partition for pb in problems] == ["", "neuro"]
    default, neuro = problems
    assert default.candidates == ("a", "b")
    assert default.posts == ("p", "r")
    assert default.capacity == (2, 1)
    assert default.places == 3
    # Only acceptable pairs, by (candidate, post): (a, p) and (b, p); (a, r) is refused.
    assert [(pr.candidate, pr.post, pr.hearts, pr.rank) for pr in default.pairs] == [
        (0, 0, 1, 1),
        (1, 0, 2, 1),
    ]
    # (a, p) is not a perfect couple: a gave r (refused) 3 hearts, more than p's 1.
    assert [pr.perfect for pr in default.pairs] == [False, True]
    assert default.warnings == ("post r: all 1 applicants refused",)
    assert neuro.candidates == ("y", "z")
    assert neuro.warnings == ("candidate y: no acceptable wish",)
