"""The synthetic instance generator: valid, deterministic, shaped like a real round."""

from __future__ import annotations

from collections import Counter, defaultdict
from typing import Any

import pytest

from appariement.matching.engine import Instance
from appariement.matching.engine.generator import REGIONS, SPECIALTIES, generate


def _medium(**overrides: Any) -> dict[str, Any]:
    options: dict[str, Any] = {
        "candidates": 1200,
        "posts": 700,
        "partitions": 50,
        "wishes_per_candidate": (10, 30),
        "seed": 7,
    }
    options.update(overrides)
    return generate(**options)


@pytest.fixture(scope="module")
def medium() -> dict[str, Any]:
    return _medium()


def test_same_seed_gives_the_same_instance_and_another_seed_another(
    medium: dict[str, Any],
) -> None:
    assert _medium() == medium
    assert _medium(seed=8) != medium


def test_instance_is_valid_for_the_engine(medium: dict[str, Any]) -> None:
    Instance.from_dict(medium)
    Instance.from_dict(_medium(ties=False))


def test_sizes_follow_the_arguments(medium: dict[str, Any]) -> None:
    assert len(medium["candidates"]) == 1200
    assert len(medium["posts"]) == 700
    assert len({c["partition"] for c in medium["candidates"]}) == 50
    assert len({p["partition"] for p in medium["posts"]}) == 50
    assert len({c["id"] for c in medium["candidates"]}) == 1200
    assert len({p["id"] for p in medium["posts"]}) == 700


def test_places_exceed_candidates_with_capacities_one_to_four(medium: dict[str, Any]) -> None:
    capacities = [p["capacity"] for p in medium["posts"]]
    assert set(capacities) == {1, 2, 3, 4}
    assert 1200 < sum(capacities) <= 1.25 * 1200


def test_partition_sizes_are_skewed_with_one_large_partition() -> None:
    d = generate(candidates=12_000, posts=7_000, partitions=500, seed=1)
    sizes = sorted(Counter(c["partition"] for c in d["candidates"]).values(), reverse=True)
    assert 800 <= sizes[0] <= 1200  # about 1/12 of the candidates
    assert sizes[0] > 2 * sizes[1]
    assert sum(1 for s in sizes if s < 100) >= 0.9 * len(sizes)
    assert sum(p["capacity"] for p in d["posts"]) == pytest.approx(14_000, rel=0.02)


def test_partitions_are_named_after_real_specialties_and_regions(medium: dict[str, Any]) -> None:
    regions = {name for name, _ in REGIONS}
    subdivisions = {name: set(subs) for name, subs in REGIONS}
    for c in medium["candidates"]:
        specialty, region = c["partition"].split("/")
        assert specialty in SPECIALTIES
        assert region in regions
        assert c["subdivision"] in subdivisions[region]


def test_every_wish_and_ranking_stays_within_its_partition(medium: dict[str, Any]) -> None:
    cand_part = {c["id"]: c["partition"] for c in medium["candidates"]}
    post_part = {p["id"]: p["partition"] for p in medium["posts"]}
    assert all(cand_part[w["candidate"]] == post_part[w["post"]] for w in medium["wishes"])
    assert all(cand_part[r["candidate"]] == post_part[r["post"]] for r in medium["rankings"])


def test_wish_counts_respect_the_range_within_small_partitions(medium: dict[str, Any]) -> None:
    posts_in = Counter(p["partition"] for p in medium["posts"])
    part = {c["id"]: c["partition"] for c in medium["candidates"]}
    counts = Counter(w["candidate"] for w in medium["wishes"])
    for c, partition in part.items():
        assert min(10, posts_in[partition]) <= counts[c] <= 30
    assert len({(w["candidate"], w["post"]) for w in medium["wishes"]}) == len(medium["wishes"])


def test_ties_mode_has_hearts_zero_to_five_ties_and_some_refusals(medium: dict[str, Any]) -> None:
    assert {w["hearts"] for w in medium["wishes"]} == {0, 1, 2, 3, 4, 5}
    per_post = defaultdict(list)
    for r in medium["rankings"]:
        per_post[r["post"]].append(r["rank"])
    assert any(len(set(ranks)) < len(ranks) for ranks in per_post.values())
    refused = 1 - len(medium["rankings"]) / len(medium["wishes"])
    assert 0.08 <= refused <= 0.2


def test_strict_mode_has_distinct_hearts_per_candidate_and_ranks_per_post() -> None:
    d = _medium(ties=False)
    hearts = defaultdict(list)
    for w in d["wishes"]:
        hearts[w["candidate"]].append(w["hearts"])
    assert all(len(set(h)) == len(h) and min(h) >= 1 for h in hearts.values())
    ranks = defaultdict(list)
    for r in d["rankings"]:
        ranks[r["post"]].append(r["rank"])
    assert all(len(set(r)) == len(r) and min(r) >= 1 for r in ranks.values())


def test_popular_posts_get_more_hearts_and_local_candidates_rank_first(
    medium: dict[str, Any],
) -> None:
    applicants = Counter(w["post"] for w in medium["wishes"])
    hearts = defaultdict(list)
    for w in medium["wishes"]:
        hearts[w["post"]].append(w["hearts"])
    by_popularity = sorted(applicants, key=lambda p: applicants[p])
    quarter = len(by_popularity) // 4

    def mean_hearts(posts: list[str]) -> float:
        values = [h for p in posts for h in hearts[p]]
        return sum(values) / len(values)

    assert mean_hearts(by_popularity[-quarter:]) > mean_hearts(by_popularity[:quarter]) + 0.5
    cand_sub = {c["id"]: c["subdivision"] for c in medium["candidates"]}
    post_sub = {p["id"]: p["subdivision"] for p in medium["posts"]}
    local_applied = {
        w["post"] for w in medium["wishes"] if cand_sub[w["candidate"]] == post_sub[w["post"]]
    }
    for r in medium["rankings"]:
        if r["rank"] == 1 and r["post"] in local_applied:
            assert cand_sub[r["candidate"]] == post_sub[r["post"]], r


def test_rejects_fewer_candidates_or_posts_than_partitions() -> None:
    with pytest.raises(ValueError, match="un candidat et un poste par partition"):
        generate(candidates=3, posts=10, partitions=5)


def test_rejects_places_that_capacities_1_to_4_cannot_make() -> None:
    # --places 0 gave 5 places for 5 posts, silently.
    for places in (0, 4, 21):
        with pytest.raises(
            ValueError, match=r"^places doit être entre 5 et 20 \(capacités de 1 à 4"
        ):
            generate(candidates=10, posts=5, partitions=1, places=places)
    assert (
        sum(
            p["capacity"]
            for p in generate(candidates=10, posts=5, partitions=1, places=20)["posts"]
        )
        == 20
    )


@pytest.mark.parametrize("partitions", [2, 5, 10])
def test_general_medicine_in_ile_de_france_is_the_largest_partition_even_among_few(
    partitions: int,
) -> None:
    # With under a dozen partitions another one drew more candidates (259 against 100 of
    # 1,200 with 10 partitions).
    d = generate(candidates=1_200, posts=700, partitions=partitions, seed=0)
    sizes = Counter(c["partition"] for c in d["candidates"])
    assert max(sizes.values()) == sizes["Médecine générale/Île-de-France"]
