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
    def from_dict(cls, data: Any) -> Result:
        """A Result from RESULT.json; ValueError naming the first entry that is not what
        `to_dict` writes, or that lists a candidate a second time (a dict would keep only
        one of two posts, and an audit would pass a candidate assigned twice). Both lists
        are required, as `to_dict` always writes them: any other document (an instance
        given by mistake) is refused, not read as an empty result."""
        if not isinstance(data, Mapping):
            raise ValueError(f"doit être un objet, reçu {_json_kind(data)}")
        report = data.get("report", {})
        if not isinstance(report, Mapping):
            raise ValueError("report: doit être un objet")
        return cls(
            _by_candidate(data, "assignments", "post"),
            _by_candidate(data, "unassigned", "reason"),
            dict(report),
        )


def _by_candidate(data: Mapping[str, Any], key: str, field: str) -> dict[str, str]:
    if key not in data:
        raise ValueError(f"{key}: champ manquant")
    entries = data[key]
    if not isinstance(entries, list):
        raise ValueError(f"{key}: doit être une liste")
    found: dict[str, str] = {}
    first: dict[str, int] = {}
    for i, entry in enumerate(entries):
        if not isinstance(entry, Mapping):
            raise ValueError(f"{key}[{i}]: doit être un objet, reçu {entry!r}")
        candidate, value = entry.get("candidate"), entry.get(field)
        if not isinstance(candidate, str) or not isinstance(value, str):
            raise ValueError(
                f"{key}[{i}]: candidate et {field} doivent être des chaînes, reçu {entry!r}"
            )
        if candidate in found:
            raise ValueError(
                f"{key}[{i}]: le candidat {candidate!r} figure déjà dans {key}[{first[candidate]}]"
            )
        found[candidate] = value
        first[candidate] = i
    return found


def _json_kind(value: Any) -> str:
    """What a JSON document holds instead of an object, in French ("une liste")."""
    if isinstance(value, list):
        return "une liste"
    if isinstance(value, str):
        return "une chaîne"
    if isinstance(value, bool):
        return "un booléen"
    if isinstance(value, int | float):
        return "un nombre"
    if value is None:
        return "null"
    return type(value).__name__
