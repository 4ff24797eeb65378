"""`npubench targets` and `npubench targets show`."""

from __future__ import annotations

from typing import Any

from rich.table import Table

from npubench.cli.common import console, print_json
from npubench.console import styled
from npubench.targets import Board, all_targets, get_target
from npubench.targets.catalogue import board_origin


def _summary(b: Board) -> dict[str, Any]:
    return {
        "name": b.name,
        "display_name": b.display_name,
        "vendor": b.vendor,
        "kind": b.kind,
        "cpu": b.cpu.core,
        "npu": b.npu.name if b.npu else None,
        "npu_family": b.npu.family if b.npu else "cpu",
        "clock_mhz": b.default_clock_mhz,
        "toolchain": b.toolchain,
        "toolchains": b.toolchain_names(),
        "vendor_tool": b.vendor_tool or None,
        "memories": {m.name: int(m.size_bytes.value) for m in b.memories},
    }


def print_targets(json_out: bool) -> None:
    boards = sorted(all_targets().values(), key=lambda b: (b.kind != "board", b.name))
    if json_out:
        print_json([_summary(b) for b in boards])
        return
    table = Table(title="npubench targets")
    for column in ("name", "kind", "vendor", "CPU", "NPU", "clock", "toolchain", "memories"):
        table.add_column(column)
    for b in boards:
        s = _summary(b)
        mems = ", ".join(f"{k} {v / 1024:.0f} KiB" for k, v in s["memories"].items())
        table.add_row(
            b.name,
            b.kind,
            b.vendor,
            b.cpu.core,
            s["npu"] or "–",
            f"{s['clock_mhz']:g} MHz",
            b.toolchain or "–",
            mems,
        )
    console.print(table)


def print_target(name: str, json_out: bool) -> None:
    board = get_target(name)
    origin = board_origin(name)
    if json_out:
        print_json({**board.model_dump(), "board_file": origin.to_json()})
        return
    console.print(
        styled(
            (board.display_name, "bold"),
            f" ({board.name}, {board.vendor}, {board.kind}; toolchains "
            f"{', '.join(board.toolchain_names())})",
        )
    )
    console.print(f"board file: {origin.path} (sha256 {origin.sha256[:16]})")
    if origin.shadows:
        console.print(f"replaces the built-in board file {origin.shadows}")
    if board.description:
        console.print(board.description)
    table = Table(title="figures")
    for column in ("field", "value", "source", "note"):
        table.add_column(column, overflow="fold")
    for path, fig in board.figures():
        table.add_row(path, f"{fig.value:g}", fig.source, fig.note)
    console.print(table)
    sources = Table(title="sources")
    for column in ("key", "kind", "title", "where in it", "URL or revision"):
        sources.add_column(column, overflow="fold")
    for key, src in board.sources.items():
        pinned = src.url + (f" (rev. {src.revision})" if src.revision else "")
        if src.url and not src.pinned:
            pinned += " (moving branch: not pinned)"
        sources.add_row(key, src.kind, src.title, src.locator or "–", pinned or "–")
    console.print(sources)
