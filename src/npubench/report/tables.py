"""Side-by-side comparison of targets for each model."""

from __future__ import annotations

from collections.abc import Sequence
from pathlib import Path

from rich.console import Group
from rich.table import Table
from rich.text import Text

from npubench import STAGES
from npubench.schema import BenchResult

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
    return {
        "ok": "ok",
        "does_not_fit": "does not fit",
        "failed": "failed",
        "incomplete": "incomplete",
    }[r.status]


def _verdict(r: BenchResult) -> str:
    """'ok', or the status with its message, without saying 'does not fit' twice."""
    status = _status(r)
    if r.status == "ok" or not r.message:
        return status
    return r.message if r.message.startswith(status) else f"{status}: {r.message}"


def _total(r: BenchResult) -> float | None:
    total = r.latency_us.get("total")
    if total is not None:
        return total
    # A compiled result knows only some stages: show the sum of what is known, marked.
    known = [v for s in STAGES if (v := r.latency_us.get(s)) is not None]
    return sum(known) if known else None


def _rows(results: Sequence[BenchResult]) -> list[dict[str, str]]:
    rows = []
    for r in sorted(
        results, key=lambda r: (r.model, r.target, r.kind, str(r.options.get("optimise")))
    ):
        total = _total(r)
        partial = r.latency_us.get("total") is None and total is not None
        rows.append(
            {
                "model": r.model,
                "target": r.target,
                "kind": r.kind,
                "optimise": str(r.options.get("optimise") or "–"),
                "clock": f"{r.clock_mhz:g} MHz" if r.clock_mhz else "–",
                **{_STAGE_HEADERS[s]: _us(r.latency_us.get(s)) for s in STAGES},
                "total": _us(total) + (" (known stages)" if partial else ""),
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


def _tightest_memory(r: BenchResult) -> str:
    """The memory closest to (or over) its capacity, as 'name used/capacity KiB (pct)'."""
    known = [(name, m) for name, m in r.fit.items() if m.capacity_bytes]
    if not known:
        used = r.memory.get("sram_bytes")
        return "–" if used is None else f"sram {used / 1024:.0f}K"
    name, m = max(known, key=lambda item: item[1].used_bytes / (item[1].capacity_bytes or 1))
    pct = 100 * m.used_bytes / (m.capacity_bytes or 1)
    mark = " ✗" if not m.fits else ""
    return (
        f"{name} {m.used_bytes / 1024:.0f}/{(m.capacity_bytes or 0) / 1024:.0f}K ({pct:.0f}%){mark}"
    )


def _interval(r: BenchResult) -> str:
    if r.latency_us_low is None or r.latency_us_high is None:
        return "–"
    return f"{_compact_us(r.latency_us_low)}–{_compact_us(r.latency_us_high)}"


def _power_energy(r: BenchResult) -> tuple[str, str]:
    power = r.power_mw.get("average")
    energy, net = r.energy_uj.get("total"), r.energy_uj.get("net")
    p = "–" if power is None else f"{power:.1f}"
    if energy is None:
        return p, "–"
    return p, f"{energy:.0f}" + ("" if net is None else f" ({net:.0f})")


def comparison_table(results: Sequence[BenchResult], title: str = "npubench") -> Group:
    """One compact table per model (targets as rows), for the terminal."""
    tables: list[Table] = []
    by_model: dict[str, list[BenchResult]] = {}
    for r in results:
        by_model.setdefault(r.model, []).append(r)
    for model, rs in by_model.items():
        kinds = {r.kind for r in rs}
        fid = next((_fidelity(r) for r in rs if r.fidelity.sqnr_db is not None), "–")
        table = Table(title=f"{title}: {model} (int8 fidelity {fid})", title_justify="left")
        with_energy = any(r.energy_uj.get("total") is not None for r in rs)
        with_interval = any(r.latency_us_low is not None for r in rs)
        table.add_column("target")
        if len(kinds) > 1:
            table.add_column("kind")
        table.add_column("opt")
        for stage in STAGES:
            table.add_column(_STAGE_HEADERS[stage], justify="right")
        table.add_column("total", justify="right")
        if with_interval:
            table.add_column("interval", justify="right")
        if with_energy:
            table.add_column("P avg mW", justify="right")
            table.add_column("E µJ (net)", justify="right")
        table.add_column("tightest memory", justify="right")
        table.add_column("NPU/CPU", justify="right")
        table.add_column("verdict")
        for r in sorted(rs, key=lambda r: (r.target, r.kind, str(r.options.get("optimise")))):
            total = _total(r)
            partial = r.latency_us.get("total") is None and total is not None
            cells = [f"{r.target}@{r.clock_mhz:g}" if r.clock_mhz else r.target]
            if len(kinds) > 1:
                cells.append(r.kind)
            cells.append(str(r.options.get("optimise") or "–")[:4])
            cells += [_compact_us(r.latency_us.get(s)) for s in STAGES]
            cells.append(_compact_us(total) + ("*" if partial else ""))
            if with_interval:
                cells.append(_interval(r))
            if with_energy:
                cells += list(_power_energy(r))
            cells += [
                _tightest_memory(r),
                f"{r.ops.get('npu', 0)}/{r.ops.get('cpu', 0)}",
                _verdict(r),
            ]
            table.add_row(*cells)
        tables.append(table)
    if not tables:
        tables.append(Table(title="no results"))
    note = Text(
        "target@MHz; * = sum of the known stages only (a compiled result has Vela's "
        "inference figure alone); memory used/capacity in KiB.",
        style="dim",
    )
    return Group(*tables, note)


def comparison_markdown(results: Sequence[BenchResult], title: str = "npubench report") -> str:
    rows = _rows(results)
    lines = [f"# {title}", ""]
    if not rows:
        return "\n".join([*lines, "No results.", ""])
    for model in dict.fromkeys(row["model"] for row in rows):
        lines += [f"## {model}", ""]
        model_rows = [row for row in rows if row["model"] == model]
        columns = [c for c in model_rows[0] if c != "model"]
        lines.append("| " + " | ".join(columns) + " |")
        lines.append("|" + "|".join("---" for _ in columns) + "|")
        for row in model_rows:
            lines.append("| " + " | ".join(row[c].replace("|", "/") for c in columns) + " |")
        lines.append("")
    lines += [
        "Stages as in Millar et al. (MobiCom 2025): init, input I/O, inference, output I/O, "
        "post-processing. `–` = not known for this kind of result (a compiled result has "
        "Vela's inference estimate at the board clock only).",
        "",
    ]
    return "\n".join(lines)


def comparison_csv(results: Sequence[BenchResult]) -> str:
    from npubench.store.export import export_csv

    return export_csv(results)


def write_report(
    results: Sequence[BenchResult], out_dir: Path, title: str = "npubench report"
) -> list[Path]:
    """Write report.md, report.csv and the self-contained report.html into ``out_dir``."""
    from npubench.report.html import write_html_report

    out_dir.mkdir(parents=True, exist_ok=True)
    md = out_dir / "report.md"
    md.write_text(comparison_markdown(results, title), encoding="utf-8")
    csv_path = out_dir / "report.csv"
    csv_path.write_text(comparison_csv(results), encoding="utf-8")
    html = write_html_report(list(results), out_dir / "report.html", title=title)
    return [md, csv_path, html]
