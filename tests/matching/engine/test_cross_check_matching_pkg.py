"""Our deferred acceptance against the PyPI `matching` package on strict instances.

With strict preferences the candidate-proposing deferred acceptance has one answer, the
candidate-optimal stable matching, whatever the seed: both implementations must give
exactly the same assignments. The package cannot take empty preference lists or posts
nobody can get (IndexError), so those are left out of its input, which changes nothing
to the matching.
"""

from __future__ import annotations

import sys
from collections.abc import Iterator
from typing import Any

import pytest
from matching.games import HospitalResident

from appariement.matching.engine import Instance, solve
from appariement.matching.engine.generator import generate


@pytest.fixture
def deep_recursion() -> Iterator[None]:
    """The package recurses once per resident; it needs more than Python's default depth."""
    previous = sys.getrecursionlimit()
    sys.setrecursionlimit(max(previous, 20_000))
    yield
    sys.setrecursionlimit(previous)


def matching_package_assignments(d: dict[str, Any]) -> dict[str, str]:
    """Resident-optimal HR solution of the `matching` package, as candidate -> post."""
    hearts = {(w["candidate"], w["post"]): w["hearts"] for w in d["wishes"]}
    ranks = {(r["candidate"], r["post"]): r["rank"] for r in d["rankings"] if r["rank"] >= 1}
    acceptable = [pair for pair, h in hearts.items() if h >= 1 and pair in ranks]
    resident_prefs: dict[str, list[str]] = {}
    hospital_prefs: dict[str, list[str]] = {}
    for c, p in acceptable:
        resident_prefs.setdefault(c, []).append(p)
        hospital_prefs.setdefault(p, []).append(c)
    for c, posts in resident_prefs.items():
        posts.sort(key=lambda p, c=c: -hearts[(c, p)])
    for p, cands in hospital_prefs.items():
        cands.sort(key=lambda c, p=p: ranks[(c, p)])
    capacities = {p["id"]: p["capacity"] for p in d["posts"] if p["id"] in hospital_prefs}
    assert min(capacities.values()) >= 1  # the generator's capacities are 1–4
    game = HospitalResident.create_from_dictionaries(resident_prefs, hospital_prefs, capacities)
    solution = game.solve(optimal="resident")
    return {r.name: h.name for h, residents in solution.items() for r in residents}


@pytest.mark.usefixtures("deep_recursion")
@pytest.mark.parametrize(
    ("candidates", "posts", "partitions", "wishes", "seed"),
    [
        (30, 12, 1, (1, 5), 1),
        (200, 60, 3, (3, 8), 2),
        (600, 150, 1, (10, 10), 3),  # tight: fewer places than candidates
        (1500, 900, 25, (5, 20), 4),
    ],
)
def test_deferred_acceptance_equals_matching_package_on_strict_instances(
    candidates: int, posts: int, partitions: int, wishes: tuple[int, int], seed: int
) -> None:
    d = generate(
        candidates=candidates,
        posts=posts,
        partitions=partitions,
        wishes_per_candidate=wishes,
        seed=seed,
        ties=False,
    )
    expected = matching_package_assignments(d)
    for solver_seed in (0, 99):
        res = solve(
            Instance.from_dict(d), seed=solver_seed, method="deferred_acceptance", workers=1
        )
        assert dict(res.assignments) == expected
    assert len(expected) > candidates // 3  # a real matching, not a trivial one


@pytest.mark.usefixtures("deep_recursion")
def test_deferred_acceptance_equals_matching_package_on_many_small_strict_instances() -> None:
    for seed in range(60):
        d = generate(
            candidates=20 + seed % 15,
            posts=6 + seed % 7,
            partitions=1 + seed % 3,
            wishes_per_candidate=(1, 6),
            seed=seed,
            ties=False,
        )
        res = solve(Instance.from_dict(d), seed=seed, method="deferred_acceptance", workers=1)
        assert dict(res.assignments) == matching_package_assignments(d), seed
