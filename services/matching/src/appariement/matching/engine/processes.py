"""Partitions solved in worker processes, all stopped at once by Ctrl-C or a failure.

`concurrent.futures.ProcessPoolExecutor` and `multiprocessing.Pool` feed their workers from
a thread; ending a run early means joining that thread, which may be blocked writing the
next partitions into a pipe that no worker reads any more (`Pool.terminate` hung about one
time in ten after a Ctrl-C here, the executor likewise). Here the main thread hands each
worker one partition at a time over the worker's own pipe, and on any exception terminates
and joins the workers: there is nothing else to wait for.

Forked workers start with Ctrl-C and SIGTERM blocked, then ignore Ctrl-C (a terminal sends it to
every process of the run, and the parent alone decides what it means) and take SIGTERM's
default action, so that terminate() ends them. Until then a worker runs the parent's
handlers: a worker stopped while it was still starting raised KeyboardInterrupt inside one
of the hooks Python calls after a fork, where an exception is printed and ignored, then
waited for tasks for ever while the parent waited for it to end.

The parent could lose a signal in the same way, about 1 time in 20 when it came while
workers were starting: its handler then ran inside a hook around the fork and the run went
on. While the run lasts, every Python handler of those two signals also notes the signal,
and the parent, which waits for its workers POLL_S at a time, raises KeyboardInterrupt
itself when a noted signal left it still running. On the way out it closes the pipes before
it joins the workers, and kills one that terminate() did not end within STOP_S: a run never
waits on a worker that will not stop. A worker closes its copy of the parent's end of its
pipe, so that it ends when the parent dies, even killed (it waited on that pipe for ever).

Workers are forked from the caller when it runs alone (the CLI), and from a fork server
when other threads are running (a service): a fork copies the locks other threads hold at
that moment, held for ever in the child, where using one hangs the worker (a lock held by a
thread the fork did not copy). The fork server is a clean, single-threaded process that
has imported the engine once, so each worker still starts in milliseconds. Such a caller
stops a run with `stop` (a service's worker thread, which no signal reaches). A terminal's
Ctrl-C reaches the server and its workers too. The server imports
`appariement.matching.fork_server` first, which ignores it, and the workers inherit that;
multiprocessing itself ignores it in the server only once every preload is imported, and
one that came while the server imported the engine (0.4 s) printed its KeyboardInterrupt
over the caller's clean stop. Ctrl-Cs at random moments of a threaded run, each of which
stopped it with nothing left running: over its first 2.5 s, 0 of 40 printed a traceback,
against 6 of 40 before; over its first 1.2 s, 2 of 60 against 10 of 60, the two while the
server's own Python started (30 ms). Blocking Ctrl-C in the caller while the server starts
does not keep it out: the server begins with no signal blocked (multiprocessing starts it
through `_posixsubprocess`, which clears the mask). Each of its workers imports
the caller's main module (a script; `python -m`'s `__main__` is left alone), which must
therefore not start a run when imported (multiprocessing's rule for "forkserver" and
"spawn").
"""

from __future__ import annotations

import multiprocessing
import multiprocessing.context
import multiprocessing.forkserver
import signal
import threading
import traceback
from collections.abc import Callable, Iterator, Sequence
from contextlib import contextmanager
from multiprocessing.connection import Connection, wait
from typing import Any, TypeVar

POLL_S = 0.2  # longest delay before the parent acts on a signal whose exception was lost
STOP_S = 5.0  # for a terminated worker to end before it is killed
STOPPING = (signal.SIGINT, signal.SIGTERM)
Task = TypeVar("Task")
Outcome = TypeVar("Outcome")
_END = object()


class Cancelled(Exception):
    """The caller asked the run to stop (its `stop` said so): the workers are stopped and
    nothing is returned. Raised in the caller's thread, at most POLL_S after the request."""


class WorkerDied(RuntimeError):
    """A worker process ended in the middle of a task: killed from outside, most often by
    the kernel when memory runs out. Not a fault of the input nor of the engine's logic."""


def run_in_processes(
    run: Callable[[Task], Outcome],
    tasks: Sequence[Task],
    workers: int,
    *,
    stop: Callable[[], bool] | None = None,
) -> Iterator[Outcome]:
    """`run(task)` for every task in up to `workers` processes, tasks handed out in order,
    outcomes yielded as they come. A task that raises stops the run with a RuntimeError
    carrying its traceback. `stop`, asked every POLL_S, ends the run with Cancelled when it
    says so: the way to stop a run from another thread, where no signal reaches it (a
    service solves from a worker thread and must stop when it shuts down)."""
    with _noting_signals() as noted:
        yield from _run(run, tasks, workers, noted, stop)


def _run(
    run: Callable[[Task], Outcome],
    tasks: Sequence[Task],
    workers: int,
    noted: list[int],
    stop: Callable[[], bool] | None,
) -> Iterator[Outcome]:
    context = _context()
    blocked = signal.pthread_sigmask(signal.SIG_BLOCK, STOPPING)  # inherited (module doc)
    processes: list[multiprocessing.process.BaseProcess] = []
    idle: list[Connection] = []
    busy: list[Connection] = []
    try:
        for _ in range(min(workers, len(tasks))):
            parent, child = context.Pipe()
            idle.append(parent)
            process = context.Process(target=_serve, args=(child, parent, run), daemon=True)
            processes.append(process)  # before start: an interrupt there must stop it too
            process.start()
            child.close()
        signal.pthread_sigmask(signal.SIG_SETMASK, blocked)  # a Ctrl-C since is raised here
        pending = iter(tasks)
        while True:
            while idle:
                task = next(pending, _END)
                if task is _END:
                    break
                connection = idle.pop()
                try:
                    connection.send(task)
                except OSError:  # a broken pipe: the worker died between two tasks
                    raise WorkerDied("a worker process died (out of memory?)") from None
                busy.append(connection)
            if not busy:
                return
            if noted:  # a handler ran and its KeyboardInterrupt was lost (module doc)
                raise KeyboardInterrupt
            if stop is not None and stop():
                raise Cancelled
            for ready in wait(busy, timeout=POLL_S):  # a signal is handled between waits
                connection = busy.pop(busy.index(ready))  # type: ignore[arg-type]
                try:
                    done, value = connection.recv()
                except (EOFError, OSError):
                    raise WorkerDied("a worker process died (out of memory?)") from None
                idle.append(connection)
                if not done:
                    raise RuntimeError(f"a task failed in a worker process:\n{value}")
                yield value
    finally:
        signal.pthread_sigmask(signal.SIG_SETMASK, blocked)
        for connection in idle + busy:  # an idle worker reads the end of its pipe and ends
            connection.close()
        started = [worker for worker in processes if worker.pid is not None]
        for worker in started:  # a busy one is stopped
            worker.terminate()
        for worker in started:
            worker.join(STOP_S)
            if worker.exitcode is None:
                worker.kill()
                worker.join()


def _context() -> multiprocessing.context.ForkContext | multiprocessing.context.ForkServerContext:
    """Fork when this process runs one thread, else a fork server (module doc), started
    here if it is not running yet; it begins with no signal blocked, whatever this thread
    blocks (module doc)."""
    if threading.active_count() == 1:
        return multiprocessing.get_context("fork")
    engine = __name__.rpartition(".")[0]
    quiet = engine.rpartition(".")[0] + ".fork_server"  # first: ignores Ctrl-C (module doc)
    multiprocessing.forkserver.set_forkserver_preload([quiet, engine + ".solve"])
    multiprocessing.forkserver.ensure_running()
    return multiprocessing.get_context("forkserver")


@contextmanager
def _noting_signals() -> Iterator[list[int]]:
    """The signals of STOPPING received meanwhile, noted by wrapping their Python handlers
    (the main thread alone may set handlers; elsewhere nothing is noted)."""
    noted: list[int] = []
    if threading.current_thread() is not threading.main_thread():
        yield noted
        return
    previous = {signum: signal.getsignal(signum) for signum in STOPPING}
    for signum, handler in previous.items():
        if callable(handler):
            signal.signal(signum, _noting(handler, noted))
    try:
        yield noted
    finally:
        for signum, handler in previous.items():
            if callable(handler):
                signal.signal(signum, handler)


def _noting(handler: Callable[[int, Any], Any], noted: list[int]) -> Callable[[int, Any], Any]:
    def note_then_handle(signum: int, frame: Any) -> Any:
        noted.append(signum)
        return handler(signum, frame)

    return note_then_handle


def _serve(connection: Connection, parent: Connection, run: Callable[[Task], Outcome]) -> None:
    parent.close()  # else the pipe never reads as closed here when the parent is gone
    signal.signal(signal.SIGINT, signal.SIG_IGN)
    # terminate() must end a worker, whatever handler the parent had set
    signal.signal(signal.SIGTERM, signal.SIG_DFL)
    signal.pthread_sigmask(signal.SIG_UNBLOCK, STOPPING)
    while True:
        try:
            task = connection.recv()
        except EOFError:  # the parent is gone
            return
        try:
            reply: tuple[bool, object] = (True, run(task))
        except Exception:
            reply = (False, traceback.format_exc())
        try:
            connection.send(reply)
        except OSError:  # the parent closed the pipe: the run is over
            return
