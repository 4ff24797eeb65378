"""Plotly figure specifications (plain ``{"data", "layout"}`` dicts) for the HTML report.

Each builder turns one view from ``_views`` into the JSON plotly.js draws; ``plotly_js()``
returns plotly.js itself for inlining, so the report needs neither a server nor the network.
Sizes fit an A4 page (680 px ≈ 180 mm at 96 dpi) so printed figures are not cut.

May import ``npubench``, ``npubench.errors`` and ``npubench.report._views``; ``plotly`` (the
Python package, only for its bundled plotly.js).
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

from npubench import STAGES
from npubench.errors import EnvironmentProblem
from npubench.report import _views as v

WIDTH_PX = 680
FONT = {"family": "Helvetica, Arial, sans-serif", "size": 12, "color": "#222"}


@dataclass
class PlotSpec:
    """One figure: what plotly draws, plus the title and caption the page prints with it."""

    key: str  # unique, id-safe
    title: str
    caption: str
    data: list[dict[str, Any]]
    layout: dict[str, Any]


def plotly_js() -> str:
    """The plotly.js bundle shipped inside the ``plotly`` package (no CDN)."""
    try:
        from plotly.offline import get_plotlyjs
    except ImportError as e:
        raise EnvironmentProblem(
            "the HTML report needs the plotly package (it inlines plotly.js)",
            "pip install plotly (it is a dependency of npubench)",
        ) from e
    return get_plotlyjs()


def plotly_version() -> str:
    try:
        import plotly

        return str(plotly.__version__)
    except ImportError:
        return "?"


def _layout(title: str, height: int = 380, **extra: Any) -> dict[str, Any]:
    layout: dict[str, Any] = {
        "title": {"text": title, "x": 0.01, "xanchor": "left", "font": {"size": 14}},
        "width": WIDTH_PX,
        "height": height,
        "font": FONT,
        "margin": {"l": 70, "r": 20, "t": 50, "b": 70},
        "paper_bgcolor": "white",
        "plot_bgcolor": "white",
        "legend": {"orientation": "h", "y": -0.25, "x": 0},
        "hoverlabel": {"namelength": -1},
    }
    layout.update(extra)
    return layout


def _axis(title: str, **extra: Any) -> dict[str, Any]:
    axis = {
        "title": {"text": title},
        "gridcolor": "#e5e5e5",
        "zerolinecolor": "#999",
        "linecolor": "#444",
        "showline": True,
        "ticks": "outside",
        "automargin": True,
    }
    axis.update(extra)
    return axis


def _ms(value: float | None) -> float | None:
    return None if value is None else value / 1000.0


def _multicat(entries: Sequence[v.Entry]) -> list[list[str]]:
    """Two-level categories: target, then kind (plotly groups the first level)."""
    return [
        [e.target_label for e in entries],
        [e.kind_label.replace(" · ", "<br>") for e in entries],
    ]


def _category_axis(title: str, **extra: Any) -> dict[str, Any]:
    """A two-level (target, kind) axis with horizontal labels: rotated ones overrun the
    target names."""
    return _axis(title, type="multicategory", tickangle=0, tickfont={"size": 10}, **extra)


_LEGEND_ON_TOP = {"orientation": "h", "y": 1.0, "x": 0, "yanchor": "bottom", "traceorder": "normal"}


def _total_text(bar: v.StageBar) -> str:
    """Label over a bar: the total, starred when it is the sum of the known stages only."""
    if bar.total_us is None:
        return ""
    return f"{bar.total_us / 1000:.3g}" + ("" if bar.total_complete else "*")


# -- per model ----------------------------------------------------------------------------


def stage_figure(model: str, bars: Sequence[v.StageBar]) -> PlotSpec:
    x = _multicat([b.entry for b in bars])
    data: list[dict[str, Any]] = []
    for stage in STAGES:
        data.append(
            {
                "type": "bar",
                "name": v.STAGE_LABELS[stage],
                "x": x,
                "y": [_ms(b.stages_us[stage]) for b in bars],
                "marker": {"color": v.STAGE_COLOURS[stage]},
                "hovertemplate": f"{v.STAGE_LABELS[stage]}: %{{y:.3f}} ms<extra></extra>",
            }
        )
    totals = [_ms(b.total_us) for b in bars]
    plus = [
        None if b.high_us is None or b.total_us is None else _ms(b.high_us - b.total_us)
        for b in bars
    ]
    minus = [
        None if b.low_us is None or b.total_us is None else _ms(b.total_us - b.low_us) for b in bars
    ]
    data.append(
        {
            "type": "scatter",
            "mode": "markers+text",
            "name": "total (interval)",
            "text": [_total_text(b) for b in bars],
            "textposition": "top center",
            "textfont": {"size": 10},
            "x": x,
            "y": totals,
            "marker": {"symbol": "line-ew-open", "size": 14, "color": "#000"},
            "error_y": {
                "type": "data",
                "symmetric": False,
                "array": [p if p is not None else 0 for p in plus],
                "arrayminus": [m if m is not None else 0 for m in minus],
                "color": "#000",
                "thickness": 1.2,
                "width": 6,
            },
            "customdata": ["" if b.total_complete else " (sum of known stages)" for b in bars],
            "hovertemplate": "total: %{y:.3f} ms%{customdata}<extra></extra>",
        }
    )
    notes = [b.note for b in bars]
    if any(notes):
        data.append(
            {
                "type": "scatter",
                "mode": "text",
                "name": "status",
                "showlegend": False,
                "x": x,
                "y": [_ms(b.total_us) or 0 for b in bars],
                "text": notes,
                "textposition": "top center",
                "textfont": {"color": v.DOES_NOT_FIT_COLOUR, "size": 11},
                "hoverinfo": "skip",
            }
        )
    return PlotSpec(
        key=f"stages-{v.slug(model)}",
        title=f"{model}: latency per stage",
        caption=(
            f"Latency of one inference of {model}, split into the five stages, per target and "
            "kind of figure (compiled = Vela's estimate, which has the inference stage only; "
            "predicted = npubench's model; measured = timed on the board). The black tick is "
            "the total (labelled in ms; * = sum of the known stages only); its error bar is the "
            "uncertainty interval where one is known. Targets that do not fit or failed have no "
            "bars and are labelled; emulator timings are not cycle-accurate."
        ),
        data=data,
        layout=_layout(
            f"{model}: latency per stage",
            barmode="stack",
            height=420,
            legend=_LEGEND_ON_TOP,
            margin={"l": 70, "r": 20, "t": 80, "b": 60},
            xaxis=_category_axis("target / kind"),
            yaxis=_axis("latency (ms)", rangemode="tozero"),
        ),
    )


def energy_figure(model: str, bars: Sequence[v.EnergyBar]) -> PlotSpec:
    x = _multicat([b.entry for b in bars])
    data = [
        {
            "type": "bar",
            "name": "energy per inference",
            "x": x,
            "y": [b.energy_uj for b in bars],
            "marker": {"color": "#0072B2"},
            "hovertemplate": "energy: %{y:.3g} µJ<extra></extra>",
        },
        {
            "type": "bar",
            "name": "net of idle",
            "x": x,
            "y": [b.net_energy_uj for b in bars],
            "marker": {"color": "#56B4E9"},
            "hovertemplate": "net energy: %{y:.3g} µJ<extra></extra>",
        },
        {
            "type": "bar",
            "name": "average power",
            "x": x,
            "y": [b.average_power_mw for b in bars],
            "xaxis": "x2",
            "yaxis": "y2",
            "marker": {"color": "#D55E00"},
            "hovertemplate": "average power: %{y:.3g} mW<extra></extra>",
        },
    ]
    return PlotSpec(
        key=f"energy-{v.slug(model)}",
        title=f"{model}: energy and power per inference",
        caption=(
            f"Energy of one inference of {model} (all five stages), in total and net of the "
            "board's idle power, and the average power over the inference, per target and "
            "kind. Compiled results carry no power figures and are not shown."
        ),
        data=data,
        layout=_layout(
            f"{model}: energy and power per inference",
            height=480,
            barmode="group",
            # Energy above power, sharing the categories: side by side the labels collide.
            xaxis=_category_axis("", anchor="y", showticklabels=False),
            yaxis=_axis("energy (µJ)", rangemode="tozero", domain=[0.42, 1]),
            xaxis2=_category_axis("target / kind", anchor="y2", matches="x"),
            yaxis2=_axis("average power (mW)", rangemode="tozero", anchor="x2", domain=[0, 0.3]),
            legend=_LEGEND_ON_TOP,
            margin={"l": 70, "r": 20, "t": 80, "b": 60},
        ),
    )


def _kib(n: int | None) -> str:
    return "?" if n is None else f"{n / 1024:.1f}"


def memory_figure(model: str, rows: Sequence[v.MemoryRow]) -> PlotSpec:
    labels = [r.label for r in rows]
    percents = [r.percent if r.percent is not None else 0.0 for r in rows]
    texts = []
    for r in rows:
        text = f"{_kib(r.used_bytes)} / {_kib(r.capacity_bytes)} KiB"
        if r.capacity_bytes is None:
            text = f"{_kib(r.used_bytes)} KiB (capacity unknown)"
        elif not r.fits:
            text += " — DOES NOT FIT"
        texts.append(text)
    data = [
        {
            "type": "bar",
            "orientation": "h",
            "name": "used",
            "y": labels,
            "x": percents,
            "text": texts,
            "textposition": "outside",
            "cliponaxis": False,
            "marker": {"color": [v.FITS_COLOUR if r.fits else v.DOES_NOT_FIT_COLOUR for r in rows]},
            "hovertemplate": "%{y}: %{x:.1f}% of capacity (%{text})<extra></extra>",
            "showlegend": False,
        }
    ]
    top = max([100.0, *percents])
    height = max(220, 90 + 34 * len(rows))
    return PlotSpec(
        key=f"memory-{v.slug(model)}",
        title=f"{model}: memory use against capacity",
        caption=(
            f"Memory {model} needs on each target as a share of the memory's capacity; the "
            "dashed line at 100 % is the capacity. Bars past it (vermilion, labelled DOES NOT "
            "FIT) mark memories that are too small. Labels give used / capacity in KiB."
        ),
        data=data,
        layout=_layout(
            f"{model}: memory use against capacity",
            height=height,
            margin={"l": 150, "r": 30, "t": 50, "b": 55},
            xaxis=_axis("used (% of capacity)", range=[0, top * 1.45], rangemode="tozero"),
            yaxis=_axis("", autorange="reversed"),
            shapes=[
                {
                    "type": "line",
                    "x0": 100,
                    "x1": 100,
                    "yref": "paper",
                    "y0": 0,
                    "y1": 1,
                    "line": {"color": "#000", "dash": "dash", "width": 1.5},
                }
            ],
            annotations=[
                {
                    "x": 100,
                    "y": 1,
                    "yref": "paper",
                    "text": "capacity",
                    "showarrow": False,
                    "yanchor": "bottom",
                    "font": {"size": 11},
                }
            ],
        ),
    )


def ops_figure(model: str, rows: Sequence[v.OpRow]) -> PlotSpec:
    labels = [r.label for r in rows]
    data = [
        {
            "type": "bar",
            "orientation": "h",
            "name": name,
            "y": labels,
            "x": [getattr(r, attr) for r in rows],
            "marker": {"color": colour},
            "text": [
                f"{getattr(r, attr)} {name} ({100 * getattr(r, attr) / max(1, r.npu + r.cpu):.0f}%)"
                for r in rows
            ],
            # The CPU share is often one operator: a bar too thin for its label, so the label
            # goes past the bar's end.
            "textposition": position,
            "cliponaxis": False,
            "textangle": 0,
            "hovertemplate": f"%{{y}}: %{{x}} operators on the {name}<extra></extra>",
        }
        for name, attr, colour, position in (
            ("NPU", "npu", v.NPU_COLOUR, "inside"),
            ("CPU", "cpu", v.CPU_COLOUR, "outside"),
        )
    ]
    longest = max([1, *(r.npu + r.cpu for r in rows)])
    return PlotSpec(
        key=f"ops-{v.slug(model)}",
        title=f"{model}: operators on the NPU and the CPU",
        caption=(
            f"Number of operators of {model} each target's compiler places on the NPU and "
            "leaves to the CPU (CPU includes operators the NPU does not support)."
        ),
        data=data,
        layout=_layout(
            f"{model}: operators on the NPU and the CPU",
            height=max(200, 110 + 30 * len(rows)),
            barmode="stack",
            margin={"l": 150, "r": 20, "t": 80, "b": 50},
            legend=_LEGEND_ON_TOP,
            xaxis=_axis("operators (count)", range=[0, longest * 1.25]),
            yaxis=_axis("", autorange="reversed"),
        ),
    )


# -- across models ------------------------------------------------------------------------


def scaling_figure(series: Sequence[v.ScalingSeries]) -> PlotSpec:
    colours = {
        t: v.TARGET_PALETTE[i % len(v.TARGET_PALETTE)]
        for i, t in enumerate(dict.fromkeys(s.target for s in series))
    }
    data: list[dict[str, Any]] = []
    for panel, (attr, axis) in enumerate((("inference_us", "x"), ("total_us", "x2"))):
        for s in series:
            points = [p for p in s.points if getattr(p, attr) is not None]
            if not points:
                continue
            data.append(
                {
                    "type": "scatter",
                    "mode": "lines+markers",
                    "name": s.label,
                    "legendgroup": s.label,
                    "showlegend": panel == 0 or all(p.inference_us is None for p in s.points),
                    "x": [p.macs / 1e6 for p in points],
                    "y": [_ms(getattr(p, attr)) for p in points],
                    "text": [p.model for p in points],
                    "xaxis": axis,
                    "yaxis": axis.replace("x", "y"),
                    "line": {"color": colours[s.target], "dash": v.KIND_DASHES[s.kind]},
                    "marker": {"size": 7},
                    "hovertemplate": (
                        f"{s.label}<br>%{{text}}: %{{x:.3g}} M MACs, %{{y:.3g}} ms<extra></extra>"
                    ),
                }
            )
    log = {"type": "log", "dtick": 1}  # label decades only: 2s and 5s clutter a small figure
    return PlotSpec(
        key="scaling",
        title="Latency against model size (MACs)",
        caption=(
            "Latency of each model against its multiply-accumulate count, one line per target "
            "(solid = measured, dashed = predicted, dotted = compiled), on log–log axes. Left: "
            "the inference stage; right: the whole inference (all five stages, where known). "
            "Where a target has Size and Performance builds, the Performance build is drawn. "
            "A line of slope 1 means latency proportional to MACs; a flat line means a fixed "
            "cost (set-up, I/O) dominates and the chip gains nothing from smaller models."
        ),
        data=data,
        layout=_layout(
            "Latency against model size (MACs)",
            height=460,
            xaxis=_axis("MACs (millions)", domain=[0, 0.45], **log),
            yaxis=_axis("inference stage (ms)", **log),
            xaxis2=_axis("MACs (millions)", domain=[0.57, 1], anchor="y2", **log),
            yaxis2=_axis("total, all stages (ms)", anchor="x2", **log),
            legend={"orientation": "h", "y": -0.2, "x": 0, "font": {"size": 11}},
            margin={"l": 70, "r": 20, "t": 50, "b": 60},
        ),
    )


def prediction_scatter(pairs: Sequence[v.PredictionPair]) -> PlotSpec:
    colours = {
        t: v.TARGET_PALETTE[i % len(v.TARGET_PALETTE)]
        for i, t in enumerate(dict.fromkeys(p.target for p in pairs))
    }
    data: list[dict[str, Any]] = []
    all_values: list[float] = []
    for target, colour in colours.items():
        mine = [
            p
            for p in pairs
            if p.target == target
            and p.measured.latency_us.get("total") is not None
            and p.predicted.latency_us.get("total") is not None
        ]
        if not mine:
            continue
        xs = [_ms(p.measured.latency_us["total"]) for p in mine]
        ys = [_ms(p.predicted.latency_us["total"]) for p in mine]
        all_values += [*xs, *ys]  # type: ignore[list-item]
        data.append(
            {
                "type": "scatter",
                "mode": "markers+text",
                "name": target,
                "x": xs,
                "y": ys,
                "text": [p.model + (f" {p.variant}" if p.variant else "") for p in mine],
                "textposition": "top center",
                "textfont": {"size": 10},
                "customdata": [p.error_pct("total") for p in mine],
                "marker": {"color": colour, "size": 9},
                "hovertemplate": (
                    f"{target} %{{text}}<br>measured %{{x:.3f}} ms, predicted %{{y:.3f}} ms"
                    "<br>error %{customdata:+.1f}%<extra></extra>"
                ),
            }
        )
    positive = [x for x in all_values if x > 0]
    log = bool(positive) and max(positive) / min(positive) > 30  # else linear reads better
    lo = min(positive, default=0.1) / 1.5 if log else 0.0
    hi = max(positive, default=10.0) * (1.5 if log else 1.15)
    # Fixed, equal ranges (with the plot area constrained, not the range) keep the identity
    # line diagonal and the axes from running into negative latencies.
    axis: dict[str, Any] = {"constrain": "domain"}
    if log:
        axis |= {"type": "log", "dtick": 1, "range": [math.log10(lo), math.log10(hi)]}
    else:
        axis |= {"type": "linear", "range": [0, hi]}
    for factor, name, dash in ((1.0, "predicted = measured", "solid"), (1.2, "±20 %", "dot")):
        for f in (factor, 1 / factor) if factor != 1.0 else (factor,):
            data.append(
                {
                    "type": "scatter",
                    "mode": "lines",
                    "name": name,
                    "showlegend": f >= 1.0,
                    "legendgroup": name,
                    "x": [lo, hi],
                    "y": [lo * f, hi * f],
                    "line": {"color": "#888", "dash": dash, "width": 1},
                    "hoverinfo": "skip",
                }
            )
    return PlotSpec(
        key="pred-vs-meas",
        title="Predicted against measured latency",
        caption=(
            "Total latency npubench predicted against the latency measured on the board, for "
            "every model and target with both (same optimise mode and clock). Points on the "
            "solid line are exact; dotted lines are ±20 %. Hover for the error in %; the table "
            "below gives it per stage."
        ),
        data=data,
        layout=_layout(
            "Predicted against measured latency",
            height=460,
            xaxis=_axis("measured total (ms)", **axis),
            yaxis=_axis("predicted total (ms)", scaleanchor="x", **axis),
        ),
    )


def prediction_error_figure(pairs: Sequence[v.PredictionPair]) -> PlotSpec:
    labels = [p.two_line_label("<br>") for p in pairs]
    data: list[dict[str, Any]] = []
    for stage in (*STAGES, "total"):
        errors = [p.error_pct(stage) for p in pairs]
        if all(e is None for e in errors):
            continue
        data.append(
            {
                "type": "bar",
                "name": v.STAGE_LABELS.get(stage, "total"),
                "x": labels,
                "y": errors,
                "marker": {"color": v.STAGE_COLOURS.get(stage, "#000")},
                "hovertemplate": f"{stage}: %{{y:+.1f}}%<extra></extra>",
            }
        )
    return PlotSpec(
        key="pred-error",
        title="Prediction error per stage",
        caption=(
            "Error of each predicted stage against the measured one, (predicted − measured) / "
            "measured in %, per model and target; positive = the prediction is too slow. "
            "Stages not timed on the board have no bar."
        ),
        data=data,
        layout=_layout(
            "Prediction error per stage",
            height=420,
            barmode="group",
            xaxis=_axis("model / target"),
            yaxis=_axis("error (%)", zeroline=True, zerolinewidth=1.5),
        ),
    )


def fidelity_figure(rows: Sequence[v.FidelityRow]) -> PlotSpec:
    labels = [r.model + ("" if r.calibration == "synthetic" else " (cal.)") for r in rows]
    data = [
        {
            "type": "bar",
            "name": "SQNR",
            "x": labels,
            "y": [r.sqnr_db for r in rows],
            "marker": {"color": "#0072B2"},
            "hovertemplate": "%{x}: SQNR %{y:.1f} dB<extra></extra>",
        },
        {
            "type": "bar",
            "name": "top-1 agreement",
            "x": labels,
            "y": [None if r.top1_agreement is None else 100 * r.top1_agreement for r in rows],
            "xaxis": "x2",
            "yaxis": "y2",
            "marker": {"color": "#009E73"},
            "hovertemplate": "%{x}: top-1 agreement %{y:.1f}%<extra></extra>",
        },
    ]
    return PlotSpec(
        key="fidelity",
        title="Quantization fidelity (int8 against float)",
        caption=(
            "What int8 quantization costs each model, on samples not used for calibration: "
            "signal-to-quantization-noise ratio of the outputs (higher is better) and the share "
            "of samples whose top-1 class matches the float model (classifiers only)."
        ),
        data=data,
        layout=_layout(
            "Quantization fidelity (int8 against float)",
            showlegend=False,
            xaxis=_axis("model", domain=[0, 0.45], tickangle=-30),
            yaxis=_axis("SQNR (dB)", rangemode="tozero"),
            xaxis2=_axis("model", domain=[0.57, 1], anchor="y2", tickangle=-30),
            yaxis2=_axis("top-1 agreement (%)", range=[0, 105], anchor="x2"),
        ),
    )
