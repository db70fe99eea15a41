"""`check`: capacity, acceptability and every weak-stability blocking pair, hand-checked."""

from __future__ import annotations

import random
import re
from collections.abc import Mapping
from math import inf

import pytest

from appariement.matching.engine import Instance, Objective, Result, Violation, check, evaluate

from .helpers import instance
from .tiny import tiny_instance

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


def test_a_result_must_account_for_every_candidate_and_only_for_them() -> None:
    # c, left out of both lists, was never told anything; zz is no candidate of the round.
    res = Result({"a": "p", "b": "q"}, {"zz": "outranked"})
    assert [(v.kind, v.candidate) for v in check(INST, res)] == [
        ("missing", "c"),
        ("unknown_id", "zz"),
    ]


@pytest.mark.parametrize(
    ("document", "message"),
    [
        ([], "doit être un objet, reçu une liste"),
        ({"assignments": {}}, "assignments: doit être une liste"),
        ({"assignments": ["a"]}, "assignments[0]: doit être un objet, reçu 'a'"),
        (
            {"assignments": [], "unassigned": [{"candidate": "c"}]},
            "unassigned[0]: candidate et reason doivent être des chaînes",
        ),
        ({"assignments": [{"candidate": 1, "post": "p"}]}, "assignments[0]: candidate et post"),
        (
            {"assignments": [{"candidate": "a", "post": "p"}, {"candidate": "a", "post": "q"}]},
            "assignments[1]: le candidat 'a' figure déjà dans assignments[0]",
        ),
        ({"report": []}, "report: doit être un objet"),
        ("résultat", "doit être un objet, reçu une chaîne"),
        (None, "doit être un objet, reçu null"),
        # A RESULT.json always has both lists (even empty): an instance given by mistake
        # would otherwise read as an empty result and flood the audit with "missing".
        (
            {"posts": [], "candidates": [], "wishes": [], "rankings": []},
            "assignments: champ manquant",
        ),
        ({"unassigned": []}, "assignments: champ manquant"),
        ({"assignments": []}, "unassigned: champ manquant"),
    ],
)
def test_a_result_document_is_read_strictly_naming_the_first_bad_entry(
    document: object, message: str
) -> None:
    # A candidate listed twice would otherwise keep one of its posts and pass the audit.
    with pytest.raises(ValueError, match="^" + re.escape(message)):
        Result.from_dict(document)


def test_an_empty_result_reads_back() -> None:
    assert Result.from_dict(Result({}, {}).to_dict()) == Result({}, {}, {})


def test_a_holder_the_post_did_not_rank_is_worse_than_every_candidate_it_ranked() -> None:
    # p (1 place) ranks a and refuses b (rank 0); c has no ranking entry at all. Whichever
    # of b or c holds p, p prefers a, who wants p: (a, p) blocks.
    inst = Instance.from_dict(
        instance({"p": 1}, {"a": {"p": 1}, "b": {"p": 1}, "c": {"p": 1}}, {"p": {"a": 1, "b": 0}})
    )
    for holder in ("b", "c"):
        assert [(v.kind, v.candidate, v.post) for v in check(inst, {holder: "p"})] == [
            ("unacceptable", holder, "p"),
            ("blocking_pair", "a", "p"),
        ], holder
    # Two places: the ranked holder does not hide the unranked one from d, ranked last.
    inst = Instance.from_dict(
        instance({"p": 2}, {"a": {"p": 1}, "b": {"p": 1}, "d": {"p": 1}}, {"p": {"a": 1, "d": 9}})
    )
    assert [(v.kind, v.candidate) for v in check(inst, {"a": "p", "b": "p"})] == [
        ("unacceptable", "b"),
        ("blocking_pair", "d"),
    ]


# p (1 place) ranks a before b, both want it; z has no place; d gave p 0 hearts.
REASONS = Instance.from_dict(
    instance(
        {"p": 1, "z": 0},
        {"a": {"p": 2}, "b": {"p": 1}, "c": {"z": 1}, "d": {"p": 0}},
        {"p": {"a": 1, "b": 2, "d": 1}, "z": {"c": 1}},
    )
)


def test_an_unassigned_candidate_must_be_given_the_reason_the_instance_implies() -> None:
    right = {"b": "outranked", "c": "no_place", "d": "no_acceptable_wish"}
    assert check(REASONS, Result({"a": "p"}, right)) == []
    # Each reason is valid but belongs to another candidate: an auditor must see all three.
    rotated = {"b": "no_place", "c": "no_acceptable_wish", "d": "outranked"}
    assert [(v.kind, v.candidate) for v in check(REASONS, Result({"a": "p"}, rotated))] == [
        ("reason", "b"),
        ("reason", "c"),
        ("reason", "d"),
    ]
    (v,) = check(REASONS, Result({"a": "p"}, right | {"c": "outranked"}))
    assert v.message == (
        "le candidat c est non affecté avec le motif 'outranked', attendu 'no_place'"
    )
    document = {
        "assignments": [{"candidate": "a", "post": "p"}],
        "unassigned": [
            {"candidate": c, "reason": r} for c, r in (right | {"b": "whatever"}).items()
        ],
    }
    (v,) = check(REASONS, Result.from_dict(document))
    assert (v.kind, v.candidate, v.post) == ("reason", "b", None)
    assert v.message == (
        "le candidat b est non affecté avec le motif 'whatever', attendu 'outranked'"
    )


def test_violation_messages_are_readable() -> None:
    (v,) = check(INST, {"b": "p", "a": "q"})
    assert v.message == "(a, p) est bloquante : p préfère a à l'un de ses affectés"
    assert v.to_dict() == {
        "kind": "blocking_pair",
        "message": v.message,
        "candidate": "a",
        "post": "p",
    }


def _reference_check(inst: Instance, assignments: Mapping[str, str]) -> list[Violation]:
    """The checker's definition on the (candidate, post) dicts, entry by entry."""
    violations: list[Violation] = []
    holders: dict[str, int] = {}
    worst: dict[str, float] = {}
    matched: dict[str, str] = {}
    for c, p in sorted(assignments.items()):
        if c not in inst.candidates or p not in inst.posts:
            unknown = c if c not in inst.candidates else p
            violations.append(
                Violation("unknown_id", f"identifiant inconnu {unknown!r} dans ({c}, {p})", c, p)
            )
            continue
        if not inst.acceptable(c, p):
            violations.append(
                Violation("unacceptable", f"{c} -> {p} n'est pas une paire acceptable", c, p)
            )
        matched[c] = p
        holders[p] = holders.get(p, 0) + 1
        r = inst.ranks.get((c, p), 0)
        worst[p] = max(worst.get(p, 0), r if r >= 1 else inf)  # unranked: worse than all
    for p, n in sorted(holders.items()):
        if n > inst.posts[p].capacity:
            cap = inst.posts[p].capacity
            message = (
                f"le poste {p} accueille {n} candidat{'s' * (n > 1)} "
                f"pour {cap} place{'s' * (cap > 1)}"
            )
            violations.append(Violation("capacity", message, None, p))
    blocking = []
    for (c, p), h in sorted(inst.hearts.items()):
        held = inst.hearts.get((c, matched[c]), 0) if c in matched else 0
        r = inst.ranks.get((c, p), 0)
        free = holders.get(p, 0) < inst.posts[p].capacity
        if h > held and r >= 1 and (free or (holders.get(p, 0) > 0 and r < worst[p])):
            why = "a une place libre" if free else f"préfère {c} à l'un de ses affectés"
            message = f"({c}, {p}) est bloquante : {p} {why}"
            blocking.append(Violation("blocking_pair", message, c, p))
    return violations + blocking


def _reference_objective(inst: Instance, assignments: Mapping[str, str]) -> Objective:
    best_h, best_r = inst.best_hearts(), inst.best_ranks()
    perfect = hearts = ranks = 0
    for c, p in assignments.items():
        h, r = inst.hearts.get((c, p), 0), inst.ranks.get((c, p), 0)
        hearts, ranks = hearts + h, ranks + r
        perfect += h == best_h.get(c) and r == best_r.get(p)
    return Objective(len(assignments), perfect, hearts, ranks)


def test_check_and_evaluate_agree_with_their_definitions_on_random_matchings() -> None:
    rng = random.Random(11)
    for _ in range(400):
        d = tiny_instance(rng, larger=rng.random() < 0.5)
        inst = Instance.from_dict(d)
        posts = [*inst.posts, "nope"]
        assignments = {c: rng.choice(posts) for c in inst.candidates if rng.random() < 0.7}
        if rng.random() < 0.2:
            assignments["zz"] = rng.choice(posts)
        assert check(inst, assignments) == _reference_check(inst, assignments), d
        known = {c: p for c, p in assignments.items() if c in inst.candidates and p in inst.posts}
        assert evaluate(inst, known) == _reference_objective(inst, known), d
