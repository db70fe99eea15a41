"""Independent reference on realistic partitions: weak stability stated in answer-set
programming (clingo), optimised lexicographically by clingo's own solver.

Written from DESIGN.md §4 alone and sharing no code with the engine (no pruning, no CP-SAT,
no objective code), like brute_force.py. Where that enumeration stops at eight candidates,
clingo proves the optimum of generated partitions of up to 75 candidates with 3–15 wishes
each in at most 0.2 s (with the national 10–30 wishes, partitions of 40–70 candidates take
it over 30 s: the engine's CP-SAT model is much faster there).
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

import clingo

# x(D,P): D holds P. A pair blocks when D holds nothing it gives at least H hearts and P is
# not full with candidates it ranks R or better; levels 4 to 1 are the objective's order.
PROGRAM = """
#defined pair/5.
#defined capacity/2.
candidate(D) :- pair(D,_,_,_,_).
{ x(D,P) : pair(D,P,_,_,_) } <= 1 :- candidate(D).
:- capacity(P,C), #count{ D : x(D,P) } > C.
holds_at_least(D,H) :- pair(D,_,H,_,_), x(D,Q), pair(D,Q,H2,_,_), H2 >= H.
full(P,R) :- pair(_,P,_,R,_), capacity(P,C),
             #count{ D : x(D,P), pair(D,P,_,R2,_), R2 <= R } >= C.
:- pair(D,P,H,R,_), not holds_at_least(D,H), not full(P,R).
#maximize { 1@4,D : x(D,_) }.
#maximize { 1@3,D : x(D,P), pair(D,P,_,_,1) }.
#maximize { H@2,D : x(D,P), pair(D,P,H,_,_) }.
#minimize { R@1,D : x(D,P), pair(D,P,_,R,_) }.
"""


def asp_optimum(
    d: Mapping[str, Any], candidates: set[str], *, timeout_s: float
) -> tuple[int, int, int, int] | None:
    """(assigned, perfect couples, hearts, sum of ranks) of the best weakly stable matching
    among `candidates` (one partition of `d`), or None if clingo has not proven it in time."""
    capacity = {p["id"]: p["capacity"] for p in d["posts"]}
    hearts = {
        (w["candidate"], w["post"]): w["hearts"]
        for w in d["wishes"]
        if w["candidate"] in candidates
    }
    rank = {
        (r["candidate"], r["post"]): r["rank"]
        for r in d["rankings"]
        if r["candidate"] in candidates
    }
    most_hearts: dict[str, int] = {}
    for (c, _), h in hearts.items():
        most_hearts[c] = max(most_hearts.get(c, 0), h)
    best_rank: dict[str, int] = {}
    for (_, p), r in rank.items():
        if r >= 1:
            best_rank[p] = min(best_rank.get(p, r), r)
    # Atoms are numbered: ids are free text.
    number = {name: i for i, name in enumerate(sorted(set(capacity) | candidates))}
    facts = []
    posts = set()
    for (c, p), h in sorted(hearts.items()):
        r = rank.get((c, p), 0)
        if h >= 1 and r >= 1 and capacity[p] >= 1:
            perfect = int(h == most_hearts[c] and r == best_rank[p])
            facts.append(f"pair({number[c]},{number[p]},{h},{r},{perfect}).")
            posts.add(p)
    facts += [f"capacity({number[p]},{capacity[p]})." for p in sorted(posts)]
    if not posts:  # no acceptable pair: nothing to optimise (clingo would not call it proven)
        return (0, 0, 0, 0)
    control = clingo.Control(["--opt-mode=opt", "--parallel-mode=1"])
    control.add("base", [], PROGRAM + "\n".join(facts))
    control.ground([("base", [])])
    costs: dict[int, int] = {}

    def on_model(model: clingo.Model) -> None:
        costs.clear()
        costs.update(zip(model.priority, model.cost, strict=True))

    with control.solve(on_model=on_model, async_=True) as handle:
        finished = handle.wait(timeout_s)
        if not finished:
            handle.cancel()
            return None
        if not handle.get().exhausted:
            return None
    return (-costs.get(4, 0), -costs.get(3, 0), -costs.get(2, 0), costs.get(1, 0))
