"""Terminal rendering of a measured result: the stage table, its notes and the instruction profile.

``render_measurement(result)`` gives a rich renderable: per stage the median, IQR, 95 % CI and
repetition count (and power, energy and net energy when a capture was aligned), the result's
message, the board and output check, every warning, and on emulated cores the retired
instructions per layer and the linked image's memory.

May import the foundation modules (it reads only the ``BenchResult``) and rich.
"""

from __future__ import annotations

from typing import Any

from npubench import STAGES
from npubench.schema import BenchResult


def render_measurement(result: BenchResult) -> Any:
    """A rich table of one measured result: stages, spread, power and energy, and its notes."""
    from rich.console import Group
    from rich.table import Table
    from rich.text import Text

    stages = result.details.get("stages", {})
    has_power = bool(result.power_mw)
    title = f"{result.model} on {result.target} (measured, {result.status})"
    table = Table(title=title, title_justify="left")
    for name in ("stage", "median µs", "IQR µs", "95% CI µs", "n"):
        table.add_column(name, justify="left" if name == "stage" else "right")
    if has_power:
        table.add_column("power mW", justify="right")
        table.add_column("energy µJ", justify="right")
        table.add_column("net µJ", justify="right")
    net = result.details.get("power", {}).get("net_energy_uj", {})

    def fmt(v: float | None, digits: int = 1) -> str:
        return "—" if v is None else f"{v:,.{digits}f}"

    for stage in STAGES:
        s = stages.get(stage, {})
        row = [
            stage,
            fmt(result.latency_us.get(stage)),
            fmt(s.get("iqr")),
            f"{fmt(s.get('ci_low'))}–{fmt(s.get('ci_high'))}" if s else "—",
            str(s.get("n", "—")),
        ]
        if has_power:
            row += [
                fmt(result.power_mw.get(stage), 2),
                fmt(result.energy_uj.get(stage), 3),
                fmt(net.get(stage), 3),
            ]
        table.add_row(*row)
    total = result.details.get("total", {})
    row = [
        "total",
        fmt(result.latency_us.get("total")),
        fmt(total.get("iqr")),
        f"{fmt(result.latency_us_low)}–{fmt(result.latency_us_high)}",
        str(total.get("n", "—")),
    ]
    if has_power:
        row += [
            fmt(result.power_mw.get("average"), 2),
            fmt(result.energy_uj.get("total"), 3),
            fmt(result.energy_uj.get("net"), 3),
        ]
    table.add_row(*row, style="bold")
    notes: list[Any] = [table]
    if result.message:
        style = "red" if result.status == "failed" else "yellow"
        notes.append(Text(result.message, style=style))
    prov = result.provenance
    notes.append(
        Text(
            f"board {prov.get('board')} fw {prov.get('firmware_version')} on {prov.get('port')}, "
            f"cycle_accurate={prov.get('cycle_accurate')}, output check: "
            + _check_text(result.details.get("output_check", {})),
            style="dim",
        )
    )
    for warning in result.details.get("warnings", []):
        notes.append(Text(f"! {warning}", style="yellow"))
    for warning in result.details.get("power", {}).get("warnings", []):
        notes.append(Text(f"! power: {warning}", style="yellow"))
    notes += _render_instruction_profile(result)
    return Group(*notes)


def _render_instruction_profile(result: BenchResult) -> list[Any]:
    """Per-layer retired instructions and the image's memory (emulated cores only)."""
    from rich.table import Table
    from rich.text import Text

    counts = result.details.get("instruction_counts")
    if not counts:
        return []
    if "error" in counts:
        return [Text(f"! instruction counting failed: {counts['error']}", style="yellow")]
    table = Table(
        title=f"retired instructions on {counts['core']} ({counts['method']}; the "
        "same on every run)",
        title_justify="left",
    )
    for name in ("#", "op", "output", "MACs", "instructions", "instr/MAC"):
        table.add_column(name, justify="left" if name in ("op", "output") else "right")
    for layer in counts["layers"]:
        macs, instr = layer["macs"], layer["instructions"]
        table.add_row(
            str(layer["index"]),
            layer["op"],
            "x".join(map(str, layer["output_shape"])),
            f"{macs:,}",
            f"{instr:,}",
            f"{instr / macs:.2f}" if macs else "–",
        )
    per_stage = ", ".join(f"{k} {v:,}" for k, v in counts["stages"].items())
    out: list[Any] = [table, Text(f"instructions per stage: {per_stage}", style="bold")]
    mem = result.details.get("elf_memory", {})
    if mem:
        arena = result.details.get("tflm_arena_bytes")
        out.append(
            Text(
                f"linked image: code {mem['code_bytes']:,} B, "
                f"constant data {mem['rodata_bytes']:,} B "
                f"(weights {mem['weights_bytes']:,} B), RAM {mem['ram_bytes']:,} B with a "
                f"{mem['arena_bytes']:,} B arena"
                + (f" (TFLM's arena: {arena:,} B)" if arena else ""),
                style="dim",
            )
        )
    est = result.details.get("cycle_estimate")
    if est and "inference_us" in est:
        out.append(
            Text(
                f"estimate, not a measurement: inference {est['inference_cycles']:,} cycles = "
                f"{est['inference_us']:,.0f} µs at {est['clock_mhz']:g} MHz (CPI {est['cpi']:g}, "
                f"range {est['inference_us_low']:,.0f}–{est['inference_us_high']:,.0f} µs; "
                f"{est['cpi_source']})",
                style="dim",
            )
        )
    return out


def _check_text(check: dict[str, Any]) -> str:
    if not check.get("checked"):
        return f"not checked ({check.get('reason', '?')})"
    if check.get("identical"):
        return f"identical to TFLM ({check.get('bytes')} bytes)"
    d = check.get("first_difference", {})
    return f"differs at byte {d.get('index')} ({check.get('differing_bytes')} bytes)"
