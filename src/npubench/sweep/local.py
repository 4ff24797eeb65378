"""The local backend: a pool of worker processes with a watchdog, one task per worker at a time.

May import ``npubench.sweep.cells`` and ``npubench.sweep.execute``. Written on
``multiprocessing`` rather than ``concurrent.futures`` because a pool must know *which* task
a dead worker was running: each worker has its own pipe, the parent waits on the pipes and on
the workers' process sentinels together, so a worker killed mid-cell (SIGKILL, the OOM
killer, a crash in native code, the per-cell timeout) fails exactly that cell, is replaced,
and the sweep goes on. Models are prepared first, one task per model, and each prepared model
is sent with its cells, so no two workers quantize the same model.
"""

from __future__ import annotations

import contextlib
import multiprocessing as mp
import os
import signal
import time
from collections import deque
from collections.abc import Callable
from dataclasses import dataclass
from multiprocessing.connection import Connection, wait
from typing import Any

from npubench.schema import BenchResult
from npubench.sweep.cells import Cell, PrepareTask
from npubench.sweep.execute import PrepareOutcome, failed_cell_result, run_cell, run_prepare

OnResult = Callable[[Cell, BenchResult], None]
OnMessage = Callable[[str], None]

_STOP = None
ENV_PREFIX = "NPUBENCH_"


def _npubench_env() -> dict[str, str]:
    return {k: v for k, v in os.environ.items() if k.startswith(ENV_PREFIX)}


def _worker_main(conn: Connection, env: dict[str, str]) -> None:
    """A worker's loop: receive a task, run it, send the outcome; stop at EOF or STOP."""
    # The parent handles Ctrl-C and stops the workers; a worker must not die half-way on it.
    signal.signal(signal.SIGINT, signal.SIG_IGN)
    # A forkserver child has the server's environment, from whenever it started: take the
    # parent's npubench settings (cache dir, boards path, ...) as they are now.
    for key in [k for k in os.environ if k.startswith(ENV_PREFIX)]:
        del os.environ[key]
    os.environ.update(env)
    while True:
        try:
            task = conn.recv()
        except (EOFError, OSError):
            return  # the parent is gone
        if task is _STOP:
            return
        kind, payload = task
        if kind == "prepare":
            outcome: Any = run_prepare(payload)
        else:
            cell, prepared = payload
            outcome = run_cell(cell, prepared)
        try:
            conn.send(outcome)
        except (BrokenPipeError, OSError):
            return


def _context() -> mp.context.BaseContext:
    # forkserver: workers are forked from a clean server process, never from a parent that
    # may hold torch/TensorFlow threads; spawn where forkserver does not exist.
    method = "forkserver" if "forkserver" in mp.get_all_start_methods() else "spawn"
    ctx = mp.get_context(method)
    if method == "forkserver":
        ctx.set_forkserver_preload(["npubench.sweep.execute"])
    return ctx


@dataclass
class _Job:
    kind: str  # "prepare" | "cell"
    payload: Any
    label: str


@dataclass
class _Worker:
    process: mp.process.BaseProcess
    conn: Connection
    job: _Job | None = None
    started: float = 0.0


def _death_message(exitcode: int | None, label: str) -> str:
    if exitcode is not None and exitcode < 0:
        try:
            how = f"killed by {signal.Signals(-exitcode).name}"
        except ValueError:
            how = f"killed by signal {-exitcode}"
    else:
        how = f"exited with status {exitcode}"
    return (
        f"the worker process {how} while running {label} (out of memory, a crash in a "
        "native library, or killed from outside); the rest of the sweep went on"
    )


class LocalPool:
    """Runs prepare tasks and cells on ``workers`` processes; results go to ``on_result``."""

    def __init__(
        self,
        workers: int | None = None,
        cell_timeout_s: float | None = None,
        on_message: OnMessage | None = None,
    ) -> None:
        self.workers = max(1, workers or os.cpu_count() or 1)
        self.cell_timeout_s = cell_timeout_s
        self.on_message = on_message or (lambda _: None)
        self._ctx = _context()
        self._pool: list[_Worker] = []

    def _start_worker(self) -> _Worker:
        parent, child = self._ctx.Pipe(duplex=True)
        process = self._ctx.Process(target=_worker_main, args=(child, _npubench_env()), daemon=True)
        process.start()
        child.close()
        worker = _Worker(process, parent)
        self._pool.append(worker)
        return worker

    def _retire(self, worker: _Worker) -> None:
        """Stop a worker this pool started (by its own handle, never by name)."""
        with contextlib.suppress(OSError):
            worker.conn.close()
        if worker.process.is_alive():
            worker.process.kill()
        worker.process.join(timeout=5)
        self._pool.remove(worker)

    def run(
        self,
        prepares: list[PrepareTask],
        cells_by_prepare: dict[str, list[Cell]],
        on_result: OnResult,
    ) -> None:
        queue: deque[_Job] = deque(
            _Job("prepare", task, f"prepare {task.model_name}") for task in prepares
        )
        try:
            self._loop(queue, cells_by_prepare, on_result)
        finally:
            self.close()

    def _loop(
        self, queue: deque[_Job], cells_by_prepare: dict[str, list[Cell]], on_result: OnResult
    ) -> None:
        def finished(job: _Job, outcome: Any) -> None:
            if job.kind == "prepare":
                prepared: PrepareOutcome = outcome
                cells = cells_by_prepare.get(prepared.key, [])
                note = (
                    f"failed: {prepared.error}" if prepared.error else f"{prepared.seconds:.1f} s"
                )
                self.on_message(f"{job.label}: {note}")
                # Cells of a model go to the front: their model is ready, others may not be.
                queue.extendleft(reversed([_Job("cell", (c, prepared), c.label) for c in cells]))
            else:
                on_result(job.payload[0], outcome)

        def died(job: _Job, message: str) -> None:
            self.on_message(message)
            if job.kind == "prepare":
                task: PrepareTask = job.payload
                for cell in cells_by_prepare.get(task.key, []):
                    on_result(
                        cell, failed_cell_result(cell, f"model preparation failed: {message}")
                    )
            else:
                on_result(job.payload[0], failed_cell_result(job.payload[0], message))

        while queue or any(w.job for w in self._pool):
            # Hand out work: idle workers first, new workers up to the pool size.
            idle = [w for w in self._pool if w.job is None]
            while queue and (idle or len(self._pool) < self.workers):
                worker = idle.pop() if idle else self._start_worker()
                job = queue.popleft()
                try:
                    worker.conn.send((job.kind, job.payload))
                except (BrokenPipeError, OSError):
                    queue.appendleft(job)
                    self._retire(worker)
                    continue
                worker.job, worker.started = job, time.monotonic()
            busy = [w for w in self._pool if w.job is not None]
            if not busy:
                continue
            ready = set(wait([w.conn for w in busy] + [w.process.sentinel for w in busy], 1.0))
            now = time.monotonic()
            for worker in busy:
                job = worker.job
                assert job is not None
                if worker.conn in ready or worker.process.sentinel in ready:
                    try:
                        # A dead worker's pipe reports EOF once its last message is read.
                        outcome = worker.conn.recv() if worker.conn.poll() else None
                    except (EOFError, OSError):
                        outcome = None
                    if outcome is not None:
                        worker.job = None
                        finished(job, outcome)
                        continue
                    if worker.process.is_alive() and worker.conn in ready:
                        continue  # spurious wake-up
                    worker.process.join(timeout=5)
                    self._retire(worker)
                    died(job, _death_message(worker.process.exitcode, job.label))
                elif (
                    job.kind == "cell"
                    and self.cell_timeout_s is not None
                    and now - worker.started > self.cell_timeout_s
                ):
                    self._retire(worker)
                    died(
                        job,
                        f"{job.label} ran longer than the cell timeout of "
                        f"{self.cell_timeout_s:g} s and was stopped",
                    )

    def close(self) -> None:
        for worker in list(self._pool):
            with contextlib.suppress(OSError, BrokenPipeError):
                worker.conn.send(_STOP)
        deadline = time.monotonic() + 5
        for worker in list(self._pool):
            worker.process.join(timeout=max(0.0, deadline - time.monotonic()))
            self._retire(worker)


def run_local(
    prepares: list[PrepareTask],
    cells_by_prepare: dict[str, list[Cell]],
    on_result: OnResult,
    workers: int | None = None,
    cell_timeout_s: float | None = None,
    on_message: OnMessage | None = None,
) -> None:
    """Run every prepare task and cell on a local pool; see ``LocalPool``."""
    LocalPool(workers, cell_timeout_s, on_message).run(prepares, cells_by_prepare, on_result)
