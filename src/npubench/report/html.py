"""The HTML report: one self-contained file with interactive figures and static tables.

``write_html_report(results, path)`` writes a single HTML file that opens without a server or
network: plotly.js is inlined, there are no external links to scripts, styles or fonts. Every
figure has a title, axis labels with units and a caption; a summary table, the prediction
errors and the provenance are plain HTML tables, so the report is useful with JavaScript off
and prints on A4.

May import ``npubench``, ``npubench.errors``, ``npubench.schema`` and ``npubench.report``'s
private helpers (``_views``, ``_plotly``).
"""

from __future__ import annotations

import html
import json
import math
from collections.abc import Sequence
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import npubench
from npubench import STAGES
from npubench.errors import NpubenchError
from npubench.report import _plotly as pl
from npubench.report import _views as v
from npubench.schema import BenchResult

DEFAULT_TITLE = "npubench report"

_CSS = """
:root { --fg:#222; --muted:#666; --line:#ccc; --bad:#D55E00; --ok:#0072B2; }
body { font: 14px/1.45 Helvetica, Arial, sans-serif; color: var(--fg); margin: 0 auto;
       max-width: 1100px; padding: 16px 24px; }
h1 { font-size: 24px; margin: 0 0 4px; } h2 { font-size: 19px; margin-top: 32px;
  border-bottom: 1px solid var(--line); padding-bottom: 3px; } h3 { font-size: 16px; }
.meta, .note, figcaption { color: var(--muted); }
figure { margin: 18px 0; break-inside: avoid; page-break-inside: avoid; }
figcaption { font-size: 12.5px; max-width: 680px; margin-top: 4px; }
.plot { width: 680px; max-width: 100%; min-height: 60px; border: 1px solid #eee; }
table { border-collapse: collapse; font-size: 12px; margin: 8px 0 16px; }
th, td { border: 1px solid var(--line); padding: 3px 6px; text-align: left; vertical-align: top; }
th { background: #f3f3f3; } td { white-space: nowrap; } .prov td, .wrap td { white-space: normal; }
td.num { text-align: right; font-variant-numeric: tabular-nums; }
.badge { display: inline-block; padding: 0 6px; border-radius: 8px; font-size: 11px;
         color: white; white-space: nowrap; }
.k-compiled { background: #777; } .k-predicted { background: #B36F00; }
.k-measured { background: #0072B2; } .emu { background: #7F3C8D; }
.st-does_not_fit, .st-failed { color: var(--bad); font-weight: bold; }
.st-incomplete { color: #B36F00; }
.wide { overflow-x: auto; } .prov td { overflow-wrap: break-word; max-width: 260px; }
nav ul { columns: 2; font-size: 13px; }
@page { size: A4; margin: 14mm; }
@media print {
  body { max-width: none; padding: 0; font-size: 10pt; }
  nav, .modebar, .modebar-container, noscript { display: none !important; }
  .plot { border: none; } h2 { break-before: auto; break-after: avoid; }
  table { font-size: 7.5pt; } .wide { overflow: visible; } td { white-space: normal; }
  figure, table { break-inside: avoid; }
}
"""


def _e(text: object) -> str:
    return html.escape(str(text), quote=True)


def _ms(us: float | None, digits: int = 3) -> str:
    return "–" if us is None else f"{us / 1000:.{digits}f}"


def _num(value: float | None, fmt: str = ".3g") -> str:
    return "–" if value is None else format(value, fmt)


def _kind_badge(kind: str) -> str:
    return f'<span class="badge k-{_e(kind)}">{_e(kind)}</span>'


def _mem(r: BenchResult, names: tuple[str, ...], key: str) -> str:
    for name in names:
        if name in r.fit:
            m = r.fit[name]
            cap = "?" if m.capacity_bytes is None else f"{m.capacity_bytes / 1024:.0f}"
            text = f"{m.used_bytes / 1024:.1f} / {cap} KiB"
            return text if m.fits else f'<span class="st-does_not_fit">{text} ✗</span>'
    used = r.memory.get(key)
    return "–" if used is None else f"{used / 1024:.1f} KiB"


def _table(headers: Sequence[str], rows: Sequence[Sequence[str]], cls: str = "") -> str:
    """A table from already-escaped cells; numeric-looking cells are right-aligned."""
    head = "".join(f"<th>{_e(h)}</th>" for h in headers)
    body = []
    for row in rows:
        cells = []
        for cell in row:
            plain = cell.replace(" ", "").replace(".", "").replace("/", "").replace("*", "")
            numeric = plain == "–" or plain.replace("–", "").lstrip("+-").isdigit()
            cells.append(f'<td class="num">{cell}</td>' if numeric else f"<td>{cell}</td>")
        body.append("<tr>" + "".join(cells) + "</tr>")
    return (
        f'<div class="wide"><table class="{cls}"><thead><tr>{head}</tr></thead>'
        f"<tbody>{''.join(body)}</tbody></table></div>"
    )


def _summary_table(results: Sequence[BenchResult]) -> str:
    headers = [
        "model",
        "target",
        "kind",
        "status",
        *[f"{v.STAGE_LABELS[s]} (ms)" for s in STAGES],
        "total (ms)",
        "interval (ms)",
        "energy (µJ)",
        "net energy (µJ)",
        "avg power (mW)",
        "SRAM",
        "flash",
        "NPU/CPU ops",
        "MACs (M)",
    ]
    rows = []
    for e in v.entries(results):
        r = e.result
        total, complete = v.known_total(r)
        interval = (
            f"{_ms(r.latency_us_low)}–{_ms(r.latency_us_high)}"
            if r.latency_us_low is not None and r.latency_us_high is not None
            else "–"
        )
        status = v.STATUS_LABELS[r.status]
        if r.message and r.status != "ok":
            status += f": {r.message}"
        kind = _kind_badge(r.kind) + (f" {_e(e.variant)}" if e.variant else "")
        if v.is_emulator(r):
            kind += ' <span class="badge emu">emulator</span>'
        macs = r.details.get("macs") or r.compiler.get("nn_macs")
        rows.append(
            [
                _e(r.model),
                _e(r.target),
                kind,
                f'<span class="st-{_e(r.status)}">{_e(status)}</span>',
                *[_ms(r.latency_us.get(s)) for s in STAGES],
                _ms(total) + ("" if complete or total is None else "*"),
                interval,
                _num(r.energy_uj.get("total")),
                _num(r.energy_uj.get("net")),
                _num(r.power_mw.get("average")),
                _mem(r, ("sram", "arena"), "sram_bytes"),
                _mem(r, ("flash",), "flash_bytes"),
                f"{r.ops.get('npu', 0)}/{r.ops.get('cpu', 0)}",
                "–" if not macs else f"{macs / 1e6:.2f}",
            ]
        )
    return _table(headers, rows) + (
        '<p class="note">* sum of the known stages only (a compiled result has Vela\'s '
        "inference estimate alone). – = not known for this kind of result. Memory is used / "
        "capacity; ✗ = does not fit.</p>"
    )


def _origins_section(results: Sequence[BenchResult]) -> str:
    origins = v.target_origins(results)
    rows = []
    for o in origins:
        kinds = " ".join(_kind_badge(k) for k in o.kinds)
        note = (
            '<span class="badge emu">emulator</span> timings are not cycle-accurate: '
            "read them as nominal, not as the speed of silicon"
            if o.emulator
            else "hardware (or a model of it)"
        )
        rows.append([_e(o.target), kinds, note])
    present = sorted({r.kind for r in results}, key=("compiled", "predicted", "measured").index)
    listing = "".join(f"<li>{_kind_badge(k)} {_e(v.kind_origin(k))}</li>" for k in present)
    emulators = [o.target for o in origins if o.emulator]
    emu_text = (
        f"<p><strong>Emulator timings are not cycle-accurate.</strong> Figures for "
        f"{_e(', '.join(emulators))} come from an emulator: they show that the model runs and "
        "what it computes, not how fast a chip would run it.</p>"
        if emulators
        else "<p>No figure in this report comes from an emulator.</p>"
    )
    return (
        '<section id="origins"><h2>Where the figures come from</h2>'
        "<p>Every figure in this report is one of three kinds, and each bar, point and row "
        f"says which:</p><ul>{listing}</ul>{emu_text}"
        + _table(["target", "kinds of figure", "timing"], rows)
        + "</section>"
    )


def _prediction_table(pairs: Sequence[v.PredictionPair]) -> str:
    headers = ["model", "target", *[v.STAGE_LABELS[s] for s in STAGES], "total"]
    rows = []
    for p in pairs:
        cells = [_e(p.model), _e(p.target + (f" {p.variant}" if p.variant else ""))]
        for stage in (*STAGES, "total"):
            err = p.error_pct(stage)
            pred, meas = p.predicted.latency_us.get(stage), p.measured.latency_us.get(stage)
            cells.append("–" if err is None else f"{err:+.1f}% ({_ms(pred)} vs {_ms(meas)} ms)")
        rows.append(cells)
    return _table(headers, rows, "wrap") + (
        '<p class="note">Error = (predicted − measured) / measured; in brackets predicted vs '
        "measured in ms.</p>"
    )


def _finite(value: Any) -> Any:
    """``value`` with NaN and infinities as None (JSON has no NaN; plotly skips None)."""
    if isinstance(value, float) and not math.isfinite(value):
        return None
    if isinstance(value, dict):
        return {k: _finite(x) for k, x in value.items()}
    if isinstance(value, list | tuple):
        return [_finite(x) for x in value]
    return value


class _Figures:
    """Collects figures in page order and numbers them."""

    def __init__(self) -> None:
        self.specs: list[pl.PlotSpec] = []

    def add(self, spec: pl.PlotSpec) -> str:
        self.specs.append(spec)
        number = len(self.specs)
        return (
            f'<figure id="fig-{_e(spec.key)}"><div class="plot" id="plot-{_e(spec.key)}" '
            f'data-figure="{number}" role="img" aria-label="{_e(spec.title)}"></div>'
            f"<figcaption><strong>Figure {number}. {_e(spec.title)}.</strong> "
            f"{_e(spec.caption)}</figcaption></figure>"
        )

    def script(self) -> str:
        payload = [{"id": f"plot-{s.key}", "data": s.data, "layout": s.layout} for s in self.specs]
        # "</" inside a script would end it early; JSON allows the escaped form.
        text = json.dumps(_finite(payload), allow_nan=False, separators=(",", ":")).replace(
            "</", "<\\/"
        )
        return (
            "<script>\n(function () {\n"
            f"  var figures = {text};\n"
            "  var config = {displaylogo: false, responsive: false, showLink: false,\n"
            "                modeBarButtonsToRemove: ['sendDataToCloud']};\n"
            "  figures.forEach(function (f) {\n"
            "    Plotly.newPlot(f.id, f.data, f.layout, config);\n"
            "  });\n"
            "})();\n</script>"
        )


def _model_section(model: str, model_entries: list[v.Entry], figs: _Figures) -> str:
    parts = [f'<section class="model" id="model-{_e(v.slug(model))}"><h2>Model {_e(model)}</h2>']
    macs = next((m for e in model_entries if (m := e.result.details.get("macs")) is not None), None)
    params = next(
        (p for e in model_entries if (p := e.result.details.get("params")) is not None), None
    )
    facts = []
    if macs:
        facts.append(f"{macs / 1e6:.2f} M MACs")
    if params:
        facts.append(f"{params / 1e3:.1f} k parameters")
    if facts:
        parts.append(f'<p class="meta">{_e(", ".join(facts))}</p>')
    parts.append(figs.add(pl.stage_figure(model, v.stage_bars(model_entries))))
    energy = v.energy_bars(model_entries)
    if energy:
        parts.append(figs.add(pl.energy_figure(model, energy)))
    else:
        parts.append(
            '<p class="note">No power or energy figures for this model (compiled results '
            "carry none; predictions need a board power model, measurements a power meter).</p>"
        )
    memory = v.memory_rows(model_entries)
    if memory:
        parts.append(figs.add(pl.memory_figure(model, memory)))
    else:
        parts.append('<p class="note">No memory fit figures for this model.</p>')
    ops = v.op_rows(model_entries)
    if ops:
        parts.append(figs.add(pl.ops_figure(model, ops)))
    parts.append("</section>")
    return "".join(parts)


def _provenance_section(results: Sequence[BenchResult]) -> str:
    rows = v.provenance_rows(results)
    headers = list(rows[0]) if rows else ["model"]
    cells = [[_e(row[h]) for h in headers] for row in rows]
    return (
        '<section id="provenance"><h2>Provenance</h2><p>What produced each result: npubench '
        "and toolchain versions, the options, content hashes of the model and its source, the "
        "calibration data, the host and the time.</p>"
        + _table(headers, cells, "prov")
        + "</section>"
    )


def render_html(results: Sequence[BenchResult], title: str = DEFAULT_TITLE) -> str:
    """The report as one HTML string (plotly.js inlined)."""
    results = list(results)
    figs = _Figures()
    by_model = v.by_model(results)
    body: list[str] = []

    body.append(_origins_section(results))
    body.append(
        '<section id="summary"><h2>Summary</h2>'
        "<p>Latency of one inference per stage in ms, energy, memory and operator split, per "
        "model, target and kind of figure.</p>" + _summary_table(results) + "</section>"
    )
    for model, model_entries in by_model.items():
        body.append(_model_section(model, model_entries, figs))

    body.append('<section id="scaling"><h2>Latency against model size</h2>')
    series = v.scaling_series(results)
    if series:
        body.append(figs.add(pl.scaling_figure(series)))
    else:
        body.append('<p class="note">No result with both a MAC count and a latency.</p>')
    body.append("</section>")

    body.append('<section id="prediction"><h2>Predicted against measured</h2>')
    pairs = v.prediction_pairs(results)
    if pairs:
        body.append(figs.add(pl.prediction_scatter(pairs)))
        body.append(figs.add(pl.prediction_error_figure(pairs)))
        body.append(_prediction_table(pairs))
    else:
        body.append(
            '<p class="note">No model and target has both a prediction and a measurement '
            "(with the same optimise mode and clock).</p>"
        )
    body.append("</section>")

    body.append('<section id="fidelity"><h2>Quantization fidelity</h2>')
    fidelity = v.fidelity_rows(results)
    if fidelity:
        body.append(figs.add(pl.fidelity_figure(fidelity)))
        body.append(
            _table(
                ["model", "SQNR (dB)", "top-1 agreement", "max |error|", "samples", "calibration"],
                [
                    [
                        _e(f.model),
                        _num(f.sqnr_db, ".1f"),
                        "–" if f.top1_agreement is None else f"{100 * f.top1_agreement:.1f}%",
                        _num(f.max_abs_error),
                        str(f.samples),
                        _e(v.short_hash(f.calibration, 16)),
                    ]
                    for f in fidelity
                ],
            )
        )
    else:
        body.append('<p class="note">No fidelity figures in these results.</p>')
    body.append("</section>")
    body.append(_provenance_section(results))

    nav_items = [("origins", "Where the figures come from"), ("summary", "Summary")]
    nav_items += [(f"model-{v.slug(m)}", f"Model {m}") for m in by_model]
    nav_items += [
        ("scaling", "Latency against model size"),
        ("prediction", "Predicted against measured"),
        ("fidelity", "Quantization fidelity"),
        ("provenance", "Provenance"),
    ]
    nav = "".join(f'<li><a href="#{_e(a)}">{_e(t)}</a></li>' for a, t in nav_items)
    generated = datetime.now(UTC).isoformat(timespec="seconds")
    models = len(by_model)
    targets = len({r.target for r in results})
    return (
        "<!DOCTYPE html>\n"
        '<html lang="en"><head><meta charset="utf-8">'
        '<meta name="viewport" content="width=device-width, initial-scale=1">'
        f'<meta name="generator" content="npubench {_e(npubench.__version__)}">'
        f"<title>{_e(title)}</title><style>{_CSS}</style></head><body>"
        f"<header><h1>{_e(title)}</h1>"
        f'<p class="meta">{len(results)} results, {models} models, {targets} targets. '
        f"Generated {_e(generated)} by npubench {_e(npubench.__version__)} "
        f"(figures drawn with plotly.js from plotly {_e(pl.plotly_version())}, inlined).</p>"
        "<noscript><p><strong>JavaScript is off:</strong> the figures are not drawn; the "
        "tables below hold the same numbers.</p></noscript></header>"
        f"<nav><ul>{nav}</ul></nav>"
        + "".join(body)
        + "<script>"
        + pl.plotly_js().replace("</script", "<\\/script")
        + "</script>"
        + figs.script()
        + "</body></html>\n"
    )


def write_html_report(
    results: Sequence[BenchResult], path: Path, title: str = DEFAULT_TITLE
) -> Path:
    """Write the self-contained HTML report to ``path`` (parents created); returns the path."""
    path = Path(path)
    if path.exists() and path.is_dir():
        raise NpubenchError(
            f"{path} is a directory, not an HTML file",
            "give a file name, e.g. report.html",
        )
    text = render_html(results, title)
    try:
        path.parent.mkdir(parents=True, exist_ok=True)
        tmp = path.with_name(path.name + ".tmp")
        tmp.write_text(text, encoding="utf-8")
        tmp.replace(path)
    except OSError as e:
        raise NpubenchError(
            f"cannot write the HTML report to {path}: {e}", "choose a writable location"
        ) from e
    return path
