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
figure compared (latency per stage, memory, energy). A figure regressed only when it rose by
more than the threshold AND the two results' intervals are disjoint (B's low end above A's
high end); an improvement is the mirror image. A change beyond the threshold whose intervals
overlap is reported as ``overlap``, not flagged: the difference is within the uncertainty.
The intervals are

- predicted results: ``latency_us_low``/``latency_us_high`` for the total and
  ``details["latency_us_intervals"]`` per stage (``details["energy_uj_intervals"]`` for energy);
- measured results: the per-stage confidence intervals of ``details["stages"][stage]``
  (``ci_low``, ``ci_high``), the total's ``latency_us_low``/``latency_us_high``, and the power
  capture's per-stage energy intervals;
- compiled results and memory figures: none. A compiler's figure is exact, so the threshold
  alone decides (``MetricDiff.basis`` says which rule applied). A side without an interval
  counts as the point it is.

A cell that failed or stopped fitting in B is a regression too. Measured runs are compared
only when their firmware hash, clock and tick source agree (``MeasuredSamples``): timings from
another image or another timer are not the same experiment; ``force=True`` (``--force``)
compares them anyway, with a warning per cell. ``Comparison.exit_code`` is 0 without
regressions, 1 with (or when a side had unreadable rows, which are skipped and named).
"""

from __future__ import annotations

import math
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from npubench import STAGES
from npubench.console import styled
from npubench.errors import ExitStatus, UsageError, closest_names
from npubench.provenance import TOOLCHAIN_PACKAGES
from npubench.schema import BenchResult
from npubench.store import ResultStore, StoredResult, describe_bad_rows

MATCH_OPTIONS: tuple[str, ...] = ("optimise", "clock_mhz", "calibration", "input_shape", "seed")
_STATUS_RANK = {"ok": 0, "incomplete": 1, "does_not_fit": 2, "failed": 3}


class CompareError(UsageError):
    """A side of a comparison that selects nothing, or a malformed threshold (exit 2)."""


class IncomparableRunsError(CompareError):
    """Measured runs made with another firmware image, clock or timer (exit 2 unless forced)."""

    exit_code = ExitStatus.USAGE


Interval = tuple[float, float]
BASIS_INTERVALS = "threshold and disjoint intervals"
BASIS_THRESHOLD = "threshold only (no interval on either side)"


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


def _interval(low: Any, high: Any) -> Interval | None:
    ok = all(isinstance(v, int | float) and not isinstance(v, bool) for v in (low, high))
    if not ok or not (math.isfinite(low) and math.isfinite(high)) or low > high:
        return None
    return float(low), float(high)


def _pair(value: Any) -> Interval | None:
    if isinstance(value, list | tuple) and len(value) == 2:
        return _interval(value[0], value[1])
    return None


def _ci(stats: Any) -> Interval | None:
    if isinstance(stats, dict):
        return _interval(stats.get("ci_low"), stats.get("ci_high"))
    return None


def intervals_of(r: BenchResult) -> dict[str, Interval]:
    """The uncertainty interval of each figure of ``metrics_of`` that has one (module doc)."""
    out: dict[str, Interval] = {}
    details = r.details if isinstance(r.details, dict) else {}
    total = _interval(r.latency_us_low, r.latency_us_high)
    if r.kind == "compiled":
        return out  # a compiler's figures are exact: no interval
    if total is not None:
        out["total_us"] = total
    if r.kind == "predicted":
        latency = details.get("latency_us_intervals") or {}
        energy = details.get("energy_uj_intervals") or {}
        for stage in (*STAGES, "total"):
            if isinstance(latency, dict) and (iv := _pair(latency.get(stage))) is not None:
                out.setdefault(f"{stage}_us", iv)
            if isinstance(energy, dict) and (iv := _pair(energy.get(stage))) is not None:
                out[f"{stage}_energy_uj"] = iv
    elif r.kind == "measured":
        stages = details.get("stages") or {}
        power = (details.get("power") or {}).get("stages") or {}
        for stage in STAGES:
            if isinstance(stages, dict) and (iv := _ci(stages.get(stage))) is not None:
                out[f"{stage}_us"] = iv
            per_stage = power.get(stage) if isinstance(power, dict) else None
            if isinstance(per_stage, dict) and (iv := _ci(per_stage.get("energy_uj"))) is not None:
                out[f"{stage}_energy_uj"] = iv
        if "total_us" not in out and (iv := _ci(details.get("total"))) is not None:
            out["total_us"] = iv
    return out


def measurement_setup(r: BenchResult) -> dict[str, Any]:
    """What must agree for two measured runs to be comparable: firmware, clock, timer."""
    s = r.samples
    if s is not None:
        return {
            "firmware_sha256": s.firmware_sha256,
            "clock_mhz": s.clock_mhz,
            "tick_source": s.tick_source,
        }
    provenance = r.provenance if isinstance(r.provenance, dict) else {}
    return {
        "firmware_sha256": provenance.get("firmware_sha256"),
        "clock_mhz": r.clock_mhz,
        "tick_source": f"tick_hz={provenance.get('tick_hz')}",
    }


def setup_differences(a: BenchResult, b: BenchResult) -> list[str]:
    """How two measured runs' setups differ (empty when comparable)."""
    sa, sb = measurement_setup(a), measurement_setup(b)
    out = []
    for key in ("firmware_sha256", "clock_mhz", "tick_source"):
        va, vb = sa[key], sb[key]
        if key == "clock_mhz" and isinstance(va, int | float) and isinstance(vb, int | float):
            if math.isclose(va, vb, rel_tol=1e-9):
                continue
        elif va == vb:
            continue
        out.append(f"{key} {va} vs {vb}")
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
    verdict: str  # "regression" | "improvement" | "overlap" | "same" | "new" | "gone"
    a_interval: Interval | None = None
    b_interval: Interval | None = None
    basis: str = BASIS_THRESHOLD

    def to_json(self) -> dict[str, Any]:
        change = self.change if self.change is None or math.isfinite(self.change) else "inf"
        return {
            "metric": self.name,
            "a": self.a,
            "b": self.b,
            "change": change,
            "verdict": self.verdict,
            "a_interval": list(self.a_interval) if self.a_interval else None,
            "b_interval": list(self.b_interval) if self.b_interval else None,
            "basis": self.basis,
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
    warnings: list[str] = field(default_factory=list)

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
            "warnings": list(self.warnings),
        }


@dataclass
class Comparison:
    a_label: str
    b_label: str
    threshold: float
    cells: list[CellDiff]
    only_a: list[str]  # cell labels present in A only
    only_b: list[str]
    skipped_rows: list[str] = field(default_factory=list)  # unreadable store rows, per side
    forced: bool = False

    @property
    def regressions(self) -> list[CellDiff]:
        return [c for c in self.cells if c.regressed]

    @property
    def improvements(self) -> list[CellDiff]:
        return [c for c in self.cells if c.improved]

    @property
    def warnings(self) -> list[str]:
        return [f"{c.label}: {w}" for c in self.cells for w in c.warnings] + self.skipped_rows

    @property
    def exit_code(self) -> int:
        return 1 if self.regressions or self.skipped_rows else 0

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
            "forced": self.forced,
            "warnings": self.warnings,
            "cells": [c.to_json() for c in self.cells],
        }


def _diff_metric(
    name: str,
    a: float | None,
    b: float | None,
    threshold: float,
    a_interval: Interval | None = None,
    b_interval: Interval | None = None,
) -> MetricDiff:
    if a is None and b is None:
        return MetricDiff(name, a, b, None, "same")
    if a is None:
        return MetricDiff(name, a, b, None, "new", b_interval=b_interval)
    if b is None:
        return MetricDiff(name, a, b, None, "gone", a_interval=a_interval)
    # From zero, any rise is an infinite relative change.
    change = (0.0 if b == 0 else math.inf) if a == 0 else (b - a) / abs(a)
    basis = BASIS_THRESHOLD if a_interval is None and b_interval is None else BASIS_INTERVALS
    # A side without an interval is the point it is.
    a_lo, a_hi = a_interval or (a, a)
    b_lo, b_hi = b_interval or (b, b)
    if change > threshold:
        verdict = "regression" if b_lo > a_hi else "overlap"
    elif change < -threshold:
        verdict = "improvement" if b_hi < a_lo else "overlap"
    else:
        verdict = "same"
    return MetricDiff(name, a, b, change, verdict, a_interval, b_interval, basis)


def diff_results(
    a: list[BenchResult],
    b: list[BenchResult],
    threshold: float = 0.05,
    a_label: str = "A",
    b_label: str = "B",
    force: bool = False,
) -> Comparison:
    """Compare two lists of results (each newest first) cell by cell.

    Measured cells whose firmware, clock or tick source differ raise
    ``IncomparableRunsError`` unless ``force`` (then each such cell carries a warning).
    """
    newest_a: dict[tuple[Any, ...], BenchResult] = {}
    for r in a:
        newest_a.setdefault(cell_identity(r), r)
    newest_b: dict[tuple[Any, ...], BenchResult] = {}
    for r in b:
        newest_b.setdefault(cell_identity(r), r)
    cells: list[CellDiff] = []
    incomparable: list[str] = []
    for key in sorted(newest_a.keys() & newest_b.keys(), key=str):
        ra, rb = newest_a[key], newest_b[key]
        ma, mb = metrics_of(ra), metrics_of(rb)
        ia, ib = intervals_of(ra), intervals_of(rb)
        diffs = [_diff_metric(n, ma[n], mb[n], threshold, ia.get(n), ib.get(n)) for n in ma]
        cell = CellDiff(
            model=ra.model,
            target=ra.target,
            kind=ra.kind,
            options={k: ra.options.get(k) for k in MATCH_OPTIONS},
            status_a=ra.status,
            status_b=rb.status,
            metrics=[d for d in diffs if not (d.a is None and d.b is None)],
        )
        if ra.kind == "measured" and (differences := setup_differences(ra, rb)):
            text = "measured with another setup: " + ", ".join(differences)
            incomparable.append(f"{cell.label}: {text}")
            cell.warnings.append(text + " (compared because forced)")
        cells.append(cell)
    if incomparable and not force:
        raise IncomparableRunsError(
            f"{len(incomparable)} measured cell(s) of {a_label} and {b_label} were not measured "
            "the same way: "
            + "; ".join(incomparable[:5])
            + (" ..." if len(incomparable) > 5 else ""),
            "timings from another firmware image, clock or timer are another experiment; pass "
            "--force (force=True) to compare them anyway",
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
        forced=force and bool(incomparable),
    )


# --- choosing a side -----------------------------------------------------------------------


def _group_ids(stored: list[StoredResult]) -> list[str]:
    return sorted({s.group_id for s in stored if s.group_id})


def _read_side(path: Path | str | None, skipped: list[str] | None) -> list[StoredResult]:
    with ResultStore(path, readonly=True) as store:
        stored = store.query()
        if store.bad_rows and skipped is not None:
            skipped.append(
                f"{store.path}: skipped {len(store.bad_rows)} unreadable row(s): "
                + describe_bad_rows(store.bad_rows)
            )
    return stored


def select(
    side: str, db: Path | str | None = None, skipped: list[str] | None = None
) -> tuple[str, list[BenchResult]]:
    """(label, results newest first) for one side of a comparison (see the module docstring).

    Stores are opened read-only; unreadable rows are skipped and described in ``skipped``.
    """
    path = Path(side).expanduser()
    if path.is_file():
        return str(path), [s.result for s in _read_side(path, skipped)]
    stored = _read_side(db, skipped)
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
    a: str,
    b: str,
    threshold: float | str = 0.05,
    db: Path | str | None = None,
    force: bool = False,
) -> Comparison:
    """Compare side ``a`` (the baseline) with side ``b``; see the module docstring.

    ``force`` compares measured runs made with another firmware, clock or tick source.
    """
    fraction = parse_threshold(threshold) if isinstance(threshold, str) else float(threshold)
    skipped: list[str] = []
    a_label, a_results = select(a, db, skipped)
    b_label, b_results = select(b, db, skipped)
    comparison = diff_results(a_results, b_results, fraction, a_label, b_label, force=force)
    comparison.skipped_rows = list(dict.fromkeys(skipped))
    return comparison


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
    style = {
        "regression": "red",
        "improvement": "green",
        "new": "yellow",
        "gone": "yellow",
        "overlap": "yellow",
    }
    for cell in c.cells:
        if cell.status_verdict != "same":
            table.add_row(
                cell.label,
                "status",
                cell.status_a,
                cell.status_b,
                "",
                styled((cell.status_verdict, style[cell.status_verdict])),
            )
        for m in cell.metrics:
            if m.verdict == "same" and not show_all:
                continue
            change = (
                "" if m.change is None else ("+inf" if math.isinf(m.change) else f"{m.change:+.1%}")
            )
            verdict = styled((m.verdict, style[m.verdict])) if m.verdict in style else ""
            table.add_row(cell.label, m.name, _fmt(m.a), _fmt(m.b), change, verdict)
    return table


def print_comparison(comparison: Comparison, console: Any, show_all: bool = False) -> None:
    """A one-line verdict, the table of changes, then the cells found on one side only."""
    c = comparison
    verdict = ("REGRESSION", "red") if c.regressions else ("no regression", "green")
    exact = sum(1 for cell in c.cells for m in cell.metrics if m.basis == BASIS_THRESHOLD)
    console.print(
        styled(
            verdict,
            f": {len(c.regressions)} cells regressed, {len(c.improvements)} improved, "
            f"{len(c.cells)} matched (threshold {c.threshold:.1%}, and disjoint intervals where "
            f"the results have them; A = {c.a_label}, B = {c.b_label})",
        )
    )
    if exact:
        console.print(
            f"{exact} figure(s) without an interval (compiled results, memory) were judged on "
            "the threshold alone"
        )
    table = render_table(comparison, show_all)
    if table.row_count:
        console.print(table)
    for side, labels in (("A", comparison.only_a), ("B", comparison.only_b)):
        if labels:
            console.print(
                styled(
                    (f"{len(labels)} cells only in {side}:", "yellow"),
                    " " + "; ".join(labels[:10]) + (" ..." if len(labels) > 10 else ""),
                )
            )
    for warning in c.warnings:
        console.print(styled(("warning:", "yellow"), f" {warning}"))
