"""Realistic synthetic matching instances for tests, demos and benchmarks.

Real campaigns are matched per (specialty, region): a few hundred partitions, most of
them small and one very large (general medicine in Île-de-France). Posts differ in
popularity, candidates' hearts follow that popularity, supervisors favour candidates from
their own subdivision and refuse a share of applicants, and the platform allows ties on
both sides. The generator reproduces those traits so that benchmarks measure the shape of
a real national round, with names taken from the French reference data.

Pure and deterministic: the same arguments give the same dict (``random.Random(seed)``,
no iteration over sets of strings, no I/O).
"""

from __future__ import annotations

import math
import random
from collections.abc import Sequence
from typing import Any

from appariement.matching.engine.model import grouped

# Regions, their subdivisions and the specialties with a consolidation phase, copied from
# the shared reference data (reference-fr.json) so that the engine package stays free of I/O.
REGIONS: tuple[tuple[str, tuple[str, ...]], ...] = (
    ("Auvergne-Rhône-Alpes", ("Clermont-Ferrand", "Grenoble", "Lyon", "Saint-Étienne")),
    ("Bourgogne-Franche-Comté", ("Besançon", "Dijon")),
    ("Bretagne", ("Brest", "Rennes")),
    ("Centre-Val de Loire", ("Tours",)),
    ("Grand Est", ("Nancy", "Reims", "Strasbourg")),
    ("Hauts-de-France", ("Amiens", "Lille")),
    ("Île-de-France", ("Île-de-France",)),
    ("Normandie", ("Caen", "Rouen")),
    ("Nouvelle-Aquitaine", ("Bordeaux", "Limoges", "Poitiers")),
    ("Occitanie", ("Montpellier-Nîmes", "Toulouse")),
    ("Pays de la Loire", ("Angers", "Nantes")),
    ("Provence-Alpes-Côte d'Azur", ("Marseille", "Nice")),
    ("Antilles-Guyane", ("Antilles-Guyane",)),
    ("Océan Indien", ("Océan Indien",)),
)
SPECIALTIES: tuple[str, ...] = (
    "Anesthésie-réanimation",
    "Biologie médicale",
    "Chirurgie orthopédique et traumatologique",
    "Chirurgie viscérale et digestive",
    "Dermatologie et vénéréologie",
    "Endocrinologie-diabétologie-nutrition",
    "Gériatrie",
    "Gynécologie obstétrique",
    "Hématologie",
    "Hépato-gastro-entérologie",
    "Maladies infectieuses et tropicales",
    "Médecine cardiovasculaire",
    "Médecine d'urgence",
    "Médecine générale",
    "Médecine intensive-réanimation",
    "Médecine interne et immunologie clinique",
    "Médecine physique et de réadaptation",
    "Néphrologie",
    "Neurochirurgie",
    "Neurologie",
    "Oncologie",
    "Ophtalmologie",
    "ORL-chirurgie cervico-faciale",
    "Pédiatrie",
    "Pneumologie",
    "Psychiatrie",
    "Radiologie et imagerie médicale",
    "Rhumatologie",
    "Santé publique",
    "Urologie",
)
LARGEST_PARTITION = ("Médecine générale", "Île-de-France")

LARGEST_SHARE = 1 / 12  # 1,000 of 12,000 candidates nationally
PLACES_PER_CANDIDATE = 14_000 / 12_000  # national target: more places than candidates
LOCAL_WISH_WEIGHT = 2.0  # a candidate applies more readily in their own subdivision
LOCAL_RANK_BONUS = 1.0  # supervisors favour local candidates (in merit standard deviations)
MAX_REFUSED_SHARE = 0.2  # a valid ranking ranks at least 80 % of the applicants
ZERO_HEART_SHARE = 0.02  # wishes a candidate marked "never" (0 hearts)
RANK_TIE_PROBABILITY = 0.3  # chance that the next applicant ties with the previous one


def generate(
    *,
    candidates: int,
    posts: int,
    partitions: int,
    wishes_per_candidate: tuple[int, int] = (10, 30),
    seed: int = 0,
    ties: bool = True,
    places: int | None = None,
) -> dict[str, Any]:
    """Return an instance dict in the engine's JSON format.

    ``places`` is the total capacity aimed at (default: 7/6 of the candidates, the national
    ratio), bounded by capacities 1–4 in each partition. ``ties=False`` gives strict
    preferences: distinct hearts per candidate and distinct ranks per post, no refusals of
    the "0 hearts" kind, so that classic strict algorithms apply.
    """
    low, high = wishes_per_candidate
    if partitions < 1 or candidates < partitions or posts < partitions:
        raise ValueError("il faut au moins un candidat et un poste par partition")
    if not 1 <= low <= high:
        raise ValueError("wishes_per_candidate doit être (A, B) avec 1 <= A <= B")
    if places is not None and not posts <= places <= 4 * posts:
        raise ValueError(
            f"places doit être entre {grouped(posts)} et {grouped(4 * posts)} "
            "(capacités de 1 à 4 par poste)"
        )
    rng = random.Random(seed)
    names = _partition_names(partitions, rng)
    weights = [rng.lognormvariate(0.0, 1.0) for _ in range(partitions)]
    if partitions > 1:
        # A twelfth of the candidates nationally; with only a few partitions, at least as
        # many as any other (the first partition is the largest, as in a real campaign).
        share = sum(weights[1:]) * LARGEST_SHARE / (1 - LARGEST_SHARE)
        weights[0] = max(share, *weights[1:])
    cand_counts = _apportion(candidates, weights)
    post_counts = _apportion(posts, [float(c) for c in cand_counts])
    target_places = round(candidates * PLACES_PER_CANDIDATE) if places is None else places
    ratio = target_places / candidates

    out: dict[str, list[dict[str, Any]]] = {
        "posts": [],
        "candidates": [],
        "wishes": [],
        "rankings": [],
    }
    cand_width, post_width = len(str(candidates)), len(str(posts))
    next_cand, next_post = 1, 1
    for (specialty, region, subdivisions), n_cand, n_post in zip(
        names, cand_counts, post_counts, strict=True
    ):
        partition = f"{specialty}/{region}"
        cand_ids = [f"d{i:0{cand_width}d}" for i in range(next_cand, next_cand + n_cand)]
        post_ids = [f"p{i:0{post_width}d}" for i in range(next_post, next_post + n_post)]
        next_cand += n_cand
        next_post += n_post
        _partition(
            out,
            rng,
            partition=partition,
            subdivisions=subdivisions,
            cand_ids=cand_ids,
            post_ids=post_ids,
            places=round(n_cand * ratio),
            wishes=(low, high),
            ties=ties,
        )
    return dict(out)


def _partition_names(count: int, rng: random.Random) -> list[tuple[str, str, tuple[str, ...]]]:
    """(specialty, region, subdivisions) for each partition; the first is the largest one.

    There are 30 × 14 real (specialty, region) pairs; beyond that, partitions become
    options of a specialty ("Pédiatrie (option 2)"), as DES options are matched apart.
    """
    subdivisions = dict(REGIONS)
    pairs = [(s, r) for s in SPECIALTIES for r, _ in REGIONS if (s, r) != LARGEST_PARTITION]
    rng.shuffle(pairs)
    result = [(*LARGEST_PARTITION, subdivisions[LARGEST_PARTITION[1]])]
    for i in range(count - 1):
        specialty, region = pairs[i % len(pairs)]
        option = i // len(pairs) + 1
        name = specialty if option == 1 else f"{specialty} (option {option})"
        result.append((name, region, subdivisions[region]))
    return result


def _apportion(total: int, weights: Sequence[float]) -> list[int]:
    """Split ``total`` in proportion to ``weights``, at least 1 each (largest remainders)."""
    n = len(weights)
    spare = total - n
    weight_sum = sum(weights)
    shares = [spare * w / weight_sum for w in weights]
    counts = [1 + math.floor(s) for s in shares]
    left = total - sum(counts)
    order = sorted(range(n), key=lambda i: (counts[i] - 1 - shares[i], i))
    for i in order[:left]:
        counts[i] += 1
    return counts


def _capacities(n_posts: int, places: int, rng: random.Random) -> list[int]:
    """Capacities 1–4 summing to ``places`` clamped into [n_posts, 4 × n_posts]."""
    places = min(max(places, n_posts), 4 * n_posts)
    caps = [1] * n_posts
    open_posts = list(range(n_posts))
    for _ in range(places - n_posts):
        k = rng.randrange(len(open_posts))
        post = open_posts[k]
        caps[post] += 1
        if caps[post] == 4:
            open_posts[k] = open_posts[-1]
            open_posts.pop()
    return caps


def _partition(
    out: dict[str, list[dict[str, Any]]],
    rng: random.Random,
    *,
    partition: str,
    subdivisions: tuple[str, ...],
    cand_ids: list[str],
    post_ids: list[str],
    places: int,
    wishes: tuple[int, int],
    ties: bool,
) -> None:
    """Append one partition's posts, candidates, wishes and rankings to ``out``."""
    n_post = len(post_ids)
    caps = _capacities(n_post, places, rng)
    post_sub = [rng.choice(subdivisions) for _ in post_ids]
    cand_sub = [rng.choice(subdivisions) for _ in cand_ids]
    # Popularity is heavy-tailed: a few sought-after posts, a long tail of unpopular ones.
    log_pop = [rng.gauss(0.0, 1.0) for _ in post_ids]
    merit = [rng.gauss(0.0, 1.0) for _ in cand_ids]
    refusal_rate = [rng.uniform(0.05, 0.35) for _ in post_ids]
    for pid, cap, sub in zip(post_ids, caps, post_sub, strict=True):
        out["posts"].append(
            {"id": pid, "capacity": cap, "subdivision": sub, "partition": partition}
        )
    for cid, sub in zip(cand_ids, cand_sub, strict=True):
        out["candidates"].append({"id": cid, "subdivision": sub, "partition": partition})

    applicants: list[list[tuple[float, int]]] = [[] for _ in post_ids]
    local_log = math.log(LOCAL_WISH_WEIGHT)
    for c, cid in enumerate(cand_ids):
        count = min(n_post, rng.randint(*wishes))
        # Weighted sampling without replacement (exponential keys): popular and local posts
        # are applied to more often.
        keys = []
        for p in range(n_post):
            weight_log = log_pop[p] + (local_log if post_sub[p] == cand_sub[c] else 0.0)
            keys.append((-math.log(1.0 - rng.random()) / math.exp(weight_log), p))
        keys.sort()
        chosen = [p for _, p in keys[:count]]
        # The candidate's own taste: popularity, home subdivision, and personal noise.
        taste = sorted(
            (
                -(log_pop[p] + (0.5 if post_sub[p] == cand_sub[c] else 0.0) + rng.gauss(0, 0.7)),
                p,
            )
            for p in chosen
        )
        hearts = _hearts(len(taste), rng) if ties else list(range(len(taste), 0, -1))
        for (_, p), h in zip(taste, hearts, strict=True):
            out["wishes"].append({"candidate": cid, "post": post_ids[p], "hearts": h})
            score = merit[c] + (LOCAL_RANK_BONUS if post_sub[p] == cand_sub[c] else 0.0)
            applicants[p].append((score + rng.gauss(0.0, 0.5), c))

    for p, pid in enumerate(post_ids):
        ranked = sorted(applicants[p], key=lambda sc: (-sc[0], sc[1]))
        if not ranked:
            continue
        locals_ = [sc for sc in ranked if cand_sub[sc[1]] == post_sub[p]]
        if locals_ and locals_[0] is not ranked[0]:
            # Only a candidate from the post's subdivision may be ranked first.
            ranked.remove(locals_[0])
            ranked.insert(0, locals_[0])
        refused = min(
            math.floor(MAX_REFUSED_SHARE * len(ranked)),
            round(refusal_rate[p] * len(ranked)),
        )
        kept = ranked[: len(ranked) - refused]
        rank = 0
        for i, (_, c) in enumerate(kept):
            tie = ties and i > 0 and rng.random() < RANK_TIE_PROBABILITY
            if tie and rank == 1 and locals_ and cand_sub[c] != post_sub[p]:
                tie = False  # a tie at the top would put a non-local first
            if not tie:
                rank = i + 1
            out["rankings"].append({"post": pid, "candidate": cand_ids[c], "rank": rank})


def _hearts(count: int, rng: random.Random) -> list[int]:
    """Hearts 0–5 for a candidate's wishes sorted best first (ties, like on the platform).

    Candidates spread 5 hearts generously over their top choices (most are assigned on a
    5-heart post), then fewer hearts down the list; a few wishes get 0 ("never").
    """
    top = max(1, round(count * rng.uniform(0.1, 0.4)))
    hearts = []
    for i in range(count):
        if i < top:
            hearts.append(5)
        else:
            position = (i - top) / max(1, count - top)
            hearts.append(max(1, 4 - int(position * 4)))
    for i in range(1, count):
        if rng.random() < ZERO_HEART_SHARE:
            hearts[i] = 0
    return hearts
