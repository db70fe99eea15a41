"""Brute-force reference for tiny instances, written from DESIGN.md §4 and nothing else.

It enumerates every matching that respects acceptability and capacities, keeps the weakly
stable ones, and scores them. It shares no code with the engine, on purpose: the exactness
tests compare the two, so an error would have to be made twice, the same way, to hide.
"""

from __future__ import annotations

from collections.abc import Iterator, Mapping
from dataclasses import dataclass
from typing import Any


@dataclass(frozen=True)
class Tiny:
    """The instance dict in lookup form."""

    candidates: tuple[str, ...]
    capacity: dict[str, int]
    hearts: dict[tuple[str, str], int]  # every wish, 0 included
    rank: dict[tuple[str, str], int]  # every ranking entry, 0 (refused) included
    acceptable: dict[str, tuple[str, ...]]  # candidate -> posts of acceptable pairs

    @classmethod
    def from_dict(cls, d: Mapping[str, Any]) -> Tiny:
        candidates = tuple(c["id"] for c in d["candidates"])
        capacity = {p["id"]: p["capacity"] for p in d["posts"]}
        hearts = {(w["candidate"], w["post"]): w["hearts"] for w in d["wishes"]}
        rank = {(r["candidate"], r["post"]): r["rank"] for r in d["rankings"]}
        acceptable = {
            c: tuple(p for p in capacity if hearts.get((c, p), 0) >= 1 and rank.get((c, p), 0) >= 1)
            for c in candidates
        }
        return cls(candidates, capacity, hearts, rank, acceptable)


def all_matchings(t: Tiny) -> Iterator[dict[str, str]]:
    """Every matching of acceptable pairs within capacities (candidate -> post)."""
    used = dict.fromkeys(t.capacity, 0)
    current: dict[str, str] = {}

    def extend(i: int) -> Iterator[dict[str, str]]:
        if i == len(t.candidates):
            yield dict(current)
            return
        c = t.candidates[i]
        yield from extend(i + 1)  # c unassigned
        for p in t.acceptable[c]:
            if used[p] < t.capacity[p]:
                used[p] += 1
                current[c] = p
                yield from extend(i + 1)
                del current[c]
                used[p] -= 1

    return extend(0)


def blocking_pairs(t: Tiny, m: Mapping[str, str]) -> list[tuple[str, str]]:
    """Acceptable pairs (d, p) that block ``m``, straight from the definition."""
    pairs = []
    for d in t.candidates:
        for p in t.acceptable[d]:
            if d in m and t.hearts[(d, p)] <= t.hearts[(d, m[d])]:
                continue  # d does not strictly prefer p
            holders = [e for e, q in m.items() if q == p]
            has_room = len(holders) < t.capacity[p]
            prefers_d = any(t.rank[(d, p)] < t.rank[(e, p)] for e in holders)
            if has_room or prefers_d:
                pairs.append((d, p))
    return pairs


def objective(t: Tiny, m: Mapping[str, str]) -> tuple[int, int, int, int]:
    """(assigned, perfect couples, total hearts, sum of ranks) of ``m``."""
    best_hearts: dict[str, int] = {}
    for (d, _), h in t.hearts.items():
        best_hearts[d] = max(best_hearts.get(d, 0), h)
    best_rank: dict[str, int] = {}
    for (_, p), r in t.rank.items():
        if r >= 1:
            best_rank[p] = min(best_rank.get(p, r), r)
    perfect = sum(
        1
        for d, p in m.items()
        if t.hearts[(d, p)] == best_hearts[d] and t.rank[(d, p)] == best_rank[p]
    )
    hearts = sum(t.hearts[(d, p)] for d, p in m.items())
    ranks = sum(t.rank[(d, p)] for d, p in m.items())
    return (len(m), perfect, hearts, ranks)


def sort_key(obj: tuple[int, int, int, int]) -> tuple[int, int, int, int]:
    """Key that orders objectives best first (lexicographic: max, max, max, min)."""
    assigned, perfect, hearts, ranks = obj
    return (-assigned, -perfect, -hearts, ranks)


@dataclass(frozen=True)
class Enumeration:
    """All matchings of an instance, split into weakly stable and not."""

    stable: list[dict[str, str]]
    unstable: list[dict[str, str]]

    def best(self, t: Tiny) -> tuple[int, int, int, int]:
        return min((objective(t, m) for m in self.stable), key=sort_key)


def enumerate_matchings(t: Tiny) -> Enumeration:
    stable, unstable = [], []
    for m in all_matchings(t):
        (unstable if blocking_pairs(t, m) else stable).append(m)
    return Enumeration(stable, unstable)


def candidate_optimal(t: Tiny, stable: list[dict[str, str]]) -> dict[str, str]:
    """Each candidate's best post over all stable matchings (strict preferences)."""
    best: dict[str, str] = {}
    for m in stable:
        for d, p in m.items():
            if d not in best or t.hearts[(d, p)] > t.hearts[(d, best[d])]:
                best[d] = p
    return best
