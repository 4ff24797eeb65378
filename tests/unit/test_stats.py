"""Statistics over repetitions: known data, the order-statistic interval, the warnings."""

from __future__ import annotations

import math

import numpy as np
import pytest

from npubench.errors import MeasurementError
from npubench.measure.stats import median_ci_ranks, summarize


def test_known_data_one_to_nine() -> None:
    stats = summarize([9, 1, 8, 2, 7, 3, 6, 4, 5], unit="us")
    assert stats.n == 9
    assert stats.median == 5 and stats.q1 == 3 and stats.q3 == 7 and stats.iqr == 4
    assert stats.mean == 5
    assert stats.std == pytest.approx(math.sqrt(7.5))  # sample std, ddof=1
    assert (stats.min, stats.max) == (1, 9)
    # n=9: P(2 <= Bin(9, 1/2) <= 7) = 1 - 2 (1 + 9) / 512 = 0.9609 >= 0.95; k=3 gives 0.82.
    assert (stats.ci_low, stats.ci_high) == (2, 8)
    assert stats.ci_level == pytest.approx(1 - 20 / 512)
    assert stats.unit == "us"
    # IQR / median = 80 %: flagged.
    assert len(stats.warnings) == 1 and "80%" in stats.warnings[0]


def test_tight_data_has_no_warnings() -> None:
    values = [100.0, 100.4, 99.8, 100.1, 99.9, 100.2, 100.0, 99.7, 100.3, 100.1]
    stats = summarize(values)
    assert stats.warnings == []
    assert stats.median == pytest.approx(100.05)
    assert stats.ci_low <= stats.median <= stats.ci_high
    assert stats.relative_iqr < 0.01


def test_few_repetitions_warn_and_fall_back_to_the_range() -> None:
    stats = summarize([10.0, 11.0, 10.5])
    assert (stats.ci_low, stats.ci_high) == (10.0, 11.0)
    assert stats.ci_level == pytest.approx(0.75)  # 1 - 2 / 2**3
    text = " ".join(stats.warnings)
    assert "only 3 repetition" in text
    assert "covers only 75.0%" in text and "at least 6 times" in text


@pytest.mark.parametrize(
    ("n", "low", "high", "coverage"),
    [
        (6, 1, 6, 1 - 2 / 64),
        (10, 2, 9, 1 - 2 * (1 + 10) / 1024),
        (20, 6, 15, 0.9586),  # the textbook ranks for n=20
    ],
)
def test_median_ci_ranks(n: int, low: int, high: int, coverage: float) -> None:
    k_low, k_high, level = median_ci_ranks(n)
    assert (k_low, k_high) == (low, high)
    assert level == pytest.approx(coverage, abs=1e-4)


def test_interval_covers_the_true_median_at_the_stated_rate() -> None:
    # Exponential data (skewed): the distribution-free interval still covers the true median
    # (ln 2) at least 95 % of the time.
    rng = np.random.default_rng(0)
    hits = 0
    trials = 2000
    for _ in range(trials):
        stats = summarize(rng.exponential(size=15))
        hits += stats.ci_low <= math.log(2) <= stats.ci_high
    assert hits / trials >= 0.94
    assert summarize(rng.exponential(size=15)).ci_level >= 0.95


def test_single_value() -> None:
    stats = summarize([42.0])
    assert stats.median == stats.ci_low == stats.ci_high == 42.0 and stats.std == 0.0
    assert any("only 1 repetition" in w for w in stats.warnings)


def test_nan_and_empty_are_refused() -> None:
    with pytest.raises(MeasurementError, match="1 of 3 repetitions of latency are NaN"):
        summarize([1.0, float("nan"), 2.0], name="latency")
    with pytest.raises(MeasurementError, match="no repetitions"):
        summarize([])


def test_to_json_round_trips_the_numbers() -> None:
    data = summarize([1, 2, 3, 4, 5, 6]).to_json()
    assert data["median"] == 3.5 and data["n"] == 6 and "relative_iqr" in data
    assert data["ci_method"].startswith("order statistics")
