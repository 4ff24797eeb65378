"""Comparing two runs cell by cell, flagging regressions beyond a threshold (for CI).

May import ``npubench.errors``, ``npubench.schema``, ``npubench.store`` and
``npubench.provenance``. A side of a comparison is chosen by one string:

- a path to a store file: every result in it;
- ``<toolchain>:<version>``, e.g. ``vela:5.2.0``: results whose provenance records that
  version (toolchains as in ``npubench.provenance.TOOLCHAIN_PACKAGES``);
- a group id (a sweep's ``sweep:<name>:<hash>`` or a bench run's id), a unique prefix of one,
  or a sweep name (its newest group).

Cells are matched by model, target, kind and options (optimise, clock, calibration, input
shape, seed); within a side the newest result of a cell counts. Lower is better for every
figure compared (latency per stage, memory, energy), so a rise beyond the threshold is a
regression, a fall beyond it an improvement; a cell that failed or stopped fitting in B is a
regression too. ``Comparison.exit_code`` is 0 without regressions, 1 with.
"""

from __future__ import annotations

import math
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from npubench import STAGES
from npubench.errors import NpubenchError, closest_names
from npubench.provenance import TOOLCHAIN_PACKAGES
from npubench.schema import BenchResult
from npubench.store import ResultStore, StoredResult

MATCH_OPTIONS: tuple[str, ...] = ("optimise", "clock_mhz", "calibration", "input_shape", "seed")
_STATUS_RANK = {"ok": 0, "incomplete": 1, "does_not_fit": 2, "failed": 3}


class CompareError(NpubenchError):
    """A side of a comparison that selects nothing, or a malformed threshold."""


def parse_threshold(text: str | float) -> float:
    """'5%' -> 0.05; '0.05' -> 0.05; a bare number above 1 is read as a percentage."""
    raw = str(text).strip()
    try:
        value = float(raw.rstrip("%"))
    except ValueError:
        raise CompareError(
            f"--threshold {raw!r} is not a number", "write it like 5% or 0.05"
        ) from None
    fraction = value / 100 if raw.endswith("%") or value > 1 else value
    if not 0 <= fraction < 10 or math.isnan(fraction):
        raise CompareError(f"--threshold {raw!r} is out of range", "write it like 5% or 0.05")
    return fraction


def metrics_of(r: BenchResult) -> dict[str, float | None]:
    """The figures compared, by name with units (lower is better for all)."""
    out: dict[str, float | None] = {}
    for stage in (*STAGES, "total"):
        out[f"{stage}_us"] = r.latency_us.get(stage)
    out["sram_bytes"] = r.memory.get("sram_bytes")
    out["flash_bytes"] = r.memory.get("flash_bytes")
    for stage in (*STAGES, "total"):
        out[f"{stage}_energy_uj"] = r.energy_uj.get(stage)
    return out


def cell_identity(r: BenchResult) -> tuple[Any, ...]:
    options = tuple(str(r.options.get(k)) for k in MATCH_OPTIONS)
    return (r.model, r.target, r.kind, *options)


@dataclass
class MetricDiff:
    name: str
    a: float | None
    b: float | None
    change: float | None  # (b - a) / a; inf when a is 0 and b is not
    verdict: str  # "regression" | "improvement" | "same" | "new" | "gone"

    def to_json(self) -> dict[str, Any]:
        change = self.change if self.change is None or math.isfinite(self.change) else "inf"
        return {
            "metric": self.name,
            "a": self.a,
            "b": self.b,
            "change": change,
            "verdict": self.verdict,
        }


@dataclass
class CellDiff:
    model: str
    target: str
    kind: str
    options: dict[str, Any]
    status_a: str
    status_b: str
    metrics: list[MetricDiff] = field(default_factory=list)

    @property
    def status_verdict(self) -> str:
        ra, rb = _STATUS_RANK.get(self.status_a, 3), _STATUS_RANK.get(self.status_b, 3)
        return "regression" if rb > ra else "improvement" if rb < ra else "same"

    @property
    def regressed(self) -> bool:
        return self.status_verdict == "regression" or any(
            m.verdict == "regression" for m in self.metrics
        )

    @property
    def improved(self) -> bool:
        return not self.regressed and (
            self.status_verdict == "improvement"
            or any(m.verdict == "improvement" for m in self.metrics)
        )

    @property
    def label(self) -> str:
        opts = [str(self.options[k]) for k in ("optimise", "clock_mhz") if self.options.get(k)]
        return f"{self.model} on {self.target} ({self.kind}{', ' if opts else ''}{', '.join(opts)})"

    def to_json(self) -> dict[str, Any]:
        return {
            "model": self.model,
            "target": self.target,
            "kind": self.kind,
            "options": self.options,
            "status_a": self.status_a,
            "status_b": self.status_b,
            "status": self.status_verdict,
            "regressed": self.regressed,
            "metrics": [m.to_json() for m in self.metrics],
        }


@dataclass
class Comparison:
    a_label: str
    b_label: str
    threshold: float
    cells: list[CellDiff]
    only_a: list[str]  # cell labels present in A only
    only_b: list[str]

    @property
    def regressions(self) -> list[CellDiff]:
        return [c for c in self.cells if c.regressed]

    @property
    def improvements(self) -> list[CellDiff]:
        return [c for c in self.cells if c.improved]

    @property
    def exit_code(self) -> int:
        return 1 if self.regressions else 0

    def to_json(self) -> dict[str, Any]:
        return {
            "a": self.a_label,
            "b": self.b_label,
            "threshold": self.threshold,
            "matched": len(self.cells),
            "regressions": len(self.regressions),
            "improvements": len(self.improvements),
            "only_a": self.only_a,
            "only_b": self.only_b,
            "exit_code": self.exit_code,
            "cells": [c.to_json() for c in self.cells],
        }


def _diff_metric(name: str, a: float | None, b: float | None, threshold: float) -> MetricDiff:
    if a is None and b is None:
        return MetricDiff(name, a, b, None, "same")
    if a is None:
        return MetricDiff(name, a, b, None, "new")
    if b is None:
        return MetricDiff(name, a, b, None, "gone")
    # From zero, any rise is an infinite relative change.
    change = (0.0 if b == 0 else math.inf) if a == 0 else (b - a) / abs(a)
    verdict = (
        "regression" if change > threshold else "improvement" if change < -threshold else "same"
    )
    return MetricDiff(name, a, b, change, verdict)


def diff_results(
    a: list[BenchResult],
    b: list[BenchResult],
    threshold: float = 0.05,
    a_label: str = "A",
    b_label: str = "B",
) -> Comparison:
    """Compare two lists of results (each newest first) cell by cell."""
    newest_a: dict[tuple[Any, ...], BenchResult] = {}
    for r in a:
        newest_a.setdefault(cell_identity(r), r)
    newest_b: dict[tuple[Any, ...], BenchResult] = {}
    for r in b:
        newest_b.setdefault(cell_identity(r), r)
    cells: list[CellDiff] = []
    for key in sorted(newest_a.keys() & newest_b.keys(), key=str):
        ra, rb = newest_a[key], newest_b[key]
        ma, mb = metrics_of(ra), metrics_of(rb)
        diffs = [_diff_metric(n, ma[n], mb[n], threshold) for n in ma]
        cells.append(
            CellDiff(
                model=ra.model,
                target=ra.target,
                kind=ra.kind,
                options={k: ra.options.get(k) for k in MATCH_OPTIONS},
                status_a=ra.status,
                status_b=rb.status,
                metrics=[d for d in diffs if not (d.a is None and d.b is None)],
            )
        )

    def labels(keys: set[tuple[Any, ...]], side: dict[tuple[Any, ...], BenchResult]) -> list[str]:
        return sorted(f"{side[k].model} on {side[k].target} ({side[k].kind})" for k in keys)

    return Comparison(
        a_label=a_label,
        b_label=b_label,
        threshold=threshold,
        cells=cells,
        only_a=labels(newest_a.keys() - newest_b.keys(), newest_a),
        only_b=labels(newest_b.keys() - newest_a.keys(), newest_b),
    )


# --- choosing a side -----------------------------------------------------------------------


def _group_ids(stored: list[StoredResult]) -> list[str]:
    return sorted({s.group_id for s in stored if s.group_id})


def select(side: str, db: Path | str | None = None) -> tuple[str, list[BenchResult]]:
    """(label, results newest first) for one side of a comparison (see the module docstring)."""
    path = Path(side).expanduser()
    if path.is_file():
        with ResultStore(path) as store:
            return str(path), [s.result for s in store.query()]
    with ResultStore(db) as store:
        stored = store.query()
    tool, sep, version = side.partition(":")
    if sep and tool in TOOLCHAIN_PACKAGES:
        found = [
            s.result
            for s in stored
            if str((s.result.provenance.get("toolchains") or {}).get(tool)) == version
        ]
        if not found:
            seen = sorted(
                {str((s.result.provenance.get("toolchains") or {}).get(tool)) for s in stored}
            )
            raise CompareError(
                f"no stored result was made with {tool} {version}",
                f"versions of {tool} in the store: {', '.join(seen) or 'none'}",
            )
        return side, found
    groups = _group_ids(stored)
    if side in groups:
        chosen = side
    else:
        matches = [g for g in groups if g.startswith(side)]
        named = [g for g in groups if g.startswith(f"sweep:{side}:")]
        if len(matches) == 1:
            chosen = matches[0]
        elif named:
            # A sweep name: its newest group (the one with the newest result).
            chosen = next(s.group_id for s in stored if s.group_id in named)
        elif len(matches) > 1:
            raise CompareError(
                f"{side!r} matches {len(matches)} groups", f"give more of the id: {matches[:5]}"
            )
        else:
            near = closest_names(side, groups)
            raise CompareError(
                f"{side!r} is not a store file, a toolchain version (e.g. vela:5.2.0) or a "
                "group in the store",
                f"did you mean {', '.join(near)}?"
                if near
                else "`npubench results --json` shows each result's group; sweeps print theirs",
            )
    return chosen, [s.result for s in stored if s.group_id == chosen]


def compare(
    a: str, b: str, threshold: float | str = 0.05, db: Path | str | None = None
) -> Comparison:
    """Compare side ``a`` (the baseline) with side ``b``; see the module docstring."""
    fraction = parse_threshold(threshold) if isinstance(threshold, str) else float(threshold)
    a_label, a_results = select(a, db)
    b_label, b_results = select(b, db)
    return diff_results(a_results, b_results, fraction, a_label, b_label)


# --- rendering -----------------------------------------------------------------------------


def _fmt(value: float | None) -> str:
    if value is None:
        return "-"
    return f"{value:,.0f}" if abs(value) >= 100 else f"{value:,.3g}"


def render_table(comparison: Comparison, show_all: bool = False) -> Any:
    """A rich table of changed figures (every figure with ``show_all``)."""
    from rich.table import Table

    c = comparison
    table = Table(title=f"B = {c.b_label} vs A = {c.a_label}", title_justify="left")
    for column in ("cell", "figure", "A", "B", "change", ""):
        table.add_column(column, justify="right" if column in ("A", "B", "change") else "left")
    style = {"regression": "red", "improvement": "green", "new": "yellow", "gone": "yellow"}
    for cell in c.cells:
        if cell.status_verdict != "same":
            table.add_row(
                cell.label,
                "status",
                cell.status_a,
                cell.status_b,
                "",
                f"[{style[cell.status_verdict]}]{cell.status_verdict}",
            )
        for m in cell.metrics:
            if m.verdict == "same" and not show_all:
                continue
            change = (
                "" if m.change is None else ("+inf" if math.isinf(m.change) else f"{m.change:+.1%}")
            )
            verdict = f"[{style[m.verdict]}]{m.verdict}" if m.verdict in style else ""
            table.add_row(cell.label, m.name, _fmt(m.a), _fmt(m.b), change, verdict)
    return table


def print_comparison(comparison: Comparison, console: Any, show_all: bool = False) -> None:
    """A one-line verdict, the table of changes, then the cells found on one side only."""
    c = comparison
    verdict = "[red]REGRESSION[/red]" if c.regressions else "[green]no regression[/green]"
    console.print(
        f"{verdict}: {len(c.regressions)} cells regressed, {len(c.improvements)} improved, "
        f"{len(c.cells)} matched (threshold {c.threshold:.1%}; A = {c.a_label}, B = {c.b_label})"
    )
    table = render_table(comparison, show_all)
    if table.row_count:
        console.print(table)
    for side, labels in (("A", comparison.only_a), ("B", comparison.only_b)):
        if labels:
            console.print(
                f"[yellow]{len(labels)} cells only in {side}:[/yellow] "
                + "; ".join(labels[:10])
                + (" ..." if len(labels) > 10 else "")
            )
