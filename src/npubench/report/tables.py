"""Side-by-side comparison of boards for each model: terminal tables, Markdown, CSV.

The terminal table fits ``TERMINAL_WIDTH`` (100) columns by default: abbreviated headers, the
least needed columns dropped first (and named under the table) and long verdicts wrapped;
``wide=True`` prints every column. Each row says the basis of its figures in a short column
(meas, emu, comp, cal, cal-fam, ds, asm). The Markdown report opens with the headline (boards
ranked per model, from ``_views.headlines``), then spec sheets against silicon, the results
per model and every figure of ``_views.figure_plan`` as its data table (and image, when the
figures were drawn); every name is escaped for Markdown (pipes, brackets, HTML).
"""

from __future__ import annotations

import math
import re
import textwrap
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from rich.console import Group
from rich.table import Table
from rich.text import Text

from npubench import STAGES
from npubench.report import _views as v
from npubench.schema import KINDS, BenchResult

TERMINAL_WIDTH = 100

_STAGE_HEADERS = {
    "init": "init",
    "input_io": "in I/O",
    "inference": "inference",
    "output_io": "out I/O",
    "postprocess": "post",
}


def _us(value: float | None) -> str:
    if value is None:
        return "–"
    return f"{value / 1000:.3f} ms" if value >= 1000 else f"{value:.1f} µs"


def _bytes(value: int | None) -> str:
    if value is None:
        return "–"
    return f"{value / 1024:.1f} KiB"


def _memory_cell(r: BenchResult, key: str, fit_names: tuple[str, ...]) -> str:
    used = r.memory.get(key)
    for name in fit_names:
        if name in r.fit:
            m = r.fit[name]
            cap = "?" if m.capacity_bytes is None else _bytes(m.capacity_bytes)
            mark = "" if m.fits else " ✗"
            return f"{_bytes(m.used_bytes)} / {cap}{mark}"
    return _bytes(used)


def _fidelity(r: BenchResult) -> str:
    f = r.fidelity
    parts = []
    if f.sqnr_db is not None:
        parts.append(f"{f.sqnr_db:.1f} dB")
    if f.top1_agreement is not None:
        parts.append(f"top-1 {100 * f.top1_agreement:.0f}%")
    return ", ".join(parts) or "–"


def _status(r: BenchResult) -> str:
    return v.STATUS_LABELS[r.status]


def _verdict(r: BenchResult) -> str:
    """'ok', or the status with its message, without saying 'does not fit' twice."""
    status = _status(r)
    if r.status == "ok" or not r.message:
        return status
    return r.message if r.message.startswith(status) else f"{status}: {r.message}"


def _total(r: BenchResult) -> float | None:
    return v.known_total(r)[0]


def _sorted(results: Sequence[BenchResult]) -> list[BenchResult]:
    return sorted(
        results,
        key=lambda r: (r.model, r.target, KINDS.index(r.kind), str(r.options.get("optimise"))),
    )


def _rows(results: Sequence[BenchResult]) -> list[dict[str, str]]:
    rows = []
    for r in _sorted(results):
        total, complete = v.known_total(r)
        rows.append(
            {
                "model": r.model,
                "target": r.target,
                "basis": v.basis(r).label,
                "optimise": str(r.options.get("optimise") or "–"),
                "clock": f"{r.clock_mhz:g} MHz" if r.clock_mhz else "–",
                **{_STAGE_HEADERS[s]: _us(r.latency_us.get(s)) for s in STAGES},
                "total": _us(total) + (" (known stages)" if not complete and total else ""),
                "SRAM used / capacity": _memory_cell(r, "sram_bytes", ("sram", "arena")),
                "flash used / capacity": _memory_cell(r, "flash_bytes", ("flash",)),
                "NPU/CPU ops": f"{r.ops.get('npu', 0)}/{r.ops.get('cpu', 0)}",
                "fidelity": _fidelity(r),
                "status": _verdict(r),
            }
        )
    return rows


def _compact_us(value: float | None) -> str:
    if value is None:
        return "–"
    return f"{value / 1000:.2f}ms" if value >= 1000 else f"{value:.0f}µs"


def _ms_short(value: float | None) -> str:
    """A latency in ms, 3 significant digits, no unit (the header says ms)."""
    if value is None:
        return "–"
    ms = value / 1000
    if ms >= 100:
        return f"{ms:.0f}"
    if ms >= 10:
        return f"{ms:.1f}"
    if ms >= 0.01:
        return f"{ms:.2f}"
    return f"{ms:.3f}"


def _tightest_memory(r: BenchResult, short: bool = False) -> str:
    """The memory closest to (or over) its capacity: 'name used/capacity KiB (pct)'."""
    known = [(name, m) for name, m in r.fit.items() if m.capacity_bytes]
    if not known:
        used = r.memory.get("sram_bytes")
        return "–" if used is None else f"sram {used / 1024:.0f}K"
    name, m = max(known, key=lambda item: item[1].used_bytes / (item[1].capacity_bytes or 1))
    pct = 100 * m.used_bytes / (m.capacity_bytes or 1)
    mark = " ✗" if not m.fits else ""
    if short:
        return f"{name} {pct:.0f}%{mark}"
    return (
        f"{name} {m.used_bytes / 1024:.0f}/{(m.capacity_bytes or 0) / 1024:.0f}K ({pct:.0f}%){mark}"
    )


def _interval(r: BenchResult, short: bool = False) -> str:
    if r.latency_us_low is None or r.latency_us_high is None:
        return "–"
    if short:
        return f"{_ms_short(r.latency_us_low)}–{_ms_short(r.latency_us_high)}"
    return f"{_compact_us(r.latency_us_low)}–{_compact_us(r.latency_us_high)}"


def _power_energy(r: BenchResult) -> tuple[str, str]:
    power = r.power_mw.get("average")
    energy, net = r.energy_uj.get("total"), r.energy_uj.get("net")
    p = "–" if power is None else f"{power:.1f}"
    if energy is None:
        return p, "–"
    return p, f"{energy:.0f}" + ("" if net is None else f" ({net:.0f})")


# -- terminal -------------------------------------------------------------------------------


@dataclass
class _Column:
    key: str
    header: str
    right: bool = True
    drop: int = 0  # 0: never dropped; else dropped in this order (1 first) to fit the width
    fold: bool = False  # wraps (the verdict) rather than widening the table
    meaning: str = ""  # named under the table when dropped


def _compact_columns(several_opt: bool, several_clocks: bool) -> list[_Column]:
    cols = [_Column("target", "board", right=False)]
    cols.append(_Column("basis", "basis", right=False))
    if several_opt:
        cols.append(_Column("opt", "opt", right=False, drop=8, meaning="optimise mode"))
    cols += [
        _Column("init", "init", drop=7, meaning="init"),
        _Column("io", "I/O", drop=6, meaning="I/O (in + out)"),
        _Column("inference", "infer"),
        _Column("post", "post", drop=3, meaning="post-processing"),
        _Column("total", "total"),
        _Column("interval", "interval", drop=2, meaning="interval"),
        _Column("energy", "E µJ", drop=5, meaning="energy"),
        _Column("memory", "memory", right=False, drop=4, meaning="memory"),
        _Column("ops", "NPU/CPU", drop=1, meaning="NPU/CPU operators"),
        _Column("verdict", "verdict", right=False, fold=True),
    ]
    return cols


def _compact_cells(r: BenchResult, several_clocks: bool) -> dict[str, str]:
    total, complete = v.known_total(r)
    io = [r.latency_us.get("input_io"), r.latency_us.get("output_io")]
    io_sum = None if all(x is None for x in io) else sum(x or 0.0 for x in io)
    energy = r.energy_uj.get("total")
    return {
        "target": r.target + (f"@{r.clock_mhz:g}" if several_clocks and r.clock_mhz else ""),
        "basis": v.basis(r).code,
        "opt": str(r.options.get("optimise") or "–")[:4],
        "init": _ms_short(r.latency_us.get("init")),
        "io": _ms_short(io_sum),
        "inference": _ms_short(r.latency_us.get("inference")),
        "post": _ms_short(r.latency_us.get("postprocess")),
        "total": _ms_short(total) + ("*" if total is not None and not complete else ""),
        "interval": _interval(r, short=True),
        "energy": "–" if energy is None else f"{energy:.0f}",
        "memory": _tightest_memory(r, short=True),
        "ops": f"{r.ops.get('npu', 0)}/{r.ops.get('cpu', 0)}",
        "verdict": _verdict(r),
    }


_MIN_VERDICT = 14


def fit_columns(
    columns: list[_Column], rows: list[dict[str, str]], width: int
) -> tuple[list[_Column], list[_Column], int]:
    """The columns that fit ``width`` (dropping the least needed first), the dropped ones and
    the width left for the folding column."""

    def natural(c: _Column) -> int:
        return max([len(c.header), *(len(row[c.key]) for row in rows)])

    kept = list(columns)
    dropped: list[_Column] = []
    while True:
        fixed = sum(natural(c) for c in kept if not c.fold)
        folding = [c for c in kept if c.fold]
        want = sum(min(natural(c), _MIN_VERDICT) for c in folding)
        total = fixed + want + 3 * len(kept) + 1
        droppable = [c for c in kept if c.drop]
        if total <= width or not droppable:
            spare = width - (fixed + 3 * len(kept) + 1)
            return kept, dropped, max(_MIN_VERDICT, spare)
        victim = min(droppable, key=lambda c: c.drop)
        kept.remove(victim)
        dropped.append(victim)


def comparison_table(
    results: Sequence[BenchResult],
    title: str = "npubench",
    wide: bool = False,
    width: int = TERMINAL_WIDTH,
) -> Group:
    """One table per model (boards as rows), for the terminal.

    By default each table fits ``width`` columns: abbreviated headers, latencies in ms, a
    short basis column, the least needed columns dropped (named under the table) and the
    verdict wrapped. ``wide`` prints every column at full length.
    """
    if wide:
        return _wide_table(results, title)
    tables: list[Any] = []
    by_model: dict[str, list[BenchResult]] = {}
    for r in results:
        by_model.setdefault(r.model, []).append(r)
    dropped_any: dict[str, None] = {}
    partial = False
    for model, rs in by_model.items():
        rs = sorted(rs, key=lambda r: (r.target, KINDS.index(r.kind), str(r.options)))
        fid = next((_fidelity(r) for r in rs if r.fidelity.sqnr_db is not None), "–")
        several_opt = len({str(r.options.get("optimise")) for r in rs}) > 1
        clocks = {r.clock_mhz for r in rs if r.clock_mhz}
        several_clocks = len(clocks) > 1
        rows = [_compact_cells(r, several_clocks) for r in rs]
        partial = partial or any(row["total"].endswith("*") for row in rows)
        columns = _compact_columns(several_opt, several_clocks)
        for c in list(columns):  # a column with nothing in it says nothing
            if c.drop and all(row[c.key] in ("–", "–––") for row in rows):
                columns.remove(c)
        kept, dropped, verdict_width = fit_columns(columns, rows, width)
        for c in dropped:
            dropped_any[c.meaning] = None
        clock_text = f", {next(iter(clocks)):g} MHz" if len(clocks) == 1 else ""
        table = Table(
            title=Text(f"{title}: {model} (int8 fidelity {fid}{clock_text}); latency in ms"),
            title_justify="left",
        )
        for c in kept:
            table.add_column(
                Text(c.header),
                justify="right" if c.right else "left",
                overflow="fold" if c.fold else "ellipsis",
                max_width=verdict_width if c.fold else None,
                no_wrap=not c.fold,
            )
        for row in rows:
            table.add_row(*[Text(row[c.key]) for c in kept])
        tables.append(table)
    if not tables:
        tables.append(Table(title="no results"))
    notes = [
        "basis: meas = measured, emu = emulator, comp = compiled, cal = calibrated, "
        "cal-fam = family-calibrated, ds = datasheet, asm = assumption."
    ]
    if partial:
        notes.append("* = the known stages only (a compiled result: the inference estimate).")
    if dropped_any:
        notes.append(f"Left out to fit {width} columns: {', '.join(dropped_any)} (--wide).")
    wrapped = textwrap.fill(" ".join(notes), width=width, break_on_hyphens=False)
    tables.append(Text(wrapped, style="dim", no_wrap=True, overflow="ignore"))
    return Group(*tables)


def _wide_table(results: Sequence[BenchResult], title: str) -> Group:
    """Every column, at full length (``--wide``)."""
    tables: list[Any] = []
    by_model: dict[str, list[BenchResult]] = {}
    for r in results:
        by_model.setdefault(r.model, []).append(r)
    for model, rs in by_model.items():
        fid = next((_fidelity(r) for r in rs if r.fidelity.sqnr_db is not None), "–")
        table = Table(title=Text(f"{title}: {model} (int8 fidelity {fid})"), title_justify="left")
        with_energy = any(r.energy_uj.get("total") is not None for r in rs)
        with_interval = any(r.latency_us_low is not None for r in rs)
        for name in ("target", "kind", "basis", "opt"):
            table.add_column(name, no_wrap=True)
        for stage in STAGES:
            table.add_column(_STAGE_HEADERS[stage], justify="right", no_wrap=True)
        table.add_column("total", justify="right", no_wrap=True)
        if with_interval:
            table.add_column("interval", justify="right", no_wrap=True)
        if with_energy:
            table.add_column("P avg mW", justify="right", no_wrap=True)
            table.add_column("E µJ (net)", justify="right", no_wrap=True)
        table.add_column("tightest memory", justify="right", no_wrap=True)
        table.add_column("NPU/CPU", justify="right", no_wrap=True)
        table.add_column("verdict", no_wrap=True)
        table.add_column("basis (in words)", no_wrap=True)
        for r in sorted(rs, key=lambda r: (r.target, r.kind, str(r.options.get("optimise")))):
            total, complete = v.known_total(r)
            b = v.basis(r)
            cells = [
                f"{r.target}@{r.clock_mhz:g}" if r.clock_mhz else r.target,
                r.kind,
                b.code,
                str(r.options.get("optimise") or "–")[:4],
            ]
            cells += [_compact_us(r.latency_us.get(s)) for s in STAGES]
            cells.append(_compact_us(total) + ("*" if total is not None and not complete else ""))
            if with_interval:
                cells.append(_interval(r))
            if with_energy:
                cells += list(_power_energy(r))
            cells += [
                _tightest_memory(r),
                f"{r.ops.get('npu', 0)}/{r.ops.get('cpu', 0)}",
                _verdict(r),
                b.label,
            ]
            table.add_row(*[Text(c) for c in cells])
        tables.append(table)
    if not tables:
        tables.append(Table(title="no results"))
    note = Text(
        "target@MHz; * = sum of the known stages only (a compiled result has the toolchain's "
        "inference figure alone); memory used/capacity in KiB.",
        style="dim",
    )
    return Group(*tables, note)


# -- Markdown -------------------------------------------------------------------------------

_MD_SPECIAL = re.compile(r"([\\`*_\[\]|~])")


def md_escape(text: object) -> str:
    """Text safe in a Markdown heading or table cell: HTML, pipes, brackets, emphasis and
    line breaks cannot change the document's structure."""
    s = str(text).replace("&", "&amp;").replace("<", "&lt;").replace(">", "&gt;")
    s = _MD_SPECIAL.sub(r"\\\1", s)
    return re.sub(r"\s*[\r\n]+\s*", " ", s)


def _md_table(headers: Sequence[str], rows: Sequence[Sequence[str]]) -> list[str]:
    lines = ["| " + " | ".join(md_escape(h) for h in headers) + " |"]
    lines.append("|" + "|".join("---" for _ in headers) + "|")
    lines += ["| " + " | ".join(md_escape(c) for c in row) + " |" for row in rows]
    return [*lines, ""]


def _sig(value: float | None) -> str:
    if value is None:
        return "–"
    text = f"{value:#.3g}".rstrip(".")
    if "e" not in text:
        return text
    if abs(value) >= 1:
        return f"{value:.0f}"
    return f"{value:.{2 - math.floor(math.log10(abs(value)))}f}"


def _headline_markdown(heads: Sequence[v.Headline]) -> list[str]:
    lines = ["## Which board?", ""]
    if not heads:
        return [*lines, "No results.", ""]
    lines += [
        "Per model, boards ranked by end-to-end latency and by energy per inference; each "
        "figure's basis is named (measured, compiled by a toolchain, calibrated prediction "
        "with its cross-validated error, datasheet prediction, assumption).",
        "",
    ]
    for h in heads:
        macs = f" ({h.macs / 1e6:.2f} M MACs)" if h.macs else ""
        lines += [f"### {md_escape(h.model)}{macs}", "", md_escape(h.sentence), ""]
        energy = {row.target: row for row in h.energy}
        rows = []
        for row in h.latency:
            e = energy.get(row.target)
            rows.append(
                [
                    str(row.rank),
                    row.target + (f" ({row.variant})" if row.variant else ""),
                    _sig(row.value / 1000) + ("" if row.complete else "*"),
                    "–"
                    if row.low is None or row.high is None
                    else f"{_sig(row.low / 1000)}–{_sig(row.high / 1000)}",
                    row.basis.label,
                    "–" if e is None else _sig(e.value),
                    "–" if e is None else str(e.rank),
                    row.verdict,
                ]
            )
        if rows:
            lines += _md_table(
                [
                    "#",
                    "board",
                    "end to end (ms)",
                    "interval (ms)",
                    "basis",
                    "energy (µJ)",
                    "energy #",
                    "fit",
                ],
                rows,
            )
        if h.unranked:
            lines += [
                "Not ranked: "
                + "; ".join(f"{md_escape(u.target)}: {md_escape(u.reason)}" for u in h.unranked)
                + ".",
                "",
            ]
        if h.emulated:
            lines += [
                "Emulator timings (not cycle-accurate, not ranked): "
                + "; ".join(f"{md_escape(x.target)} {_sig(x.value / 1000)} ms" for x in h.emulated)
                + ".",
                "",
            ]
        if any(not row.complete for row in h.latency):
            lines += ["\\* the toolchain's inference estimate only: a lower bound.", ""]
    return lines


def _spec_markdown(spec: Sequence[v.SpecBoard]) -> list[str]:
    if not spec:
        return []
    lines = ["## Spec sheets against silicon", ""]
    peaks = [
        [b.target, "–" if p.macs_per_s is None else _sig(p.macs_per_s / 1e9), p.how]
        for b in spec
        for p in b.peaks
    ]
    lines += _md_table(["board", "datasheet peak (GMAC/s)", "how"], peaks)
    rows = []
    for b in spec:
        for a in b.achieved:
            util = a.utilisation
            rows.append(
                [
                    a.target,
                    a.model,
                    _sig(a.macs_per_s / 1e9),
                    "–" if util is None else f"{100 * util:.0f}%",
                    a.basis.label,
                ]
            )
    lines += _md_table(["board", "model", "inference (GMAC/s)", "of peak", "basis"], rows)
    return lines


def comparison_markdown(
    results: Sequence[BenchResult],
    title: str = "npubench report",
    validation: Any = None,
    images: str | None = None,
) -> str:
    """The Markdown report: the headline first, then spec sheets against silicon, the results
    per model and every figure's data (with its image from ``images``/<stem>.png, when the
    figures were drawn there)."""
    results = list(results)
    rows = _rows(results)
    lines = [f"# {md_escape(title)}", ""]
    if not rows:
        return "\n".join([*lines, "No results.", ""])
    heads = v.headlines(results)
    lines += _headline_markdown(heads)
    lines += _spec_markdown(v.spec_silicon(results, heads))
    for model in dict.fromkeys(row["model"] for row in rows):
        lines += [f"## {md_escape(model)}", ""]
        model_rows = [row for row in rows if row["model"] == model]
        columns = [c for c in model_rows[0] if c != "model"]
        lines += _md_table(columns, [[row[c] for c in columns] for row in model_rows])
    lines += [
        "Stages as in Millar et al. (MobiCom 2025): init, input I/O, inference, output I/O, "
        "post-processing. `–` = not known for this kind of result (a compiled result has the "
        "toolchain's inference estimate at the board clock only).",
        "",
        "## Figures",
        "",
    ]
    for number, plan in enumerate(v.figure_plan(results, validation), start=1):
        lines += [
            f"### Figure {number}. {md_escape(plan.title)}",
            "",
            md_escape(plan.caption),
            "",
        ]
        if images is not None:
            lines += [f"![{md_escape(plan.title)}]({images.rstrip('/')}/{plan.stem}.png)", ""]
        headers, table = v.figure_table(plan)
        lines += _md_table(headers, table)
    return "\n".join(lines)


def comparison_csv(results: Sequence[BenchResult]) -> str:
    from npubench.store.export import export_csv

    return export_csv(results)


def write_report(
    results: Sequence[BenchResult],
    out_dir: Path,
    title: str = "npubench report",
    validation: Any = None,
    images: str | None = None,
) -> list[Path]:
    """Write report.md, report.csv and the self-contained report.html into ``out_dir``.

    ``images``: where the paper figures were drawn, relative to ``out_dir``, for report.md to
    show them; ``validation``: the JSON of ``npubench validate --json``.
    """
    from npubench.report.html import write_html_report

    out_dir.mkdir(parents=True, exist_ok=True)
    md = out_dir / "report.md"
    md.write_text(comparison_markdown(results, title, validation, images), encoding="utf-8")
    csv_path = out_dir / "report.csv"
    csv_path.write_text(comparison_csv(results), encoding="utf-8")
    html = write_html_report(
        list(results), out_dir / "report.html", title=title, validation=validation
    )
    return [md, csv_path, html]
