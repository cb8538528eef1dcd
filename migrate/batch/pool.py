"""Worker processes for `batch`, each script under a wall-clock and a memory limit.

A worker is forked from the parent (which has loaded schemas, presets and the
pipeline's modules), so it starts warm, and converts one script at a time,
sent over a pipe. The parent knows which script each worker holds and since
when:
  - past `batch_script_seconds` it kills the worker: that script's row says
    "timed out", and a fresh worker takes the next script;
  - each worker's data may grow by `batch_script_memory` over what it had when
    forked (RLIMIT_DATA): a script that needs more fails with
    MemoryError, its row says "out of memory", and the worker is replaced;
  - a worker that dies outright gives its script an "internal error" row.
Workers die with the parent: PR_SET_PDEATHSIG (Linux) kills them when the
parent process ends, however it ends, and SIGTERM/SIGINT to the parent stop
them before the parent's own handling goes on.
"""

from __future__ import annotations

import multiprocessing
import os
import signal
import time
from multiprocessing.connection import Connection, wait
from typing import Any, Callable, Sequence

from migrate import limits

Row = Callable[[Any, str], Any]  # (job, reason) -> the row of a script that did not finish


def available() -> bool:
    """Worker processes need `fork` (they inherit the parent's loaded state)."""
    return "fork" in multiprocessing.get_all_start_methods()


def _die_with_parent(parent: int) -> None:
    """Ask Linux to SIGKILL this process when its parent ends; end now if it already has."""
    try:
        import ctypes

        libc = ctypes.CDLL(None, use_errno=True)
        pr_set_pdeathsig = 1
        libc.prctl(pr_set_pdeathsig, signal.SIGKILL, 0, 0, 0)
    except (OSError, AttributeError):
        pass
    if os.getppid() != parent:  # the parent ended before the request was in place
        os._exit(1)


def _serve(conn: Connection, parent: int, work: Callable[[Any], Any], out_of_memory: Row, extra: int) -> None:
    """A worker's life: take a job, send its row, until told to stop (None) or out of memory."""
    _die_with_parent(parent)
    for sig in (signal.SIGINT, signal.SIGTERM):
        signal.signal(sig, signal.SIG_DFL)  # the parent decides; a terminal's Ctrl-C is its to handle
    signal.signal(signal.SIGINT, signal.SIG_IGN)
    limits.cap_memory(extra)
    while True:
        job = conn.recv()
        if job is None:
            return
        try:
            row, exhausted = work(job), False
        except MemoryError:
            row, exhausted = None, True
        if exhausted:
            row = out_of_memory(job, _memory_reason(extra))
        conn.send(row)
        if exhausted:
            return  # its heap may be fragmented and near the cap: a fresh worker takes the next job


def _memory_reason(extra: int) -> str:
    error = limits.exceeded("batch_script_memory", f"out of memory: converting this script needed more than "
                                                   f"{extra >> 20} MiB")
    return f"{error.message} (hint: {error.hint})"


class _Worker:
    def __init__(self, context: Any, work: Callable[[Any], Any], out_of_memory: Row, extra: int) -> None:
        self.conn, child = context.Pipe()
        self.process = context.Process(target=_serve, args=(child, os.getpid(), work, out_of_memory, extra),
                                       daemon=True)
        self.process.start()
        child.close()
        self.job: Any = None
        self.started = 0.0

    def give(self, job: Any) -> None:
        self.job, self.started = job, time.monotonic()
        try:
            self.conn.send(job)
        except OSError:
            pass  # the worker is gone: its sentinel reports it

    def stop(self, kill: bool = False) -> None:
        if kill:
            self.process.kill()
        else:
            try:
                self.conn.send(None)
            except OSError:
                self.process.kill()
        self.process.join(5)
        if self.process.is_alive():
            self.process.kill()
            self.process.join()
        self.conn.close()


def run_limited(jobs_list: Sequence[Any], workers: int, work: Callable[[Any], Any], done: Callable[[Any, Any], None],
                timed_out: Row, died: Row, out_of_memory: Row) -> None:
    """Run `work(job)` for every job in worker processes; `done(job, row)` in the parent, in
    completion order. The Row callbacks make the rows of jobs that did not finish."""
    lim = limits.current()
    seconds, extra = float(lim.batch_script_seconds), int(lim.batch_script_memory)
    context = multiprocessing.get_context("fork")
    queue = list(jobs_list)
    pool: list[_Worker] = []
    restore = _stop_workers_on_signals(pool)
    try:
        while queue or any(w.job is not None for w in pool):
            _fill(pool, queue, workers, context, work, out_of_memory, extra)
            busy = [w for w in pool if w.job is not None]
            now = time.monotonic()
            timeout = max(0.0, min(w.started + seconds for w in busy) - now)
            ready = set(wait([w.conn for w in busy] + [w.process.sentinel for w in busy], timeout))
            for worker in busy:
                row = _collect(worker, ready, seconds, timed_out, died)
                if row is None:
                    continue
                job, worker.job = worker.job, None
                if not worker.process.is_alive() or row[1]:
                    pool.remove(worker)
                    worker.stop(kill=True)
                done(job, row[0])
        for worker in pool:
            worker.stop()
        pool.clear()
    finally:
        for worker in pool:
            worker.stop(kill=True)
        restore()


def _fill(pool: list[_Worker], queue: list[Any], workers: int, context: Any, work: Callable[[Any], Any],
          out_of_memory: Row, extra: int) -> None:
    for worker in pool:
        if worker.job is None and queue:
            worker.give(queue.pop(0))
    while queue and len(pool) < workers:
        worker = _Worker(context, work, out_of_memory, extra)
        pool.append(worker)
        worker.give(queue.pop(0))


def _collect(worker: _Worker, ready: set, seconds: float, timed_out: Row, died: Row) -> tuple[Any, bool] | None:
    """(row, whether the worker must go) for a worker whose job ended, else None."""
    if worker.conn in ready or worker.process.sentinel in ready:
        try:
            if worker.conn.poll():
                return worker.conn.recv(), False
        except (EOFError, OSError):
            pass
        worker.process.join(1)
        return died(worker.job, f"exit status {worker.process.exitcode}"), True
    if time.monotonic() >= worker.started + seconds:
        error = limits.exceeded("batch_script_seconds", f"timed out: the script took more than {seconds:g} s")
        return timed_out(worker.job, f"{error.message} (hint: {error.hint})"), True
    return None


def _stop_workers_on_signals(pool: list[_Worker]) -> Callable[[], None]:
    """SIGTERM/SIGINT: kill the workers first, then whatever the parent did before (its handler,
    or the default action). Returns the function that puts the previous handlers back."""
    import threading

    if threading.current_thread() is not threading.main_thread():
        return lambda: None
    previous: dict[int, Any] = {sig: signal.getsignal(sig) for sig in (signal.SIGTERM, signal.SIGINT)}

    def handler(sig: int, frame: Any) -> None:
        for worker in list(pool):
            worker.process.kill()
        before = previous[sig]
        if callable(before):
            before(sig, frame)
        elif before == signal.SIG_DFL:
            signal.signal(sig, signal.SIG_DFL)
            os.kill(os.getpid(), sig)

    for sig in previous:
        signal.signal(sig, handler)

    def restore() -> None:
        for sig, before in previous.items():
            signal.signal(sig, before)

    return restore
