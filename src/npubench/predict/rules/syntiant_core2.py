"""Fit rules for the Syntiant Core 2 (NDP120): TDK layer types on the NPU, the rest on the host.

Limits and their sources: targets/families/syntiant-core2.toml. Syntiant publishes no operator
table; the Core 2 runs the layer types of its Training Development Kit (convolution, depthwise
and transposed convolution, dense, max/average pooling, residual add, clipped ReLU/tanh/sigmoid
activations) on 8-bit data, and the NDP120's Cortex-M0 firmware does the softmax / posterior
step. Everything else falls back to the host cores (Cortex-M0, HiFi3 DSP; npubench models the
M0). No kernel/stride/channel limits are published, so none are applied.

Memory: the Core 2 keeps weights and activations in its own SRAM (``npu.arena_memory``, 1 MiB
on the NDP120), so the weights of its layers and the tensor arena are counted there; weights
of host-fallback layers go to the host SRAM. The chip has no flash: a host loads the package
over SPI at start-up. May import npubench.predict.rules, analysis, schema, targets.
"""

from __future__ import annotations

from npubench.analysis.graph_types import GraphAnalysis
from npubench.errors import TargetError
from npubench.predict.rules._oplist import place_by_list
from npubench.predict.rules.base import (
    FamilyResult,
    add_use,
    arena_bytes,
    empty_memory,
    kib,
    largest,
    load_limits,
    place,
)
from npubench.targets.schema import Board, Memory

FAMILY = "syntiant-core2"


def _core2_memory(board: Board) -> Memory:
    if board.npu is not None and board.npu.arena_memory:
        return board.memory(board.npu.arena_memory)
    found = largest(board, "npu_weights", "npu_data")
    if found is None:
        raise TargetError(
            f"board {board.name} names no memory for the Core 2's weights and activations",
            "set npu.arena_memory (or add an npu_weights memory) in the board file",
        )
    return found


def check(analysis: GraphAnalysis, board: Board) -> FamilyResult:
    limits = load_limits(FAMILY)
    accelerated = set(limits.value(FAMILY, "accelerated_ops"))
    host_ops = set(limits.value(FAMILY, "host_ops", []))
    npu_name = board.npu.name if board.npu else "the Core 2"
    placement = []
    for layer in analysis.layers:
        if layer.op in host_ops:
            placement.append(
                place(
                    layer,
                    "cpu",
                    f"{layer.op} runs in the NDP120's {board.cpu.core} firmware "
                    "(Syntiant's softmax/posterior step), not on the Core 2",
                )
            )
        else:
            placement.append(place_by_list(layer, accelerated, npu_name, board.cpu.core))
    result = FamilyResult(
        placement=placement,
        memory=empty_memory(board),
        notes=[
            "Syntiant Core 2: TDK layer types (conv, depthwise, transposed conv, dense, "
            "pooling, add, clipped activations) mapped to TFLite ops by npubench; softmax on "
            "the host; no kernel/stride/channel limits published, none applied"
        ],
    )

    core2 = _core2_memory(board)
    on_npu = {p.index for p in placement if p.placement == "npu"}
    npu_weights = sum(lay.weight_bytes for lay in analysis.layers if lay.index in on_npu)
    host_weights = max(0, analysis.total_weight_bytes - npu_weights)
    arena, arena_what = arena_bytes(analysis)
    add_use(result, core2, npu_weights, "weights", f"Core 2 SRAM '{core2.name}'")
    add_use(result, core2, arena, arena_what, f"Core 2 SRAM '{core2.name}'")
    note = (
        f"Core 2 weights ({kib(npu_weights)}) and {arena_what} ({kib(arena)}) counted in "
        f"{core2.name}"
    )
    if host_weights:
        host = largest(board, "sram", "tcm") or core2
        add_use(result, host, host_weights, "host-layer weights")
        note += f", host-layer weights ({kib(host_weights)}) in {host.name}"
    result.notes.append(
        note + "; the package is loaded over SPI by an external host (not counted), "
        "runtime code and buffers not counted"
    )
    return result
