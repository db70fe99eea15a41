"""The engine against an independent answer-set program on realistic partitions.

The brute-force suite proves exactness up to eight candidates; the partitions of a real
round have tens. Here the generator's partitions of 2–75 candidates (the national shape,
with fewer wishes so that clingo proves every optimum in well under a second) are solved by
the engine and by asp.py, which states weak stability and the objective from DESIGN.md §4
without the engine's pruning, model or objective code. Both optima must be equal on all
four levels, partition by partition; sizes from 50 on also take the engine's path where
"placed" is searched alone.
"""

from __future__ import annotations

from appariement.matching.engine import Instance, check, solve
from appariement.matching.engine.generator import generate

from .asp import asp_optimum

INSTANCES = 20
PARTITIONS = 10  # per instance: 200 partitions in all
TIMEOUT_S = 60.0  # clingo needs 0.2 s at most on these; a limit only so a hang fails


def test_optimal_solver_equals_an_independent_asp_optimum_on_generated_partitions() -> None:
    compared = 0
    sizes: list[int] = []
    for seed in range(INSTANCES):
        d = generate(
            candidates=150, posts=90, partitions=PARTITIONS, wishes_per_candidate=(3, 15), seed=seed
        )
        instance = Instance.from_dict(d)
        result = solve(instance, seed=seed, workers=1)
        assert check(instance, result) == []
        for part in result.report["partitions"]:
            members = {c["id"] for c in d["candidates"] if c["partition"] == part["partition"]}
            expected = asp_optimum(d, members, timeout_s=TIMEOUT_S)
            assert expected is not None, f"clingo did not prove {part['partition']} (seed {seed})"
            o = part["objective"]
            got = (o["assigned"], o["perfect_couples"], o["total_hearts"], o["sum_of_ranks"])
            assert part["proven_optimal"], f"{part['partition']} (seed {seed}) not proven"
            assert got == expected, (
                f"{part['partition']} (seed {seed}): engine {got}, ASP {expected}"
            )
            compared += 1
            sizes.append(len(members))
    assert compared == PARTITIONS * INSTANCES
    assert max(sizes) >= 50  # the path where "placed" has a search of its own is covered
