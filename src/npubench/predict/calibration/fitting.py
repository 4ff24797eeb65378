"""Bounded least squares on log(predicted / measured), with scipy.

May import the ``predict.calibration`` modules. Residuals are ratios on a log scale, so a model
10x smaller weighs as much as a large one: a constant that explains the big models but dominates
the small ones shows up as large residuals on the small ones, and the bounds (physical limits:
utilisations <= 1, overheads of at most tens of µs) keep it from being chosen. Each parameter
with a prior adds one pseudo-residual (value - prior) / sigma, a weak penalty that decides what
the data leave open (e.g. a core factor with a single measurement) instead of an arbitrary
optimum; data residuals are scaled by the noise one row carries (``DATA_SIGMA``).
Parameters a training set has no data for (a held-out board's own) keep their prior.
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from dataclasses import dataclass

import numpy as np
from scipy.optimize import least_squares

from npubench.predict.calibration.cases import Case
from npubench.predict.calibration.groups import FitParam, Group

# The noise a single row carries, in log units: measurement repeatability and what the model
# cannot represent (one number per layer class). Data residuals are divided by it so that the
# priors (in the same units) weigh as one weak pseudo-observation each, not as the data.
DATA_SIGMA = 0.1


@dataclass
class FitResult:
    group: str
    values: dict[str, float]
    params: list[FitParam]
    residuals: dict[str, float]  # row id -> log(predicted / measured), in sample
    cost: float
    n_cases: int
    success: bool
    message: str


def active_parameters(params: Sequence[FitParam], cases: Sequence[Case]) -> list[FitParam]:
    """The parameters the cases can inform: a per-source parameter needs that source's data."""
    sources = {c.row.group for c in cases}
    return [p for p in params if p.per_source is None or p.per_source in sources]


def prior_values(params: Sequence[FitParam]) -> dict[str, float]:
    return {p.name: p.prior for p in params if p.prior is not None}


def fit_group(group: Group, cases: Sequence[Case], all_params: Sequence[FitParam]) -> FitResult:
    """Fit the parameters of ``group`` that ``cases`` inform; the others keep their priors."""
    params = active_parameters(all_params, cases)
    fixed = {k: v for k, v in prior_values(all_params).items() if k not in {p.name for p in params}}
    if not cases or not params:
        values = {**fixed, **prior_values(params)}
        return FitResult(group.name, values, list(params), {}, 0.0, len(cases), False, "no data")
    x0 = np.array([p.encode(min(max(p.initial, p.low), p.high)) for p in params])
    lo = np.array([p.bounds[0] for p in params])
    hi = np.array([p.bounds[1] for p in params])
    x0 = np.clip(x0, lo + 1e-9 * (hi - lo), hi - 1e-9 * (hi - lo))

    def decode(x: np.ndarray) -> dict[str, float]:
        return {**fixed, **{p.name: p.decode(float(v)) for p, v in zip(params, x, strict=True)}}

    def residuals(x: np.ndarray) -> np.ndarray:
        values = decode(x)
        out = [
            math.log(max(group.predict(c, values), 1e-9) / c.measured_us) / DATA_SIGMA
            for c in cases
        ]
        for p, v in zip(params, x, strict=True):
            if p.prior is not None:
                out.append((float(v) - p.encode(p.prior)) / p.prior_sigma)
        return np.array(out)

    solution = least_squares(
        residuals,
        x0,
        bounds=(lo, hi),
        method="trf",
        x_scale="jac",
        ftol=1e-12,
        xtol=1e-12,
        gtol=1e-12,
    )
    values = decode(solution.x)
    fitted = {
        c.row.id: math.log(max(group.predict(c, values), 1e-9) / c.measured_us) for c in cases
    }
    return FitResult(
        group=group.name,
        values=values,
        params=list(params),
        residuals=fitted,
        cost=float(solution.cost),
        n_cases=len(cases),
        success=bool(solution.success),
        message=str(solution.message),
    )
