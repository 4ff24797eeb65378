"""Side-by-side comparison of targets for each model."""

from __future__ import annotations

from collections.abc import Sequence
from pathlib import Path

from rich.table import Table

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
                "status": _status(r) + (f": {r.message}" if r.status != "ok" and r.message else ""),
            }
        )
    return rows


def comparison_table(results: Sequence[BenchResult], title: str = "npubench") -> Table:
    table = Table(title=title, show_lines=False)
    rows = _rows(results)
    if not rows:
        table.add_column("no results")
        return table
    for column in rows[0]:
        table.add_column(
            column,
            overflow="fold",
            justify="right" if column in _STAGE_HEADERS.values() else "left",
        )
    for row in rows:
        table.add_row(*row.values())
    return table


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
    """Write report.md and report.csv into ``out_dir``; returns the files written."""
    out_dir.mkdir(parents=True, exist_ok=True)
    md = out_dir / "report.md"
    md.write_text(comparison_markdown(results, title), encoding="utf-8")
    csv_path = out_dir / "report.csv"
    csv_path.write_text(comparison_csv(results), encoding="utf-8")
    return [md, csv_path]

