"""The measured runs. Each runs in a fresh process so that memory figures are its own.

1. ``strict``: strict preferences, our deferred acceptance against the PyPI `matching`
   package's resident-optimal Hospital/Residents solver, on the same instance.
2. ``national-optimal`` / ``national-deferred_acceptance``: a national instance with ties
   (12,000 candidates, 14,000 places, 500 partitions, one of about 1,000 candidates), 10–30
   wishes per candidate as the issue sets it.
3. ``national-optimal-short-lists``: the same round with 5–15 wishes per candidate, where the
   national targets hold: the ties that 0–5 hearts make in long wish lists, more than the
   number of candidates, decide how hard a round is (benchmarks/README.md), and this run
   shows whether a change keeps the regime the engine already masters.
"""

from __future__ import annotations

import sys
import time
from typing import Any

from appariement.matching.engine import Instance, solve
from appariement.matching.engine.generator import generate

from .memory import PeakMemory

STRICT = {"candidates": 5_000, "posts": 1_000, "places": 2_500, "wishes": (10, 10)}
STRICT_QUICK = {"candidates": 1_000, "posts": 200, "places": 500, "wishes": (10, 10)}
NATIONAL = {"candidates": 12_000, "posts": 7_000, "partitions": 500, "places": 14_000}
NATIONAL_QUICK = {"candidates": 2_000, "posts": 1_170, "partitions": 84, "places": 2_333}
NATIONAL_WISHES = (10, 30)  # per candidate, the figure
SHORT_WISHES = (5, 15)


STRICT_ROUNDS = 5  # both solvers, interleaved: a noisy machine slows both in a round


def strict(
    *, quick: bool, seed: int, workers: int, time_limit_s: float | None, work_limit: float | None
) -> dict[str, Any]:
    size = STRICT_QUICK if quick else STRICT
    d = generate(
        candidates=size["candidates"],
        posts=size["posts"],
        partitions=1,
        places=size["places"],
        wishes_per_candidate=size["wishes"],
        seed=seed,
        ties=False,
    )
    prefs = _matching_package_input(d)
    sys.setrecursionlimit(max(sys.getrecursionlimit(), 50_000))
    rounds = []
    identical = True
    for _ in range(STRICT_ROUNDS):
        started = time.perf_counter()
        inst = Instance.from_dict(d)
        parsed = time.perf_counter()
        res = solve(inst, seed=seed, method="deferred_acceptance", workers=1)
        ours_done = time.perf_counter()
        theirs, theirs_built, theirs_done = _matching_package_run(*prefs)
        identical = identical and dict(res.assignments) == theirs
        rounds.append(
            {
                "ours_parse_s": parsed - started,
                "ours_solve_s": ours_done - parsed,
                "theirs_build_s": theirs_built,
                "theirs_solve_s": theirs_done,
            }
        )
        del inst, res
    return {
        "candidates": size["candidates"],
        "posts": size["posts"],
        "places": sum(p["capacity"] for p in d["posts"]),
        "rounds": rounds,
        "assigned": len(theirs),
        "identical": identical,
    }


Prefs = tuple[dict[str, list[str]], dict[str, list[str]], dict[str, int]]


def _matching_package_input(d: dict[str, Any]) -> Prefs:
    """The instance as the `matching` package takes it (acceptable pairs only, best first)."""
    hearts = {(w["candidate"], w["post"]): w["hearts"] for w in d["wishes"]}
    ranks = {(r["candidate"], r["post"]): r["rank"] for r in d["rankings"] if r["rank"] >= 1}
    resident_prefs: dict[str, list[str]] = {}
    hospital_prefs: dict[str, list[str]] = {}
    for (c, p), h in hearts.items():
        if h >= 1 and (c, p) in ranks:
            resident_prefs.setdefault(c, []).append(p)
            hospital_prefs.setdefault(p, []).append(c)
    for c, posts in resident_prefs.items():
        posts.sort(key=lambda p, c=c: -hearts[(c, p)])
    for p, cands in hospital_prefs.items():
        cands.sort(key=lambda c, p=p: ranks[(c, p)])
    capacities = {p["id"]: p["capacity"] for p in d["posts"] if p["id"] in hospital_prefs}
    return resident_prefs, hospital_prefs, capacities


def _matching_package_run(
    resident_prefs: dict[str, list[str]],
    hospital_prefs: dict[str, list[str]],
    capacities: dict[str, int],
) -> tuple[dict[str, str], float, float]:
    """The resident-optimal matching, the build time and the solve time."""
    from matching.games import HospitalResident

    start = time.perf_counter()
    game = HospitalResident.create_from_dictionaries(resident_prefs, hospital_prefs, capacities)
    built = time.perf_counter()
    solution = game.solve(optimal="resident")
    done = time.perf_counter()
    return {r.name: h.name for h, rs in solution.items() for r in rs}, built - start, done - built


UNPROVEN_FIELDS = ("partition", "candidates", "places", "gap", "open_level", "bound", "time_s")


def national(
    *,
    method: str,
    quick: bool,
    seed: int,
    workers: int,
    time_limit_s: float | None,
    work_limit: float | None,
    wishes: tuple[int, int] = NATIONAL_WISHES,
) -> dict[str, Any]:
    size = NATIONAL_QUICK if quick else NATIONAL
    memory = PeakMemory()  # its sampler starts while this process is small (memory.py)
    started = time.perf_counter()
    d = generate(
        candidates=size["candidates"],
        posts=size["posts"],
        partitions=size["partitions"],
        places=size["places"],
        wishes_per_candidate=wishes,
        seed=seed,
    )
    generated = time.perf_counter()
    with memory:
        inst = Instance.from_dict(d)
        parsed = time.perf_counter()
        res = solve(
            inst,
            seed=seed,
            method=method,
            workers=workers,
            time_limit_s=time_limit_s,
            work_limit=work_limit,
        )
        solved = time.perf_counter()
    parts = res.report["partitions"]
    return {
        "method": method,
        "workers": workers,
        "time_limit_s": time_limit_s,
        "work_limit": work_limit,
        "candidates": len(d["candidates"]),
        "places": sum(p["capacity"] for p in d["posts"]),
        "partitions": len(parts),
        "largest_partition": max(p["candidates"] for p in parts),
        "wishes": len(d["wishes"]),
        "wishes_per_candidate": list(wishes),
        "generate_s": generated - started,
        "parse_s": parsed - generated,
        "solve_s": solved - parsed,
        "peak_mib": memory.peak_mib,
        "rusage_mib": memory.rusage_mib,
        "proven": sum(1 for p in parts if p["proven_optimal"]),
        "unproven": [
            {k: p[k] for k in UNPROVEN_FIELDS} for p in parts if p["proven_optimal"] is False
        ],
        "slowest_partition_s": max(p["time_s"] for p in parts),
        "objective": res.report["objective"],
    }


SCENARIOS = {
    "strict": lambda **kw: strict(**kw),
    "national-optimal": lambda **kw: national(method="optimal", **kw),
    "national-deferred_acceptance": lambda **kw: national(method="deferred_acceptance", **kw),
    "national-optimal-short-lists": lambda **kw: national(
        method="optimal", wishes=SHORT_WISHES, **kw
    ),
}
