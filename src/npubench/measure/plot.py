"""Plots of power traces: the whole capture with its active windows shaded and the baseline
drawn, plus a zoom on each of the first windows (they are often a few ms in a long capture).

Uses matplotlib's Agg backend (no display needed). May import ``npubench.measure.trace``,
``npubench.measure.windows`` and ``npubench.measure.stage_power``.
"""

from __future__ import annotations

from pathlib import Path
from typing import TYPE_CHECKING

import numpy as np

from npubench.measure.windows import TraceAnalysis

if TYPE_CHECKING:
    from matplotlib.axes import Axes
    from matplotlib.figure import Figure

    from npubench.measure.stage_power import StagePowerResult

MAX_ZOOMS = 3
_WINDOW_COLOUR = "tab:orange"
_TRACE_COLOUR = "tab:blue"
_BASELINE_COLOUR = "tab:green"


def _figure(rows: int, width: float = 11.0) -> tuple[Figure, list[Axes]]:
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    heights = [1.4] + [1.0] * (rows - 1)
    fig, axes = plt.subplots(
        rows, 1, figsize=(width, 2.6 + 2.4 * rows), gridspec_kw={"height_ratios": heights}
    )
    return fig, list(np.atleast_1d(axes))


def _draw_baselines(ax: Axes, analysis: TraceAnalysis) -> None:
    t = analysis.trace.time_ms
    span = analysis.params.baseline_ms
    for number, w in enumerate(analysis.windows):
        label = "baseline (before / after)" if number == 0 else None
        ax.hlines(
            w.baseline_before_mw,
            max(w.start_ms - span, t[0]),
            w.start_ms,
            colors=_BASELINE_COLOUR,
            linestyles="--",
            linewidth=1.4,
            label=label,
        )
        ax.hlines(
            w.baseline_after_mw,
            w.end_ms,
            min(w.end_ms + span, t[-1]),
            colors=_BASELINE_COLOUR,
            linestyles="--",
            linewidth=1.4,
        )
    if not analysis.windows:
        ax.axhline(analysis.baseline_mw, color=_BASELINE_COLOUR, linestyle="--", label="baseline")


def plot_analysis(analysis: TraceAnalysis, path: str | Path, title: str | None = None) -> Path:
    """Write a PNG of the trace, its windows and baselines; returns the path."""
    import matplotlib.pyplot as plt

    path = Path(path)
    trace = analysis.trace
    t, p = trace.time_ms, trace.power_mw
    zooms = analysis.windows[:MAX_ZOOMS]
    fig, axes = _figure(1 + len(zooms))
    overview = axes[0]
    overview.plot(t, p, color=_TRACE_COLOUR, linewidth=0.8, label="power")
    for number, w in enumerate(analysis.windows, start=1):
        overview.axvspan(
            w.start_ms,
            w.end_ms,
            color=_WINDOW_COLOUR,
            alpha=0.3,
            label="active window" if number == 1 else None,
        )
        overview.annotate(
            f"#{number}",
            (w.end_ms, w.peak_power_mw),
            textcoords="offset points",
            xytext=(4, -4),
            fontsize=9,
        )
    _draw_baselines(overview, analysis)
    name = Path(trace.source).name if trace.source else "trace"
    overview.set_title(
        title
        or f"{name}: {len(analysis.windows)} active window(s), "
        f"{trace.sample_rate_hz / 1e3:.4g} kS/s, noise {analysis.noise_mw:.3g} mW"
    )
    overview.set_xlabel("time (ms)")
    overview.set_ylabel("power (mW)")
    overview.grid(alpha=0.3)
    overview.legend(loc="best", fontsize=8)

    for number, (ax, w) in enumerate(zip(axes[1:], zooms, strict=True), start=1):
        margin = max(2.0 * w.duration_ms, 10 * trace.sample_period_ms)
        view = (t >= w.start_ms - margin) & (t <= w.end_ms + margin)
        ax.plot(t[view], p[view], color=_TRACE_COLOUR, marker=".", markersize=3, linewidth=0.8)
        inside = (t >= w.start_ms) & (t <= w.end_ms)
        ax.fill_between(
            t[inside],
            np.interp(
                t[inside], [w.start_ms, w.end_ms], [w.baseline_before_mw, w.baseline_after_mw]
            ),
            p[inside],
            color=_WINDOW_COLOUR,
            alpha=0.35,
            label="net energy",
        )
        ax.axvspan(w.start_ms, w.end_ms, color=_WINDOW_COLOUR, alpha=0.1)
        ax.hlines(
            [w.baseline_before_mw, w.baseline_after_mw],
            [w.start_ms - margin, w.end_ms],
            [w.start_ms, w.end_ms + margin],
            colors=_BASELINE_COLOUR,
            linestyles="--",
            linewidth=1.4,
            label="baseline",
        )
        ax.set_xlim(w.start_ms - margin, w.end_ms + margin)
        ax.set_title(
            f"window #{number}: {w.start_ms:.3f}-{w.end_ms:.3f} ms ({w.duration_ms:.3f} ms), "
            f"mean {w.mean_power_mw:.2f} mW, peak {w.peak_power_mw:.2f} mW, "
            f"energy {w.energy_uj:.2f} µJ, net {w.net_energy_uj:.2f} µJ",
            fontsize=9,
        )
        ax.set_xlabel("time (ms)")
        ax.set_ylabel("power (mW)")
        ax.grid(alpha=0.3)
        ax.legend(loc="best", fontsize=8)
    fig.tight_layout()
    fig.savefig(path, dpi=110)
    plt.close(fig)
    return path


def plot_stages(result: StagePowerResult, path: str | Path) -> Path:
    """Write a PNG of a trace with each stage's span shaded and labelled; returns the path."""
    import matplotlib.pyplot as plt

    path = Path(path)
    trace = result.trace
    fig, axes = _figure(1)
    ax = axes[0]
    ax.plot(trace.time_ms, trace.power_mw, color=_TRACE_COLOUR, linewidth=0.8, label="power")
    colours = plt.get_cmap("tab10").colors
    for number, stage in enumerate(result.stages):
        ax.axvspan(
            stage.start_ms,
            stage.end_ms,
            color=colours[number % len(colours)],
            alpha=0.3,
            label=f"{stage.stage}: {stage.energy_uj:.3g} µJ",
        )
    ax.axhline(result.baseline_mw, color=_BASELINE_COLOUR, linestyle="--", label="idle baseline")
    ax.set_xlabel("time (ms)")
    ax.set_ylabel("power (mW)")
    ax.set_title(f"per-stage power ({result.method})")
    ax.grid(alpha=0.3)
    ax.legend(loc="best", fontsize=8)
    fig.tight_layout()
    fig.savefig(path, dpi=110)
    plt.close(fig)
    return path
