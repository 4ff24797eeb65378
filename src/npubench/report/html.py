"""The HTML report: one self-contained file with interactive figures and static tables.

``write_html_report(results, path, validation=None)`` writes a single HTML file that opens
without a server or network: plotly.js is inlined (gzip-compressed and unpacked by the
browser's own DecompressionStream, which keeps a 1,000-result page under 5 MB), there are no
external links to scripts, styles or fonts. The page opens with the headline (per model, the
boards ranked by end-to-end latency and by energy, each figure badged by its basis), then spec
sheets against silicon, then the details. Every figure has a title, axis labels with units and
a caption; the tables are plain HTML (sortable and filterable with a few lines of inline
script), so the report is useful with JavaScript off and prints on A4. Every name that comes
from a result is HTML-escaped.

May import ``npubench``, ``npubench.errors``, ``npubench.schema`` and ``npubench.report``'s
private helpers (``_views``, ``_plotly``).
"""

from __future__ import annotations

import base64
import gzip
import html
import json
import math
from collections.abc import Sequence
from datetime import UTC, datetime
from functools import cache
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
:root { --fg:#222; --muted:#5f5f5f; --line:#ccc; --bad:#C24E00; --ok:#0072B2; }
* { box-sizing: border-box; }
body { font: 14px/1.45 Helvetica, Arial, sans-serif; color: var(--fg); margin: 0 auto;
       max-width: 1240px; padding: 12px 20px; }
p, figcaption, li, summary, details { overflow-wrap: anywhere; }
h1 { font-size: 22px; margin: 0 0 2px; } h2 { font-size: 19px; margin-top: 30px;
  border-bottom: 1px solid var(--line); padding-bottom: 3px; }
h3 { font-size: 16px; margin: 4px 0; }
header .meta { margin: 0 0 4px; font-size: 12.5px; }
.meta, .note, figcaption { color: var(--muted); }
nav.top { font-size: 12.5px; margin: 2px 0 0; }
nav.top a { margin-right: 10px; white-space: nowrap; }
figure { margin: 18px 0; break-inside: avoid; page-break-inside: avoid; }
figcaption { font-size: 12.5px; max-width: 680px; margin-top: 4px; }
.plot { width: 680px; max-width: 100%; min-height: 60px; border: 1px solid #eee; overflow: hidden; }
table { border-collapse: collapse; font-size: 12px; margin: 6px 0 14px; max-width: 100%; }
th, td { border: 1px solid var(--line); padding: 3px 5px; text-align: left; vertical-align: top; }
th { background: #f3f3f3; } td.num { text-align: right; font-variant-numeric: tabular-nums;
  white-space: nowrap; }
table.sortable th { cursor: pointer; } th[aria-sort=ascending]::after { content: " ▲"; }
th[aria-sort=descending]::after { content: " ▼"; }
.badge { display: inline-block; padding: 0 6px; border-radius: 8px; font-size: 11px;
         color: white; line-height: 1.5; }
.k-compiled, .b-comp { background: #666; } .k-predicted, .b-pred { background: #B36F00; }
.k-measured, .b-meas { background: #0072B2; } .emu, .b-emu { background: #7F3C8D; }
.b-cal { background: #00795A; } .b-cal-fam { background: #2B78AE; } .b-ds { background: #A35F00; }
.b-asm { background: #C24E00; }
.st-does_not_fit, .st-failed { color: var(--bad); font-weight: bold; }
.st-incomplete { color: #A35F00; }
details summary { cursor: pointer; } details.verdict { display: inline; }
.cards { display: grid; grid-template-columns: repeat(auto-fill, minmax(560px, 1fr)); gap: 12px; }
.card { border: 1px solid var(--line); border-radius: 6px; padding: 8px 10px; min-width: 0; }
.card table { width: 100%; margin: 4px 0; }
.rank td:not(:nth-child(4)):not(:nth-child(6)) { white-space: nowrap; }
.card .decides { margin: 2px 0 4px; font-size: 13px; } .long { white-space: normal; }
.iv { display: block; color: var(--muted); font-size: 11px; white-space: nowrap; }
table.summary .badge, table.summary td:nth-child(-n+2) { white-space: nowrap; }
.lead td { background: #f1f7fc; }
.js table.folded tr.more { display: none; }
button.more { font: inherit; font-size: 12px; margin: 0 0 4px; cursor: pointer; }
input.filter { font: inherit; font-size: 12px; padding: 2px 6px; margin: 2px 0; width: 260px;
               max-width: 100%; }
.count { color: var(--muted); font-size: 12px; margin-left: 6px; }
@page { size: A4; margin: 14mm; }
@media print {
  body { max-width: none; padding: 0; font-size: 10pt; }
  nav, .modebar, .modebar-container, noscript, input.filter, .count { display: none !important; }
  .plot { border: none; } h2 { break-before: auto; break-after: avoid; }
  table { font-size: 7.5pt; } details > *:not(summary) { display: block; }
  figure, table { break-inside: avoid; }
}
"""

# Sorting and filtering of every table.sortable; no library, no network.
_TABLE_JS = """
(function () {
  function key(td) {
    if (!td) return '';
    var v = td.getAttribute('data-v');
    if (v !== null && v !== '') return parseFloat(v);
    var t = td.textContent.trim();
    var n = parseFloat(t.replace(/[^0-9.eE+-]/g, ''));
    return /^[-+]?[0-9]/.test(t) && !isNaN(n) ? n : t.toLowerCase();
  }
  document.querySelectorAll('table.sortable').forEach(function (table) {
    if (!table.tHead || !table.tBodies.length) return;
    var ths = table.tHead.rows[0].cells;
    Array.prototype.forEach.call(ths, function (th, i) {
      th.tabIndex = 0;
      th.setAttribute('aria-sort', 'none');
      function sort() {
        var dir = th.getAttribute('aria-sort') === 'ascending' ? -1 : 1;
        Array.prototype.forEach.call(ths, function (o) { o.setAttribute('aria-sort', 'none'); });
        th.setAttribute('aria-sort', dir === 1 ? 'ascending' : 'descending');
        var body = table.tBodies[0];
        var rows = Array.prototype.slice.call(body.rows);
        rows.sort(function (a, b) {
          var x = key(a.cells[i]), y = key(b.cells[i]);
          if (typeof x === typeof y) return (x < y ? -1 : x > y ? 1 : 0) * dir;
          return typeof x === 'number' ? -1 : 1;  /* numbers first, '–' last */
        });
        rows.forEach(function (r) { body.appendChild(r); });
        table.classList.remove('folded');
      }
      th.addEventListener('click', sort);
      th.addEventListener('keydown', function (e) {
        if (e.key === 'Enter' || e.key === ' ') { e.preventDefault(); sort(); }
      });
    });
  });
  document.documentElement.classList.add('js');
  document.querySelectorAll('button.more').forEach(function (button) {
    var table = document.getElementById(button.getAttribute('data-table'));
    var label = button.textContent;
    button.hidden = false;
    button.addEventListener('click', function () {
      var folded = table.classList.toggle('folded');
      button.textContent = folded ? label : 'fewer boards';
    });
  });
  document.querySelectorAll('input.filter').forEach(function (input) {
    var table = document.getElementById(input.getAttribute('data-table'));
    var count = document.getElementById(input.id + '-count');
    if (!table) return;
    input.hidden = false;
    input.addEventListener('input', function () {
      var words = input.value.toLowerCase().split(/\\s+/).filter(Boolean), shown = 0;
      var rows = table.tBodies[0].rows;
      Array.prototype.forEach.call(rows, function (r) {
        var text = r.textContent.toLowerCase();
        var show = words.every(function (w) { return text.indexOf(w) >= 0; });
        r.hidden = !show;
        if (show) shown++;
      });
      if (count) count.textContent = words.length ? shown + ' of ' + rows.length + ' rows' : '';
    });
  });
})();
"""


def _e(text: object) -> str:
    return html.escape(str(text), quote=True)


def _ms(us: float | None, digits: int = 3) -> str:
    return "–" if us is None else f"{us / 1000:.{digits}f}"


def _sig(value: float | None, digits: int = 3) -> str:
    """``value`` to ``digits`` significant digits, without an exponent ('1291', '3.66')."""
    if value is None or not math.isfinite(value):
        return "–"
    text = f"{value:#.{digits}g}".rstrip(".")
    if "e" not in text:
        return text
    if abs(value) >= 1:
        return f"{value:.0f}"
    return f"{value:.{digits - 1 - math.floor(math.log10(abs(value)))}f}"


def _name(text: object, run: int = 24) -> str:
    """An escaped name; a long one gets break opportunities so it wraps instead of
    widening its table (the text itself is unchanged)."""
    raw = str(text)
    if len(raw) <= run:
        return _e(raw)
    out, since = [], 0
    for ch in raw:
        out.append(_e(ch))
        since += 1
        if ch in "-_./:\\" or since >= run:
            out.append("<wbr>")
            since = 0
    return '<span class="long">' + "".join(out) + "</span>"


def _num(value: float | None, fmt: str = ".3g") -> str:
    return "–" if value is None else format(value, fmt)


def _kind_badge(kind: str) -> str:
    return f'<span class="badge k-{_e(kind)}">{_e(kind)}</span>'


def _basis_badge(b: v.Basis | None) -> str:
    if b is None:
        return "–"
    return f'<span class="badge b-{_e(b.code)}" title="{_e(b.detail)}">{_e(b.label)}</span>'


def _fold(text: str, limit: int = 48, summary: str | None = None) -> str:
    """Escaped text, folded behind a <details> summary when longer than ``limit``."""
    if len(text) <= limit:
        return _e(text)
    head = summary if summary is not None else text.split(":")[0][:limit]
    return f'<details class="verdict"><summary>{_e(head)}</summary>{_e(text)}</details>'


def _mem(r: BenchResult, names: tuple[str, ...], key: str) -> str:
    for name in names:
        if name in r.fit:
            m = r.fit[name]
            cap = "?" if m.capacity_bytes is None else f"{m.capacity_bytes / 1024:.0f}"
            text = f"{m.used_bytes / 1024:.1f} / {cap} KiB"
            return text if m.fits else f'<span class="st-does_not_fit">{text} ✗</span>'
    used = r.memory.get(key)
    return "–" if used is None else f"{used / 1024:.1f} KiB"


Cell = str | tuple[str, float | None]


def _table(
    headers: Sequence[str],
    rows: Sequence[Sequence[Cell]],
    cls: str = "",
    table_id: str | None = None,
    filter_label: str | None = None,
    row_classes: Sequence[str] | None = None,
) -> str:
    """A table from already-escaped cells; a cell may carry its sort value, (html, value).

    Numeric-looking cells are right-aligned. With ``table_id`` the table is sortable; with
    ``filter_label`` it also gets a filter box (hidden until the script shows it).
    """
    head = "".join(f"<th>{_e(h)}</th>" for h in headers)
    body = []
    for number, row in enumerate(rows):
        cells = []
        for cell in row:
            text, value = cell if isinstance(cell, tuple) else (cell, None)
            attr = "" if value is None or not math.isfinite(value) else f' data-v="{value:.6g}"'
            plain = text.replace(" ", "").replace(".", "").replace("/", "").replace("*", "")
            numeric = plain == "–" or plain.replace("–", "").lstrip("+-").isdigit()
            cls_attr = ' class="num"' if numeric else ""
            cells.append(f"<td{cls_attr}{attr}>{text}</td>")
        tr_class = row_classes[number] if row_classes and row_classes[number] else ""
        body.append((f'<tr class="{tr_class}">' if tr_class else "<tr>") + "".join(cells) + "</tr>")
    classes = " ".join(c for c in (cls, "sortable" if table_id else "") if c)
    id_attr = f' id="{_e(table_id)}"' if table_id else ""
    filt = ""
    if table_id and filter_label:
        fid = f"{table_id}-filter"
        filt = (
            f'<div><input class="filter" type="search" id="{_e(fid)}" '
            f'data-table="{_e(table_id)}" placeholder="{_e(filter_label)}" '
            f'aria-label="{_e(filter_label)}" hidden><span class="count" id="{_e(fid)}-count">'
            "</span></div>"
        )
    return (
        f'{filt}<table class="{classes}"{id_attr}><thead><tr>{head}</tr></thead>'
        f"<tbody>{''.join(body)}</tbody></table>"
    )


# -- headline -------------------------------------------------------------------------------


def _interval_html(low: float | None, high: float | None, scale: float, unit: str) -> str:
    if low is None or high is None:
        return ""
    return f'<span class="iv">{_sig(low / scale)}–{_sig(high / scale)}{unit}</span>'


_HEADLINE_ROWS = 6  # boards shown per model before "all N boards" (all of them without script)


def _headline_card(h: v.Headline) -> str:
    energy = {row.target: row for row in h.energy}
    rows: list[list[Cell]] = []
    for row in h.latency:
        e = energy.get(row.target)
        star = "" if row.complete else "*"
        board = _name(row.target) + (
            f' <span class="iv">{_e(row.variant)}</span>' if row.variant else ""
        )
        rows.append(
            [
                (str(row.rank), float(row.rank)),
                board,
                (
                    f"{_sig(row.value / 1000)}{star}" + _interval_html(row.low, row.high, 1000, ""),
                    row.value / 1000,
                ),
                _basis_badge(row.basis),
                (
                    "–"
                    if e is None
                    else f'{_sig(e.value)} <span class="iv">#{e.rank}'
                    + (
                        f" · {_sig(e.low)}–{_sig(e.high)}"
                        if e.low is not None and e.high is not None
                        else ""
                    )
                    + (f" · {_e(e.basis.label)}" if e.basis != row.basis else "")
                    + "</span>",
                    None if e is None else e.value,
                ),
                _fold(row.verdict, 30),
            ]
        )
    table = ""
    if rows:
        shown = _HEADLINE_ROWS if len(rows) > _HEADLINE_ROWS + 1 else len(rows)
        classes = ["lead", *([""] * (shown - 1)), *(["more"] * (len(rows) - shown))]
        table = _table(
            ["#", "board", "end to end (ms)", "basis", "energy (µJ)", "fit"],
            rows,
            "rank folded" if shown < len(rows) else "rank",
            table_id=f"rank-{v.slug(h.model)}",
            row_classes=classes,
        )
        if shown < len(rows):
            table += (
                f'<button type="button" class="more" data-table="rank-{_e(v.slug(h.model))}" '
                f"hidden>all {len(rows)} boards</button>"
            )
    extra = []
    if h.unranked:
        extra.append(
            "Not ranked: "
            + "; ".join(f"{_name(u.target)} — {_fold(u.reason, 40)}" for u in h.unranked)
            + "."
        )
    if h.emulated:
        extra.append(
            "Emulator timings, not ranked: "
            + "; ".join(
                f"{_name(x.target)} {_sig(x.value / 1000)} ms (nominal)" for x in h.emulated
            )
            + ' (<a href="#emulators">panel</a>).'
        )
    if any(not row.complete for row in h.latency):
        extra.append("* inference stage only (the toolchain's estimate): a lower bound.")
    macs = f' <span class="meta">{h.macs / 1e6:.2f} M MACs</span>' if h.macs else ""
    return (
        f'<article class="card" id="headline-{_e(v.slug(h.model))}">'
        f'<h3><a href="#model-{_e(v.slug(h.model))}">{_name(h.model)}</a>{macs}</h3>'
        f'<p class="decides">{_e(h.sentence)}</p>{table}'
        + "".join(f'<p class="note">{x}</p>' for x in extra)
        + "</article>"
    )


def _headline_section(heads: Sequence[v.Headline]) -> str:
    codes = sorted(
        {row.basis.code for h in heads for row in (*h.latency, *h.energy, *h.emulated)},
        key=v.BASIS_CODES.index,
    )
    legend = "".join(
        f"<li>{_basis_badge(v.Basis(c, c, ''))} {_e(v.BASIS_MEANING[c])}</li>" for c in codes
    )
    cards = "".join(_headline_card(h) for h in heads) or '<p class="note">No results.</p>'
    return (
        '<section id="headline"><h2>Which board?</h2>'
        '<p class="note">Per model: boards ranked by end-to-end latency (interval below each '
        "figure) and by energy per inference, each figure badged by its basis; the sentence "
        "says what decides the order."
        + (
            f' <details class="verdict"><summary>What the badges mean</summary><ul>{legend}</ul>'
            "</details>"
            if legend
            else ""
        )
        + f'</p><div class="cards">{cards}</div></section>'
    )


# -- spec sheets against silicon ------------------------------------------------------------


def _spec_tables(spec: Sequence[v.SpecBoard]) -> str:
    peaks: list[list[Cell]] = []
    for b in spec:
        for p in b.peaks:
            peaks.append(
                [
                    _name(b.target),
                    ("–" if p.macs_per_s is None else _sig(p.macs_per_s / 1e9), p.macs_per_s),
                    _e(p.how),
                ]
            )
    achieved: list[list[Cell]] = []
    for b in spec:
        for a in b.achieved:
            util, e2e = a.utilisation, a.end_to_end_macs_per_s
            e2e_util = None if e2e is None or not a.peak.macs_per_s else e2e / a.peak.macs_per_s
            achieved.append(
                [
                    _name(a.target),
                    _name(a.model),
                    (_sig(a.macs_per_s / 1e9), a.macs_per_s),
                    ("–" if util is None else f"{100 * util:.0f}%", util),
                    _basis_badge(a.basis),
                    ("–" if e2e is None else _sig(e2e / 1e9), e2e),
                    ("–" if e2e_util is None else f"{100 * e2e_util:.1f}%", e2e_util),
                    _basis_badge(a.total_basis),
                ]
            )
    return (
        _table(["board", "datasheet peak (GMAC/s)", "how"], peaks, table_id="peaks")
        + _table(
            [
                "board",
                "model",
                "inference (GMAC/s)",
                "of peak",
                "basis",
                "end to end (GMAC/s)",
                "of peak",
                "basis",
            ],
            achieved,
            table_id="achieved",
            filter_label="filter: board, model…",
        )
        + "<p class=\"note\">Achieved = the model's MACs over the inference stage's time "
        "(measured where measured, else the toolchain's compiled estimate, else predicted); "
        "end to end = over the headline's whole-inference figure.</p>"
    )


# -- summary --------------------------------------------------------------------------------


def _summary_table(results: Sequence[BenchResult]) -> str:
    headers = [
        "model",
        "board",
        "basis",
        "status",
        *[f"{v.STAGE_LABELS[s]} (ms)" for s in STAGES],
        "total (ms)",
        "energy (µJ)",
        "power (mW)",
        "SRAM",
        "flash",
        "NPU/CPU ops",
        "MACs (M)",
    ]
    rows: list[list[Cell]] = []
    for e in v.entries(results):
        r = e.result
        total, complete = v.known_total(r)
        interval = _interval_html(r.latency_us_low, r.latency_us_high, 1000, "")
        status = v.STATUS_LABELS[r.status]
        if r.message and r.status != "ok":
            text = r.message if r.message.startswith(status) else f"{status}: {r.message}"
            status_html = _fold(text, 24, status)
        else:
            status_html = _e(status)
        basis_html = _basis_badge(v.basis(r)) + (
            f' <span class="iv">{_name(e.variant)}</span>' if e.variant else ""
        )
        macs = r.details.get("macs") or r.compiler.get("nn_macs")
        energy, net = r.energy_uj.get("total"), r.energy_uj.get("net")
        rows.append(
            [
                _name(r.model),
                _name(r.target),
                basis_html,
                f'<span class="st-{_e(r.status)}">{status_html}</span>',
                *[(_ms(x := r.latency_us.get(s)), x) for s in STAGES],
                (_ms(total) + ("" if complete or total is None else "*") + interval, total),
                (
                    _sig(energy)
                    + ("" if net is None else f'<span class="iv">net {_sig(net)}</span>'),
                    energy,
                ),
                (_sig(r.power_mw.get("average")), r.power_mw.get("average")),
                _mem(r, ("sram", "arena"), "sram_bytes"),
                _mem(r, ("flash",), "flash_bytes"),
                f"{r.ops.get('npu', 0)}/{r.ops.get('cpu', 0)}",
                ("–" if not macs else f"{macs / 1e6:.2f}", None if not macs else float(macs)),
            ]
        )
    return _table(
        headers,
        rows,
        "summary",
        table_id="summary-table",
        filter_label="filter: model, board, basis…",
    ) + (
        '<p class="note">* sum of the known stages only (a compiled result has the '
        "toolchain's inference estimate alone); below a total, its interval. – = not known for "
        "this kind of result. Memory is used / capacity; ✗ = does not fit. Click a header to "
        "sort.</p>"
    )


def _origins_section(results: Sequence[BenchResult]) -> str:
    origins = v.target_origins(results)
    rows = []
    for o in origins:
        kinds = " ".join(_kind_badge(k) for k in o.kinds)
        emulated_board = v._board_kind(o.target) == "emulator"
        if o.emulator:
            note = (
                '<span class="badge emu">emulator</span> timings are not cycle-accurate: '
                "read them as nominal, not as the speed of silicon"
            )
        elif emulated_board:
            note = "an emulated board: its figures are the toolchain's and npubench's, not timings"
        else:
            note = "hardware (or a model of it)"
        rows.append([_name(o.target), kinds, note])
    present = sorted({r.kind for r in results}, key=("compiled", "predicted", "measured").index)
    listing = "".join(f"<li>{_kind_badge(k)} {_e(v.kind_origin(k))}</li>" for k in present)
    emulators = [o.target for o in origins if o.emulator]
    emu_text = (
        f"<p><strong>Emulator timings are not cycle-accurate.</strong> Figures for "
        f"{_e(', '.join(emulators))} come from an emulator: they show that the model runs and "
        "what it computes, not how fast a chip would run it.</p>"
        if emulators
        else "<p>No timing in this report comes from an emulator.</p>"
    )
    return (
        '<section id="origins"><h2>Where the figures come from</h2>'
        "<p>Every figure in this report is one of three kinds, and each bar, point and row "
        f"says which:</p><ul>{listing}</ul>{emu_text}"
        + _table(["board", "kinds of figure", "timing"], rows)
        + "</section>"
    )


def _prediction_table(pairs: Sequence[v.PredictionPair]) -> str:
    headers = ["model", "board", *[v.STAGE_LABELS[s] for s in STAGES], "total"]
    rows: list[list[Cell]] = []
    for p in pairs:
        cells: list[Cell] = [_name(p.model), _e(p.target + (f" {p.variant}" if p.variant else ""))]
        for stage in (*STAGES, "total"):
            err = p.error_pct(stage)
            pred, meas = p.predicted.latency_us.get(stage), p.measured.latency_us.get(stage)
            cells.append(
                ("–" if err is None else f"{err:+.1f}% ({_ms(pred)} vs {_ms(meas)} ms)", err)
            )
        rows.append(cells)
    return _table(headers, rows, table_id="prediction-table") + (
        '<p class="note">Error = (predicted − measured) / measured; in brackets predicted vs '
        "measured in ms.</p>"
    )


def _validation_tables(validation: Any, points: Sequence[v.ValidationPoint]) -> str:
    rows: list[list[Cell]] = []
    for p in points:
        inside = "–" if p.inside is None else ("yes" if p.inside else "<strong>no</strong>")
        rows.append(
            [
                _name(p.board),
                _name(p.model),
                (_ms(p.measured_us), p.measured_us),
                (_ms(p.predicted_us), p.predicted_us),
                "–"
                if p.low_us is None or p.high_us is None
                else f"{_ms(p.low_us)}–{_ms(p.high_us)}",
                (f"{p.ratio:.2f}", p.ratio),
                inside,
                (_ms(p.lomo_us), p.lomo_us),
                (_ms(p.loso_us), p.loso_us),
                _e(p.basis or "–"),
            ]
        )
    out = _table(
        [
            "board",
            "model",
            "measured (ms)",
            "predicted (ms)",
            "interval (ms)",
            "ratio",
            "inside",
            "LOMO (ms)",
            "LOSO (ms)",
            "basis",
        ],
        rows,
        table_id="validation-table",
        filter_label="filter: board, model…",
    )
    scopes = v.validation_scopes(validation)
    if scopes:

        def mw(d: Any) -> str:
            if not isinstance(d, dict) or d.get("median") is None:
                return "–"
            return f"{d['median']:.2f} / {d.get('worst') or 0:.2f}"

        out += _table(
            ["board", "rows", "in sample", "LOMO", "LOSO", "coverage"],
            [
                [
                    _e(s.get("scope", "?")),
                    str(s.get("n", "–")),
                    mw(s.get("in_sample")),
                    mw(s.get("lomo")),
                    mw(s.get("loso")),
                    "–" if s.get("coverage") is None else f"{100 * s['coverage']:.0f}%",
                ]
                for s in scopes
            ],
            table_id="validation-boards",
        ) + (
            '<p class="note">Ratio errors, median / worst: exp |log(predicted / measured)| '
            "(1.10 = 10 % off either way). LOMO = leave one model out, LOSO = leave one "
            "source out; coverage = share of measurements inside the 90 % interval.</p>"
        )
    return out


def _finite(value: Any) -> Any:
    """``value`` with NaN and infinities as None (JSON has no NaN; plotly skips None)."""
    if isinstance(value, float) and not math.isfinite(value):
        return None
    if isinstance(value, dict):
        return {k: _finite(x) for k, x in value.items()}
    if isinstance(value, list | tuple):
        return [_finite(x) for x in value]
    return value


@cache
def plotly_payload() -> str:
    """plotly.js, gzip-compressed and base64-encoded (4.8 MB of script becomes 1.9 MB)."""
    raw = pl.plotly_js().encode("utf-8")
    return base64.b64encode(gzip.compress(raw, compresslevel=6, mtime=0)).decode("ascii")


_DRAW_JS = """
(function () {
  var figures = %s;
  var config = {displaylogo: false, responsive: false, showLink: false,
                modeBarButtonsToRemove: ['sendDataToCloud']};
  function fail(why) {
    document.documentElement.setAttribute('data-figures', 'failed');
    figures.forEach(function (f) {
      var div = document.getElementById(f.id);
      if (div) div.textContent = 'Figure not drawn (' + why + '): the tables hold the numbers.';
    });
  }
  function draw() {
    figures.forEach(function (f) { Plotly.newPlot(f.id, f.data, f.layout, config); });
    document.documentElement.setAttribute('data-figures', 'drawn');
  }
  if (!figures.length) { document.documentElement.setAttribute('data-figures', 'drawn'); return; }
  if (typeof DecompressionStream === 'undefined') {
    fail('this browser cannot unpack plotly.js');
    return;
  }
  var text = document.getElementById('npb-plotly').textContent;
  var bin = atob(text), bytes = new Uint8Array(bin.length);
  for (var i = 0; i < bin.length; i++) bytes[i] = bin.charCodeAt(i);
  var stream = new Blob([bytes]).stream().pipeThrough(new DecompressionStream('gzip'));
  new Response(stream).text().then(function (js) {
    (0, eval)(js);  /* plotly.js itself, from this page: nothing is fetched */
    draw();
  }).catch(function (e) { fail(String(e)); });
})();
"""


class _Figures:
    """Collects figures in page order and numbers them."""

    def __init__(self) -> None:
        self.specs: list[pl.PlotSpec] = []

    def add(self, plan: v.FigurePlan) -> str:
        spec = pl.build(plan)
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
        plotly = (
            f'<script type="application/octet-stream" id="npb-plotly" '
            f'data-encoding="gzip+base64" data-plotly="{_e(pl.plotly_version())}">'
            f"{plotly_payload()}</script>"
            if self.specs
            else ""
        )
        return plotly + "<script>\n" + (_DRAW_JS % text) + "</script>"


def _model_section(
    model: str, plans: Sequence[v.FigurePlan], model_entries: list[v.Entry], figs: _Figures
) -> str:
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
    kinds = {p.kind for p in plans}
    for plan in plans:
        parts.append(figs.add(plan))
    if "stages" not in kinds:
        parts.append('<p class="note">Only emulator timings for this model (see the panel).</p>')
    if "energy" not in kinds:
        parts.append(
            '<p class="note">No power or energy figures for this model (compiled results '
            "carry none; predictions need a board power model, measurements a power meter).</p>"
        )
    if "memory" not in kinds:
        parts.append('<p class="note">No memory fit figures for this model.</p>')
    parts.append("</section>")
    return "".join(parts)


def _provenance_section(results: Sequence[BenchResult]) -> str:
    groups = v.provenance_groups(results)
    rows = []
    for g in groups:
        applies = ", ".join(g.applies_to)
        n = len(g.applies_to)
        label = "all results" if n == len(results) else f"{n} result{'s' if n != 1 else ''}"
        rows.append(
            [
                _e(g.what),
                _e(g.value),
                (
                    f'<details class="verdict"><summary>{_e(label)}</summary>'
                    f"{_e(applies)}</details>"
                    if n > 1
                    else _e(applies)
                ),
            ]
        )
    models = [
        [_name(m.model), _e(m.source), _e(m.hashes), _e(m.calibration), _e(m.times)]
        for m in v.model_provenance(results)
    ]
    return (
        '<section id="provenance"><h2>Provenance</h2><p>What produced the results, each '
        "distinct value once with the results it applies to: npubench and toolchain versions, "
        "the options, the host; then per model its source, content hashes, calibration data "
        "and when its results were made.</p>"
        + _table(
            ["what", "value", "applies to"],
            rows,
            "prov",
            table_id="provenance-table",
            filter_label="filter: tool, version, model…",
        )
        + _table(
            ["model", "source", "hashes", "calibration", "time (UTC)"],
            models,
            "prov",
            table_id="provenance-models",
        )
        + "</section>"
    )


def render_html(
    results: Sequence[BenchResult], title: str = DEFAULT_TITLE, validation: Any = None
) -> str:
    """The report as one HTML string (plotly.js inlined)."""
    results = list(results)
    figs = _Figures()
    by_model = v.by_model(results)
    heads = v.headlines(results)
    plans = v.figure_plan(results, validation)
    by_section: dict[str, list[v.FigurePlan]] = {}
    for plan in plans:
        by_section.setdefault(plan.section, []).append(plan)
    body: list[str] = [_headline_section(heads)]

    spec = v.spec_silicon(results, heads)
    body.append(
        '<section id="spec"><h2>Spec sheets against silicon</h2><p>What each board\'s '
        "datasheet promises (peak MACs per second) against what the models achieve, and how "
        "latency scales with model size. Where the time goes on each board is in each "
        "model's section (the share figure).</p>"
    )
    body += [figs.add(p) for p in by_section.get("spec", []) if p.kind == "spec"]
    body.append(
        _spec_tables(spec)
        if spec
        else '<p class="note">No result has a MAC count and an inference time.</p>'
    )
    scaling = [p for p in by_section.get("spec", []) if p.kind == "scaling"]
    body += [figs.add(p) for p in scaling]
    if not scaling:
        body.append('<p class="note">No result with both a MAC count and a latency.</p>')
    body.append("</section>")

    body.append(_origins_section(results))
    body.append(
        '<section id="summary"><h2>Summary</h2>'
        "<p>Latency of one inference per stage in ms, energy, memory and operator split, per "
        "model, board and basis of the figure.</p>" + _summary_table(results) + "</section>"
    )
    for model, model_entries in by_model.items():
        body.append(
            _model_section(model, by_section.get(f"model:{model}", []), model_entries, figs)
        )

    emulators = by_section.get("emulators", [])
    if emulators:
        body.append(
            '<section id="emulators"><h2>Emulator timings</h2><p>Models timed on an emulator '
            "(QEMU). These timings are not cycle-accurate: they are kept apart from the boards "
            "and never ranked against them.</p>"
        )
        body += [figs.add(p) for p in emulators]
        body.append("</section>")

    body.append('<section id="prediction"><h2>Predicted against measured</h2>')
    pairs = v.prediction_pairs(results)
    if pairs:
        body += [figs.add(p) for p in by_section.get("prediction", [])]
        body.append(_prediction_table(pairs))
    else:
        body.append(
            '<p class="note">No model and board has both a prediction and a measurement '
            "(with the same optimise mode and clock).</p>"
        )
    body.append("</section>")

    points = v.validation_points(validation)
    if validation is not None:
        body.append(
            '<section id="validation"><h2>Prediction fidelity (npubench validate)</h2>'
            "<p>How far npubench's latency model is from every reference measurement, in and "
            "out of sample, with the interval each prediction carries.</p>"
        )
        if points:
            body += [figs.add(p) for p in by_section.get("validation", [])]
            body.append(_validation_tables(validation, points))
        else:
            body.append('<p class="note">The validation data has no rows.</p>')
        body.append("</section>")

    body.append('<section id="fidelity"><h2>Quantization fidelity</h2>')
    fidelity = v.fidelity_rows(results)
    if fidelity:
        body += [figs.add(p) for p in by_section.get("fidelity", [])]
        body.append(
            _table(
                ["model", "SQNR (dB)", "top-1 agreement", "max |error|", "samples", "calibration"],
                [
                    [
                        _name(f.model),
                        _num(f.sqnr_db, ".1f"),
                        "–" if f.top1_agreement is None else f"{100 * f.top1_agreement:.1f}%",
                        _num(f.max_abs_error),
                        str(f.samples),
                        _e(v.short_hash(f.calibration, 16)),
                    ]
                    for f in fidelity
                ],
                table_id="fidelity-table",
            )
        )
    else:
        body.append('<p class="note">No fidelity figures in these results.</p>')
    body.append("</section>")
    body.append(_provenance_section(results))

    nav_items = [
        ("headline", "Which board?"),
        ("spec", "Spec vs silicon"),
        ("origins", "Origins"),
        ("summary", "Summary"),
    ]
    nav_items += [(f"model-{v.slug(m)}", m) for m in by_model]
    if emulators:
        nav_items.append(("emulators", "Emulators"))
    nav_items.append(("prediction", "Predicted vs measured"))
    if validation is not None:
        nav_items.append(("validation", "Prediction fidelity"))
    nav_items += [("fidelity", "Quantization"), ("provenance", "Provenance")]
    nav = " ".join(f'<a href="#{_e(a)}">{_name(t)}</a>' for a, t in nav_items)
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
        f'<p class="meta">{len(results)} results, {models} models, {targets} boards. '
        f"Generated {_e(generated)} by npubench {_e(npubench.__version__)} "
        f"(figures drawn with plotly.js from plotly {_e(pl.plotly_version())}, inlined).</p>"
        "<noscript><p><strong>JavaScript is off:</strong> the figures are not drawn; the "
        "tables below hold the same numbers.</p></noscript>"
        f'<nav class="top" aria-label="sections">{nav}</nav></header>'
        + "".join(body)
        + "<script>"
        + _TABLE_JS
        + "</script>"
        + figs.script()
        + "</body></html>\n"
    )


def write_html_report(
    results: Sequence[BenchResult],
    path: Path,
    title: str = DEFAULT_TITLE,
    validation: Any = None,
) -> Path:
    """Write the self-contained HTML report to ``path`` (parents created); returns the path.

    ``validation`` is the JSON of ``npubench validate --json`` (a dict with "rows" and
    "boards", or the list of rows): given, the report has a prediction-fidelity section.
    """
    path = Path(path)
    if path.exists() and path.is_dir():
        raise NpubenchError(
            f"{path} is a directory, not an HTML file",
            "give a file name, e.g. report.html",
        )
    text = render_html(results, title, validation)
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
