"""Checks of the brute-force reference itself, so that the exactness tests stand on it."""

from __future__ import annotations

import random

from matching.games import HospitalResident

from .brute_force import Tiny, candidate_optimal, enumerate_matchings, objective, sort_key
from .tiny import tiny_instance


def test_brute_force_candidate_optimum_matches_the_matching_package() -> None:
    """The reference itself, checked against an independent strict solver."""
    rng = random.Random(13)
    compared = 0
    for _ in range(300):
        d = tiny_instance(rng, strict=True)
        t = Tiny.from_dict(d)
        expected = candidate_optimal(t, enumerate_matchings(t).stable)
        resident_prefs = {
            c: sorted(t.acceptable[c], key=lambda p, c=c: -t.hearts[(c, p)])
            for c in t.candidates
            if t.acceptable[c]
        }
        hospital_prefs: dict[str, list[str]] = {}
        for c, posts in resident_prefs.items():
            for p in posts:
                hospital_prefs.setdefault(p, []).append(c)
        for p, cs in hospital_prefs.items():
            cs.sort(key=lambda c, p=p: t.rank[(c, p)])
        capacities = {p: t.capacity[p] for p in hospital_prefs}
        if not resident_prefs or min(capacities.values()) == 0:
            continue  # the package raises IndexError on these
        game = HospitalResident.create_from_dictionaries(resident_prefs, hospital_prefs, capacities)
        got = {r.name: h.name for h, rs in game.solve(optimal="resident").items() for r in rs}
        assert got == expected, d
        compared += 1
    assert compared > 150


def _stable_ranked(t: Tiny, stable: list[dict[str, str]]) -> list[tuple[int, int, int, int]]:
    return sorted((objective(t, m) for m in stable), key=sort_key)


def test_brute_force_sees_stable_matchings_of_different_sizes_with_ties() -> None:
    """The instances are hard enough: greedy stable matchings are often not the largest."""
    rng = random.Random(17)
    differing = 0
    for _ in range(300):
        t = Tiny.from_dict(tiny_instance(rng))
        sizes = {obj[0] for obj in _stable_ranked(t, enumerate_matchings(t).stable)}
        differing += len(sizes) > 1
    assert differing >= 20
