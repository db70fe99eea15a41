"""Why a candidate is unassigned: a function of the instance alone (result.UnassignedReason).

In one place because the solver writes these reasons and the checker verifies them: a
candidate given a wrong reason is told something false about their round. Column by column
on the instance's integer form, at C speed: it runs twice on every national result.
"""

from __future__ import annotations

from collections.abc import Container
from itertools import compress
from operator import mul

from appariement.matching.engine.model import Instance
from appariement.matching.engine.result import UnassignedReason


def unassigned_reasons(instance: Instance, assigned: Container[str]) -> dict[str, str]:
    """The reason of each candidate of `instance` not in `assigned`, in id order."""
    view = instance.view
    acceptable = map(mul, view.wish_hearts, view.wish_rank)  # > 0: hearts ≥ 1 and rank ≥ 1
    if 0 in view.capacity:  # rare: a post closed after the wishes
        flags = list(acceptable)
        has_place = map(view.capacity.__getitem__, view.wish_post)
        with_acceptable = set(compress(view.wish_candidate, flags))
        with_place = set(compress(view.wish_candidate, map(mul, flags, has_place)))
    else:
        with_acceptable = with_place = set(compress(view.wish_candidate, acceptable))
    reasons: dict[str, str] = {}
    for code, c in enumerate(view.candidates):
        if c not in assigned:
            reason: UnassignedReason = (
                "outranked"
                if code in with_place
                else "no_place"
                if code in with_acceptable
                else "no_acceptable_wish"
            )
            reasons[c] = reason
    return reasons
