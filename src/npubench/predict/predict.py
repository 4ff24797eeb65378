"""Entry point: predict the five-stage latency, power, energy and memory of a model on a board.

``predict(analysis, board, clock_mhz=None, compiled=None, fit=None, postprocess=None)`` returns
a ``BenchResult(kind="predicted")``. Without ``compiled`` it is analytical (fast enough for a
neural-architecture-search loop: no subprocess, no TensorFlow, no file I/O after the first call).
With a toolchain's ``CompileReport`` the placement, operator counts, memory use and the fit
verdict are the tool's, and where the report has a cost (cycles or a time) the NPU part of
inference follows it ("compiled" mode); the analytical verdict is kept in
``details["analytical_fit"]``. A model that does not fit comes back with
``status="does_not_fit"`` and the verdict as its message, never an exception.

May import errors, schema, targets, analysis, the predict modules, and the report types and
their mapping (``toolchains.base``, ``toolchains.results``), never a toolchain plug-in.
"""

from __future__ import annotations

import math
from typing import TYPE_CHECKING, Any

from npubench import STAGES
from npubench.analysis.graph_types import GraphAnalysis, LayerInfo
from npubench.predict.fit import FitReport, check_fit
from npubench.predict.latency import LatencyPrediction, predict_latency, resolve_clocks
from npubench.predict.parameters import ParamSet, PredictError, load_params
from npubench.predict.power import power_levels, predict_energy
from npubench.predict.rules.base import has_npu
from npubench.schema import BenchResult, LayerPlacement, MemoryUse
from npubench.targets.schema import Board

if TYPE_CHECKING:
    from npubench.toolchains.base import CompileReport

PREDICTION_MODEL_VERSION = "npubench-predict-1"
RAM_ROLES = ("sram", "tcm", "npu_data", "npu_weights", "external_ram")


def _memory_totals(board: Board, fit: dict[str, MemoryUse]) -> dict[str, int | None]:
    """RAM and flash in use, summed by the role of each board memory."""
    roles = {m.name: m.role for m in board.memories}
    sram = sum(u.used_bytes for n, u in fit.items() if roles.get(n) in RAM_ROLES)
    flash = sum(u.used_bytes for n, u in fit.items() if roles.get(n) == "flash")
    return {"sram_bytes": sram, "flash_bytes": flash}


def _placement_from_report(analysis: GraphAnalysis, report: CompileReport) -> list[LayerPlacement]:
    """Placement of the analysis layers as the tool decided it (compiled mode).

    A tool's per-layer rows need not share the analysis' indices; a layer runs on the CPU when
    the tool lists a CPU operator of the same name (Vela: its output tensor), otherwise on the
    NPU.
    """
    cpu_names = {p.name for p in report.layers if p.placement != "npu"}
    return [
        LayerPlacement(
            index=lay.index,
            name=lay.name,
            op=lay.op,
            placement="cpu" if lay.name in cpu_names else "npu",
            reason=f"{report.tool} leaves it on the CPU" if lay.name in cpu_names else "",
            macs=lay.macs,
        )
        for lay in analysis.layers
    ]


def _unmatched_cpu_layers(analysis: GraphAnalysis, report: CompileReport) -> list[LayerInfo]:
    """The tool's CPU operators with no analysis layer of the same name, costed as generic
    layers (pseudo-operators for the graph's input and output are not work)."""
    names = {lay.name for lay in analysis.layers}
    out = []
    for p in report.layers:
        if p.placement == "cpu" and p.name not in names and not p.extra.get("io_pseudo_op"):
            out.append(
                LayerInfo(
                    index=10_000 + p.index,
                    name=p.name,
                    op=p.op.upper(),
                    input_shapes=[[1]],
                    output_shape=[1],
                    macs=p.macs or 0,
                )
            )
    return out


def _analytical_fit(fit: FitReport) -> dict[str, Any]:
    """The analytical check, JSON-ready, kept in ``details`` when Vela gives the verdict."""
    return {
        "fits": fit.fits,
        "verdict": fit.verdict,
        "ops": fit.counts(),
        "memory": {
            name: {"used_bytes": use.used_bytes, "capacity_bytes": use.capacity_bytes}
            for name, use in fit.memory.items()
        },
    }


def _row_note(report: CompileReport) -> str | None:
    """Why the tool's per-layer rows and its operator counts differ, when they do.

    Vela's console counts operators after its graph rewrite; its per-layer CSV also lists, as
    rows of their own with the name of the operation before them and no cycles, the parts it
    fuses into that operation (a "lowered to NPU Relu" activation, a Softmax's LUT). The recorded
    Vela 5.2.0 outputs in tests/data/vela show exactly those rows as the difference. The note
    states the figures; it does not re-count.
    """
    if not report.layers or report.ops is None:
        return None
    rows = {w: sum(1 for p in report.layers if p.placement == w) for w in ("npu", "cpu")}
    if rows == {k: report.ops.get(k, 0) for k in rows}:
        return None
    fused = sum(
        1
        for before, row in zip(report.layers, report.layers[1:], strict=False)
        if row.placement == "npu" and before.placement == "npu" and row.name == before.name
    )
    return (
        f"{report.tool}'s per-layer rows list {rows['npu']} NPU and {rows['cpu']} CPU rows; its "
        f"own count is {report.ops.get('npu', 0)} NPU and {report.ops.get('cpu', 0)} CPU "
        f"operators (ops); {fused} NPU rows repeat the name of the row before them (parts the "
        "tool fuses into that operation, such as an activation or a LUT)"
    )


def _compiled_cycles(report: CompileReport, npu_mhz: float | None) -> float | None:
    """The tool's NPU cycles for one inference, or its time in cycles of the board's NPU clock."""
    cost = report.cost
    if cost is None:
        return None
    if cost.cycles_total is not None and cost.clock_hz:
        return float(cost.cycles_total)
    if cost.latency_us is not None and npu_mhz:
        return cost.latency_us * npu_mhz
    return None


BASIS_KINDS = ("calibrated", "calibrated-family", "datasheet", "assumption")


def basis_of(
    board: Board, params: ParamSet, cpu_kernels: str, cpu_only: bool
) -> tuple[str, str, dict[str, Any]]:
    """What a prediction for ``board`` rests on: (kind, sentence, cross-validated error).

    kind is "calibrated" (fitted on this board's or this core's own measurements),
    "calibrated-family" (fitted on other boards of the family: the out-of-board error applies),
    "datasheet" (the board file's figures and the family's assumed parameters) or "assumption"
    (hand-set cost figures).
    """
    from npubench.predict.cpu_cost import load_deployed_kernels

    if board.has_npu and not cpu_only:
        if params.calibrated:
            return "calibrated", params.basis, dict(params.validation)
        return "datasheet", params.basis, {}
    if cpu_kernels != "deployed":
        return "assumption", "npubench's own C kernels (instruction counts x CPI)", {}
    kernels = load_deployed_kernels()
    fitted = "calibrated on" in kernels.basis
    if not fitted:
        return "assumption", kernels.basis, {}
    _, seen = kernels.core_factor(board.cpu.core)
    if seen:
        return "calibrated", kernels.basis, {}
    return (
        "calibrated-family",
        f"{kernels.basis}; {board.cpu.core} itself not measured: the out-of-board error applies",
        {},
    )


def _round(x: float) -> float:
    """Six significant digits: predictions do not deserve more."""
    if x == 0 or not math.isfinite(x):
        return x
    return round(x, 5 - math.floor(math.log10(abs(x))))


def predict(
    analysis: GraphAnalysis,
    board: Board,
    clock_mhz: float | None = None,
    compiled: CompileReport | None = None,
    fit: FitReport | None = None,
    postprocess: str | None = None,
    model: str = "",
    cpu_kernels: str = "deployed",
    cpu_only: bool = False,
) -> BenchResult:
    """Predicted five-stage latency, power, energy and memory of ``analysis`` on ``board``.

    ``cpu_kernels`` names the CPU kernel basis (``cpu_cost``: "deployed" or "npubench-c");
    ``cpu_only`` runs every layer on the board's CPU (the study's NPU-versus-its-own-CPU
    comparison): no toolchain report is used and the fit is the CPU runtime's.
    """
    params = load_params(board)
    clocks = resolve_clocks(board, clock_mhz)
    if cpu_only:
        compiled = None
        fit = check_fit(analysis, board, family="cpu")
    result = BenchResult(
        model=model or analysis.model_sha256[:12], target=board.name, kind="predicted"
    )
    result.clock_mhz = clocks.requested_mhz
    fit = fit if fit is not None else check_fit(analysis, board)
    result.fit = dict(fit.memory)
    result.placement = list(fit.placement)
    result.memory = _memory_totals(board, fit.memory)
    kind, basis_text, cv = basis_of(board, params, cpu_kernels, cpu_only)
    details: dict[str, Any] = {
        "prediction_model_version": PREDICTION_MODEL_VERSION,
        "calibrated": params.calibrated,
        "basis": basis_text,
        "basis_kind": kind,
        "cross_validated": cv,
        "cpu_kernels": cpu_kernels,
        "cpu_only": cpu_only,
        "params_files": list(params.files),
        "clocks_mhz": {"cpu": clocks.cpu_mhz, "npu": clocks.npu_mhz},
        "fit_notes": list(fit.notes),
    }
    result.details = details
    counts = fit.counts()
    result.ops = {"npu": counts["npu"], "cpu": counts["cpu"]}

    compiled_cycles: float | None = None
    placement = fit.placement
    fits, verdict = fit.fits, fit.verdict
    if compiled is not None:
        from npubench.toolchains.results import compiler_record, memory_fit, memory_totals

        if compiled.target != board.name:
            raise PredictError(
                f"a {compiled.toolchain} report compiled for {compiled.target} cannot predict "
                f"{board.name}",
                "compile the model for this target first",
            )

        placement = _placement_from_report(analysis, compiled)
        # Placement and operator counts as the compiled result (pipeline) reports them: the
        # tool's per-layer rows and its own operator counts. Both are the tool's figures,
        # neither is adjusted here.
        result.placement = [
            LayerPlacement(p.index, p.name, p.op, p.placement, p.reason, p.cycles, p.macs)
            for p in compiled.layers
        ] or placement
        result.ops = compiled.op_counts()
        row_note = _row_note(compiled)
        if row_note:
            details.setdefault("notes", []).append(row_note)
        details["analytical_fit"] = _analytical_fit(fit)
        if compiled.memory:
            # The verdict is the tool's: it allocated the compiled model. The analytical check
            # stays beside it for comparison.
            fits, verdict = compiled.fits, compiled.verdict
            result.fit = memory_fit(compiled)
            totals = memory_totals(board, compiled)
            if totals["sram_bytes"] is not None:
                result.memory = totals
        elif any(lay.placement == "unsupported" for lay in compiled.layers):
            fits, verdict = False, compiled.verdict
        compiled_cycles = _compiled_cycles(compiled, clocks.npu_mhz)
        result.compiler = compiler_record(compiled)
        cost = compiled.cost
        if compiled_cycles is not None and cost is not None:
            if cost.clock_hz and abs(cost.clock_hz / 1e6 - (clocks.npu_mhz or 0)) > 1e-6:
                details.setdefault("notes", []).append(
                    f"{compiled.tool} estimated at {cost.clock_hz / 1e6:g} MHz; its cycles are "
                    f"used at {clocks.npu_mhz:g} MHz (memory-bound layers may not scale exactly)"
                )
            elif not cost.clock_hz:
                details.setdefault("notes", []).append(
                    f"{compiled.tool} states no clock for its figure: taken at the board's NPU "
                    f"clock, {clocks.npu_mhz:g} MHz"
                )
        if not has_npu(board):
            compiled_cycles = None  # a CPU board's tool figures say nothing about NPU cycles
        extra = _unmatched_cpu_layers(analysis, compiled)
        if extra:
            analysis = GraphAnalysis(**{**analysis.__dict__, "layers": analysis.layers + extra})
            placement = placement + [
                LayerPlacement(lay.index, lay.name, lay.op, "cpu") for lay in extra
            ]

    if not fits:
        result.status = "does_not_fit"
        result.message = verdict
        details["mode"] = "compiled" if compiled_cycles is not None else "analytical"
        return result

    latency = predict_latency(
        analysis,
        board,
        clocks=clocks,
        placement=placement,
        compiled_cycles=compiled_cycles,
        postprocess=postprocess,
        params=params,
        cpu_kernels=cpu_kernels,
    )
    _fill_latency(result, latency)
    levels = power_levels(board, params, clocks.ratio)
    if levels is None:
        result.power_mw = {s: None for s in (*STAGES, "average")}
        result.energy_uj = {s: None for s in (*STAGES, "total", "net")}
        details["power_note"] = f"{board.name} lists no power figures: no power or energy"
    else:
        energy = predict_energy(latency, levels)
        result.power_mw = {k: _round(v) for k, v in energy.power_mw.items()}
        result.energy_uj = {k: _round(v) for k, v in energy.energy_uj.items()}
        details["power_mw_intervals"] = {
            k: [_round(lo), _round(hi)] for k, (lo, hi) in energy.power_interval.items()
        }
        details["energy_uj_intervals"] = {
            k: [_round(lo), _round(hi)] for k, (lo, hi) in energy.energy_interval.items()
        }
        details["power_notes"] = energy.notes
    return result


def _fill_latency(result: BenchResult, latency: LatencyPrediction) -> None:
    for stage in STAGES:
        result.latency_us[stage] = _round(latency.stages[stage].value_us)
    result.latency_us["total"] = _round(latency.total_us)
    low, high = latency.total_bounds()
    result.latency_us_low = _round(low)
    result.latency_us_high = _round(high)
    details = result.details
    details["mode"] = latency.mode
    details["latency_us_intervals"] = {
        s: [_round(latency.stages[s].low_us), _round(latency.stages[s].high_us)] for s in STAGES
    }
    details["interval_combination"] = "sum of stage bounds (errors taken as fully correlated)"
    details["stage_models"] = {s: latency.stages[s].how for s in STAGES}
    details["inference_split_us"] = {"npu": _round(latency.npu_us), "cpu": _round(latency.cpu_us)}
    if latency.cpu_cost_basis:
        details["cpu_layer_cost_basis"] = dict(sorted(latency.cpu_cost_basis.items()))
    details["layers_us"] = [
        {"index": i, "name": n, "placement": p, "us": _round(us)}
        for i, n, p, us in latency.layer_us
    ]
    details["notes"] = details.get("notes", []) + latency.notes
