"""Calibration and validation end to end: reference rows -> cases -> fits -> files and errors.

May import every stage (it is the pipeline). For each usable reference row
(``predict.reference``) it builds a ``Case``: the model's layer table, from npubench's int8
path where a toolchain needs the int8 model (Vela on Ethos-U boards, which it compiles on a grid
of memory-system candidates), else from the float graph (``models.analytical``: no
quantization). ``predict.calibration`` fits every parameter group on the cases and
cross-validates it; ``calibrate`` writes the fitted files (to the user's params folder unless
``out_dir`` says otherwise, never into the installed package by default); ``validate`` reports
predicted against measured, in and out of sample.
"""

from __future__ import annotations

import dataclasses
import datetime as _dt
import math
import statistics
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from npubench.analysis.graph_types import GraphAnalysis
from npubench.predict.calibration.cases import Case
from npubench.predict.calibration.crossval import GroupValidation, HeldOut, validate_group
from npubench.predict.calibration.groups import (
    CompiledBoard,
    CpuKernels,
    Group,
    NpuBoard,
    groups_for,
)
from npubench.predict.calibration.host import HostFit, fit_host
from npubench.predict.calibration.writer import entry, spread_entry, write_params
from npubench.predict.parameters import load_params
from npubench.predict.reference import ReferenceRow, data_fingerprint, usable_rows
from npubench.targets import Board, get_target

Progress = Callable[[str], None]
POSTPROCESS_OF = {"zoo:yolov1": "yolo"}  # the decode the study's firmware timed
# Candidates for the bandwidth of the memory Vela reads weights from, relative to the board
# file's figure (its datasheet value or assumption): a quarter to four times.
BANDWIDTH_FACTORS = (0.25, 0.35, 0.5, 0.7, 1.0, 1.4, 2.0, 2.8, 4.0)


def _quiet(_: str) -> None:
    pass


# --- cases ------------------------------------------------------------------------------------


def _int8_analysis(spec: str) -> tuple[GraphAnalysis, Path]:
    from npubench.analysis.graph import analyze_tflite
    from npubench.models.prepare import prepare_model
    from npubench.models.source import resolve_source

    prepared = prepare_model(resolve_source(spec))
    return analyze_tflite(prepared.int8_tflite), prepared.int8_tflite


def _float_analysis(spec: str) -> GraphAnalysis:
    from npubench.pipeline import analyze_float

    return analyze_float(spec)


def _with_bandwidth(board: Board, memory: str, value: float) -> Board:
    from npubench.targets.schema import Figure

    memories = [
        m.model_copy(
            update={
                "bandwidth_bytes_per_cycle": Figure(
                    value=value, source=m.bandwidth_bytes_per_cycle.source
                )
            }
        )
        if m.name == memory and m.bandwidth_bytes_per_cycle is not None
        else m
        for m in board.memories
    ]
    return board.model_copy(update={"memories": memories})


def _vela_grid(
    tflite: Path, board: Board, row: ReferenceRow
) -> tuple[dict[float, float], str, float, Any]:
    """Vela's cycles on the board at each candidate bandwidth of its weights memory."""
    from npubench.toolchains.vela import compile_tflite

    assert board.npu is not None and board.npu.weights_memory is not None
    name = board.npu.weights_memory
    mem = board.memory(name)
    assert mem.bandwidth_bytes_per_cycle is not None
    stated = mem.bandwidth_bytes_per_cycle.value
    grid: dict[float, float] = {}
    report = None
    for factor in BANDWIDTH_FACTORS:
        value = stated * factor
        rep = compile_tflite(
            tflite,
            _with_bandwidth(board, name, value),
            row.options.get("optimise", "Performance"),
            row.clock_mhz,
        )
        assert rep.cost is not None and rep.cost.cycles_total is not None
        grid[value] = float(rep.cost.cycles_total)
        if factor == 1.0:
            report = rep
    what = f"bandwidth of '{name}' (bytes per cycle of its clock) that Vela is given"
    return grid, what, stated, report


def _compiles_cycles(board: Board) -> bool:
    """Whether the board's toolchain here gives NPU cycles (Vela on Ethos-U boards)."""
    from npubench.pipeline import available_toolchains

    tools = available_toolchains(board)
    return bool(tools) and tools[0].name == "vela" and "cycles" in tools[0].gives


def build_cases(
    rows: Sequence[ReferenceRow] | None = None, progress: Progress = _quiet
) -> list[Case]:
    """One case per usable reference row (see the module docstring)."""
    from npubench.predict.fit import check_fit
    from npubench.predict.predict import _placement_from_report

    rows = list(rows if rows is not None else usable_rows())
    analyses: dict[tuple[str, str], Any] = {}
    cases: list[Case] = []
    for row in rows:
        board = get_target(row.board)
        if _compiles_cycles(board):
            key = (row.model, "int8")
            if key not in analyses:
                progress(f"calibration: {row.model} (int8, for Vela)")
                analyses[key] = _int8_analysis(row.model)
            analysis, tflite = analyses[key]
            progress(f"calibration: Vela grid for {row.id} on {board.name}")
            grid, what, stated, report = _vela_grid(tflite, board, row)
            placement = _placement_from_report(analysis, report)
            cases.append(
                Case(row, board, analysis, placement, "int8", grid, what, compiled_prior=stated)
            )
        else:
            key = (row.model, "analytical")
            if key not in analyses:
                progress(f"calibration: {row.model} (float graph)")
                analyses[key] = (_float_analysis(row.model), None)
            analysis = analyses[key][0]
            placement = check_fit(analysis, board).placement
            cases.append(Case(row, board, analysis, placement, "analytical"))
    return cases


# --- power from a measured trace -----------------------------------------------------------------

# The study's labels for the WE2 trace (npubench/data/reference/README.md).
TRACE_LABELS = {"setup_end": 16127.97, "inference_end": 16130.27, "deinit_end": 16130.95}
TRACE_BOARD = "hx-we2"


@dataclass(frozen=True)
class PowerLevels:
    board: str
    active_cpu_mw: float
    active_npu_mw: float
    idle_mw: float
    spreads: dict[str, float]
    method: str


def trace_power() -> PowerLevels:
    """Set-up, inference and idle power of the WE2 from its recorded trace: the inference
    window found by npubench's own window detector (its plateau), set-up and idle by the
    study's labels."""
    import csv

    from npubench.measure.windows import analyze_trace
    from npubench.predict.reference import POWER_TRACE_CSV
    from npubench.predict.reference import _file as reference_file

    path = reference_file(POWER_TRACE_CSV)
    with path.open(newline="") as f:
        samples = [(float(t), float(p)) for t, p in list(csv.reader(f))[1:]]
    found = analyze_trace(path)
    start, end = TRACE_LABELS["setup_end"], TRACE_LABELS["inference_end"]
    method = "the study's labels"
    if found.windows:
        window = max(found.windows, key=lambda w: w.energy_uj)
        # The detector's window includes the rise and fall samples; keep the plateau.
        start, end = window.start_ms + 0.2, window.end_ms - 0.2
        method = "npubench.measure.windows.analyze_trace (plateau of the main window)"
    setup = [p for t, p in samples if t < TRACE_LABELS["setup_end"]]
    infer = [p for t, p in samples if start <= t <= end]
    idle = [p for t, p in samples if t >= TRACE_LABELS["deinit_end"]]

    def level(xs: list[float]) -> tuple[float, float]:
        mean = statistics.fmean(xs)
        return mean, statistics.pstdev(xs) / mean if mean else 0.0

    (cpu, cpu_s), (npu, npu_s), (idl, idl_s) = level(setup), level(infer), level(idle)
    spreads = {"active_cpu_mw": cpu_s, "active_npu_mw": npu_s, "idle_mw": idl_s}
    return PowerLevels(TRACE_BOARD, cpu, npu, idl, spreads, method)


# --- fitting and files --------------------------------------------------------------------------


@dataclass
class CalibrationRun:
    cases: list[Case]
    validations: list[GroupValidation]
    host: list[HostFit]
    power: list[PowerLevels] = field(default_factory=list)
    written: list[Path] = field(default_factory=list)
    notes: list[str] = field(default_factory=list)

    def validation(self, scope: str) -> GroupValidation | None:
        return next((v for v in self.validations if v.scope == scope), None)


def _stats(points: Sequence[HeldOut]) -> dict[str, float | int | None]:
    errors = [p.ratio_error for p in points]
    if not errors:
        return {"n": 0, "median": None, "worst": None}
    return {"n": len(errors), "median": statistics.median(errors), "worst": max(errors)}


def run_groups(cases: Sequence[Case], progress: Progress = _quiet) -> list[GroupValidation]:
    """Fit and cross-validate every group: the CPU kernels first (NPU boards' CPU-fallback
    layers are costed with them)."""
    out: list[GroupValidation] = []
    kernels = None
    for group in groups_for(cases):
        progress(f"calibration: fitting {group.name}")
        if isinstance(group, NpuBoard | CompiledBoard) and kernels is not None:
            group.kernels = kernels
        v = validate_group(group, cases)
        out.append(v)
        if isinstance(group, CpuKernels):
            kernels = group.kernels(v.fit.values)
    return out


def _domain(cases: Sequence[Case]) -> tuple[float, float]:
    macs = [float(c.analysis.total_macs) for c in cases if c.analysis.total_macs > 0]
    return (min(macs), max(macs)) if macs else (0.0, 0.0)


def _validation_meta(v: GroupValidation) -> dict[str, Any]:
    lomo, loso = _stats(v.lomo), _stats(v.loso)
    return {
        "cases": v.fit.n_cases,
        "in_sample_median": statistics.median(math.exp(abs(r)) for r in v.fit.residuals.values())
        if v.fit.residuals
        else None,
        "lomo_n": lomo["n"],
        "lomo_median": lomo["median"],
        "lomo_worst": lomo["worst"],
        "loso_n": loso["n"],
        "loso_median": loso["median"],
        "loso_worst": loso["worst"],
        "lomo_coverage": v.lomo_coverage,
        "loso_coverage": v.loso_coverage,
    }


def _clean(d: dict[str, Any]) -> dict[str, Any]:
    return {k: v for k, v in d.items() if v is not None}


def _fitted_on(cases: Sequence[Case]) -> str:
    ids = ", ".join(c.row.id for c in cases)
    return f"{len(cases)} reference rows ({ids})"


def _files_for(run: CalibrationRun) -> dict[str, dict[str, Any]]:
    """The fitted params files, by name (without .toml)."""
    today = _dt.date.today().isoformat()
    fingerprint = data_fingerprint()
    files: dict[str, dict[str, Any]] = {}
    sources = {
        "fit": {
            "kind": "fit",
            "title": "npubench calibrate: bounded least squares on log(predicted/measured) "
            "over npubench/data/reference ("
            + ", ".join(f"{k} {v}" for k, v in fingerprint.items())
            + ")",
        }
    }
    for v in run.validations:
        group_cases = [c for c in run.cases if c.row.id in v.fit.residuals]
        on = _fitted_on(group_cases)
        lo_macs, hi_macs = _domain(group_cases)
        meta_validation = _clean(_validation_meta(v))
        seen = v.lomo_spread.value if v.lomo_spread else 3.0
        unseen = v.loso_spread.value if v.loso_spread else 3.0
        if v.scope == "cpu":
            median = meta_validation.get("lomo_median")
            files["cpu_deployed.fitted"] = {
                "meta": {
                    "scope": "cpu-kernels",
                    "calibrated": True,
                    "date": today,
                    "basis": "deployed kernels (CMSIS-NN / X-CUBE-AI / ESP-NN class), calibrated "
                    f"on {v.fit.n_cases} published CPU measurements"
                    + (f"; cross-validated median error x{median:.2f}" if median else ""),
                },
                "sources": sources,
                "params": {
                    k: entry(val, "fit", on)
                    for k, val in v.fit.values.items()
                    if not k.startswith(("core_factor_", "core_class_factor_"))
                },
                "core_class_factors": {
                    k.removeprefix("core_class_factor_"): entry(val, "fit", on)
                    for k, val in v.fit.values.items()
                    if k.startswith("core_class_factor_")
                },
                "core_factors": {
                    k.removeprefix("core_factor_"): entry(val, "fit", on)
                    for k, val in v.fit.values.items()
                    if k.startswith("core_factor_")
                },
                "uncertainty": {
                    "fitted_core": spread_entry(seen, "fit", "90% of leave-one-model-out errors"),
                    "unseen_core": spread_entry(unseen, "fit", "90% of leave-one-board-out errors"),
                },
                "validation": meta_validation,
            }
            continue
        board = v.scope
        params: dict[str, Any] = {}
        memory_overrides: dict[str, Any] = {}
        values = dict(v.fit.values)
        if v.group.startswith("compiled-"):
            case = group_cases[0]
            assert case.board.npu is not None and case.board.npu.weights_memory is not None
            memory_overrides[case.board.npu.weights_memory] = {
                "bandwidth_bytes_per_cycle": entry(
                    values.pop("memory_candidate"), "fit", on, note=case.compiled_what
                )
            }
        else:
            base = NpuBoard(board).params_for(
                load_params(group_cases[0].board, fitted=False), values
            )
            scale = values.pop("util_scale", None)
            if scale is not None:
                for cls in ("conv", "depthwise", "fully_connected", "pool"):
                    params[f"util_{cls}"] = entry(
                        base.value(f"util_{cls}"), "fit", on, note=f"family value x {scale:.4g}"
                    )
        for k, val in values.items():
            params[k] = entry(val, "fit", on)
        params["domain_macs_min"] = entry(lo_macs, "fit", on, note="smallest model fitted")
        params["domain_macs_max"] = entry(hi_macs, "fit", on, note="largest model fitted")
        median = meta_validation.get("lomo_median")
        files[f"{board}.fitted"] = {
            "meta": {
                "scope": "board",
                "name": board,
                "calibrated": True,
                "date": today,
                "basis": f"calibrated on {v.fit.n_cases} measurements of {board}"
                + (f"; cross-validated median error x{median:.2f}" if median else ""),
            },
            "sources": sources,
            "params": params,
            "uncertainty": {
                "inference": spread_entry(seen, "fit", "90% of leave-one-model-out errors"),
                "inference_unseen": spread_entry(
                    unseen, "fit", "90% of the errors with the board's own data held out"
                ),
            },
            "validation": meta_validation,
            **({"memory_overrides": memory_overrides} if memory_overrides else {}),
        }
    for host in run.host:
        name = f"{host.board}.fitted"
        data = files.setdefault(
            name, {"meta": {"scope": "board", "name": host.board, "calibrated": True}}
        )
        data.setdefault("sources", sources)
        data.setdefault("params", {})
        data.setdefault("uncertainty", {})
        host_cases = [c for c in run.cases if c.board.name == host.board]
        on = _fitted_on(host_cases)
        for key, value in host.params.items():
            data["params"][key] = entry(value, "fit", on)
        for stage, res in host.residuals.items():
            worst = max((math.exp(abs(r)) for r in res.values()), default=1.0)
            floor = 1.02 if stage in ("init", "input_io", "output_io") else 1.03
            name_u = "postprocess_yolo" if stage == "postprocess" else stage
            data["uncertainty"][name_u] = spread_entry(
                max(worst, floor), "fit", "largest in-sample error, with a floor (host stages)"
            )
        if host.notes:
            data["meta"]["notes"] = host.notes
    for power in run.power:
        data = files.setdefault(
            f"{power.board}.fitted",
            {"meta": {"scope": "board", "name": power.board, "calibrated": True}},
        )
        data.setdefault("sources", {})["trace"] = {
            "kind": "measurement",
            "title": "board power trace around one YOLOv1 inference on the WE2 (study data, "
            f"npubench/data/reference/{'hxwe2_yolov1_size_power_trace.csv'}, sha256 "
            f"{fingerprint['hxwe2_yolov1_size_power_trace.csv']})",
        }
        data["power"] = {
            key: entry(
                getattr(power, key),
                "trace",
                power.method,
                spread_relative=round(power.spreads[key], 4),
            )
            for key in ("active_cpu_mw", "active_npu_mw", "idle_mw")
        }
    return files


def calibrate(
    out_dir: Path | None = None,
    rows: Sequence[ReferenceRow] | None = None,
    progress: Progress = _quiet,
    write: bool = True,
) -> CalibrationRun:
    """Fit everything the reference data support; write the fitted files to ``out_dir``
    (default: the user's params folder)."""
    from npubench.predict.parameters import user_params_dir

    cases = build_cases(rows, progress)
    validations = run_groups(cases, progress)
    hosts = [
        h
        for board in sorted({c.board.name for c in cases})
        if (h := fit_host(board, cases, POSTPROCESS_OF)) is not None
    ]
    power = [trace_power()] if any(c.board.name == TRACE_BOARD for c in cases) else []
    run = CalibrationRun(cases, validations, hosts, power)
    if write:
        target = Path(out_dir) if out_dir is not None else user_params_dir()
        for name, data in _files_for(run).items():
            run.written.append(write_params(target / f"{name}.toml", data))
    return run


def group_of(run: CalibrationRun, case: Case) -> Group | None:
    for v in run.validations:
        if case.row.id in v.fit.residuals:
            return next(g for g in groups_for(run.cases) if g.name == v.group)
    return None


def replace_case_board(case: Case, board: Board) -> Case:
    return dataclasses.replace(case, board=board)
