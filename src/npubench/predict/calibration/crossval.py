"""Cross-validation: every fitted figure judged on data it was not fitted on.

May import the ``predict.calibration`` modules. Two schemes per group:

- leave-one-model-out (LOMO): each model's rows (all its clocks and compiler modes) held out in
  turn, the group refitted on the rest, the held-out rows predicted;
- leave-one-source-out (LOSO): each source (one board's data set) held out; its own parameters
  (a core factor, a board's utilisation) then fall back to their priors, so LOSO says how well
  npubench predicts a board nobody calibrated on.

Intervals: the ×/÷ factor holding 90 % of the LOMO residuals is the interval of a calibrated
board; the one holding 90 % of the LOSO residuals is that of an uncalibrated board of the family.
Coverage is measured honestly: each held-out point is checked against the interval sized from
the *other* points' residuals, never its own.
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from dataclasses import dataclass, field

from npubench.predict.calibration.cases import Case
from npubench.predict.calibration.fitting import FitResult, fit_group
from npubench.predict.calibration.groups import Group, interval_spread
from npubench.predict.uncertainty import Spread


@dataclass
class HeldOut:
    row_id: str
    board: str
    model: str
    predicted_us: float
    measured_us: float
    fold: str  # what was held out

    @property
    def log_ratio(self) -> float:
        return math.log(self.predicted_us / self.measured_us)

    @property
    def ratio_error(self) -> float:
        """max(p/m, m/p): 1.0 is exact, 2.0 is off by a factor of two either way."""
        return math.exp(abs(self.log_ratio))


@dataclass
class GroupValidation:
    group: str
    scope: str
    fit: FitResult
    lomo: list[HeldOut] = field(default_factory=list)
    loso: list[HeldOut] = field(default_factory=list)
    lomo_spread: Spread | None = None
    loso_spread: Spread | None = None
    lomo_coverage: float | None = None
    loso_coverage: float | None = None


def _held_out(
    group: Group, train: Sequence[Case], test: Sequence[Case], fold: str
) -> list[HeldOut]:
    result = fit_group(group, train, group.parameters(list(train) + list(test)))
    return [
        HeldOut(
            c.row.id,
            c.board.name,
            c.row.model,
            group.predict(c, result.values),
            c.measured_us,
            fold,
        )
        for c in test
    ]


def leave_one_model_out(group: Group, cases: Sequence[Case]) -> list[HeldOut]:
    out: list[HeldOut] = []
    models = sorted({c.row.model_key for c in cases})
    if len(models) < 2:
        return out
    for model in models:
        test = [c for c in cases if c.row.model_key == model]
        train = [c for c in cases if c.row.model_key != model]
        out += _held_out(group, train, test, f"model {model}")
    return out


def leave_one_source_out(group: Group, cases: Sequence[Case]) -> list[HeldOut]:
    out: list[HeldOut] = []
    for source in sorted({c.row.group for c in cases}):
        test = [c for c in cases if c.row.group == source]
        train = [c for c in cases if c.row.group != source]
        out += _held_out(group, train, test, f"source {source}")
    return out


def jackknife_coverage(points: Sequence[HeldOut]) -> float | None:
    """Share of held-out points inside the 90 % interval sized from the others' residuals."""
    if len(points) < 3:
        return None
    inside = 0
    for i, p in enumerate(points):
        others = [q.log_ratio for j, q in enumerate(points) if j != i]
        factor = interval_spread(others).value
        inside += abs(p.log_ratio) <= math.log(factor) + 1e-12
    return inside / len(points)


def validate_group(group: Group, cases: Sequence[Case]) -> GroupValidation:
    mine = group.select(cases)
    params = group.parameters(mine)
    result = fit_group(group, mine, params)
    v = GroupValidation(group.name, group.scope, result)
    v.lomo = leave_one_model_out(group, mine)
    v.loso = leave_one_source_out(group, mine)
    if v.lomo:
        v.lomo_spread = interval_spread([h.log_ratio for h in v.lomo])
        v.lomo_coverage = jackknife_coverage(v.lomo)
    if v.loso:
        v.loso_spread = interval_spread([h.log_ratio for h in v.loso])
        v.loso_coverage = jackknife_coverage(v.loso)
    return v
