"""`run_in_processes`: every task once, and a failure stops the run with no worker left."""

from __future__ import annotations

import multiprocessing
import os

import pytest

from appariement.matching.engine.processes import run_in_processes


def _square(x: int | None) -> int:
    return -1 if x is None else x * x


def _three_dies(x: int) -> int:
    if x == 3:
        os._exit(1)  # as the kernel's out-of-memory killer would end it
    return x


def _three_fails(x: int) -> int:
    if x == 3:
        raise ValueError("three is not allowed")
    return x


def test_every_task_runs_once_whatever_the_number_of_workers() -> None:
    tasks = [*range(12), None]  # None is a task like any other
    for workers in (1, 2, 5, 20):
        assert sorted(run_in_processes(_square, tasks, workers)) == sorted(
            [x * x for x in range(12)] + [-1]
        )
    assert list(run_in_processes(_square, [], 2)) == []
    assert multiprocessing.active_children() == []


def test_a_failing_task_stops_the_run_with_its_traceback_and_no_worker_left() -> None:
    with pytest.raises(RuntimeError, match="ValueError: three is not allowed"):
        list(run_in_processes(_three_fails, list(range(8)), 2))
    assert multiprocessing.active_children() == []  # terminated and joined, not left running


def test_a_worker_that_dies_stops_the_run_with_no_worker_left() -> None:
    with pytest.raises(RuntimeError, match="a worker process died"):
        list(run_in_processes(_three_dies, list(range(8)), 2))
    assert multiprocessing.active_children() == []
