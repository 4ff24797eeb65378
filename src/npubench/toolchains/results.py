"""A ``CompileReport`` as the figures of a stored result: one mapping for every toolchain.

May import ``npubench.schema``, ``npubench.targets`` and ``npubench.toolchains.base``. The
pipeline's ``compiled`` results and the predictor's ``compiled`` mode both read a report
through these functions, so no stage special-cases a tool.
"""

from __future__ import annotations

from typing import Any

from npubench.schema import BenchResult, LayerPlacement, MemoryUse
from npubench.targets.schema import Board
from npubench.toolchains.base import CompileReport

RAM_ROLES = ("sram", "tcm", "npu_data", "npu_weights", "external_ram")


def placements(report: CompileReport) -> list[LayerPlacement]:
    return [
        LayerPlacement(
            index=lay.index,
            name=lay.name,
            op=lay.op,
            placement=lay.placement,
            reason=lay.reason,
            cycles=lay.cycles,
            macs=lay.macs,
        )
        for lay in report.layers
    ]


def memory_fit(report: CompileReport) -> dict[str, MemoryUse]:
    """Per region (by board memory where the tool's region maps onto one) use and capacity."""
    out: dict[str, MemoryUse] = {}
    for m in report.memory:
        if m.summary:
            continue
        key = m.board_memory or m.region
        prev = out.get(key)
        used = m.used_bytes + (prev.used_bytes if prev else 0)
        out[key] = MemoryUse(used_bytes=used, capacity_bytes=m.capacity_bytes)
    return out


def memory_totals(board: Board, report: CompileReport) -> dict[str, int | None]:
    """RAM and flash the tool's plan needs: regions on board memories, summed by role."""
    roles = {m.name: m.role for m in board.memories}
    sram = flash = 0
    known = False
    for m in report.memory:
        if m.summary:
            continue
        role = roles.get(m.board_memory or "")
        if role in RAM_ROLES:
            sram += m.used_bytes
            known = True
        elif role == "flash":
            flash += m.used_bytes
            known = True
    if not known:
        return {"sram_bytes": None, "flash_bytes": None}
    return {"sram_bytes": sram, "flash_bytes": flash}


def compiler_record(report: CompileReport) -> dict[str, Any]:
    """What a result says about the tool that produced its figures."""
    cost = report.cost
    return {
        "name": report.toolchain,
        "tool": report.tool,
        "version": report.tool_version,
        "plugin_version": report.plugin_version,
        "frontend": report.frontend,
        "cycles": cost.cycles_total if cost else None,
        "cycles_npu": cost.cycles_npu if cost else None,
        "clock_hz": cost.clock_hz if cost else None,
        "latency_us": cost.time_us if cost else None,
        "cost_what": cost.what if cost else None,
        "extra_versions": dict(report.extra_versions),
        "options": dict(report.options),
        "cached": report.cached,
        "seconds_tool": report.seconds_tool,
        **{k: v for k, v in report.extra.items() if isinstance(v, int | float | str | bool)},
    }


def apply_report(result: BenchResult, board: Board, report: CompileReport) -> None:
    """Fill a ``compiled`` result with the report's figures (nothing else is invented)."""
    time_us = report.cost.time_us if report.cost else None
    if report.cost is not None and report.cost.clock_hz:
        result.clock_mhz = report.cost.clock_hz / 1e6
    result.latency_us["inference"] = time_us
    result.memory = memory_totals(board, report)
    result.fit = memory_fit(report)
    result.placement = placements(report)
    result.ops = report.op_counts()
    result.compiler = compiler_record(report)
    result.provenance["artifacts"] = {
        "dir": report.artifact_dir,
        "files": [{"path": a.path, "sha256": a.sha256, "bytes": a.bytes} for a in report.artifacts],
    }
    result.provenance.setdefault("toolchains", {})[report.toolchain] = report.tool_version
    if report.fidelity is not None:
        result.details["tool_fidelity"] = {
            "what": report.fidelity.what,
            "sqnr_db": report.fidelity.sqnr_db,
            "max_abs_error": report.fidelity.max_abs_error,
            "samples": report.fidelity.samples,
            "per_layer": report.fidelity.per_layer,
        }
    if report.notes:
        result.details["compile_notes"] = list(report.notes)
    if not report.fits:
        result.status = "does_not_fit"
        result.message = report.verdict
