"""The matching engine: pure, no I/O (but the CLI), the same for the service, ops and auditors.

    inst = Instance.from_dict(data)            # validated; InvalidInstance: .field, .reason
    res = solve(inst, seed=0, method="optimal", work_limit=10)
    assert check(inst, res) == []              # solve() already verified it
    res.to_dict()                              # RESULT.json

A service solving from a worker thread passes `cancel=threading.Event()` and sets it to stop
the run (solve raises Cancelled); its worker processes then start from a fork server.

Rules: DESIGN.md §4 (weak stability; most assigned, then perfect couples, hearts, ranks).
"""

from appariement.matching.engine.checker import Violation, check
from appariement.matching.engine.model import Instance, InvalidInstance
from appariement.matching.engine.objective import Objective, evaluate
from appariement.matching.engine.processes import Cancelled
from appariement.matching.engine.result import Result
from appariement.matching.engine.solve import ENGINE_VERSION, solve

__version__ = ENGINE_VERSION

__all__ = [
    "ENGINE_VERSION",
    "Cancelled",
    "Instance",
    "InvalidInstance",
    "Objective",
    "Result",
    "Violation",
    "check",
    "evaluate",
    "solve",
]
