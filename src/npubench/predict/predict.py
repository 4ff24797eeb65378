"""Entry point: predict the five-stage latency, power, energy and memory of a model on a board.

``predict(analysis, board, clock_mhz=None, vela=None, fit=None, postprocess=None)`` returns a
``BenchResult(kind="predicted")``. Without ``vela`` it is analytical (fast enough for a
neural-architecture-search loop: no subprocess, no TensorFlow, no file I/O after the first call);
with a ``VelaReport`` on an Ethos-U board the NPU cycles, placement, operator counts, memory use
and the fit verdict are Vela's ("compiled" mode; the analytical verdict is kept in
``details["analytical_fit"]``). A model that does not fit comes back with
``status="does_not_fit"`` and the verdict as its message, never an exception.

May import errors, schema, targets, analysis and the predict modules (``VelaReport`` is only a
type here: this module never imports the compilers).
"""

from __future__ import annotations

import math
from typing import TYPE_CHECKING, Any

from npubench import STAGES
from npubench.analysis.graph_types import GraphAnalysis, LayerInfo
from npubench.predict.fit import FitReport, check_fit, kib
from npubench.predict.latency import (
    LatencyPrediction,
    load_params,
    predict_latency,
    resolve_clocks,
)
from npubench.predict.power import power_levels, predict_energy
from npubench.schema import BenchResult, LayerPlacement, MemoryUse
from npubench.targets.schema import Board

if TYPE_CHECKING:
    from npubench.compilers.vela import VelaReport

PREDICTION_MODEL_VERSION = "npubench-predict-1"
RAM_ROLES = ("sram", "tcm", "npu_data", "npu_weights", "external_ram")


def _memory_totals(board: Board, fit: dict[str, MemoryUse]) -> dict[str, int | None]:
    roles = {m.name: m.role for m in board.memories}
    sram = sum(u.used_bytes for n, u in fit.items() if roles.get(n) in RAM_ROLES)
    flash = sum(u.used_bytes for n, u in fit.items() if roles.get(n) == "flash")
    return {"sram_bytes": sram, "flash_bytes": flash}


def _placement_from_vela(
    analysis: GraphAnalysis, vela: VelaReport
) -> tuple[list[LayerPlacement], list[LayerPlacement]]:
    """(placement of the analysis layers, Vela's own per-layer list) for compiled mode.

    Vela's per-layer rows do not share the analysis' indices; a layer runs on the CPU when Vela
    lists a CPU operator of the same name (its output tensor), otherwise on the NPU.
    """
    cpu_names = {p.name for p in vela.layers if p.placement == "cpu"}
    placement = [
        LayerPlacement(
            index=lay.index,
            name=lay.name,
            op=lay.op,
            placement="cpu" if lay.name in cpu_names else "npu",
            reason="Vela leaves it on the CPU" if lay.name in cpu_names else "",
            macs=lay.macs,
        )
        for lay in analysis.layers
    ]
    return placement, list(vela.layers)


def _unmatched_cpu_layers(analysis: GraphAnalysis, vela: VelaReport) -> list[LayerInfo]:
    """Vela CPU operators with no analysis layer of the same name, costed as generic layers."""
    names = {lay.name for lay in analysis.layers}
    out = []
    for p in vela.layers:
        if p.placement == "cpu" and p.name not in names:
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


def _vela_verdict(vela: VelaReport) -> str:
    """ "fits", or which memory Vela's compiled model overflows, with both sizes."""
    over = [(name, use) for name, use in vela.fit.items() if not use.fits]
    if vela.fits and not over:
        return "fits"
    if not over:  # Vela said no without a memory figure: say so rather than invent one
        return "does not fit: Vela reports the compiled model does not fit the board's memories"
    name, use = over[0]
    more = f" (and {len(over) - 1} more memory(s))" if len(over) > 1 else ""
    return (
        f"does not fit: Vela's compiled model needs {kib(use.used_bytes)} of "
        f"{kib(use.capacity_bytes or 0)} in '{name}'{more}"
    )


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


def _vela_row_note(vela: VelaReport) -> str | None:
    """Why Vela's per-layer rows and its operator counts differ, when they do.

    Vela's console counts operators after its graph rewrite; its per-layer CSV also lists, as
    rows of their own with the name of the operation before them and no cycles, the parts it
    fuses into that operation (a "lowered to NPU Relu" activation, a Softmax's LUT). The recorded
    Vela 5.2.0 outputs in tests/data/vela show exactly those rows as the difference. The note
    states the figures; it does not re-count.
    """
    if not vela.layers:
        return None
    rows = {where: sum(1 for p in vela.layers if p.placement == where) for where in ("npu", "cpu")}
    if rows == {k: vela.ops.get(k, 0) for k in rows}:
        return None
    fused = sum(
        1
        for before, row in zip(vela.layers, vela.layers[1:], strict=False)
        if row.placement == "npu" and before.placement == "npu" and row.name == before.name
    )
    return (
        f"Vela's per-layer CSV lists {rows['npu']} NPU and {rows['cpu']} CPU rows; its console "
        f"counts {vela.ops.get('npu', 0)} NPU and {vela.ops.get('cpu', 0)} CPU operators "
        f"(ops); {fused} NPU rows repeat the name of the row before them (parts Vela fuses "
        "into that operation, such as an activation or a LUT)"
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
    vela: VelaReport | None = None,
    fit: FitReport | None = None,
    postprocess: str | None = None,
    model: str = "",
) -> BenchResult:
    """Predicted five-stage latency, power, energy and memory of ``analysis`` on ``board``."""
    params = load_params(board)
    clocks = resolve_clocks(board, clock_mhz)
    result = BenchResult(
        model=model or analysis.model_sha256[:12], target=board.name, kind="predicted"
    )
    result.clock_mhz = clocks.requested_mhz
    fit = fit if fit is not None else check_fit(analysis, board)
    result.fit = dict(fit.memory)
    result.placement = list(fit.placement)
    result.memory = _memory_totals(board, fit.memory)
    details: dict[str, Any] = {
        "prediction_model_version": PREDICTION_MODEL_VERSION,
        "calibrated": params.calibrated,
        "basis": params.basis,
        "params_files": list(params.files),
        "clocks_mhz": {"cpu": clocks.cpu_mhz, "npu": clocks.npu_mhz},
        "fit_notes": list(fit.notes),
    }
    result.details = details
    counts = fit.counts()
    result.ops = {"npu": counts["npu"], "cpu": counts["cpu"]}

    vela_cycles: float | None = None
    placement = fit.placement
    fits, verdict = fit.fits, fit.verdict
    if vela is not None and board.npu is not None and board.npu.family == "ethos-u":
        placement, vela_layers = _placement_from_vela(analysis, vela)
        # Placement and operator counts as the compiled result (pipeline) reports them: Vela's
        # per-layer rows and its console's operator counts. The rows may outnumber the counts
        # (see _vela_row_note); both are Vela's own figures, neither is adjusted here.
        result.placement = vela_layers or placement
        result.ops = dict(vela.ops)
        row_note = _vela_row_note(vela)
        if row_note:
            details.setdefault("notes", []).append(row_note)
        # The verdict is Vela's: it allocated the compiled model. The analytical check stays
        # beside it for comparison (it may refuse an operator Vela runs on the CPU, or
        # under/over-estimate the arena).
        fits, verdict = vela.fits, _vela_verdict(vela)
        details["analytical_fit"] = _analytical_fit(fit)
        result.fit = dict(vela.fit)
        result.memory = {"sram_bytes": vela.sram_used_bytes, "flash_bytes": vela.flash_used_bytes}
        vela_cycles = float(vela.cycles_total)
        result.compiler = {
            "name": "vela",
            "version": vela.vela_version,
            "cycles": vela.cycles_total,
            "optimise": vela.optimise,
            "clock_hz": vela.clock_hz,
        }
        if abs(vela.clock_hz / 1e6 - (clocks.npu_mhz or 0)) > 1e-6:
            details.setdefault("notes", []).append(
                f"Vela compiled at {vela.clock_hz / 1e6:g} MHz; its cycles are used at "
                f"{clocks.npu_mhz:g} MHz (memory-bound layers may not scale exactly)"
            )
        extra = _unmatched_cpu_layers(analysis, vela)
        if extra:
            analysis = GraphAnalysis(**{**analysis.__dict__, "layers": analysis.layers + extra})
            placement = placement + [
                LayerPlacement(lay.index, lay.name, lay.op, "cpu") for lay in extra
            ]
    elif vela is not None:
        details.setdefault("notes", []).append(
            f"a VelaReport was given for a {board.npu.family if board.npu else 'cpu'} board: "
            "ignored"
        )

    if not fits:
        result.status = "does_not_fit"
        result.message = verdict
        details["mode"] = "compiled" if vela_cycles is not None else "analytical"
        return result

    latency = predict_latency(
        analysis,
        board,
        clocks=clocks,
        placement=placement,
        vela_cycles=vela_cycles,
        postprocess=postprocess,
        params=params,
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
