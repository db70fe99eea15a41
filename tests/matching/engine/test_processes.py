"""`run_in_processes`: every task once, and a failure stops the run with no worker left."""

from __future__ import annotations

import multiprocessing
import os
import subprocess
import sys
import threading
import time

import pytest

from appariement.matching.engine import Cancelled, Instance, solve
from appariement.matching.engine.generator import generate
from appariement.matching.engine.processes import WorkerDied, run_in_processes


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
    with pytest.raises(WorkerDied, match="a worker process died"):
        list(run_in_processes(_three_dies, list(range(8)), 2))
    assert multiprocessing.active_children() == []


def test_a_run_from_another_thread_than_the_main_one_works() -> None:
    # A service solves from a worker thread, where Python lets no one set signal handlers:
    # the run must neither fail on them nor leave a worker behind.
    got: list[int] = []
    thread = threading.Thread(target=lambda: got.extend(run_in_processes(_square, [1, 2, 3], 2)))
    thread.start()
    thread.join(timeout=30)
    assert sorted(got) == [1, 4, 9]
    assert multiprocessing.active_children() == []


def test_a_run_asked_to_stop_ends_at_once_with_no_worker_left() -> None:
    asked = threading.Event()
    threading.Timer(0.5, asked.set).start()
    started = time.monotonic()
    with pytest.raises(Cancelled):
        list(run_in_processes(time.sleep, [60, 60, 60], 2, stop=asked.is_set))
    assert time.monotonic() - started < 10  # not after a 60 s task
    assert multiprocessing.active_children() == []


def test_a_solve_cancelled_from_another_thread_stops_its_workers() -> None:
    # A service solves from a worker thread, which no signal reaches: when it shuts down or
    # an operator calls the run off, `cancel` stops the run, here one with no limit that
    # would search for minutes.
    inst = Instance.from_dict(
        generate(candidates=3000, posts=1800, partitions=60, seed=1, wishes_per_candidate=(10, 30))
    )
    cancel = threading.Event()
    raised: list[BaseException] = []

    def run() -> None:
        try:
            solve(inst, workers=2, cancel=cancel)
        except BaseException as exc:  # handed to the test's thread
            raised.append(exc)

    thread = threading.Thread(target=run, daemon=True)  # a failing test must not hang pytest
    thread.start()
    deadline = time.monotonic() + 60
    while not multiprocessing.active_children():  # the searches have started
        assert thread.is_alive(), f"the solve ended before it could be cancelled: {raised}"
        assert time.monotonic() < deadline
        time.sleep(0.05)
    cancel.set()
    thread.join(timeout=15)
    assert not thread.is_alive()
    assert [type(exc) for exc in raised] == [Cancelled]
    assert multiprocessing.active_children() == []


def test_a_cancelled_event_stops_deferred_acceptance_too() -> None:
    inst = Instance.from_dict(generate(candidates=40, posts=30, partitions=3, seed=2))
    cancel = threading.Event()
    cancel.set()
    with pytest.raises(Cancelled):
        solve(inst, method="deferred_acceptance", cancel=cancel)
    assert solve(inst, method="deferred_acceptance").assignments  # the same, not cancelled


HELD = threading.Lock()  # as a lock of logging, a C library or the solver, held by a thread


def _needs_the_lock(x: int) -> int:
    with HELD:
        return x


def test_workers_never_inherit_a_lock_another_thread_holds() -> None:
    # A service solves while other threads run: a plain fork copied the lock held, for ever
    # held in the worker, which hung on it (here stopped after 20 s, Cancelled).
    holding, release = threading.Event(), threading.Event()

    def hold() -> None:
        with HELD:
            holding.set()
            release.wait(60)

    holder = threading.Thread(target=hold, daemon=True)
    holder.start()
    try:
        assert holding.wait(10)
        deadline = time.monotonic() + 20
        got = run_in_processes(
            _needs_the_lock, [1, 2, 3], 2, stop=lambda: time.monotonic() > deadline
        )
        assert sorted(got) == [1, 2, 3]
    finally:
        release.set()
        holder.join(10)
    assert multiprocessing.active_children() == []


STOPPED_AROUND_A_FORK = """
import os, signal, sys, time
from appariement.matching.engine.processes import run_in_processes

def stop(signum, frame):
    raise KeyboardInterrupt

sent = []

def sigterm_once():  # as a `kill` arriving while a worker starts
    if not sent:
        sent.append(True)
        os.kill(os.getpid(), signal.SIGTERM)

def worker_starting_slowly():
    os.kill(os.getppid(), signal.SIGTERM)
    time.sleep(1)  # the parent stops the run meanwhile

signal.signal(signal.SIGTERM, stop)
if sys.argv[1] == "parent":
    os.register_at_fork(after_in_parent=sigterm_once)
else:
    os.register_at_fork(after_in_child=worker_starting_slowly)
started = time.monotonic()
try:
    list(run_in_processes(time.sleep, [60, 60], 2))
except KeyboardInterrupt:
    print(f"stopped after {time.monotonic() - started:.1f} s")
    sys.exit(130)
"""


@pytest.mark.parametrize("where", ["parent", "child"])
def test_a_run_stopped_while_a_worker_starts_ends_at_once(where: str) -> None:
    # "parent": the SIGTERM's handler ran inside a hook Python calls after a fork, where an
    # exception is printed and ignored: the run went on. "child": the worker still had the
    # parent's handler, ignored terminate() the same way and waited for tasks while the
    # parent waited for it to end. Each about 1 interrupt in 20 of the CLI's tests.
    done = subprocess.run(
        [sys.executable, "-c", STOPPED_AROUND_A_FORK, where],
        capture_output=True,
        text=True,
        timeout=50,
    )
    assert done.returncode == 130, done.stderr
    assert "stopped after" in done.stdout
    assert float(done.stdout.split()[2]) < 10  # not after the 60 s tasks


FORK_SERVER_STARTING = """
import multiprocessing.forkserver, signal, threading, time
from appariement.matching.engine.processes import _context

threading.Thread(target=time.sleep, args=(30,), daemon=True).start()  # as a service's threads
_context()  # starts the fork server, which then imports what it preloads
pid = multiprocessing.forkserver._forkserver._forkserver_pid
deadline = time.monotonic() + 20
while time.monotonic() < deadline:
    with open(f"/proc/{pid}/status") as status:
        ignored = next(line for line in status if line.startswith("SigIgn:"))
    if int(ignored.split()[1], 16) & 1 << (signal.SIGINT - 1):
        with open(f"/proc/{pid}/maps") as maps:
            libraries = maps.read()
        print("ignored; engine loading:", "numpy" in libraries or "ortools" in libraries)
        break
"""


@pytest.mark.skipif(not os.path.exists("/proc/self/maps"), reason="reads Linux's /proc")
def test_the_fork_server_ignores_ctrl_c_before_it_imports_the_engine() -> None:
    # A terminal's Ctrl-C reaches the fork server too: while it imported the engine (before
    # multiprocessing makes it ignore Ctrl-C) it printed its KeyboardInterrupt over the
    # caller's clean stop, 6 times in 40. Ignored from its first preload on, before numpy.
    done = subprocess.run(
        [sys.executable, "-c", FORK_SERVER_STARTING], capture_output=True, text=True, timeout=60
    )
    assert done.returncode == 0, done.stderr
    assert done.stdout.strip() == "ignored; engine loading: False"
