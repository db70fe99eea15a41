"""The instance: validated input, its canonical form, and its split into partitions.

A partition (e.g. "Cardiologie/Occitanie") is solved on its own; `Problem` is its compact,
index-based form shared by deferred acceptance, the exact solver and the report, built with
ids sorted so that the input's order never changes a result.
"""

from __future__ import annotations

import hashlib
import json
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from typing import Any, NamedTuple


class InvalidInstance(ValueError):
    """The input cannot be matched; the message names the offending entry."""


@dataclass(frozen=True)
class Post:
    id: str
    capacity: int
    subdivision: str
    partition: str


@dataclass(frozen=True)
class Candidate:
    id: str
    subdivision: str
    partition: str


class Pair(NamedTuple):
    """An acceptable pair (hearts ≥ 1 and rank ≥ 1) in index form (a tuple: 150,000 of them
    are built and sent to worker processes for a national instance)."""

    candidate: int
    post: int
    hearts: int
    rank: int
    perfect: bool


@dataclass(frozen=True)
class Problem:
    """One partition, with candidates and posts sorted by id and pairs by (candidate, post)."""

    partition: str
    candidates: tuple[str, ...]
    posts: tuple[str, ...]
    capacity: tuple[int, ...]
    pairs: tuple[Pair, ...]
    warnings: tuple[str, ...]

    @property
    def places(self) -> int:
        return sum(self.capacity)


def _field(entry: Mapping[str, Any], key: str, where: str) -> Any:
    if key not in entry:
        raise InvalidInstance(f"{where}: missing field {key!r}")
    return entry[key]


def _id(entry: Mapping[str, Any], key: str, where: str) -> str:
    value = _field(entry, key, where)
    if not isinstance(value, str) or not value:
        raise InvalidInstance(f"{where}: {key} must be a non-empty string, got {value!r}")
    return value


def _natural(entry: Mapping[str, Any], key: str, where: str) -> int:
    value = _field(entry, key, where)
    if isinstance(value, bool) or not isinstance(value, int):
        raise InvalidInstance(f"{where}: {key} must be an integer, got {value!r}")
    if value < 0:
        raise InvalidInstance(f"{where}: {key} must be ≥ 0, got {value}")
    return value


def _text(entry: Mapping[str, Any], key: str, where: str) -> str:
    value = entry.get(key, "")
    if not isinstance(value, str):
        raise InvalidInstance(f"{where}: {key} must be a string, got {value!r}")
    return value


def _entries(data: Mapping[str, Any], key: str) -> Sequence[Mapping[str, Any]]:
    value = data.get(key, [])
    if not isinstance(value, list):
        raise InvalidInstance(f"{key}: must be a list")
    for i, entry in enumerate(value):
        if not isinstance(entry, Mapping):
            raise InvalidInstance(f"{key}[{i}]: must be an object, got {entry!r}")
    return value


@dataclass(frozen=True)
class Instance:
    """A validated instance. Build it with `Instance.from_dict`."""

    posts: dict[str, Post]
    candidates: dict[str, Candidate]
    hearts: dict[tuple[str, str], int]  # (candidate, post) -> hearts, every wish
    ranks: dict[tuple[str, str], int]  # (candidate, post) -> rank, every entry (0 = refused)

    @classmethod
    def from_dict(cls, data: Mapping[str, Any]) -> Instance:
        """Validate and build; raises InvalidInstance naming the first bad entry."""
        if not isinstance(data, Mapping):
            raise InvalidInstance("instance: must be an object")
        posts: dict[str, Post] = {}
        for i, e in enumerate(_entries(data, "posts")):
            where = f"posts[{i}]"
            pid = _id(e, "id", where)
            if pid in posts:
                raise InvalidInstance(f"{where}: duplicate post id {pid!r}")
            posts[pid] = Post(
                pid,
                _natural(e, "capacity", where),
                _text(e, "subdivision", where),
                _text(e, "partition", where),
            )
        candidates: dict[str, Candidate] = {}
        for i, e in enumerate(_entries(data, "candidates")):
            where = f"candidates[{i}]"
            cid = _id(e, "id", where)
            if cid in candidates:
                raise InvalidInstance(f"{where}: duplicate candidate id {cid!r}")
            candidates[cid] = Candidate(
                cid, _text(e, "subdivision", where), _text(e, "partition", where)
            )
        hearts = cls._pairs(data, "wishes", "hearts", posts, candidates)
        ranks = cls._pairs(data, "rankings", "rank", posts, candidates)
        return cls(posts, candidates, hearts, ranks)

    @staticmethod
    def _pairs(
        data: Mapping[str, Any],
        key: str,
        value_key: str,
        posts: Mapping[str, Post],
        candidates: Mapping[str, Candidate],
    ) -> dict[tuple[str, str], int]:
        values: dict[tuple[str, str], int] = {}
        for i, e in enumerate(_entries(data, key)):
            where = f"{key}[{i}]"
            cid, pid = _id(e, "candidate", where), _id(e, "post", where)
            if cid not in candidates:
                raise InvalidInstance(f"{where}: unknown candidate {cid!r}")
            if pid not in posts:
                raise InvalidInstance(f"{where}: unknown post {pid!r}")
            if (cid, pid) in values:
                raise InvalidInstance(f"{where}: duplicate {key} entry for ({cid!r}, {pid!r})")
            if candidates[cid].partition != posts[pid].partition:
                raise InvalidInstance(
                    f"{where}: candidate {cid!r} (partition {candidates[cid].partition!r}) and "
                    f"post {pid!r} (partition {posts[pid].partition!r}) are in different partitions"
                )
            values[(cid, pid)] = _natural(e, value_key, where)
        return values

    def acceptable(self, candidate: str, post: str) -> bool:
        """d gave p at least one heart and p ranked d (rank ≥ 1)."""
        return (
            self.hearts.get((candidate, post), 0) >= 1 and self.ranks.get((candidate, post), 0) >= 1
        )

    def to_dict(self) -> dict[str, Any]:
        """Canonical form: every list sorted, so equal instances give equal bytes. Keys are
        built in sorted order, so `sha256` can skip `sort_keys` (a national instance holds
        ~300,000 entries)."""
        return {
            "candidates": [
                {"id": c.id, "partition": c.partition, "subdivision": c.subdivision}
                if c.partition
                else {"id": c.id, "subdivision": c.subdivision}
                for c in sorted(self.candidates.values(), key=lambda c: c.id)
            ],
            "posts": [
                {
                    "capacity": p.capacity,
                    "id": p.id,
                    "partition": p.partition,
                    "subdivision": p.subdivision,
                }
                if p.partition
                else {"capacity": p.capacity, "id": p.id, "subdivision": p.subdivision}
                for p in sorted(self.posts.values(), key=lambda p: p.id)
            ],
            "rankings": [
                {"candidate": c, "post": p, "rank": r}
                for (p, c), r in sorted(((p, c), r) for (c, p), r in self.ranks.items())
            ],
            "wishes": [
                {"candidate": c, "hearts": h, "post": p}
                for (c, p), h in sorted(self.hearts.items())
            ],
        }

    def sha256(self) -> str:
        """SHA-256 of the canonical JSON (sorted keys, compact): the run report names exactly
        what was solved."""
        text = json.dumps(self.to_dict(), ensure_ascii=False, separators=(",", ":"))
        return hashlib.sha256(text.encode("utf-8")).hexdigest()

    def best_hearts(self) -> dict[str, int]:
        """The most hearts each candidate gave to any wish (refused or not)."""
        best: dict[str, int] = {}
        for (c, _), h in self.hearts.items():
            best[c] = max(best.get(c, 0), h)
        return best

    def best_ranks(self) -> dict[str, int]:
        """The best (smallest ≥ 1) rank each post gave to anyone."""
        best: dict[str, int] = {}
        for (_, p), r in self.ranks.items():
            if r >= 1 and (p not in best or r < best[p]):
                best[p] = r
        return best

    def problems(self) -> list[Problem]:
        """One `Problem` per partition, sorted by partition name."""
        best_h, best_r = self.best_hearts(), self.best_ranks()
        names = sorted(
            {p.partition for p in self.posts.values()}
            | {c.partition for c in self.candidates.values()}
        )
        cands_of: dict[str, list[str]] = {n: [] for n in names}
        posts_of: dict[str, list[str]] = {n: [] for n in names}
        for cand in self.candidates.values():
            cands_of[cand.partition].append(cand.id)
        for post in self.posts.values():
            posts_of[post.partition].append(post.id)
        pairs_of: dict[str, list[tuple[str, str, int, int]]] = {n: [] for n in names}
        applicants: dict[str, int] = {}
        refused: dict[str, int] = {}
        ranks, post_of = self.ranks, self.posts
        for (c, p), h in self.hearts.items():
            if h >= 1:
                applicants[p] = applicants.get(p, 0) + 1
                r = ranks.get((c, p), 0)
                if r == 0:
                    refused[p] = refused.get(p, 0) + 1
                else:
                    pairs_of[post_of[p].partition].append((c, p, h, r))
        result = []
        for name in names:
            cands = sorted(cands_of[name])
            posts = sorted(posts_of[name])
            ci = {c: i for i, c in enumerate(cands)}
            pi = {p: i for i, p in enumerate(posts)}
            pairs = tuple(
                Pair(ci[c], pi[p], h, r, h == best_h[c] and r == best_r[p])
                for c, p, h, r in sorted(pairs_of[name])
            )
            warnings = [
                f"post {p}: all {applicants[p]} applicants refused"
                for p in posts
                if applicants.get(p, 0) > 0 and refused.get(p, 0) == applicants[p]
            ]
            with_pair = {pair.candidate for pair in pairs}
            warnings += [
                f"candidate {c}: no acceptable wish"
                for i, c in enumerate(cands)
                if i not in with_pair
            ]
            result.append(
                Problem(
                    name,
                    tuple(cands),
                    tuple(posts),
                    tuple(self.posts[p].capacity for p in posts),
                    pairs,
                    tuple(warnings),
                )
            )
        return result
