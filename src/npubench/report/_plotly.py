"""Plotly figure specifications (plain ``{"data", "layout"}`` dicts) for the HTML report.

Each builder turns one planned figure (``_views.FigurePlan``: its view, title and caption) into
the JSON plotly.js draws; ``BUILDERS`` maps every figure kind to its builder, so a figure added
to the plan without a plotly builder fails the tests. ``plotly_js()`` returns plotly.js itself
for inlining, so the report needs neither a server nor the network. Sizes fit an A4 page
(680 px ≈ 180 mm at 96 dpi) so printed figures are not cut. Every name that comes from a
result (model, board, option) is HTML-escaped: plotly decodes entities back to text, so a
model named ``<b>x</b>`` shows as typed and never as markup.

May import ``npubench``, ``npubench.errors`` and ``npubench.report._views``; ``plotly`` (the
Python package, only for its bundled plotly.js).
"""

from __future__ import annotations

import html
import math
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from functools import cache
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


@cache
def plotly_js() -> str:
    """The plotly.js bundle shipped inside the ``plotly`` package (no CDN)."""
    try:
        from plotly.offline import get_plotlyjs
    except ImportError as e:
        raise EnvironmentProblem(
            "the HTML report needs the plotly package (it inlines plotly.js)",
            "pip install plotly (it is a dependency of npubench)",
        ) from e
    return str(get_plotlyjs())


def plotly_version() -> str:
    try:
        import plotly

        return str(plotly.__version__)
    except ImportError:
        return "?"


def _t(text: object) -> str:
    """A name as plotly text: entities, so plotly shows it as typed and never as markup."""
    return html.escape(str(text), quote=False)


def _layout(title: str, height: int = 380, **extra: Any) -> dict[str, Any]:
    layout: dict[str, Any] = {
        "title": {"text": _t(title), "x": 0.01, "xanchor": "left", "font": {"size": 14}},
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


_LOG = {"type": "log", "dtick": 1}  # label decades only: 2s and 5s clutter a small figure


def _latency_axis(title: str, log: bool, **extra: Any) -> dict[str, Any]:
    if log:
        return _axis(title, **_LOG, **extra)
    return _axis(title, rangemode="tozero", **extra)


def _ms(value: float | None) -> float | None:
    return None if value is None else value / 1000.0


def _multicat(entries: Sequence[v.Entry]) -> list[list[str]]:
    """Two-level categories: target, then kind (plotly groups the first level)."""
    return [
        [_t(e.target_label) for e in entries],
        [_t(e.kind_label).replace(" · ", "<br>") for e in entries],
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


def _spec(plan: v.FigurePlan, data: list[dict[str, Any]], layout: dict[str, Any]) -> PlotSpec:
    return PlotSpec(plan.key, plan.title, plan.caption, data, layout)


def _colours(targets: Sequence[str]) -> dict[str, str]:
    unique = list(dict.fromkeys(targets))
    return {t: v.TARGET_PALETTE[i % len(v.TARGET_PALETTE)] for i, t in enumerate(unique)}


# -- stage bars (per model, and the emulator panel) ----------------------------------------


def _stage_traces(
    bars: Sequence[v.StageBar], x: list[list[str]], log: bool
) -> list[dict[str, Any]]:
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
        known = [t for t in totals if t]
        floor = min(known) if (log and known) else 0
        data.append(
            {
                "type": "scatter",
                "mode": "text",
                "name": "status",
                "showlegend": False,
                "x": x,
                "y": [_ms(b.total_us) or floor for b in bars],
                "text": notes,
                "textposition": "top center",
                "textfont": {"color": v.DOES_NOT_FIT_COLOUR, "size": 11},
                "hoverinfo": "skip",
            }
        )
    return data


def stage_figure(plan: v.FigurePlan) -> PlotSpec:
    bars: Sequence[v.StageBar] = plan.view
    data = _stage_traces(bars, _multicat([b.entry for b in bars]), plan.log)
    return _spec(
        plan,
        data,
        _layout(
            plan.title,
            barmode="stack",
            height=420,
            legend=_LEGEND_ON_TOP,
            margin={"l": 70, "r": 20, "t": 96, "b": 60},
            xaxis=_category_axis("board / kind"),
            yaxis=_latency_axis("latency (ms)", plan.log),
        ),
    )


def emulator_figure(plan: v.FigurePlan) -> PlotSpec:
    bars: Sequence[v.StageBar] = plan.view
    x = [
        [_t(b.entry.target) for b in bars],
        [
            _t(b.entry.result.model) + (f"<br>{_t(b.entry.variant)}" if b.entry.variant else "")
            for b in bars
        ],
    ]
    data = _stage_traces(bars, x, plan.log)
    return _spec(
        plan,
        data,
        _layout(
            plan.title,
            barmode="stack",
            height=420,
            legend=_LEGEND_ON_TOP,
            margin={"l": 70, "r": 20, "t": 96, "b": 60},
            xaxis=_category_axis("emulated board / model"),
            yaxis=_latency_axis("nominal latency (ms)", plan.log),
        ),
    )


def shares_figure(plan: v.FigurePlan) -> PlotSpec:
    rows: Sequence[v.ShareRow] = plan.view
    labels = [f"{_t(r.target)}<br><i>{_t(r.basis.label)}</i>" for r in rows]
    data = [
        {
            "type": "bar",
            "orientation": "h",
            "name": group,
            "y": labels,
            "x": [r.share(group) for r in rows],
            "marker": {"color": v.SHARE_COLOURS[group]},
            "text": [f"{r.share(group):.0f}%" if r.share(group) >= 6 else "" for r in rows],
            "textposition": "inside",
            "insidetextanchor": "middle",
            "customdata": [_ms(r.parts_us[group]) for r in rows],
            "hovertemplate": f"{group}: %{{x:.1f}}% (%{{customdata:.3f}} ms)<extra></extra>",
        }
        for group in v.SHARE_GROUPS
    ]
    return _spec(
        plan,
        data,
        _layout(
            plan.title,
            height=max(200, 110 + 40 * len(rows)),
            barmode="stack",
            margin={"l": 170, "r": 20, "t": 96, "b": 50},
            legend=_LEGEND_ON_TOP,
            xaxis=_axis("share of end-to-end latency (%)", range=[0, 100]),
            yaxis=_axis("", autorange="reversed"),
        ),
    )


def energy_figure(plan: v.FigurePlan) -> PlotSpec:
    bars: Sequence[v.EnergyBar] = plan.view
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
    return _spec(
        plan,
        data,
        _layout(
            plan.title,
            height=480,
            barmode="group",
            # Energy above power, sharing the categories: side by side the labels collide.
            xaxis=_category_axis("", anchor="y", showticklabels=False),
            yaxis=_axis("energy (µJ)", rangemode="tozero", domain=[0.42, 1]),
            xaxis2=_category_axis("board / kind", anchor="y2", matches="x"),
            yaxis2=_axis("average power (mW)", rangemode="tozero", anchor="x2", domain=[0, 0.3]),
            legend=_LEGEND_ON_TOP,
            margin={"l": 70, "r": 20, "t": 96, "b": 60},
        ),
    )


def _kib(n: int | None) -> str:
    return "?" if n is None else f"{n / 1024:.1f}"


def memory_figure(plan: v.FigurePlan) -> PlotSpec:
    rows: Sequence[v.MemoryRow] = plan.view
    labels = [_t(r.label) for r in rows]
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
    return _spec(
        plan,
        data,
        _layout(
            plan.title,
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


def ops_figure(plan: v.FigurePlan) -> PlotSpec:
    rows: Sequence[v.OpRow] = plan.view
    labels = [_t(r.label) for r in rows]
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
    return _spec(
        plan,
        data,
        _layout(
            plan.title,
            height=max(200, 110 + 30 * len(rows)),
            barmode="stack",
            margin={"l": 150, "r": 20, "t": 96, "b": 50},
            legend=_LEGEND_ON_TOP,
            xaxis=_axis("operators (count)", range=[0, longest * 1.25]),
            yaxis=_axis("", autorange="reversed"),
        ),
    )


# -- across models ------------------------------------------------------------------------


def spec_figure(plan: v.FigurePlan) -> PlotSpec:
    boards: Sequence[v.SpecBoard] = plan.view
    labels = [_t(b.target) for b in boards]
    data: list[dict[str, Any]] = []
    peaks_x, peaks_y, peaks_text = [], [], []
    for b, label in zip(boards, labels, strict=True):
        for p in b.peaks:
            if p.macs_per_s:
                peaks_x.append(p.macs_per_s / 1e9)
                peaks_y.append(label)
                peaks_text.append(_t(p.how))
    if peaks_x:
        data.append(
            {
                "type": "scatter",
                "mode": "markers",
                "name": "datasheet peak",
                "x": peaks_x,
                "y": peaks_y,
                "text": peaks_text,
                "marker": {
                    "symbol": "line-ns-open",
                    "size": 26,
                    "color": "#000",
                    "line": {"width": 3},
                },
                "hovertemplate": "%{y}: peak %{x:.3g} GMAC/s<br>%{text}<extra></extra>",
            }
        )
    models = list(dict.fromkeys(a.model for b in boards for a in b.achieved))
    colours = _colours(models)
    for model in models:
        mine = [
            (a, label)
            for b, label in zip(boards, labels, strict=True)
            for a in b.achieved
            if a.model == model
        ]
        data.append(
            {
                "type": "scatter",
                "mode": "markers",
                "name": _t(model),
                "x": [a.macs_per_s / 1e9 for a, _ in mine],
                "y": [label for _, label in mine],
                "text": [_t(a.basis.label) for a, _ in mine],
                "customdata": [
                    "no peak" if a.utilisation is None else f"{100 * a.utilisation:.0f}% of peak"
                    for a, _ in mine
                ],
                "marker": {
                    "size": 10,
                    "color": colours[model],
                    "symbol": [v.BASIS_SYMBOLS[a.basis.code] for a, _ in mine],
                    "line": {"width": 1, "color": "#fff"},
                },
                "hovertemplate": (
                    f"{_t(model)} on %{{y}}: %{{x:.3g}} GMAC/s (%{{customdata}})"
                    "<br>%{text}<extra></extra>"
                ),
            }
        )
    x_axis = _axis("MACs per second (GMAC/s)", **(_LOG if plan.log else {"rangemode": "tozero"}))
    return _spec(
        plan,
        data,
        _layout(
            plan.title,
            height=max(260, 110 + 44 * len(boards)),
            margin={"l": 120, "r": 20, "t": 50, "b": 55},
            legend={"orientation": "v", "x": 1.02, "y": 1, "yanchor": "top", "font": {"size": 11}},
            xaxis=x_axis,
            yaxis=_axis("", autorange="reversed", type="category"),
        ),
    )


def scaling_figure(plan: v.FigurePlan) -> PlotSpec:
    series: Sequence[v.ScalingSeries] = plan.view
    colours = _colours([s.target for s in series])
    data: list[dict[str, Any]] = []
    ideal_shown = False
    for panel, (attr, axis) in enumerate((("inference_us", "x"), ("total_us", "x2"))):
        for s in series:
            points = [p for p in s.points if getattr(p, attr) is not None]
            if not points:
                continue
            slope = v.scaling_slope(points, attr)
            name = _t(s.label) + ("" if slope is None else f" · slope {slope:.2f}")
            data.append(
                {
                    "type": "scatter",
                    "mode": "lines+markers",
                    "name": name,
                    "legendgroup": _t(s.label),
                    "showlegend": panel == 1 or all(p.total_us is None for p in s.points),
                    "x": [p.macs / 1e6 for p in points],
                    "y": [_ms(getattr(p, attr)) for p in points],
                    "text": [_t(p.model) for p in points],
                    "xaxis": axis,
                    "yaxis": axis.replace("x", "y"),
                    "line": {"color": colours[s.target], "dash": v.KIND_DASHES[s.kind]},
                    "marker": {"size": 7},
                    "hovertemplate": (
                        f"{_t(s.label)}<br>%{{text}}: %{{x:.3g}} M MACs, %{{y:.3g}} ms"
                        "<extra></extra>"
                    ),
                }
            )
            ideal = v.ideal_line(points, attr)
            if ideal:
                data.append(
                    {
                        "type": "scatter",
                        "mode": "lines",
                        "name": "ideal: time ∝ MACs",
                        "legendgroup": "ideal",
                        "showlegend": not ideal_shown,
                        "x": [m / 1e6 for m, _ in ideal],
                        "y": [t / 1000 for _, t in ideal],
                        "xaxis": axis,
                        "yaxis": axis.replace("x", "y"),
                        "line": {"color": "#999", "width": 1, "dash": "longdash"},
                        "hoverinfo": "skip",
                    }
                )
                ideal_shown = True
    return _spec(
        plan,
        data,
        _layout(
            plan.title,
            height=520,
            xaxis=_axis("MACs (millions)", domain=[0, 0.45], **_LOG),
            yaxis=_axis("inference stage (ms)", **_LOG),
            xaxis2=_axis("MACs (millions)", domain=[0.57, 1], anchor="y2", **_LOG),
            yaxis2=_axis("total, all stages (ms)", anchor="x2", **_LOG),
            legend={"orientation": "h", "y": -0.2, "x": 0, "font": {"size": 11}},
            margin={"l": 70, "r": 20, "t": 50, "b": 60},
        ),
    )


def _identity_lines(lo: float, hi: float) -> list[dict[str, Any]]:
    data = []
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
    return data


def _square_axes(values: Sequence[float], log: bool) -> tuple[float, float, dict[str, Any]]:
    positive = [x for x in values if x and x > 0]
    lo = min(positive, default=0.1) / 1.5 if log else 0.0
    hi = max(positive, default=10.0) * (1.5 if log else 1.15)
    # Fixed, equal ranges (with the plot area constrained, not the range) keep the identity
    # line diagonal and the axes from running into negative latencies.
    axis: dict[str, Any] = {"constrain": "domain"}
    if log:
        axis |= {"type": "log", "dtick": 1, "range": [math.log10(lo), math.log10(hi)]}
    else:
        axis |= {"type": "linear", "range": [0, hi]}
    return lo, hi, axis


def prediction_scatter(plan: v.FigurePlan) -> PlotSpec:
    pairs: Sequence[v.PredictionPair] = plan.view
    colours = _colours([p.target for p in pairs])
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
        xs = [float(p.measured.latency_us["total"] or 0) / 1000 for p in mine]
        ys = [float(p.predicted.latency_us["total"] or 0) / 1000 for p in mine]
        all_values += [*xs, *ys]
        data.append(
            {
                "type": "scatter",
                "mode": "markers+text",
                "name": _t(target),
                "x": xs,
                "y": ys,
                "text": [_t(p.model + (f" {p.variant}" if p.variant else "")) for p in mine],
                "textposition": "top center",
                "textfont": {"size": 10},
                "customdata": [p.error_pct("total") for p in mine],
                "marker": {"color": colour, "size": 9},
                "hovertemplate": (
                    f"{_t(target)} %{{text}}<br>measured %{{x:.3f}} ms, predicted %{{y:.3f}} ms"
                    "<br>error %{customdata:+.1f}%<extra></extra>"
                ),
            }
        )
    lo, hi, axis = _square_axes(all_values, plan.log)
    data += _identity_lines(lo, hi)
    return _spec(
        plan,
        data,
        _layout(
            plan.title,
            height=460,
            xaxis=_axis("measured total (ms)", **axis),
            yaxis=_axis("predicted total (ms)", scaleanchor="x", **axis),
        ),
    )


def prediction_error_figure(plan: v.FigurePlan) -> PlotSpec:
    pairs: Sequence[v.PredictionPair] = plan.view
    labels = [
        _t(p.model) + "<br>" + _t(p.target + (f" {p.variant}" if p.variant else "")) for p in pairs
    ]
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
    return _spec(
        plan,
        data,
        _layout(
            plan.title,
            height=420,
            barmode="group",
            xaxis=_axis("model / board"),
            yaxis=_axis("error (%)", zeroline=True, zerolinewidth=1.5),
        ),
    )


def validation_figure(plan: v.FigurePlan) -> PlotSpec:
    points: Sequence[v.ValidationPoint] = plan.view
    colours = _colours([p.board for p in points])
    data: list[dict[str, Any]] = []
    values: list[float] = []
    for board, colour in colours.items():
        mine = [p for p in points if p.board == board]
        xs = [p.measured_us / 1000 for p in mine]
        ys = [p.predicted_us / 1000 for p in mine]
        values += xs + ys
        data.append(
            {
                "type": "scatter",
                "mode": "markers",
                "name": _t(board),
                "legendgroup": _t(board),
                "x": xs,
                "y": ys,
                "text": [_t(p.model) for p in mine],
                "customdata": [
                    "no interval" if p.inside is None else ("inside" if p.inside else "OUTSIDE")
                    for p in mine
                ],
                "error_y": {
                    "type": "data",
                    "symmetric": False,
                    "array": [
                        0 if p.high_us is None else max(0.0, (p.high_us - p.predicted_us) / 1000)
                        for p in mine
                    ],
                    "arrayminus": [
                        0 if p.low_us is None else max(0.0, (p.predicted_us - p.low_us) / 1000)
                        for p in mine
                    ],
                    "color": colour,
                    "thickness": 1,
                    "width": 3,
                },
                "marker": {"color": colour, "size": 8},
                "hovertemplate": (
                    f"{_t(board)} %{{text}}<br>measured %{{x:.3f}} ms, predicted %{{y:.3f}} ms"
                    " (%{customdata} the interval)<extra></extra>"
                ),
            }
        )
        for attr, label, symbol in (
            ("lomo_us", "LOMO", "circle-open"),
            ("loso_us", "LOSO", "diamond-open"),
        ):
            held = [p for p in mine if getattr(p, attr) is not None]
            if not held:
                continue
            values += [getattr(p, attr) / 1000 for p in held]
            data.append(
                {
                    "type": "scatter",
                    "mode": "markers",
                    "name": f"{_t(board)} {label}",
                    "legendgroup": _t(board),
                    "showlegend": False,
                    "x": [p.measured_us / 1000 for p in held],
                    "y": [getattr(p, attr) / 1000 for p in held],
                    "text": [_t(p.model) for p in held],
                    "marker": {"color": colour, "size": 8, "symbol": symbol},
                    "hovertemplate": (
                        f"{_t(board)} %{{text}} ({label}): predicted %{{y:.3f}} ms<extra></extra>"
                    ),
                }
            )
    lo, hi, axis = _square_axes(values, plan.log)
    data += _identity_lines(lo, hi)
    return _spec(
        plan,
        data,
        _layout(
            plan.title,
            height=500,
            xaxis=_axis("measured inference (ms)", **axis),
            yaxis=_axis("predicted inference (ms)", scaleanchor="x", **axis),
            legend={"orientation": "h", "y": -0.18, "x": 0, "font": {"size": 11}},
        ),
    )


def fidelity_figure(plan: v.FigurePlan) -> PlotSpec:
    rows: Sequence[v.FidelityRow] = plan.view
    labels = [_t(r.model) + ("" if r.calibration == "synthetic" else " (cal.)") for r in rows]
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
    return _spec(
        plan,
        data,
        _layout(
            plan.title,
            showlegend=False,
            xaxis=_axis("model", domain=[0, 0.45], tickangle=-30),
            yaxis=_axis("SQNR (dB)", rangemode="tozero"),
            xaxis2=_axis("model", domain=[0.57, 1], anchor="y2", tickangle=-30),
            yaxis2=_axis("top-1 agreement (%)", range=[0, 105], anchor="x2"),
        ),
    )


BUILDERS: dict[str, Callable[[v.FigurePlan], PlotSpec]] = {
    "spec": spec_figure,
    "scaling": scaling_figure,
    "stages": stage_figure,
    "shares": shares_figure,
    "energy": energy_figure,
    "memory": memory_figure,
    "ops": ops_figure,
    "emulator": emulator_figure,
    "pred-vs-meas": prediction_scatter,
    "pred-error": prediction_error_figure,
    "validation": validation_figure,
    "fidelity": fidelity_figure,
}


def build(plan: v.FigurePlan) -> PlotSpec:
    return BUILDERS[plan.kind](plan)
