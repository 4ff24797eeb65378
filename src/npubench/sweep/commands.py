"""The sweep, compare and export commands as plain functions: the CLI wraps them in typer.

May import ``npubench.store`` and the other ``npubench.sweep`` modules, and rich for output.
Each returns the process exit status (0 fine, 1 a failed cell or a regression); expected
errors are raised as ``NpubenchError`` for the CLI to print (exit status 2).
"""

from __future__ import annotations

import json
import sys
from collections.abc import Sequence
from pathlib import Path
from typing import Any

from npubench.console import make_console
from npubench.errors import UsageError
from npubench.store import ResultStore
from npubench.sweep.compare import compare, parse_threshold, print_comparison
from npubench.sweep.export import write_export
from npubench.sweep.run import NullProgress, RichProgress, SweepSummary, run_sweep
from npubench.sweep.spec import SweepSpec, load_spec, spec_from_flags


def _print_json(data: Any) -> None:
    sys.stdout.write(json.dumps(data, indent=2, default=str) + "\n")


def _summary_text(s: SweepSummary) -> str:
    lines = [
        f"sweep {s.name} ({s.group_id}) in {s.db}",
        f"  {s.cells} cells: {s.already_done} already stored, {s.ran} run in {s.elapsed_s:.1f} s "
        f"({s.cells_per_s:.2f} cells/s, backend {s.backend})",
        f"  {s.ok} ok, {s.does_not_fit} do not fit, {s.failed} failed; "
        f"{len(s.not_applicable)} combinations not applicable",
    ]
    lines += [f"  failed: {label}: {message.splitlines()[0]}" for label, message in s.failures]
    return "\n".join(lines)


def sweep_command(
    file: Path | None = None,
    db: Path | None = None,
    backend: str = "local",
    address: str | None = None,
    workers: int | None = None,
    retry_failed: bool = False,
    cell_timeout_s: float | None = None,
    json_out: bool = False,
    models: Sequence[str] = (),
    targets: Sequence[str] = (),
    kinds: Sequence[str] = (),
    optimise: Sequence[str] = (),
    clock_mhz: Sequence[float] = (),
    calibration: Sequence[str] = (),
    name: str | None = None,
    show_progress: bool = True,
    yes: bool = False,
    max_cells: int | None = None,
) -> int:
    """``npubench sweep [FILE] [--model ... --target ...]``: run a sweep; 1 if a cell failed.

    A sweep comes from FILE, or from the flags when no FILE is given (flags and a file
    together are refused: one place says what a sweep computes). A sweep that would run more
    cells than ``max_cells`` (default ``npubench.sweep.run.DEFAULT_MAX_CELLS``) is refused
    before anything runs unless ``yes`` (``--yes``).
    """
    spec: SweepSpec
    flags_given = any((models, targets, kinds, optimise, clock_mhz, calibration))
    if file is not None:
        if flags_given:
            raise UsageError(
                "a sweep file and --model/--target/--kind/option flags were both given",
                "put everything in the sweep file, or give only flags",
            )
        spec = load_spec(file)
    else:
        if not models or not targets:
            raise UsageError(
                "no sweep file and no --model/--target flags",
                "give a sweep file (see examples/study.toml), or --model and --target",
            )
        spec = spec_from_flags(
            models,
            targets,
            kinds=kinds or ("compile", "predict"),
            optimise=optimise or ("Performance",),
            clock_mhz=clock_mhz or None,
            calibration=calibration or ("synthetic",),
            name=name or "sweep",
        )
    err = make_console(stderr=True)
    progress = RichProgress(err) if show_progress else NullProgress()
    summary = run_sweep(
        spec,
        db=db,
        backend=backend,
        workers=workers,
        address=address,
        progress=progress,
        retry_failed=retry_failed,
        cell_timeout_s=cell_timeout_s,
        yes=yes,
        max_cells=max_cells,
    )
    if json_out:
        _print_json(summary.to_json())
    else:
        err.print(_summary_text(summary))
    return summary.exit_code


def compare_command(
    a: str,
    b: str,
    threshold: str = "5%",
    json_out: bool = False,
    db: Path | None = None,
    show_all: bool = False,
    force: bool = False,
) -> int:
    """``npubench compare A B``: 0 without regressions beyond the threshold, 1 with.

    ``force`` (``--force``) compares measured runs made with another firmware image, clock or
    tick source (refused otherwise, exit status 2).
    """
    comparison = compare(a, b, parse_threshold(threshold), db=db, force=force)
    if json_out:
        _print_json(comparison.to_json())
    else:
        print_comparison(comparison, make_console(), show_all)
    return comparison.exit_code


def export_command(
    path: Path,
    db: Path | None = None,
    group_id: str | None = None,
    **filters: Any,
) -> Path:
    """``npubench results --export x.parquet``: write the matching results (.csv/.json/.parquet).

    The path is checked before the store is read; zero matching results raise ``UsageError``
    naming the filters (no empty file is written).
    """
    from npubench.sweep.export import check_export_path

    path = check_export_path(path)
    with ResultStore(db, readonly=True) as store:
        stored = store.query(group_id=group_id, **filters)
    given = {"group_id": group_id, **filters}
    text = ", ".join(f"{k}={v}" for k, v in given.items() if v is not None) or "no filter"
    return write_export(stored, path, filters=text)
