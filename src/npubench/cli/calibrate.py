"""`npubench calibrate` and `npubench validate`."""

from __future__ import annotations

from pathlib import Path
from typing import Any

from rich.table import Table

from npubench.cli.common import console, err_console, print_json, progress_display
from npubench.errors import ExitStatus, NpubenchError


def _fmt(x: float | None, digits: int = 2) -> str:
    return "–" if x is None else f"{x:.{digits}f}"


def _ms(us: float | None) -> str:
    if us is None:
        return "–"
    return f"{us / 1000:.3g}"


def _excluded() -> list[dict[str, str]]:
    from npubench.predict.reference import reference_rows

    return [{"id": r.id, "board": r.board, "why": r.exclude} for r in reference_rows() if r.exclude]


def _run(out: Path | None, write: bool, boards: list[str] | None) -> Any:
    from npubench.pipeline.calibrate import calibrate
    from npubench.predict.reference import usable_rows

    rows = [r for r in usable_rows() if not boards or r.board in boards]
    if not rows:
        raise NpubenchError(
            f"no reference rows for {', '.join(boards or [])}",
            "see `npubench validate` for the boards with data",
            exit_code=ExitStatus.USAGE,
        )
    with progress_display() as progress:
        return calibrate(out_dir=out, rows=rows, progress=progress, write=write)


def calibrate_command(out: Path | None, dry_run: bool, boards: list[str] | None) -> int:
    from npubench.pipeline.calibrate import _stats

    run = _run(out, not dry_run, boards)
    table = Table(title="calibration: fitted groups, cross-validated ratio errors")
    for column in (
        "group",
        "cases",
        "in-sample median",
        "LOMO median/worst",
        "LOSO median/worst",
        "90% cov. LOMO",
    ):
        table.add_column(column)
    for v in run.validations:
        lomo, loso = _stats(v.lomo), _stats(v.loso)
        ins = sorted(abs(r) for r in v.fit.residuals.values())
        import math
        import statistics

        table.add_row(
            v.group,
            str(v.fit.n_cases),
            _fmt(math.exp(statistics.median(ins)) if ins else None),
            f"{_fmt(lomo['median'])}/{_fmt(lomo['worst'])}",
            f"{_fmt(loso['median'])}/{_fmt(loso['worst'])}",
            _fmt(v.lomo_coverage),
        )
    console.print(table)
    for v in run.validations:
        values = ", ".join(f"{k}={val:.4g}" for k, val in v.fit.values.items())
        console.print(f"{v.group}: {values}")
    for host in run.host:
        console.print(
            f"{host.board} host stages: "
            + ", ".join(f"{k}={val:.4g}" for k, val in host.params.items())
        )
    if dry_run:
        err_console.print("dry run: nothing written")
    for path in run.written:
        err_console.print(f"wrote {path}")
    return ExitStatus.OK


def validate_command(
    json_out: bool, boards: list[str] | None, max_median: float | None, max_worst: float | None
) -> int:
    from npubench.predict.validate import build_report

    run = _run(None, False, boards)
    report = build_report(run.cases, run.validations, _excluded())
    if json_out:
        print_json(report.to_json())
    else:
        rows = Table(title="predicted vs measured inference (ms); ratio = predicted / measured")
        for column in (
            "row",
            "board",
            "model",
            "MHz",
            "measured",
            "predicted",
            "ratio",
            "in 90%",
            "LOMO",
            "LOSO",
            "basis",
        ):
            rows.add_column(column, overflow="fold")
        for r in report.rows:
            model = r.model.removeprefix("zoo:")
            rows.add_row(
                r.id,
                r.board,
                model if len(model) <= 28 else model[:27] + "…",
                f"{r.clock_mhz:g}",
                _ms(r.measured_us),
                _ms(r.predicted_us),
                f"{r.ratio:.2f}",
                "yes" if r.inside else "no",
                _fmt(r.lomo_error),
                _fmt(r.loso_error),
                r.basis,
            )
        console.print(rows)
        for title, scopes in (("per board", report.boards), ("per family", report.families)):
            t = Table(title=f"ratio errors {title} (median / worst)")
            for column in ("scope", "rows", "in sample", "LOMO", "LOSO", "coverage"):
                t.add_column(column)
            for s in scopes:
                t.add_row(
                    s.scope,
                    str(s.n),
                    f"{_fmt(s.in_sample['median'])} / {_fmt(s.in_sample['worst'])}",
                    f"{_fmt(s.lomo['median'])} / {_fmt(s.lomo['worst'])}",
                    f"{_fmt(s.loso['median'])} / {_fmt(s.loso['worst'])}",
                    _fmt(s.coverage),
                )
            console.print(t)
        for ex in report.excluded:
            console.print(f"excluded {ex['id']} ({ex['board']}): {ex['why']}")
    failing = []
    for s in report.boards:
        median, worst = (
            s.lomo["median"] or s.in_sample["median"],
            s.lomo["worst"] or s.in_sample["worst"],
        )
        if max_median is not None and median is not None and float(median) > max_median:
            failing.append(f"{s.scope}: median x{float(median):.2f} > x{max_median:g}")
        if max_worst is not None and worst is not None and float(worst) > max_worst:
            failing.append(f"{s.scope}: worst x{float(worst):.2f} > x{max_worst:g}")
    if failing:
        err_console.print("validation bar not met: " + "; ".join(failing))
        return ExitStatus.FAILED
    return ExitStatus.OK
