"""Validation: every reference measurement predicted, in sample and out of sample.

May import the ``predict`` modules. From a calibration run (the cases, each group's fit and
its cross-validation) it builds the table ``npubench validate`` prints: per row, what
``npubench predict`` says now (the shipped or user-fitted parameters) with its interval, and
what the leave-one-model-out and leave-one-source-out refits say for the row held out; per board
and per family, the median and worst ratio error of each and the coverage of the 90 % intervals.
A ratio error is max(predicted/measured, measured/predicted): 1.25 means 25 % off either way.
"""

from __future__ import annotations

import math
import statistics
from collections.abc import Sequence
from dataclasses import asdict, dataclass, field
from typing import Any

from npubench.predict.calibration.cases import Case
from npubench.predict.calibration.crossval import GroupValidation, HeldOut
from npubench.predict.cpu_cost import load_deployed_kernels
from npubench.predict.parameters import load_params


def ratio_error(predicted: float, measured: float) -> float:
    return math.exp(abs(math.log(predicted / measured)))


@dataclass
class RowValidation:
    id: str
    board: str
    family: str
    model: str
    clock_mhz: float
    measured_us: float
    predicted_us: float
    low_us: float
    high_us: float
    basis: str  # "calibrated", "datasheet", ...
    analysis: str  # "int8" or "analytical"
    lomo_us: float | None = None
    loso_us: float | None = None
    source: str = ""

    @property
    def ratio(self) -> float:
        return self.predicted_us / self.measured_us

    @property
    def error(self) -> float:
        return ratio_error(self.predicted_us, self.measured_us)

    @property
    def inside(self) -> bool:
        return self.low_us <= self.measured_us <= self.high_us

    @property
    def lomo_error(self) -> float | None:
        return None if self.lomo_us is None else ratio_error(self.lomo_us, self.measured_us)

    @property
    def loso_error(self) -> float | None:
        return None if self.loso_us is None else ratio_error(self.loso_us, self.measured_us)

    def to_json(self) -> dict[str, Any]:
        data = asdict(self)
        data.update(
            ratio=self.ratio,
            error=self.error,
            inside=self.inside,
            lomo_error=self.lomo_error,
            loso_error=self.loso_error,
        )
        return data


def _summary(values: Sequence[float | None]) -> dict[str, float | int | None]:
    xs = [v for v in values if v is not None]
    if not xs:
        return {"n": 0, "median": None, "worst": None}
    return {"n": len(xs), "median": statistics.median(xs), "worst": max(xs)}


@dataclass
class ScopeSummary:
    """Errors of one board or one family."""

    scope: str
    n: int
    in_sample: dict[str, float | int | None]
    lomo: dict[str, float | int | None]
    loso: dict[str, float | int | None]
    coverage: float | None  # of the current intervals on the rows
    lomo_coverage: float | None = None
    loso_coverage: float | None = None


@dataclass
class ValidationReport:
    rows: list[RowValidation]
    boards: list[ScopeSummary]
    families: list[ScopeSummary]
    excluded: list[dict[str, str]] = field(default_factory=list)
    notes: list[str] = field(default_factory=list)

    def to_json(self) -> dict[str, Any]:
        return {
            "rows": [r.to_json() for r in self.rows],
            "boards": [asdict(b) for b in self.boards],
            "families": [asdict(f) for f in self.families],
            "excluded": self.excluded,
            "notes": self.notes,
        }


def current_estimate(case: Case) -> tuple[float, float, float, str]:
    """What ``npubench predict`` says for the case now: (µs, low, high, basis)."""
    params = load_params(case.board)
    candidate = None
    if case.compiled:
        npu = case.board.npu
        override = params.memory_overrides.get(npu.weights_memory or "") if npu else None
        figure = override.get("bandwidth_bytes_per_cycle") if override else None
        candidate = figure.value if figure is not None else case.compiled_prior
    estimate = case.predict_estimate(params, load_deployed_kernels(), candidate)
    kernels = load_deployed_kernels()
    if case.board.has_npu:
        basis = "calibrated" if params.calibrated else "datasheet"
    else:
        basis = "calibrated" if "calibrated on" in kernels.basis else "assumption"
    return estimate.value_us, estimate.low_us, estimate.high_us, basis


def _coverage(rows: Sequence[RowValidation]) -> float | None:
    return sum(r.inside for r in rows) / len(rows) if rows else None


def _scope(
    name: str, rows: Sequence[RowValidation], groups: Sequence[GroupValidation]
) -> ScopeSummary:
    covered = [g for g in groups if any(r.id in g.fit.residuals for r in rows)]
    lomo_cov = covered[0].lomo_coverage if len(covered) == 1 else None
    loso_cov = covered[0].loso_coverage if len(covered) == 1 else None
    return ScopeSummary(
        scope=name,
        n=len(rows),
        in_sample=_summary([r.error for r in rows]),
        lomo=_summary([r.lomo_error for r in rows]),
        loso=_summary([r.loso_error for r in rows]),
        coverage=_coverage(rows),
        lomo_coverage=lomo_cov,
        loso_coverage=loso_cov,
    )


def build_report(
    cases: Sequence[Case],
    groups: Sequence[GroupValidation],
    excluded: Sequence[dict[str, str]] = (),
) -> ValidationReport:
    held: dict[tuple[str, str], HeldOut] = {}
    for g in groups:
        for h in g.lomo:
            held[("lomo", h.row_id)] = h
        for h in g.loso:
            held[("loso", h.row_id)] = h
    rows: list[RowValidation] = []
    for case in cases:
        value, low, high, basis = current_estimate(case)
        lomo = held.get(("lomo", case.row.id))
        loso = held.get(("loso", case.row.id))
        rows.append(
            RowValidation(
                id=case.row.id,
                board=case.board.name,
                family=case.board.family,
                model=case.row.model,
                clock_mhz=case.row.clock_mhz,
                measured_us=case.measured_us,
                predicted_us=value,
                low_us=low,
                high_us=high,
                basis=basis,
                analysis=case.analysis_basis,
                lomo_us=lomo.predicted_us if lomo else None,
                loso_us=loso.predicted_us if loso else None,
                source=case.row.source,
            )
        )
    boards = [
        _scope(b, [r for r in rows if r.board == b], groups)
        for b in sorted({r.board for r in rows})
    ]
    families = [
        _scope(f, [r for r in rows if r.family == f], groups)
        for f in sorted({r.family for r in rows})
    ]
    return ValidationReport(rows, boards, families, list(excluded))
