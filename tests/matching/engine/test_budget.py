"""Search limits: a work limit stops the search at the same point on every run."""

from __future__ import annotations

import importlib
import subprocess
import sys

import pytest

from appariement.matching.engine import Instance, solve
from appariement.matching.engine.budget import Budget
from appariement.matching.engine.generator import generate

solve_module = importlib.import_module("appariement.matching.engine.solve")


def test_a_share_takes_a_fraction_of_what_remains_of_each_limit() -> None:
    budget = Budget(seconds=None, work=4.0)
    budget.charge(1.0)
    share = budget.share(0.75)
    assert share.seconds is None
    assert share.work == pytest.approx(2.25)  # 3/4 of the 3 units left
    assert not share.exhausted()
    share.charge(2.25)
    assert share.exhausted()
    budget.charge(share.spent_work)  # what the share spent counts against the whole
    assert budget.remaining_work() == pytest.approx(0.75)
    assert not Budget().exhausted()  # no limit: never exhausted
    assert Budget(seconds=0.0).exhausted()


def test_less_leaves_out_what_was_kept_back_until_only_twice_that_remains() -> None:
    budget = Budget(seconds=None, work=4.0)
    kept = budget.share(0.25)  # 1 unit kept back for the later levels
    level = budget.less(kept)
    assert (level.seconds, level.work) == (None, pytest.approx(3.0))
    budget.charge(2.5)  # 1.5 units left: no more than twice what is kept
    assert budget.less(kept) is budget  # the level may use all of it
    assert Budget().less(Budget().share(0.5)).remaining_work() is None  # no limit: none


@pytest.mark.parametrize("searched_from", [200, 50])  # 50: the neighbourhood search runs too
def test_a_work_limit_gives_the_same_matching_on_every_run_even_where_it_stops_the_search(
    monkeypatch: pytest.MonkeyPatch, searched_from: int
) -> None:
    monkeypatch.setattr(solve_module, "SEARCHED_FROM", searched_from)
    inst = Instance.from_dict(generate(candidates=150, posts=90, partitions=2, seed=3))
    first = solve(inst, seed=1, workers=1, work_limit=0.02)
    stopped = [p for p in first.report["partitions"] if not p["proven_optimal"]]
    assert stopped, "the limit must stop a search for this test to mean something"
    assert first.report["limits"] == {"time_s": None, "work": 0.02}
    # Again in worker processes, with a busy process slowing the machine down: the same.
    hog = subprocess.Popen([sys.executable, "-c", "while True: pass"])
    try:
        second = solve(inst, seed=1, workers=2, work_limit=0.02)
    finally:
        hog.kill()
        hog.wait()
    assert second.to_dict(timings=False) == first.to_dict(timings=False)
