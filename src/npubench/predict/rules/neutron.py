"""Fit rules for NXP eIQ Neutron (MCXN947): listed operators on the NPU, the rest on the M33.

Limits and their sources: predict/limits/neutron.toml. No numeric per-operator limits are
published, so only the operator list, 8-bit data and batch 1 are checked. May import
npubench.predict.fit, analysis, targets.
"""

from __future__ import annotations

from npubench.analysis.graph_types import GraphAnalysis
from npubench.predict.rules._oplist import check_by_list
from npubench.predict.rules.base import FamilyResult, load_limits, place
from npubench.targets.schema import Board


def check(analysis: GraphAnalysis, board: Board) -> FamilyResult:
    limits = load_limits("neutron")
    result = check_by_list(
        analysis,
        board,
        limits.value("neutron", "accelerated_ops"),
        "Neutron: operator list from NXP's ExecuTorch backend (RT700), assumed for the MCXN947; "
        "no kernel/stride/channel limits published, none applied",
    )
    batch_max = limits.value("neutron", "batch_max")
    for i, layer in enumerate(analysis.layers):
        shape = layer.input_shapes[0] if layer.input_shapes else layer.output_shape
        if result.placement[i].placement == "npu" and shape and shape[0] > batch_max:
            result.placement[i] = place(
                layer, "cpu", f"batch {shape[0]} > {batch_max}: Neutron runs batch 1 only"
            )
    return result
