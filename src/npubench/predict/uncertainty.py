"""Intervals on predicted figures: how a spread is stated, derived from residuals, and combined.

Two kinds of spread:

- ``relative`` (±r): for parameters fitted to measurements. ``r`` is the largest relative residual
  of the fit on its own data (with a floor, because a fit through two points has zero residual
  and still does not know the next model). In-sample residuals underestimate the error on an
  unseen model; the floor and the stated per-stage bounds in the tests keep that visible.
- ``factor`` (×/÷ f): for figures from datasheets or assumptions only. Multiplicative because the
  errors of such figures are multiplicative (a utilisation guess, a bus width): the paper this
  project follows (Millar et al., MobiCom 2025) shows measured NPU latency that fails to scale
  with MACs by 2-3x across models, and per-model measured/estimated ratios from 0.7x to 1.2x even
  where the vendor's own compiler estimate exists.

Combining stages: the interval of a sum is the sum of the bounds (lows add, highs add). That is
the conservative choice: it assumes the stage errors are fully correlated (e.g. one wrong clock
assumption moves every stage the same way), so the total's interval is never narrower than the
stages justify. Intervals of products (energy = power × time) multiply the bounds, since both
factors are non-negative.

May import nothing from npubench but ``errors``.
"""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from typing import Literal

from npubench.errors import NpubenchError

SpreadKind = Literal["relative", "factor"]


class UncertaintyError(NpubenchError):
    """A spread that cannot be an interval (negative, or a factor below 1)."""


@dataclass(frozen=True)
class Spread:
    """How far a figure may be off: ±value (relative) or ×/÷ value (factor)."""

    kind: SpreadKind
    value: float
    source: str = ""

    def __post_init__(self) -> None:
        if self.kind == "relative" and not 0.0 <= self.value < 1.0:
            raise UncertaintyError(
                f"relative spread {self.value} is outside [0, 1)",
                "state large spreads as a factor instead",
            )
        if self.kind == "factor" and self.value < 1.0:
            raise UncertaintyError(f"factor spread {self.value} is below 1", "use a factor >= 1")

    def bounds(self, value: float) -> tuple[float, float]:
        """The interval around a non-negative ``value``."""
        if self.kind == "relative":
            return value * (1.0 - self.value), value * (1.0 + self.value)
        return value / self.value, value * self.value

    def widened(self, factor: float) -> Spread:
        """This spread made ``factor`` times wider (as a factor for factor spreads)."""
        if self.kind == "relative":
            wider = min(self.value * factor, 0.95)
            return Spread("relative", wider, self.source)
        return Spread("factor", self.value**factor, self.source)

    def as_factor(self) -> float:
        """The smallest factor spread that contains this one."""
        if self.kind == "factor":
            return self.value
        return max(1.0 + self.value, 1.0 / (1.0 - self.value))

    def describe(self) -> str:
        if self.kind == "relative":
            return f"±{self.value * 100:.1f}%"
        return f"×/÷{self.value:.2f}"


def chain(*spreads: Spread) -> Spread:
    """The spread of a figure that passes through several uncertain steps (errors compound)."""
    relatives = [s for s in spreads if s.kind == "relative"]
    if len(relatives) == len(spreads):
        total = 1.0
        for s in relatives:
            total *= 1.0 + s.value
        return Spread("relative", min(total - 1.0, 0.95), "; ".join(s.source for s in spreads))
    factor = 1.0
    for s in spreads:
        factor *= s.as_factor()
    return Spread("factor", factor, "; ".join(s.source for s in spreads))


def residual_spread(
    predicted: Sequence[float], measured: Sequence[float], floor: float, source: str
) -> Spread:
    """±(largest relative residual of a fit, at least ``floor``)."""
    if len(predicted) != len(measured) or not measured:
        raise UncertaintyError("residuals need as many predictions as measurements, at least one")
    worst = max(abs(p - m) / m for p, m in zip(predicted, measured, strict=True) if m > 0)
    return Spread("relative", min(max(worst, floor), 0.95), source)


def sum_bounds(bounds: Iterable[tuple[float, float]]) -> tuple[float, float]:
    """The conservative interval of a sum: lows add, highs add."""
    low = high = 0.0
    for lo, hi in bounds:
        low += lo
        high += hi
    return low, high


def product_bounds(a: tuple[float, float], b: tuple[float, float]) -> tuple[float, float]:
    """Interval of a product of two non-negative uncertain figures."""
    return a[0] * b[0], a[1] * b[1]
