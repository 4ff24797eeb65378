"""Static figures for papers: the HTML report's figures as matplotlib PNG/SVG/PDF files.

``write_figures(results, out_dir)`` draws every figure of ``_views.figure_plan`` (the same
plan the HTML report and the Markdown report draw from): spec sheets against silicon, latency
against MACs with ideal scaling, per model the latency per stage, the stage shares, energy and
power, memory against capacity and the NPU/CPU operator split, the emulator panel, predicted
against measured, the validation fidelity and quantization fidelity. ``DRAWERS`` has a drawer
for every figure kind. Figures are 170 mm wide (a one-column A4 page) and use the Agg backend,
so no display is needed; mathtext is off, so a ``$`` in a model name prints as typed.

May import ``npubench``, ``npubench.errors``, ``npubench.schema`` and ``npubench.report._views``.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from pathlib import Path
from typing import TYPE_CHECKING, Any

from npubench import STAGES
from npubench.errors import NpubenchError, UsageError
from npubench.report import _views as v
from npubench.schema import BenchResult

if TYPE_CHECKING:
    from matplotlib.axes import Axes
    from matplotlib.figure import Figure

FORMATS: tuple[str, ...] = ("png", "svg", "pdf")
WIDTH_IN = 170 / 25.4
PNG_DPI = 200
_MPL_DASHES = {"solid": "-", "dash": "--", "dot": ":"}


def _pyplot():  # type: ignore[no-untyped-def]
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    plt.rcParams.update(
        {
            "font.size": 8,
            "axes.titlesize": 9,
            "axes.labelsize": 8,
            "legend.fontsize": 7,
            "xtick.labelsize": 7,
            "ytick.labelsize": 7,
            "axes.spines.top": False,
            "axes.spines.right": False,
            "axes.grid": True,
            "grid.color": "#e5e5e5",
            "grid.linewidth": 0.6,
            "axes.axisbelow": True,
            "svg.fonttype": "none",  # text stays text in SVG, editable for a paper
            "text.parse_math": False,  # names are text: "$x$" is not TeX
        }
    )
    return plt


def _ms(us: float | None) -> float:
    return float("nan") if us is None else us / 1000.0


def _category_axis(ax: Axes, entries: Sequence[v.Entry], by_model: bool = False) -> list[float]:
    """x positions grouped by target (a gap between targets), labelled kind over target (or
    model over target, ``by_model``)."""
    xs: list[float] = []
    x = 0.0
    previous: str | None = None
    for e in entries:
        if previous is not None and e.target_label != previous:
            x += 0.6
        xs.append(x)
        previous = e.target_label
        x += 1.0
    ax.set_xticks(xs)
    # Kind over variant, horizontal: rotated labels would run into the target names below.
    two_lines = any(e.variant for e in entries)
    ax.set_xticklabels(
        [
            (e.result.model if by_model else e.kind) + (f"\n{e.variant}" if e.variant else "")
            for e in entries
        ],
        fontsize=6.5,
    )
    # Target names under each group of kinds.
    groups: dict[str, list[float]] = {}
    for e, pos in zip(entries, xs, strict=True):
        groups.setdefault(e.target_label, []).append(pos)
    for target, positions in groups.items():
        ax.annotate(
            target.replace(" (emulator)", "\n(emulator)"),
            xy=(sum(positions) / len(positions), 0),
            xycoords=("data", "axes fraction"),
            xytext=(0, -26 if two_lines else -18),
            textcoords="offset points",
            ha="center",
            va="top",
            fontsize=7.5,
            fontweight="bold",
        )
    ax.set_xlim(min(xs, default=0) - 0.6, max(xs, default=0) + 0.6)
    return xs


def _stage_figure(plt, plan: v.FigurePlan) -> Figure:  # type: ignore[no-untyped-def]
    bars: Sequence[v.StageBar] = plan.view
    fig, ax = plt.subplots(figsize=(WIDTH_IN, 3.2))
    xs = _category_axis(ax, [b.entry for b in bars], by_model=plan.kind == "emulator")
    bottom = [0.0] * len(bars)
    for stage in STAGES:
        heights = [_ms(b.stages_us[stage]) for b in bars]
        shown = [0.0 if h != h else h for h in heights]  # NaN (unknown) draws nothing
        ax.bar(
            xs, shown, 0.7, bottom=bottom, color=v.STAGE_COLOURS[stage], label=v.STAGE_LABELS[stage]
        )
        bottom = [b + h for b, h in zip(bottom, shown, strict=True)]
    for x, b in zip(xs, bars, strict=True):
        if b.total_us is not None and b.low_us is not None and b.high_us is not None:
            total = b.total_us / 1000
            ax.errorbar(
                x,
                total,
                yerr=[[total - b.low_us / 1000], [b.high_us / 1000 - total]],
                fmt="none",
                ecolor="black",
                elinewidth=0.9,
                capsize=3,
            )
        if b.total_us is not None:
            label = f"{b.total_us / 1000:.3g}" + ("" if b.total_complete else "*")
            top = (b.high_us if b.high_us is not None else b.total_us) / 1000
            ax.annotate(
                label,
                xy=(x, top),
                xytext=(0, 2),
                textcoords="offset points",
                ha="center",
                va="bottom",
                fontsize=6.5,
            )
        if b.note:
            ax.annotate(
                b.note,
                # Without a total the note stands on the axis (a log axis has no zero).
                xy=(x, 0 if b.total_us is None else b.total_us / 1000),
                xycoords=("data", "axes fraction") if b.total_us is None else "data",
                xytext=(0, 3 if b.total_us is None else 12),
                textcoords="offset points",
                ha="center",
                va="bottom",
                rotation=90,
                fontsize=6.5,
                color=v.DOES_NOT_FIT_COLOUR,
            )
    ax.margins(y=0.08)
    if plan.log:
        from matplotlib.ticker import FuncFormatter

        ax.set_yscale("log")
        ax.yaxis.set_major_formatter(FuncFormatter(lambda value, _: f"{value:g}"))
    ax.set_ylabel("nominal latency (ms)" if plan.kind == "emulator" else "latency (ms)")
    ax.set_title(plan.title, loc="left")
    ax.grid(axis="x", visible=False)
    ax.legend(ncols=5, loc="upper center", bbox_to_anchor=(0.5, -0.25), frameon=False)
    fig.subplots_adjust(bottom=0.3, left=0.08, right=0.99, top=0.92)
    return fig


def _energy_figure(plt, plan: v.FigurePlan) -> Figure:  # type: ignore[no-untyped-def]
    bars: Sequence[v.EnergyBar] = plan.view
    # Energy above power, sharing the categories: side by side the labels would collide.
    fig, (ax1, ax2) = plt.subplots(
        2, 1, figsize=(WIDTH_IN, 4.0), sharex=True, gridspec_kw={"height_ratios": [1.6, 1]}
    )
    xs = _category_axis(ax2, [b.entry for b in bars])
    w = 0.38
    ax1.bar(
        [x - w / 2 for x in xs],
        [b.energy_uj or 0 for b in bars],
        w,
        color="#0072B2",
        label="energy per inference",
    )
    ax1.bar(
        [x + w / 2 for x in xs],
        [b.net_energy_uj or 0 for b in bars],
        w,
        color="#56B4E9",
        label="net of idle",
    )
    ax1.set_ylabel("energy (µJ)")
    ax1.set_title(plan.title, loc="left")
    ax1.legend(frameon=False, ncols=2, loc="upper left")
    ax1.tick_params(axis="x", length=0)
    ax2.bar(xs, [b.average_power_mw or 0 for b in bars], 0.5, color="#D55E00")
    ax2.set_ylabel("average power (mW)")
    for ax in (ax1, ax2):
        ax.grid(axis="x", visible=False)
    fig.subplots_adjust(bottom=0.17, left=0.08, right=0.99, top=0.93, hspace=0.12)
    return fig


def _memory_figure(plt, plan: v.FigurePlan) -> Figure:  # type: ignore[no-untyped-def]
    rows: Sequence[v.MemoryRow] = plan.view
    fig, ax = plt.subplots(figsize=(WIDTH_IN, 0.9 + 0.28 * len(rows)))
    ys = list(range(len(rows)))
    percents = [r.percent or 0.0 for r in rows]
    ax.barh(
        ys,
        percents,
        0.6,
        color=[v.FITS_COLOUR if r.fits else v.DOES_NOT_FIT_COLOUR for r in rows],
    )
    ax.axvline(100, color="black", linestyle="--", linewidth=1)
    ax.annotate(
        "capacity",
        xy=(100, 1),
        xycoords=("data", "axes fraction"),
        xytext=(0, 2),
        textcoords="offset points",
        ha="center",
        va="bottom",
        fontsize=7,
    )
    for y, r, p in zip(ys, rows, percents, strict=True):
        cap = "?" if r.capacity_bytes is None else f"{r.capacity_bytes / 1024:.1f}"
        text = f" {r.used_bytes / 1024:.1f} / {cap} KiB"
        if not r.fits:
            text += " — does not fit"
        ax.text(
            p,
            y,
            text,
            va="center",
            fontsize=6.5,
            color="black" if r.fits else v.DOES_NOT_FIT_COLOUR,
        )
    ax.set_yticks(ys)
    ax.set_yticklabels([r.label for r in rows])
    ax.invert_yaxis()
    ax.set_xlim(0, max([100.0, *percents]) * 1.5)
    ax.set_xlabel("used (% of capacity)")
    ax.set_title(plan.title, loc="left", pad=12)
    ax.grid(axis="y", visible=False)
    fig.tight_layout()
    return fig


def _ops_figure(plt, plan: v.FigurePlan) -> Figure:  # type: ignore[no-untyped-def]
    rows: Sequence[v.OpRow] = plan.view
    fig, ax = plt.subplots(figsize=(WIDTH_IN, 0.9 + 0.3 * len(rows)))
    ys = list(range(len(rows)))
    npu = [r.npu for r in rows]
    cpu = [r.cpu for r in rows]
    ax.barh(ys, npu, 0.6, color=v.NPU_COLOUR, label="NPU")
    ax.barh(ys, cpu, 0.6, left=npu, color=v.CPU_COLOUR, label="CPU")
    for y, r in zip(ys, rows, strict=True):
        total = max(1, r.npu + r.cpu)
        ax.text(
            r.npu + r.cpu,
            y,
            f" {r.npu} NPU / {r.cpu} CPU ({100 * r.npu / total:.0f}% NPU)",
            va="center",
            fontsize=6.5,
        )
    ax.set_yticks(ys)
    ax.set_yticklabels([r.label for r in rows])
    ax.invert_yaxis()
    ax.set_xlim(0, max([1, *(r.npu + r.cpu for r in rows)]) * 1.45)
    ax.set_xlabel("operators (count)")
    ax.set_title(plan.title, loc="left")
    ax.legend(frameon=False, loc="lower right")
    ax.grid(axis="y", visible=False)
    fig.tight_layout()
    return fig


def _plain_log_axes(ax: Axes) -> None:
    """Log axes with ticks written 0.1, 1, 10 rather than as powers of ten."""
    from matplotlib.ticker import FuncFormatter, NullFormatter

    ax.set_xscale("log")
    ax.set_yscale("log")
    for axis in (ax.xaxis, ax.yaxis):
        axis.set_major_formatter(FuncFormatter(lambda value, _: f"{value:g}"))
        axis.set_minor_formatter(NullFormatter())


def _target_colours(targets: Sequence[str]) -> dict[str, str]:
    unique = list(dict.fromkeys(targets))
    return {t: v.TARGET_PALETTE[i % len(v.TARGET_PALETTE)] for i, t in enumerate(unique)}


def _scaling_figure(plt, plan: v.FigurePlan) -> Figure:  # type: ignore[no-untyped-def]
    series: Sequence[v.ScalingSeries] = plan.view
    fig, axes = plt.subplots(1, 2, figsize=(WIDTH_IN, 3.4))
    colours = _target_colours([s.target for s in series])
    for ax, attr, label in (
        (axes[0], "inference_us", "inference stage (ms)"),
        (axes[1], "total_us", "total, all stages (ms)"),
    ):
        for s in series:
            points = [p for p in s.points if getattr(p, attr) is not None]
            if not points:
                continue
            slope = v.scaling_slope(points, "total_us" if attr == "total_us" else attr)
            ax.plot(
                [p.macs / 1e6 for p in points],
                [getattr(p, attr) / 1000 for p in points],
                _MPL_DASHES[v.KIND_DASHES[s.kind]],
                marker="o",
                markersize=3.5,
                linewidth=1.1,
                color=colours[s.target],
                label=s.label + ("" if slope is None else f" · slope {slope:.2f}")
                if attr == "total_us" or all(p.total_us is None for p in s.points)
                else None,
            )
            ideal = v.ideal_line(points, attr)
            if ideal:
                ax.plot(
                    [m / 1e6 for m, _ in ideal],
                    [t / 1000 for _, t in ideal],
                    "--",
                    color="#999999",
                    linewidth=0.7,
                    label="ideal: time ∝ MACs",
                )
        _plain_log_axes(ax)
        ax.set_xlabel("MACs (millions)")
        ax.set_ylabel(label)
    axes[0].set_title("Latency against model size: inference", loc="left")
    axes[1].set_title("whole inference", loc="left")
    handles, labels = [], []
    for ax in axes:
        for h, lab in zip(*ax.get_legend_handles_labels(), strict=True):
            if lab not in labels:
                handles.append(h)
                labels.append(lab)
    fig.legend(handles, labels, loc="lower center", ncols=3, frameon=False, fontsize=6.5)
    rows = (len(labels) + 2) // 3
    fig.subplots_adjust(bottom=0.16 + 0.045 * rows, left=0.08, right=0.99, top=0.92, wspace=0.28)
    return fig


def _prediction_scatter(plt, plan: v.FigurePlan) -> Figure:  # type: ignore[no-untyped-def]
    pairs: Sequence[v.PredictionPair] = plan.view
    fig, ax = plt.subplots(figsize=(WIDTH_IN * 0.7, WIDTH_IN * 0.6))
    colours = _target_colours([p.target for p in pairs])
    values: list[float] = []
    drawn: set[str] = set()
    for number, p in enumerate(pairs):
        m, q = p.measured.latency_us.get("total"), p.predicted.latency_us.get("total")
        if m is None or q is None:
            continue
        values += [m / 1000, q / 1000]
        ax.scatter(
            m / 1000,
            q / 1000,
            s=18,
            color=colours[p.target],
            label=None if p.target in drawn else p.target,
            zorder=3,
        )
        drawn.add(p.target)
        err = p.error_pct("total")
        # Alternate right / left so neighbouring labels do not print over each other.
        ax.annotate(
            f"{p.model}{' ' + p.variant if p.variant else ''} ({err:+.0f}%)",
            (m / 1000, q / 1000),
            xytext=(5, 3) if number % 2 == 0 else (-5, 3),
            textcoords="offset points",
            ha="left" if number % 2 == 0 else "right",
            fontsize=6,
        )
    log = plan.log
    lo = min(values, default=0.1) / 1.5 if log else 0.0
    hi = max(values, default=10.0) * (2.0 if log else 1.2)
    ax.plot([lo, hi], [lo, hi], color="#888", linewidth=0.8, label="predicted = measured")
    for f in (1.2, 1 / 1.2):
        ax.plot(
            [lo, hi],
            [lo * f, hi * f],
            ":",
            color="#888",
            linewidth=0.8,
            label="±20 %" if f > 1 else None,
        )
    if log:
        _plain_log_axes(ax)
    ax.set_xlim(lo, hi)
    ax.set_ylim(lo, hi)
    ax.set_aspect("equal")
    ax.set_xlabel("measured total (ms)")
    ax.set_ylabel("predicted total (ms)")
    ax.set_title("Predicted against measured latency", loc="left")
    ax.legend(frameon=False, loc="upper left")
    fig.tight_layout()
    return fig


def _prediction_error_figure(plt, plan: v.FigurePlan) -> Figure:  # type: ignore[no-untyped-def]
    pairs: Sequence[v.PredictionPair] = plan.view
    fig, ax = plt.subplots(figsize=(WIDTH_IN, 2.9))
    stages = [s for s in (*STAGES, "total") if any(p.error_pct(s) is not None for p in pairs)]
    width = 0.8 / max(1, len(stages))
    for i, stage in enumerate(stages):
        xs = [j + (i - (len(stages) - 1) / 2) * width for j in range(len(pairs))]
        errors = [p.error_pct(stage) for p in pairs]
        ax.bar(
            xs,
            [0.0 if e is None else e for e in errors],
            width,
            color=v.STAGE_COLOURS.get(stage, "#000000"),
            label=v.STAGE_LABELS.get(stage, stage),
        )
    ax.axhline(0, color="black", linewidth=0.8)
    ax.set_xticks(range(len(pairs)))
    ax.set_xticklabels([p.two_line_label() for p in pairs])
    ax.set_ylabel("error (%)")
    ax.set_title("Prediction error per stage, (predicted − measured) / measured", loc="left")
    ax.legend(ncols=6, frameon=False, loc="upper center", bbox_to_anchor=(0.5, -0.2))
    ax.grid(axis="x", visible=False)
    fig.subplots_adjust(bottom=0.26, left=0.08, right=0.99, top=0.9)
    return fig


def _fidelity_figure(plt, plan: v.FigurePlan) -> Figure:  # type: ignore[no-untyped-def]
    rows: Sequence[v.FidelityRow] = plan.view
    fig, (ax1, ax2) = plt.subplots(1, 2, figsize=(WIDTH_IN, 2.6))
    labels = [r.model + ("" if r.calibration == "synthetic" else " (cal.)") for r in rows]
    xs = list(range(len(rows)))
    ax1.bar(xs, [r.sqnr_db or 0 for r in rows], 0.6, color="#0072B2")
    ax1.set_ylabel("SQNR (dB)")
    ax1.set_title("Quantization fidelity: SQNR", loc="left")
    ax2.bar(xs, [100 * (r.top1_agreement or 0) for r in rows], 0.6, color="#009E73")
    ax2.set_ylim(0, 105)
    ax2.set_ylabel("top-1 agreement (%)")
    ax2.set_title("top-1 agreement with float", loc="left")
    for ax in (ax1, ax2):
        ax.set_xticks(xs)
        ax.set_xticklabels(labels, rotation=25, ha="right")
        ax.grid(axis="x", visible=False)
    for x, r in zip(xs, rows, strict=True):
        if r.top1_agreement is None:
            ax2.text(x, 1, "n/a", ha="center", fontsize=6.5, color="#666")
    fig.tight_layout()
    return fig


_MPL_MARKERS = {
    "circle": "o",
    "diamond": "D",
    "square": "s",
    "triangle-up": "^",
    "triangle-down": "v",
    "x": "X",
    "cross": "P",
    "star": "*",
}


def _spec_figure(plt, plan: v.FigurePlan) -> Figure:  # type: ignore[no-untyped-def]
    boards: Sequence[v.SpecBoard] = plan.view
    fig, ax = plt.subplots(figsize=(WIDTH_IN, 1.2 + 0.32 * len(boards)))
    ys = {b.target: i for i, b in enumerate(boards)}
    models = list(dict.fromkeys(a.model for b in boards for a in b.achieved))
    colours = _target_colours(models)
    for b in boards:
        for p in b.peaks:
            if p.macs_per_s:
                ax.plot(
                    [p.macs_per_s / 1e9] * 2,
                    [ys[b.target] - 0.35, ys[b.target] + 0.35],
                    color="black",
                    linewidth=2.2,
                )
    ax.plot([], [], color="black", linewidth=2.2, label="datasheet peak")
    for model in models:
        for b in boards:
            for a in b.achieved:
                if a.model != model:
                    continue
                ax.scatter(
                    a.macs_per_s / 1e9,
                    ys[b.target],
                    s=22,
                    color=colours[model],
                    marker=_MPL_MARKERS[v.BASIS_SYMBOLS[a.basis.code]],
                    zorder=3,
                )
        ax.scatter([], [], s=22, color=colours[model], label=model)
    codes = list(dict.fromkeys(a.basis.code for b in boards for a in b.achieved))
    for code in codes:
        ax.scatter(
            [],
            [],
            s=22,
            color="#777777",
            marker=_MPL_MARKERS[v.BASIS_SYMBOLS[code]],
            label=f"basis: {code}",
        )
    if plan.log:
        from matplotlib.ticker import FuncFormatter

        ax.set_xscale("log")
        ax.xaxis.set_major_formatter(FuncFormatter(lambda value, _: f"{value:g}"))
    ax.set_yticks(list(ys.values()))
    ax.set_yticklabels(list(ys))
    ax.invert_yaxis()
    ax.set_xlabel("MACs per second (GMAC/s)")
    ax.set_title(plan.title, loc="left")
    ax.grid(axis="y", visible=False)
    ax.legend(frameon=False, loc="center left", bbox_to_anchor=(1.0, 0.5), fontsize=6.5)
    fig.tight_layout()
    return fig


def _shares_figure(plt, plan: v.FigurePlan) -> Figure:  # type: ignore[no-untyped-def]
    rows: Sequence[v.ShareRow] = plan.view
    fig, ax = plt.subplots(figsize=(WIDTH_IN, 1.1 + 0.3 * len(rows)))
    ys = list(range(len(rows)))
    left = [0.0] * len(rows)
    for group in v.SHARE_GROUPS:
        widths = [r.share(group) for r in rows]
        ax.barh(ys, widths, 0.6, left=left, color=v.SHARE_COLOURS[group], label=group)
        for y, x0, w in zip(ys, left, widths, strict=True):
            if w >= 8:
                ax.text(
                    x0 + w / 2, y, f"{w:.0f}%", ha="center", va="center", fontsize=6, color="white"
                )
        left = [a + b for a, b in zip(left, widths, strict=True)]
    ax.set_yticks(ys)
    ax.set_yticklabels([f"{r.target} ({r.basis.code})" for r in rows])
    ax.invert_yaxis()
    ax.set_xlim(0, 100)
    ax.set_xlabel("share of end-to-end latency (%)")
    ax.set_title(plan.title, loc="left", pad=14)
    ax.legend(ncols=4, frameon=False, loc="lower left", bbox_to_anchor=(0, 1.0), fontsize=6.5)
    ax.grid(axis="y", visible=False)
    fig.tight_layout()
    return fig


def _validation_figure(plt, plan: v.FigurePlan) -> Figure:  # type: ignore[no-untyped-def]
    points: Sequence[v.ValidationPoint] = plan.view
    fig, ax = plt.subplots(figsize=(WIDTH_IN * 0.75, WIDTH_IN * 0.62))
    colours = _target_colours([p.board for p in points])
    values: list[float] = []
    for board, colour in colours.items():
        mine = [p for p in points if p.board == board]
        xs = [p.measured_us / 1000 for p in mine]
        ys = [p.predicted_us / 1000 for p in mine]
        values += xs + ys
        low = [
            0 if p.low_us is None else max(0.0, (p.predicted_us - p.low_us) / 1000) for p in mine
        ]
        high = [
            0 if p.high_us is None else max(0.0, (p.high_us - p.predicted_us) / 1000) for p in mine
        ]
        ax.errorbar(
            xs,
            ys,
            yerr=[low, high],
            fmt="o",
            markersize=3.5,
            color=colour,
            elinewidth=0.7,
            capsize=2,
            label=board,
            zorder=3,
        )
        for attr, marker in (("lomo_us", "o"), ("loso_us", "D")):
            held = [p for p in mine if getattr(p, attr) is not None]
            if held:
                values += [getattr(p, attr) / 1000 for p in held]
                ax.scatter(
                    [p.measured_us / 1000 for p in held],
                    [getattr(p, attr) / 1000 for p in held],
                    s=16,
                    marker=marker,
                    facecolors="none",
                    edgecolors=colour,
                    linewidths=0.7,
                    zorder=2,
                )
    positive = [x for x in values if x > 0]
    lo = min(positive, default=0.1) / 1.5 if plan.log else 0.0
    hi = max(positive, default=10.0) * (1.5 if plan.log else 1.15)
    ax.plot([lo, hi], [lo, hi], color="#888", linewidth=0.8, label="predicted = measured")
    for f in (1.2, 1 / 1.2):
        ax.plot(
            [lo, hi],
            [lo * f, hi * f],
            ":",
            color="#888",
            linewidth=0.8,
            label="±20 %" if f > 1 else None,
        )
    ax.scatter([], [], s=16, marker="o", facecolors="none", edgecolors="#555", label="LOMO")
    ax.scatter([], [], s=16, marker="D", facecolors="none", edgecolors="#555", label="LOSO")
    if plan.log:
        _plain_log_axes(ax)
    ax.set_xlim(lo, hi)
    ax.set_ylim(lo, hi)
    ax.set_aspect("equal")
    ax.set_xlabel("measured inference (ms)")
    ax.set_ylabel("predicted inference (ms)")
    ax.set_title("Prediction fidelity (npubench validate)", loc="left")
    ax.legend(frameon=False, loc="center left", bbox_to_anchor=(1.0, 0.5), fontsize=6.5)
    fig.tight_layout()
    return fig


DRAWERS: dict[str, Callable[..., Figure]] = {
    "spec": _spec_figure,
    "scaling": _scaling_figure,
    "stages": _stage_figure,
    "shares": _shares_figure,
    "energy": _energy_figure,
    "memory": _memory_figure,
    "ops": _ops_figure,
    "emulator": _stage_figure,
    "pred-vs-meas": _prediction_scatter,
    "pred-error": _prediction_error_figure,
    "validation": _validation_figure,
    "fidelity": _fidelity_figure,
}


def _save(fig: Figure, stem: Path, formats: Sequence[str]) -> list[Path]:
    paths = []
    for fmt in formats:
        path = stem.with_suffix(f".{fmt}")
        fig.savefig(path, dpi=PNG_DPI if fmt == "png" else None, facecolor="white")
        paths.append(path)
    return paths


def write_figures(
    results: Sequence[BenchResult],
    out_dir: Path,
    formats: Sequence[str] = ("png", "svg"),
    validation: Any = None,
) -> list[Path]:
    """Draw every figure of the report into ``out_dir``; returns every file written.

    One file per figure and format, named by the plan's stem: ``spec_silicon``, ``scaling``,
    ``stages_<model>``, ``shares_<model>``, ``energy_<model>``, ``memory_<model>``,
    ``ops_<model>``, ``emulator_stages``, ``pred_vs_meas``, ``pred_error``, ``validation``
    and ``fidelity``, each where the results allow.
    """
    unknown = [f for f in formats if f not in FORMATS]
    if unknown or not formats:
        raise UsageError(
            f"unknown figure format(s): {', '.join(unknown) or '(none given)'}",
            f"use any of {', '.join(FORMATS)}",
        )
    out_dir = Path(out_dir)
    try:
        out_dir.mkdir(parents=True, exist_ok=True)
    except OSError as e:
        raise NpubenchError(f"cannot create {out_dir}: {e}", "choose a writable folder") from e
    plt = _pyplot()
    written: list[Path] = []
    for plan in v.figure_plan(list(results), validation):
        fig = DRAWERS[plan.kind](plt, plan)
        try:
            written += _save(fig, out_dir / plan.stem, formats)
        except OSError as e:
            raise NpubenchError(
                f"cannot write figure {plan.stem} to {out_dir}: {e}", "choose a writable folder"
            ) from e
        finally:
            plt.close(fig)
    return written
