"""Partitions solved in worker processes, all stopped at once by Ctrl-C or a failure.

`concurrent.futures.ProcessPoolExecutor` and `multiprocessing.Pool` feed their workers from
a thread; ending a run early means joining that thread, which may be blocked writing the
next partitions into a pipe that no worker reads any more (`Pool.terminate` hung about one
time in ten after a Ctrl-C here, the executor likewise). Here the main thread hands each
worker one partition at a time over the worker's own pipe, and on any exception terminates
and joins the workers: there is nothing else to wait for.

Workers start with Ctrl-C blocked, then ignore it: a terminal sends it to every process of
the run, and the parent alone decides what it means.
"""

from __future__ import annotations

import multiprocessing
import signal
import traceback
from collections.abc import Callable, Iterator, Sequence
from multiprocessing.connection import Connection, wait
from typing import TypeVar

Task = TypeVar("Task")
Outcome = TypeVar("Outcome")
_END = object()


def run_in_processes(
    run: Callable[[Task], Outcome], tasks: Sequence[Task], workers: int
) -> Iterator[Outcome]:
    """`run(task)` for every task in up to `workers` processes, tasks handed out in order,
    outcomes yielded as they come. A task that raises stops the run with a RuntimeError
    carrying its traceback."""
    blocked = signal.pthread_sigmask(signal.SIG_BLOCK, {signal.SIGINT})
    processes: list[multiprocessing.Process] = []
    idle: list[Connection] = []
    busy: list[Connection] = []
    try:
        for _ in range(min(workers, len(tasks))):
            parent, child = multiprocessing.Pipe()
            process = multiprocessing.Process(target=_serve, args=(child, run), daemon=True)
            process.start()
            child.close()
            processes.append(process)
            idle.append(parent)
        signal.pthread_sigmask(signal.SIG_SETMASK, blocked)  # a Ctrl-C since is raised here
        pending = iter(tasks)
        while True:
            while idle:
                task = next(pending, _END)
                if task is _END:
                    break
                connection = idle.pop()
                connection.send(task)
                busy.append(connection)
            if not busy:
                return
            for ready in wait(busy):
                connection = busy.pop(busy.index(ready))  # type: ignore[arg-type]
                try:
                    done, value = connection.recv()
                except EOFError:
                    raise RuntimeError("a worker process died (out of memory?)") from None
                idle.append(connection)
                if not done:
                    raise RuntimeError(f"a task failed in a worker process:\n{value}")
                yield value
    finally:
        signal.pthread_sigmask(signal.SIG_SETMASK, blocked)
        for process in processes:  # busy ones are stopped, idle ones wait for no more tasks
            process.terminate()
        for process in processes:
            process.join()
        for connection in idle + busy:
            connection.close()


def _serve(connection: Connection, run: Callable[[Task], Outcome]) -> None:
    signal.signal(signal.SIGINT, signal.SIG_IGN)
    # terminate() must end a worker, whatever handler the parent had set
    signal.signal(signal.SIGTERM, signal.SIG_DFL)
    signal.pthread_sigmask(signal.SIG_UNBLOCK, {signal.SIGINT})
    while True:
        try:
            task = connection.recv()
        except EOFError:  # the parent is gone
            return
        try:
            reply: tuple[bool, object] = (True, run(task))
        except Exception:
            reply = (False, traceback.format_exc())
        connection.send(reply)
