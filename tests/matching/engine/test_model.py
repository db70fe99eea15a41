"""Instance validation, canonical form and SHA-256, split into partitions."""

from __future__ import annotations

import copy
import hashlib
import json
import pickle
from enum import IntEnum
from typing import Any

import numpy as np
import pytest
from hypothesis import assume, given, settings
from hypothesis import strategies as st

from appariement.matching.engine import Instance, InvalidInstance

from .helpers import instance


def _base() -> dict[str, Any]:
    return instance(
        {"p1": 1, "p2": 2},
        {"d1": {"p1": 3, "p2": 1}, "d2": {"p1": 2}},
        {"p1": {"d1": 1, "d2": 2}, "p2": {"d1": 1}},
    )


def grouped(text: str) -> str:
    """`text` with each "_" between digits written as French groups them: a narrow no-break
    space (U+202F)."""
    return text.replace("_", "\u202f")


@pytest.mark.parametrize(
    ("mutate", "field", "message"),
    [
        (
            lambda d: d["wishes"].append({"candidate": "d1", "post": "p9", "hearts": 1}),
            "wishes[3].post",
            "wishes[3].post: poste inconnu 'p9'",
        ),
        (
            lambda d: d["rankings"].append({"post": "p1", "candidate": "dX", "rank": 1}),
            "rankings[3].candidate",
            "rankings[3].candidate: candidat inconnu 'dX'",
        ),
        (
            lambda d: d["wishes"].append({"candidate": "d1", "post": "p1", "hearts": 2}),
            "wishes[3]",
            "wishes[3]: vœu en double pour ('d1', 'p1')",
        ),
        (
            lambda d: d["rankings"].append({"post": "p1", "candidate": "d1", "rank": 4}),
            "rankings[3]",
            "rankings[3]: classement en double pour ('d1', 'p1')",
        ),
        (
            lambda d: d["wishes"][1].update(hearts=-1),
            "wishes[1].hearts",
            "wishes[1].hearts: doit être ≥ 0, reçu -1",
        ),
        (
            lambda d: d["rankings"][0].update(rank=-2),
            "rankings[0].rank",
            "rankings[0].rank: doit être ≥ 0, reçu -2",
        ),
        (
            lambda d: d["posts"][1].update(capacity=-1),
            "posts[1].capacity",
            "posts[1].capacity: doit être ≥ 0, reçu -1",
        ),
        (
            lambda d: d["wishes"][2].update(hearts=10**19),
            "wishes[2].hearts",
            grouped("wishes[2].hearts: doit être ≤ 1_000_000, reçu 10_000_000_000_000_000_000"),
        ),
        (
            lambda d: d["rankings"][1].update(rank=1_000_001),
            "rankings[1].rank",
            grouped("rankings[1].rank: doit être ≤ 1_000_000, reçu 1_000_001"),
        ),
        (
            lambda d: d["posts"][0].update(capacity=2**63),
            "posts[0].capacity",
            grouped("posts[0].capacity: doit être ≤ 1_000_000, reçu 9_223_372_036_854_775_808"),
        ),
        (
            lambda d: d["posts"][0].update(capacity="2"),
            "posts[0].capacity",
            "posts[0].capacity: doit être un entier, reçu '2'",
        ),
        (
            lambda d: d["wishes"][0].update(hearts=True),
            "wishes[0].hearts",
            "wishes[0].hearts: doit être un entier, reçu True",
        ),
        (
            lambda d: d["wishes"][0].update(candidate=1),
            "wishes[0].candidate",
            "wishes[0].candidate: doit être une chaîne non vide, reçu 1",
        ),
        (
            lambda d: d["rankings"][1].update(post=["p1"]),  # unhashable: no lookup finds it
            "rankings[1].post",
            "rankings[1].post: doit être une chaîne non vide, reçu ['p1']",
        ),
        (
            lambda d: d["posts"][0].update(subdivision=7),
            "posts[0].subdivision",
            "posts[0].subdivision: doit être une chaîne, reçu 7",
        ),
        (
            lambda d: d["posts"].append({"id": "p1", "capacity": 1}),
            "posts[2].id",
            "posts[2].id: identifiant en double 'p1'",
        ),
        (
            lambda d: d["candidates"].append({"id": "d2"}),
            "candidates[2].id",
            "candidates[2].id: identifiant en double 'd2'",
        ),
        (
            lambda d: d["candidates"][1].pop("id"),
            "candidates[1].id",
            "candidates[1].id: champ manquant",
        ),
        (
            lambda d: d["posts"][0].update(partition="cardio"),
            "wishes[0]",
            "wishes[0]: le candidat 'd1' (partition '') et le poste 'p1' (partition 'cardio') "
            "sont dans des partitions différentes",
        ),
        (lambda d: d.update(wishes={}), "wishes", "wishes: doit être une liste"),
        (
            lambda d: d["rankings"].insert(1, "p1"),
            "rankings[1]",
            "rankings[1]: doit être un objet, reçu 'p1'",
        ),
        # JSON's "\\ud800": half a surrogate pair, which no UTF-8 text can hold
        (
            lambda d: d["candidates"][1].update(id="d\ud800"),
            "candidates[1].id",
            "candidates[1].id: texte Unicode invalide (demi-paire de substitution '\\ud800' en "
            "position 1), reçu 'd\\ud800'",
        ),
        (
            lambda d: d["posts"][1].update(subdivision="\udc00Lyon"),
            "posts[1].subdivision",
            "posts[1].subdivision: texte Unicode invalide (demi-paire de substitution "
            "'\\udc00' en position 0)",
        ),
        (
            lambda d: d["candidates"][0].update(partition="cardio\ud83d"),
            "candidates[0].partition",
            "candidates[0].partition: texte Unicode invalide",
        ),
    ],
)
def test_bad_instances_are_rejected_naming_the_entry(mutate: Any, field: str, message: str) -> None:
    d = _base()
    mutate(d)
    with pytest.raises(InvalidInstance) as raised:
        Instance.from_dict(d)
    assert str(raised.value).startswith(message)
    assert raised.value.field == field
    assert str(raised.value) == f"{field}: {raised.value.reason}"
    # The entry-by-entry path (list subclasses skip the bulk one) names the same.
    with pytest.raises(InvalidInstance) as again:
        Instance.from_dict({k: _ListSubclass(v) if type(v) is list else v for k, v in d.items()})
    assert (again.value.field, again.value.reason) == (field, raised.value.reason)


def test_a_document_that_is_not_an_object_is_the_instance_at_fault() -> None:
    with pytest.raises(InvalidInstance) as raised:
        Instance.from_dict([])  # type: ignore[arg-type]
    assert (raised.value.field, str(raised.value)) == ("instance", "instance: doit être un objet")


def test_an_invalid_instance_survives_pickling_with_its_field_and_reason() -> None:
    # A service may validate in a worker process and answer from the parent.
    exc = pickle.loads(pickle.dumps(InvalidInstance("wishes[3].post", "poste inconnu 'p9'")))
    assert (exc.field, exc.reason) == ("wishes[3].post", "poste inconnu 'p9'")
    assert str(exc) == "wishes[3].post: poste inconnu 'p9'"


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
    assert default.warnings == ("poste r : son unique candidat a été refusé",)
    assert neuro.candidates == ("y", "z")
    assert neuro.warnings == ("candidat y : aucun vœu acceptable",)


def test_warnings_count_one_applicant_in_the_singular_and_more_in_the_plural() -> None:
    # r refuses its 2 applicants, s its only one; z (no place) ranked both a and b, y only c.
    d = instance(
        {"r": 1, "s": 1, "z": 0, "y": 0},
        {"a": {"r": 1, "z": 1}, "b": {"r": 1, "z": 1}, "c": {"s": 1, "y": 1}},
        {"r": {"a": 0}, "z": {"a": 1, "b": 2}, "y": {"c": 1}},
    )
    (problem,) = Instance.from_dict(d).problems()
    assert problem.warnings == (
        "poste r : ses 2 candidats ont tous été refusés",
        "poste s : son unique candidat a été refusé",
        "poste y : aucune place pour son unique candidat acceptable",
        "poste z : aucune place pour ses 2 candidats acceptables",
    )


# Ids that JSON must escape (quotes, backslashes, control characters, non-ASCII, surrogate
# pairs); posts and candidates share them to exercise the (candidate, post) order.
# Hearts and ranks: mostly small, like real ones, sometimes up to the largest allowed.
VALUES = st.integers(0, 12) | st.integers(0, 1_000_000)
IDS = st.text(
    alphabet=st.sampled_from(["a", "b", "é", '"', "\\", "\n", "\x01", "😀", "/", " "]),
    min_size=1,
    max_size=3,
)


@st.composite
def _plain(draw: st.DrawFn) -> dict[str, Any]:
    parts = draw(st.lists(st.sampled_from(["", "a", "b"]), min_size=1, max_size=2, unique=True))
    posts = draw(st.lists(IDS, min_size=1, max_size=5, unique=True))
    cands = draw(st.lists(IDS, min_size=1, max_size=6, unique=True))
    part_of = {("p", p): draw(st.sampled_from(parts)) for p in posts}
    part_of |= {("c", c): draw(st.sampled_from(parts)) for c in cands}

    def entry(kind: str, i: str) -> dict[str, Any]:
        e: dict[str, Any] = {"id": i, "subdivision": draw(IDS)}
        if part_of[(kind, i)]:
            e["partition"] = part_of[(kind, i)]
        return e

    same = [(c, p) for c in cands for p in posts if part_of[("c", c)] == part_of[("p", p)]]
    wishes = draw(st.lists(st.sampled_from(same), unique=True)) if same else []
    rankings = draw(st.lists(st.sampled_from(same), unique=True)) if same else []
    return {
        "posts": [entry("p", p) | {"capacity": draw(st.integers(0, 3))} for p in posts],
        "candidates": [entry("c", c) for c in cands],
        "wishes": [{"candidate": c, "post": p, "hearts": draw(VALUES)} for c, p in wishes],
        "rankings": [{"candidate": c, "post": p, "rank": draw(VALUES)} for c, p in rankings],
    }


CORRUPTIONS: dict[str, Any] = {
    "negative": lambda e, field, ids: e.update({field: -1}),
    "too large": lambda e, field, ids: e.update({field: 1_000_001}),
    "not an integer": lambda e, field, ids: e.update({field: 1.0}),
    "a boolean": lambda e, field, ids: e.update({field: True}),
    "missing value": lambda e, field, ids: e.pop(field),
    "unknown candidate": lambda e, field, ids: e.update(candidate="?" + "".join(ids)),
    "unknown post": lambda e, field, ids: e.update(post="?" + "".join(ids)),
    "empty id": lambda e, field, ids: e.update(post=""),
    "not a string": lambda e, field, ids: e.update(candidate=7),
}


@settings(max_examples=200, deadline=None)
@given(
    _plain(),
    st.sampled_from(["wishes", "rankings"]),
    st.sampled_from(sorted(CORRUPTIONS)),
    st.data(),
)
def test_one_corrupted_wish_or_ranking_is_rejected_naming_it(
    d: dict[str, Any], key: str, corruption: str, data: st.DataObject
) -> None:
    entries = d[key]
    assume(entries)
    i = data.draw(st.integers(0, len(entries) - 1))
    ids = [e["id"] for e in d["posts"] + d["candidates"]]
    field = "hearts" if key == "wishes" else "rank"
    CORRUPTIONS[corruption](entries[i], field, ids)
    with pytest.raises(InvalidInstance) as raised:
        Instance.from_dict(d)
    exc = raised.value
    assert exc.field == f"{key}[{i}]" or exc.field.startswith(f"{key}[{i}]."), (corruption, exc)
    assert str(exc) == f"{exc.field}: {exc.reason}"
    # The entry-by-entry path, which the bulk one hands bad input to, names the same.
    with pytest.raises(InvalidInstance) as again:
        Instance.from_dict({k: _ListSubclass(v) for k, v in d.items()})
    assert (again.value.field, again.value.reason) == (exc.field, exc.reason)


@settings(max_examples=100, deadline=None)
@given(_plain(), st.sampled_from(["wishes", "rankings"]), st.data())
def test_a_repeated_wish_or_ranking_is_rejected_naming_the_repeat(
    d: dict[str, Any], key: str, data: st.DataObject
) -> None:
    entries = d[key]
    assume(entries)
    repeated = dict(data.draw(st.sampled_from(entries)))
    entries.append(repeated | {"hearts" if key == "wishes" else "rank": 1})
    with pytest.raises(InvalidInstance) as raised:
        Instance.from_dict(d)
    assert raised.value.field == f"{key}[{len(entries) - 1}]", str(raised.value)
    entry = "vœu" if key == "wishes" else "classement"
    assert raised.value.reason.startswith(f"{entry} en double pour ("), str(raised.value)


@settings(max_examples=150, deadline=None)
@given(_plain())
def test_canonical_text_is_json_dumps_of_the_canonical_form(d: dict[str, Any]) -> None:
    inst = Instance.from_dict(d)
    text = json.dumps(inst.to_dict(), ensure_ascii=False, separators=(",", ":"))
    assert inst.canonical_json() == text
    assert inst.sha256() == hashlib.sha256(text.encode("utf-8")).hexdigest()


@settings(max_examples=150, deadline=None)
@given(_plain())
def test_bulk_and_entry_by_entry_validation_build_the_same_instance(d: dict[str, Any]) -> None:
    fast = Instance.from_dict(d)
    assert fast._columns is not None  # plain JSON takes the bulk path
    # A list subclass sends the same entries down the entry-by-entry path.
    slow = Instance.from_dict({k: _ListSubclass(v) for k, v in d.items()})
    assert slow._columns is None
    assert fast == slow
    assert list(fast.hearts) == list(slow.hearts)
    assert list(fast.ranks) == list(slow.ranks)
    assert fast.canonical_json() == slow.canonical_json()
    assert fast.problems() == slow.problems()
    assert fast.best_hearts() == slow.best_hearts()
    assert fast.best_ranks() == slow.best_ranks()
    assert fast.view == slow.view


@settings(max_examples=150, deadline=None)
@given(_plain())
def test_the_integer_view_is_the_wishes_joined_with_their_rankings(d: dict[str, Any]) -> None:
    inst = Instance.from_dict(d)
    v = inst.view
    wishes = sorted(inst.hearts)  # ids sort like their codes
    codes = zip(v.wish_candidate, v.wish_post, strict=True)
    assert [(v.candidates[c], v.posts[p]) for c, p in codes] == wishes
    assert v.wish_hearts == [inst.hearts[w] for w in wishes]
    assert v.wish_rank == [inst.ranks.get(w, 0) for w in wishes]
    n = len(v.posts)
    ids = [(c, p) for c in v.candidates for p in v.posts]
    assert {ids[k]: h for k, h in v.hearts_at.items()} == inst.hearts
    assert {ids[k]: r for k, r in v.rank_at.items()} == inst.ranks
    assert all(v.candidate_code[c] * n + v.post_code[p] == k for k, (c, p) in enumerate(ids))


class _ListSubclass(list):  # type: ignore[type-arg]
    pass


def test_subclasses_of_json_types_are_still_accepted_entry_by_entry() -> None:
    class Id(str):
        pass

    d = _base()
    d["wishes"][0]["candidate"] = Id("d1")
    d["posts"][0]["capacity"] = IntEnum("Cap", {"ONE": 1}).ONE
    inst = Instance.from_dict(d)
    assert inst._columns is None
    assert inst.canonical_json() == Instance.from_dict(_base()).canonical_json()


def test_canonical_rows_are_the_same_whatever_the_chunk_size() -> None:
    from appariement.matching.engine.model import _joined_rows

    pieces = ([b",a", b",bb", b",c"], [b"0", b"7"])
    codes = (np.array([2, 0, 1, 1, 0]), np.array([1, 0, 0, 1, 1]))
    whole = b"".join(_joined_rows(*zip(pieces, codes, strict=True), chunk=100))
    assert whole == b"c7,a0,bb0,bb7,a7"
    for chunk in (1, 2, 3, 4, 5):
        assert b"".join(_joined_rows(*zip(pieces, codes, strict=True), chunk=chunk)) == whole
    assert b"".join(_joined_rows(([b",a"], np.array([], dtype=np.int64)))) == b""
