"""`Result`: assignments, unassigned candidates with a reason, and the run report."""

from __future__ import annotations

import copy
from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any, Literal

UnassignedReason = Literal["no_acceptable_wish", "no_place", "outranked"]
"""no_acceptable_wish: no wish with ≥ 1 heart that the post ranked; no_place: acceptable wishes
only for posts with no place (capacity 0); outranked: every acceptable post with places is
filled by candidates it ranks higher or equal (weak stability forbids more)."""


@dataclass
class Result:
    assignments: dict[str, str]
    unassigned: dict[str, str]
    report: dict[str, Any] = field(default_factory=dict)

    def to_dict(self, *, timings: bool = True) -> dict[str, Any]:
        """What the CLI writes to RESULT.json. `timings=False` drops the `time_s` fields,
        the only ones that differ between two runs on the same input and seed."""
        report = copy.deepcopy(self.report)
        if not timings:
            report.pop("time_s", None)
            for part in report.get("partitions", []):
                part.pop("time_s", None)
        return {
            "assignments": [
                {"candidate": c, "post": p} for c, p in sorted(self.assignments.items())
            ],
            "unassigned": [
                {"candidate": c, "reason": r} for c, r in sorted(self.unassigned.items())
            ],
            "report": report,
        }

    @classmethod
    def from_dict(cls, data: Mapping[str, Any]) -> Result:
        return cls(
            {a["candidate"]: a["post"] for a in data.get("assignments", [])},
            {u["candidate"]: u["reason"] for u in data.get("unassigned", [])},
            dict(data.get("report", {})),
        )
