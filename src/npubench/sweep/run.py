"""The sweep engine: expand, skip what the store already has, run the rest, store each result.

May import ``npubench.store``, ``npubench.schema`` and the other ``npubench.sweep`` modules.
Only this (parent) process writes to the store, one atomic transaction per result, as each
result arrives: killing a sweep loses at most the cells in flight, and re-running it skips
every cell whose key is already stored under the sweep's group id (name + spec hash). Two
sweeps writing to one store at once are safe: the store serialises writers (WAL, busy
timeout, BEGIN IMMEDIATE).

A sweep that would run more than ``max_cells`` cells (default ``DEFAULT_MAX_CELLS``, or
``$NPUBENCH_SWEEP_MAX_CELLS``) is refused before the store is opened or any cell runs, unless
``yes`` (``npubench sweep --yes``): a typo in a sweep file (``clock_mhz = [50, 60, ..., 500]``
times every target) should not start a week of work. Cells already stored do not count.
"""

from __future__ import annotations

import os
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Protocol

from npubench.console import styled
from npubench.errors import UsageError
from npubench.schema import BenchResult
from npubench.store import ResultStore
from npubench.sweep.cells import Cell, Matrix, expand
from npubench.sweep.spec import SweepSpec, load_spec

BACKENDS: tuple[str, ...] = ("local", "ray")
DEFAULT_MAX_CELLS = 5000
"""Cells a sweep may run without ``--yes``."""
MAX_CELLS_ENV = "NPUBENCH_SWEEP_MAX_CELLS"


def max_cells_limit(max_cells: int | None = None) -> int:
    """The cell limit: ``max_cells`` if given, else ``$NPUBENCH_SWEEP_MAX_CELLS``, else 5000."""
    if max_cells is None:
        raw = os.environ.get(MAX_CELLS_ENV, "").strip()
        if not raw:
            return DEFAULT_MAX_CELLS
        try:
            max_cells = int(raw)
        except ValueError:
            raise UsageError(
                f"${MAX_CELLS_ENV}={raw!r} is not a whole number",
                f"set it to the largest number of cells a sweep may run without --yes "
                f"(default {DEFAULT_MAX_CELLS})",
            ) from None
    if max_cells < 1:
        raise UsageError(
            f"the sweep cell limit must be at least 1, got {max_cells}",
            f"give --max-cells N (default {DEFAULT_MAX_CELLS}), or --yes to run any number",
        )
    return max_cells


def check_cell_limit(cells: int, max_cells: int | None = None, yes: bool = False) -> None:
    """Refuse (``UsageError``) to run more cells than the limit unless ``yes``."""
    limit = max_cells_limit(max_cells)
    if cells > limit and not yes:
        raise UsageError(
            f"this sweep would run {cells:,} cells, more than the limit of {limit:,}; "
            "nothing was started",
            "check the sweep's lists (models x targets x kinds x options multiply); add --yes "
            f"to run it anyway, or raise the limit with --max-cells N (or ${MAX_CELLS_ENV})",
        )


class SweepProgress(Protocol):
    """What the engine reports while it runs (the CLI draws it with rich on stderr)."""

    def start(self, name: str, total: int, already_done: int) -> None: ...
    def message(self, text: str) -> None: ...
    def cell_done(self, cell: Cell, result: BenchResult) -> None: ...
    def finish(self) -> None: ...


class NullProgress:
    def start(self, name: str, total: int, already_done: int) -> None:
        pass

    def message(self, text: str) -> None:
        pass

    def cell_done(self, cell: Cell, result: BenchResult) -> None:
        pass

    def finish(self) -> None:
        pass


class RichProgress:
    """A progress bar with cells/s and the latest cell, on stderr."""

    def __init__(self, console: Any | None = None) -> None:
        from rich.console import Console

        self.console = console or Console(stderr=True)
        self._progress: Any = None
        self._task: Any = None

    def start(self, name: str, total: int, already_done: int) -> None:
        from rich.progress import (
            BarColumn,
            MofNCompleteColumn,
            Progress,
            TextColumn,
            TimeElapsedColumn,
            TimeRemainingColumn,
        )

        if already_done:
            self.console.print(f"{name}: {already_done} cells already in the store, skipped")
        self._progress = Progress(
            TextColumn("{task.fields[sweep]}", markup=False, style="bold"),
            BarColumn(),
            MofNCompleteColumn(),
            TimeElapsedColumn(),
            TimeRemainingColumn(),
            TextColumn("{task.description}"),
            console=self.console,
            transient=False,
        )
        self._progress.start()
        self._task = self._progress.add_task("", total=total, sweep=name)

    def message(self, text: str) -> None:
        if self._progress is not None:
            self._progress.console.log(styled(text))

    def cell_done(self, cell: Cell, result: BenchResult) -> None:
        if self._progress is None:
            return
        mark = {"ok": "ok", "does_not_fit": "does not fit"}.get(result.status, result.status)
        # The description is rendered as markup by TextColumn: brackets in names escaped.
        label = f"{cell.label}: {mark}".replace("[", "\\[")
        self._progress.update(self._task, advance=1, description=label)
        if result.status == "failed":
            self._progress.console.log(
                styled((f"{cell.label} failed:", "red"), f" {result.message}")
            )

    def finish(self) -> None:
        if self._progress is not None:
            self._progress.stop()


@dataclass
class SweepSummary:
    """What a sweep did; ``exit_code`` is 0 when no cell failed."""

    name: str
    group_id: str
    db: Path
    backend: str
    cells: int  # every cell of the matrix
    already_done: int  # skipped because the store had them
    ran: int = 0
    ok: int = 0
    does_not_fit: int = 0
    failed: int = 0
    elapsed_s: float = 0.0
    not_applicable: list[str] = field(default_factory=list)
    failures: list[tuple[str, str]] = field(default_factory=list)  # (cell label, message)

    @property
    def cells_per_s(self) -> float:
        return self.ran / self.elapsed_s if self.elapsed_s > 0 else 0.0

    @property
    def exit_code(self) -> int:
        return 1 if self.failed else 0

    def to_json(self) -> dict[str, Any]:
        return {
            "name": self.name,
            "group_id": self.group_id,
            "db": str(self.db),
            "backend": self.backend,
            "cells": self.cells,
            "already_done": self.already_done,
            "ran": self.ran,
            "ok": self.ok,
            "does_not_fit": self.does_not_fit,
            "failed": self.failed,
            "elapsed_s": round(self.elapsed_s, 3),
            "cells_per_s": round(self.cells_per_s, 3),
            "not_applicable": self.not_applicable,
            "failures": [{"cell": c, "message": m} for c, m in self.failures],
        }


def _failed_keys(store: ResultStore, group_id: str) -> set[str]:
    """Cells whose newest stored result failed (query returns newest first)."""
    newest: dict[str, str] = {}
    for stored in store.query(group_id=group_id):
        if stored.cell_key and stored.cell_key not in newest:
            newest[stored.cell_key] = stored.result.status
    return {key for key, status in newest.items() if status == "failed"}


def pending_cells(matrix: Matrix, store: ResultStore, retry_failed: bool = False) -> list[Cell]:
    """The cells of ``matrix`` the store does not have yet (and failed ones, if asked)."""
    done = store.cell_keys(matrix.group_id)
    if retry_failed:
        done -= _failed_keys(store, matrix.group_id)
    return [c for c in matrix.cells if c.key not in done]


def _stored_cell_keys(db: Path | str | None, group_id: str) -> set[str]:
    """The group's stored cell keys, read without creating a store."""
    from npubench.store import default_db_path

    path = Path(db) if db is not None else default_db_path()
    if not path.is_file():
        return set()
    with ResultStore(path, readonly=True) as store:
        return store.cell_keys(group_id)


Runner = Callable[..., None]


def _backend_runner(backend: str, address: str | None) -> Runner:
    if backend == "local":
        if address is not None:
            raise UsageError(
                "--address applies to the Ray backend only", "add --backend ray, or drop --address"
            )
        from npubench.sweep.local import run_local

        return run_local
    if backend == "ray":
        from npubench.sweep.ray_backend import run_ray

        return lambda *args, **kw: run_ray(*args, address=address, **kw)
    raise UsageError(f"unknown sweep backend {backend!r}", f"use one of {', '.join(BACKENDS)}")


def run_sweep(
    spec: SweepSpec | Path | str,
    db: Path | str | None = None,
    backend: str = "local",
    workers: int | None = None,
    address: str | None = None,
    progress: SweepProgress | None = None,
    retry_failed: bool = False,
    cell_timeout_s: float | None = None,
    yes: bool = False,
    max_cells: int | None = None,
) -> SweepSummary:
    """Run every cell of a sweep that the store at ``db`` does not have yet.

    ``spec`` is a validated ``SweepSpec`` or the path of a sweep file. ``workers`` defaults to
    ``os.cpu_count()`` (local) or the cluster's CPUs (Ray). A failing cell is stored as failed
    and the sweep goes on; ``retry_failed`` runs such cells again on the next run. More cells
    to run than ``max_cells`` (``max_cells_limit``) raise ``UsageError`` unless ``yes``.
    """
    if not isinstance(spec, SweepSpec):
        spec = load_spec(spec)
    if workers is not None and workers < 1:
        raise UsageError(f"--workers must be at least 1, got {workers}")
    if cell_timeout_s is not None and not (0 < cell_timeout_s < float("inf")):
        raise UsageError(
            f"--cell-timeout must be a positive number of seconds, got {cell_timeout_s}"
        )
    limit = max_cells_limit(max_cells)
    runner = _backend_runner(backend, address)
    progress = progress or NullProgress()
    matrix = expand(spec)
    if len(matrix.cells) > limit and not yes:
        # Count only the cells still to run (a resumed sweep may have most of them stored).
        done = _stored_cell_keys(db, matrix.group_id)
        check_cell_limit(sum(1 for c in matrix.cells if c.key not in done), limit, yes)
    t0 = time.perf_counter()
    with ResultStore(db) as store:
        todo = pending_cells(matrix, store, retry_failed)
        check_cell_limit(len(todo), limit, yes)
        summary = SweepSummary(
            name=spec.name,
            group_id=matrix.group_id,
            db=store.path,
            backend=backend,
            cells=len(matrix.cells),
            already_done=len(matrix.cells) - len(todo),
            not_applicable=matrix.not_applicable,
        )
        cells_by_prepare: dict[str, list[Cell]] = {}
        for cell in todo:
            cells_by_prepare.setdefault(cell.prepare.key, []).append(cell)
        prepares = [matrix.prepares[key] for key in cells_by_prepare]

        def on_result(cell: Cell, result: BenchResult) -> None:
            store.add(result, group_id=matrix.group_id, cell_key=cell.key)
            summary.ran += 1
            if result.status == "failed":
                summary.failed += 1
                summary.failures.append((cell.label, result.message))
            elif result.status == "does_not_fit":
                summary.does_not_fit += 1
            else:
                summary.ok += 1
            progress.cell_done(cell, result)

        progress.start(spec.name, len(todo), summary.already_done)
        try:
            if todo:
                runner(
                    prepares,
                    cells_by_prepare,
                    on_result,
                    workers=workers,
                    cell_timeout_s=cell_timeout_s,
                    on_message=progress.message,
                )
        finally:
            progress.finish()
            summary.elapsed_s = time.perf_counter() - t0
    return summary
