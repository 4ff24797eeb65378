"""Statistics over repeated measurements (latency per stage, energy per inference, ...).

``summarize(values)`` gives the median, quartiles and interquartile range (numpy's default
linear interpolation, i.e. Hyndman-Fan type 7), mean, sample standard deviation (ddof=1), min and
max, and a distribution-free confidence interval of the median from order statistics: with n
values the number below the true median is Binomial(n, 1/2), so [x(k), x(n-k+1)] covers the
median with probability sum_{i=k}^{n-k} C(n, i) / 2^n; k is the largest rank reaching the
requested level. No bootstrap, so no seed and the same data always give the same interval. With
fewer than 6 values no interval reaches 95 %; the range [min, max] is returned with its (lower)
achieved level and a warning.

Warnings (plain strings in the result) flag too few repetitions (< 5) and a high spread
(IQR / median > 10 %).

May import ``npubench.errors`` only.
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from dataclasses import asdict, dataclass, field
from typing import Any

import numpy as np

from npubench.errors import MeasurementError

MIN_REPETITIONS = 5
MAX_RELATIVE_IQR = 0.10


@dataclass(frozen=True)
class RepetitionStats:
    """Summary of n repeated measurements of one quantity."""

    n: int
    median: float
    q1: float
    q3: float
    iqr: float
    mean: float
    std: float
    min: float
    max: float
    ci_low: float
    ci_high: float
    ci_level: float
    """The interval's actual coverage (>= the requested level unless n is too small)."""
    ci_method: str = "order statistics (binomial), distribution-free"
    unit: str = ""
    warnings: list[str] = field(default_factory=list)

    @property
    def relative_iqr(self) -> float:
        return self.iqr / abs(self.median) if self.median else math.inf

    def to_json(self) -> dict[str, Any]:
        data = asdict(self)
        data["relative_iqr"] = self.relative_iqr
        return data


def median_ci_ranks(n: int, confidence: float = 0.95) -> tuple[int, int, float]:
    """1-based ranks (k, n-k+1) of the order-statistic interval of the median and its coverage."""
    if n < 1:
        raise ValueError("n must be positive")
    total = 2**n

    def coverage(k: int) -> float:
        return sum(math.comb(n, i) for i in range(k, n - k + 1)) / total

    best = 1
    for k in range(1, n // 2 + 1):
        if coverage(k) >= confidence:
            best = k
        else:
            break
    return best, n - best + 1, coverage(best)


def summarize(
    values: Sequence[float] | np.ndarray,
    *,
    confidence: float = 0.95,
    unit: str = "",
    name: str = "the measurement",
) -> RepetitionStats:
    """Median, IQR, mean, std, min/max and the median's confidence interval, with warnings."""
    data = np.asarray(values, dtype=np.float64).reshape(-1)
    if data.size == 0:
        raise MeasurementError(
            f"no repetitions of {name} to summarise", hint="run the measurement at least once"
        )
    if not np.all(np.isfinite(data)):
        bad = int(np.count_nonzero(~np.isfinite(data)))
        raise MeasurementError(
            f"{bad} of {data.size} repetitions of {name} are NaN or infinite",
            hint="drop the failed repetitions (and say so) before summarising",
        )
    if not 0.0 < confidence < 1.0:
        raise MeasurementError(
            f"confidence {confidence} is not between 0 and 1", hint="use e.g. 0.95"
        )
    ordered = np.sort(data)
    n = int(ordered.size)
    q1, median, q3 = (float(x) for x in np.percentile(ordered, [25, 50, 75]))
    low_rank, high_rank, level = median_ci_ranks(n, confidence)
    warnings = []
    if n < MIN_REPETITIONS:
        warnings.append(
            f"only {n} repetition(s) of {name}: at least {MIN_REPETITIONS} are needed for a "
            "meaningful spread"
        )
    if level < confidence:
        warnings.append(
            f"with {n} repetitions the median's interval [min, max] covers only "
            f"{level:.1%}, below the requested {confidence:.0%}: repeat at least "
            f"{_repetitions_for(confidence)} times"
        )
    iqr = q3 - q1
    if median != 0 and iqr / abs(median) > MAX_RELATIVE_IQR:
        warnings.append(
            f"high spread in {name}: IQR is {iqr / abs(median):.0%} of the median "
            f"(> {MAX_RELATIVE_IQR:.0%}); check for interference (other load, clock changes, "
            "caches) or repeat more"
        )
    return RepetitionStats(
        n=n,
        median=median,
        q1=q1,
        q3=q3,
        iqr=iqr,
        mean=float(ordered.mean()),
        std=float(ordered.std(ddof=1)) if n > 1 else 0.0,
        min=float(ordered[0]),
        max=float(ordered[-1]),
        ci_low=float(ordered[low_rank - 1]),
        ci_high=float(ordered[high_rank - 1]),
        ci_level=level,
        unit=unit,
        warnings=warnings,
    )


def _repetitions_for(confidence: float) -> int:
    """The smallest n whose [min, max] reaches the confidence level."""
    n = 1
    while 1.0 - 2.0 / 2**n < confidence:
        n += 1
    return n
