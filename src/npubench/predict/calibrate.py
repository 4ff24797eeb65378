"""Fit the free parameters of the stage models to measurements and write them with provenance.

The reference data are the Himax WE2 stage timings and power trace in
``npubench/data/reference/`` (a cited copy of the study data of Millar et al., MobiCom 2025).
``calibrate()`` fits, by least squares (in CPU cycles at the board clock):

- init = constant;  input_io / output_io = fixed + bytes x cycles/byte (each separately);
- postprocess (YOLO decode) = elements x cycles/element (one model timed it);
- inference = a + b x Vela's cycles at the board clock (a, b >= 0). The three models' Vela
  estimates span only 7.2-9.3 ms while the measured times hardly follow them, so the fit has a
  large constant; a pure-scale fit (b' x Vela) is kept beside it and, outside the fitted range,
  the predicted interval covers both;
- analytical Ethos-U model: the convolution utilisation and per-layer overhead that make the
  roofline model reproduce Vela's cycles (only when the models' graph analyses are available);
- power levels (set-up, inference, idle) from the trace, with the window found by
  ``npubench.measure.windows.analyze_trace`` when it is installed, else by the authors' labels.

It writes ``predict/params/<board>.toml`` (values, data files with their sha256, date,
residuals, the Vela cycle counts used, so calibration re-runs without Vela) and prints predicted
against measured per stage beside Vela's raw estimate. Run: ``python -m npubench.predict.calibrate``
(``--pipeline`` re-derives the Vela cycles by running the model pipeline and Vela).

Imports errors, targets, analysis and the predict modules at module level; the model pipeline,
Vela and the trace analysis are imported lazily inside the functions that need them.
"""

from __future__ import annotations

import argparse
import csv
import datetime as _dt
import hashlib
import math
import statistics
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from npubench import STAGES
from npubench.analysis.graph_types import GraphAnalysis
from npubench.data import reference_dir
from npubench.errors import NpubenchError
from npubench.predict.latency import (
    ParamSet,
    build_param_set,
    params_dir,
    predict_latency,
    read_params_file,
    resolve_clocks,
)
from npubench.targets import get_target
from npubench.targets.schema import Board

REFERENCE_DIR = reference_dir()
MEASURED_CSV = REFERENCE_DIR / "hxwe2_measured_stages.csv"
TRACE_CSV = REFERENCE_DIR / "hxwe2_yolov1_size_power_trace.csv"
FACTS_CSV = REFERENCE_DIR / "model_facts.csv"
# The authors' labels for the trace (README of the reference folder).
TRACE_LABELS = {"setup_end": 16127.97, "inference_end": 16130.27, "deinit_end": 16130.95}
# Residual floors: the in-sample residual of a 1- or 2-point fit is ~0 and says nothing about
# the next model; these are the least we claim (timer resolution and run-to-run variation).
FLOORS = {"init": 0.01, "input_io": 0.01, "output_io": 0.02, "postprocess": 0.03, "inference": 0.02}
POSTPROCESS_OF = {"yolov1": "yolo"}


class CalibrationError(NpubenchError):
    """The reference data are missing or malformed, or a fit cannot be made."""


@dataclass(frozen=True)
class MeasuredRow:
    model: str
    optimise: str
    clock_mhz: float
    stages_us: dict[str, float | None]
    input_shape: tuple[int, ...]
    output_shape: tuple[int, ...]

    @property
    def key(self) -> str:
        return f"{self.model}.{self.optimise}"


@dataclass
class CalibrationResult:
    board: str
    rows: list[MeasuredRow]
    data: dict[str, Any]  # the params file content
    predicted: dict[str, dict[str, float]]  # row key -> stage -> µs
    interval: dict[str, dict[str, tuple[float, float]]]
    vela_raw_us: dict[str, float]
    errors: dict[str, dict[str, float]]  # row key -> stage -> relative error
    path: Path | None = None
    notes: list[str] = field(default_factory=list)


# --- reading the reference data --------------------------------------------------------------


def sha256_of(path: Path) -> str:
    return hashlib.sha256(path.read_bytes()).hexdigest()


def _shape(text: str) -> tuple[int, ...]:
    return tuple(int(x) for x in text.split("x"))


def read_measurements(
    path: Path = MEASURED_CSV, facts: Path = FACTS_CSV, board: str = "hx-we2"
) -> list[MeasuredRow]:
    """The measured rows of one board, with the models' I/O shapes from ``model_facts.csv``."""
    for p in (path, facts):
        if not p.is_file():
            raise CalibrationError(
                f"reference file {p} is missing", f"restore it in {REFERENCE_DIR}"
            )
    shapes = {}
    with facts.open(newline="") as f:
        for r in csv.DictReader(f):
            shapes[r["model"]] = (_shape(r["input_shape"]), _shape(r["output_shape"]))
    rows = []
    with path.open(newline="") as f:
        for r in csv.DictReader(f):
            if r["board"] != board:
                continue
            if r["model"] not in shapes:
                raise CalibrationError(f"model {r['model']!r} is not in {facts.name}")
            stages = {s: (float(r[f"{s}_us"]) if r[f"{s}_us"] else None) for s in STAGES}
            rows.append(
                MeasuredRow(
                    r["model"],
                    r["vela_optimise"],
                    float(r["clock_mhz"]),
                    stages,
                    *shapes[r["model"]],
                )
            )
    if not rows:
        raise CalibrationError(f"{path.name} has no rows for board {board!r}")
    return rows


@dataclass(frozen=True)
class PowerCalibration:
    active_cpu_mw: float
    active_npu_mw: float
    idle_mw: float
    spreads: dict[str, float]
    method: str


def _stats(values: Sequence[float]) -> tuple[float, float]:
    mean = statistics.fmean(values)
    return mean, (statistics.pstdev(values) / mean if mean else 0.0)


def calibrate_power(trace: Path = TRACE_CSV) -> PowerCalibration:
    """Set-up, inference and idle power levels from the reference trace."""
    if not trace.is_file():
        raise CalibrationError(f"power trace {trace} is missing", f"restore it in {REFERENCE_DIR}")
    with trace.open(newline="") as f:
        rows = [(float(t), float(p)) for t, p in list(csv.reader(f))[1:]]
    start, end = TRACE_LABELS["setup_end"], TRACE_LABELS["inference_end"]
    method = "authors' labels"
    try:
        from npubench.measure.windows import analyze_trace

        found = analyze_trace(trace)
        if found.windows:
            win = max(found.windows, key=lambda w: w.energy_uj)
            # The detector's window includes the rise and fall samples; keep the plateau.
            start, end = win.start_ms + 0.2, win.end_ms - 0.2
            method = "npubench.measure.windows.analyze_trace (plateau of the main window)"
    except ImportError:
        pass
    setup = [p for t, p in rows if t < TRACE_LABELS["setup_end"]]
    infer = [p for t, p in rows if start <= t <= end]
    idle = [p for t, p in rows if t >= TRACE_LABELS["deinit_end"]]
    if not (setup and infer and idle):
        raise CalibrationError(f"power trace {trace.name} lacks a set-up, inference or idle part")
    cpu, cpu_s = _stats(setup)
    npu, npu_s = _stats(infer)
    idl, idl_s = _stats(idle)
    return PowerCalibration(
        cpu, npu, idl, {"active_cpu_mw": cpu_s, "active_npu_mw": npu_s, "idle_mw": idl_s}, method
    )


# --- Vela cycles -----------------------------------------------------------------------------


def stored_vela_cycles(board: str = "hx-we2") -> dict[str, dict[str, Any]]:
    """The Vela cycle counts a previous calibration stored in ``params/<board>.toml``."""
    data = read_params_file(board) or {}
    cycles = data.get("vela_cycles", {})
    if not cycles:
        raise CalibrationError(
            f"params/{board}.toml holds no Vela cycle counts",
            "run `python -m npubench.predict.calibrate --pipeline` once",
        )
    return {k: dict(v) for k, v in cycles.items()}


def pipeline_vela_cycles(
    models: Sequence[str], board: Board
) -> tuple[dict[str, dict[str, Any]], dict[str, GraphAnalysis]]:
    """Run the model pipeline and Vela for each zoo model x optimisation (slow: minutes)."""
    from npubench.analysis.graph import analyze_tflite
    from npubench.models.prepare import prepare_model
    from npubench.models.source import resolve_source
    from npubench.toolchains.vela import compile_tflite

    cycles: dict[str, dict[str, Any]] = {}
    analyses: dict[str, GraphAnalysis] = {}
    for model in models:
        prepared = prepare_model(resolve_source(f"zoo:{model}"))
        analyses[model] = analyze_tflite(prepared.int8_tflite)
        for optimise in ("Size", "Performance"):
            report = compile_tflite(prepared.int8_tflite, board, optimise)
            assert report.cost is not None
            cycles[f"{model}.{optimise}"] = {
                "cycles_total": int(report.cost.cycles_total or 0),
                "cycles_npu": int(report.cost.cycles_npu or 0),
                "clock_hz": float(report.cost.clock_hz or 0),
                "model_sha256": prepared.sha256,
                "vela_version": report.tool_version,
                "system_config": report.extra["system_config"],
                "source": "zoo:" + model + " (npubench re-implementation, seed-0 random weights)",
            }
    return cycles, analyses


# --- fitting ---------------------------------------------------------------------------------


def fit_line(x: Sequence[float], y: Sequence[float]) -> tuple[float, float]:
    """Least squares y = a + b x with a, b >= 0 (a physical time cannot fall with work)."""
    n = len(x)
    if n == 0:
        raise CalibrationError("nothing to fit")
    mx, my = statistics.fmean(x), statistics.fmean(y)
    sxx = sum((xi - mx) ** 2 for xi in x)
    if n == 1 or sxx == 0:
        return 0.0, my / mx if mx else 0.0
    b = sum((xi - mx) * (yi - my) for xi, yi in zip(x, y, strict=True)) / sxx
    a = my - b * mx
    if b < 0:
        return my, 0.0
    if a < 0:
        return 0.0, sum(xi * yi for xi, yi in zip(x, y, strict=True)) / sum(xi * xi for xi in x)
    return a, b


def max_rel_residual(pred: Sequence[float], meas: Sequence[float]) -> float:
    return max(abs(p - m) / m for p, m in zip(pred, meas, strict=True))


def _entry(value: float, source: str, fitted_on: str, residual: float, note: str = "") -> dict:
    out: dict[str, Any] = {
        "value": round(value, 6),
        "source": source,
        "fitted_on": fitted_on,
        "date": _dt.date.today().isoformat(),
        "residual_max_relative": round(residual, 6),
    }
    if note:
        out["note"] = note
    return out


def fit_analytical(
    analyses: dict[str, GraphAnalysis],
    cycles: dict[str, dict[str, Any]],
    board: Board,
    base: ParamSet,
) -> tuple[float, float, float]:
    """(util_conv, layer_overhead_cycles, max relative residual) of the roofline vs Vela."""
    from npubench.predict.latency import Param, analytical_npu_cycles

    clocks = resolve_clocks(board, None)
    targets = {
        m: statistics.fmean(v["cycles_total"] for k, v in cycles.items() if k.startswith(m + "."))
        for m in analyses
    }
    best: tuple[float, float, float] | None = None
    for i in range(10, 101):
        util = i / 100
        trial = dict(base.params)
        trial["util_conv"] = Param(util, "fit", "measurement")
        trial["layer_overhead_cycles"] = Param(0.0, "fit", "measurement")
        ps = ParamSet(**{**base.__dict__, "params": trial})
        raw = {m: analytical_npu_cycles(a, board, ps, clocks) for m, a in analyses.items()}
        n_layers = {m: len(a.layers) for m, a in analyses.items()}
        # Overhead per layer by least squares on what the roofline leaves unexplained, >= 0.
        num = sum((targets[m] - raw[m]) * n_layers[m] for m in analyses)
        den = sum(n_layers[m] ** 2 for m in analyses)
        ovh = max(num / den, 0.0) if den else 0.0
        pred = [raw[m] + ovh * n_layers[m] for m in analyses]
        res = max_rel_residual(pred, [targets[m] for m in analyses])
        if best is None or res < best[2]:
            best = (util, ovh, res)
    assert best is not None
    return best


# --- the whole calibration -------------------------------------------------------------------


def _graph_for(row: MeasuredRow) -> GraphAnalysis:
    """A layer-less analysis carrying the model's I/O shapes (all the host stages need)."""
    return GraphAnalysis(
        model_sha256=row.model,
        layers=[],
        input_shape=[1, *row.input_shape[1:]]
        if len(row.input_shape) > 1
        else list(row.input_shape),
        input_dtype="int8",
        output_shape=[1, *row.output_shape],
        output_dtype="int8",
        total_macs=0,
        total_params=0,
        total_weight_bytes=0,
        peak_activation_bytes=0,
    )


def calibrate(
    board_name: str = "hx-we2",
    *,
    measured: Path = MEASURED_CSV,
    trace: Path = TRACE_CSV,
    facts: Path = FACTS_CSV,
    vela_cycles: dict[str, dict[str, Any]] | None = None,
    analyses: dict[str, GraphAnalysis] | None = None,
    out_path: Path | None = None,
    previous: dict[str, Any] | None = None,
) -> CalibrationResult:
    """Fit the board's parameters to the reference data; write them to ``out_path`` if given.

    ``vela_cycles``: {"<model>.<Size|Performance>": {"cycles_total": ..., ...}}; None = the
    counts stored by a previous calibration. ``analyses`` (model -> GraphAnalysis) enables the
    analytical-model fit; without them the previous analytical fit (``previous``) is kept.
    """
    board = get_target(board_name)
    rows = read_measurements(measured, facts, board_name)
    clock = rows[0].clock_mhz
    if any(r.clock_mhz != clock for r in rows):
        raise CalibrationError("the measured rows are at different clocks; calibrate one clock")
    clocks = resolve_clocks(board, clock)
    cycles = vela_cycles if vela_cycles is not None else stored_vela_cycles(board_name)
    previous = previous if previous is not None else (read_params_file(board_name) or {})
    notes: list[str] = []
    today = _dt.date.today().isoformat()
    data_sha = sha256_of(measured)
    fitted_on = f"{measured.name} sha256:{data_sha[:16]} ({len(rows)} rows, {clock:g} MHz)"

    def col(stage: str) -> list[tuple[MeasuredRow, float]]:
        return [(r, v) for r in rows if (v := r.stages_us[stage]) is not None]

    params: dict[str, dict[str, Any]] = {}
    spreads: dict[str, dict[str, Any]] = {}

    # init: one constant (cycles at the CPU clock).
    init = col("init")
    init_cycles = statistics.fmean(v for _, v in init) * clocks.cpu_mhz
    res = max_rel_residual([init_cycles / clocks.cpu_mhz] * len(init), [v for _, v in init])
    params["init_cycles"] = _entry(init_cycles, "measured", fitted_on, res, "Ethos-U + TFLM set-up")
    params["init_cycles_per_layer"] = _entry(0.0, "measured", fitted_on, res, "no model dependence")
    spreads["init"] = max(res, FLOORS["init"])

    # input_io / output_io: fixed + per byte.
    for which, shape_of in (
        ("input", lambda r: r.input_shape),
        ("output", lambda r: r.output_shape),
    ):
        pts = col(f"{which}_io")
        x = [float(math.prod(shape_of(r))) for r, _ in pts]
        y = [v * clocks.cpu_mhz for _, v in pts]
        fixed, per_byte = fit_line(x, y)
        pred = [(fixed + per_byte * xi) / clocks.cpu_mhz for xi in x]
        res = max_rel_residual(pred, [v for _, v in pts])
        params[f"{which}_fixed_cycles"] = _entry(fixed, "measured", fitted_on, res)
        params[f"{which}_cycles_per_byte"] = _entry(per_byte, "measured", fitted_on, res)
        spreads[f"{which}_io"] = max(res, FLOORS[f"{which}_io"])

    # postprocess: per element, per kind timed.
    post = col("postprocess")
    params["postprocess_fixed_cycles"] = _entry(0.0, "measured", fitted_on, 0.0, "folded in")
    for kind in sorted({POSTPROCESS_OF.get(r.model, "softmax") for r, _ in post}):
        pts = [(r, v) for r, v in post if POSTPROCESS_OF.get(r.model, "softmax") == kind]
        per = statistics.fmean(v * clocks.cpu_mhz / math.prod(r.output_shape) for r, v in pts)
        pred = [per * math.prod(r.output_shape) / clocks.cpu_mhz for r, _ in pts]
        res = max_rel_residual(pred, [v for _, v in pts])
        params[f"{kind}_cycles_per_element"] = _entry(per, "measured", fitted_on, res)
        spreads[f"postprocess_{kind}"] = max(res, FLOORS["postprocess"])
    if any(r.stages_us["postprocess"] is None for r in rows):
        notes.append(
            "softmax post-processing was not timed on the board: its cost stays the cpu_cost "
            "table's assumption (datasheet-only spread)"
        )

    # inference: a + b x Vela time at the board clock.
    vela_raw_us: dict[str, float] = {}
    pts_inf = []
    for r, v in col("inference"):
        c = cycles.get(r.key)
        if c is None:
            continue
        raw = float(c["cycles_total"]) / clocks.npu_mhz  # type: ignore[operator]
        vela_raw_us[r.key] = raw
        pts_inf.append((raw, v))
    if len(pts_inf) >= 2:
        x = [p[0] for p in pts_inf]
        y = [p[1] for p in pts_inf]
        a_us, b = fit_line(x, y)
        res = max_rel_residual([a_us + b * xi for xi in x], y)
        scale = sum(xi * yi for xi, yi in zip(x, y, strict=True)) / sum(xi * xi for xi in x)
        res_scale = max_rel_residual([scale * xi for xi in x], y)
        vela_on = (
            f"{len(pts_inf)} rows x Vela cycles stored under [vela_cycles] "
            f"(npubench zoo re-implementations, not the paper's trained models)"
        )
        params["inference_fixed_cycles"] = _entry(
            a_us * clocks.cpu_mhz,
            "measured",
            f"{fitted_on}; {vela_on}",
            res,
            "runtime work in Invoke() beside the NPU job, in CPU cycles",
        )
        params["inference_scale"] = _entry(b, "measured", f"{fitted_on}; {vela_on}", res)
        params["inference_alt_scale"] = _entry(
            scale,
            "measured",
            f"{fitted_on}; {vela_on}",
            res_scale,
            "pure-scale fit (measured = b' x Vela time), used for intervals outside the range",
        )
        params["inference_fit_min_us"] = _entry(min(x), "measured", vela_on, 0.0)
        params["inference_fit_max_us"] = _entry(max(x), "measured", vela_on, 0.0)
        spreads["inference"] = max(res, FLOORS["inference"])
    else:
        notes.append("no Vela cycles for the measured models: inference not calibrated")

    # Analytical Ethos-U model against Vela.
    analytical_spread: float | None = None
    if analyses:
        base = build_param_set(
            board_name,
            "ethos-u",
            [(n, read_params_file(n)) for n in ("common", "ethos-u")],
        )
        util, ovh, res = fit_analytical(analyses, cycles, board, base)
        on = f"Vela cycles of {', '.join(sorted(analyses))} on {board_name} (model totals)"
        params["util_conv"] = _entry(util, "vela-fit", on, res)
        params["layer_overhead_cycles"] = _entry(ovh, "vela-fit", on, res)
        analytical_spread = max(res, 0.05)
    else:
        for key in ("util_conv", "layer_overhead_cycles"):
            if key in previous.get("params", {}):
                params[key] = dict(previous["params"][key])
        prev_unc = previous.get("uncertainty", {}).get("analytical")
        if prev_unc:
            analytical_spread = float(prev_unc["value"])
        notes.append("analytical model not refitted (no graph analyses given): kept from file")

    power = calibrate_power(trace)
    trace_sha = sha256_of(trace)
    power_on = f"{trace.name} sha256:{trace_sha[:16]} ({power.method})"
    power_entries = {
        key: {
            "value": round(getattr(power, key), 4),
            "source": "trace",
            "fitted_on": power_on,
            "date": today,
            "spread_relative": round(power.spreads[key], 4),
        }
        for key in ("active_cpu_mw", "active_npu_mw", "idle_mw")
    }

    sources = {
        "measured": {
            "kind": "measurement",
            "title": f"{board_name} stage timings {measured.name} (sha256 {data_sha}), Millar et "
            "al., MobiCom 2025, authors' src/npu/himax/results.txt",
        },
        "trace": {
            "kind": "measurement",
            "title": f"{board_name} power trace {trace.name} (sha256 {trace_sha}), same source",
        },
        "vela-fit": {
            "kind": "vendor-tool",
            "title": "least-squares fit of the analytical Ethos-U model to Vela's cycle counts",
        },
        "fit-residual": {
            "kind": "measurement",
            "title": "largest relative residual of the fit on its own data, with a floor "
            "(predict.calibrate.FLOORS)",
        },
    }
    uncertainty = {
        name: {"kind": "relative", "value": round(v, 4), "source": "fit-residual"}
        for name, v in spreads.items()
    }
    if analytical_spread is not None:
        uncertainty["analytical"] = {
            "kind": "relative",
            "value": round(min(analytical_spread, 0.9), 4),
            "source": "vela-fit",
        }
    data: dict[str, Any] = {
        "meta": {
            "scope": "board",
            "name": board_name,
            "calibrated": True,
            "basis": f"calibrated on measurements: {measured.name} + {trace.name} "
            f"({board_name}, {clock:g} MHz)",
            "date": today,
            "generated_by": "python -m npubench.predict.calibrate",
        },
        "sources": sources,
        "params": params,
        "uncertainty": uncertainty,
        "power": power_entries,
        "vela_cycles": cycles,
    }

    # Predicted against measured, through the same code path predictions use.
    family = board.npu.family if board.npu else "cpu"
    pset = build_param_set(
        board_name,
        family,
        [
            ("common", read_params_file("common")),
            (family, read_params_file(family)),
            (board_name, data),
        ],
    )
    predicted: dict[str, dict[str, float]] = {}
    interval: dict[str, dict[str, tuple[float, float]]] = {}
    errors: dict[str, dict[str, float]] = {}
    for r in rows:
        c = cycles.get(r.key)
        lat = predict_latency(
            _graph_for(r),
            board,
            clocks=clocks,
            placement=[],
            vela_cycles=float(c["cycles_total"]) if c else None,
            postprocess=POSTPROCESS_OF.get(r.model, "softmax"),
            params=pset,
        )
        predicted[r.key] = {s: lat.stages[s].value_us for s in STAGES}
        interval[r.key] = {s: lat.stages[s].bounds() for s in STAGES}
        errors[r.key] = {
            s: (predicted[r.key][s] - m) / m
            for s in STAGES
            if (m := r.stages_us[s]) is not None and m > 0
        }
    result = CalibrationResult(
        board_name, rows, data, predicted, interval, vela_raw_us, errors, None, notes
    )
    if out_path is not None:
        write_params(out_path, data)
        result.path = out_path
    return result


# --- writing TOML ----------------------------------------------------------------------------


def _toml_value(v: Any) -> str:
    if isinstance(v, bool):
        return "true" if v else "false"
    if isinstance(v, int | float):
        if isinstance(v, float) and not math.isfinite(v):
            raise CalibrationError(f"cannot write non-finite value {v} to a params file")
        return repr(v)
    if isinstance(v, str):
        return '"' + v.replace("\\", "\\\\").replace('"', '\\"') + '"'
    if isinstance(v, dict):
        return "{ " + ", ".join(f"{_toml_key(k)} = {_toml_value(x)}" for k, x in v.items()) + " }"
    raise CalibrationError(f"cannot write {type(v).__name__} to a params file")


def _toml_key(k: str) -> str:
    return k if k.replace("-", "").replace("_", "").isalnum() else _toml_value(k)


def to_toml(data: dict[str, Any]) -> str:
    """TOML text of a params-file dict (two levels of tables, inline tables below)."""
    lines = [
        "# Calibrated prediction parameters: written by `python -m npubench.predict.calibrate`.",
        "# Do not edit by hand; re-run the calibration (it records data files, sha256 and date).",
        "",
    ]
    for section, content in data.items():
        scalars = {k: v for k, v in content.items() if not isinstance(v, dict)}
        tables = {k: v for k, v in content.items() if isinstance(v, dict)}
        if scalars or section in ("meta",):
            lines.append(f"[{section}]")
            lines += [f"{_toml_key(k)} = {_toml_value(v)}" for k, v in scalars.items()]
        if section in ("sources", "vela_cycles"):
            for k, v in tables.items():
                lines.append("")
                lines.append(f"[{section}.{_toml_key(k)}]")
                lines += [f"{_toml_key(kk)} = {_toml_value(vv)}" for kk, vv in v.items()]
        elif tables:
            if not scalars:
                lines.append(f"[{section}]")
            lines += [f"{_toml_key(k)} = {_toml_value(v)}" for k, v in tables.items()]
        lines.append("")
    return "\n".join(lines)


def write_params(path: Path, data: dict[str, Any]) -> None:
    """Write atomically (temp file + rename)."""
    tmp = path.with_suffix(".toml.tmp")
    tmp.write_text(to_toml(data), encoding="utf-8")
    tmp.replace(path)


# --- the table -------------------------------------------------------------------------------


def format_table(result: CalibrationResult) -> str:
    """Predicted vs measured per stage (µs) and error, beside Vela's raw estimate."""
    head = (
        f"{'row':24} {'stage':12} {'measured':>10} {'predicted':>10} {'error':>8} {'interval':>21}"
    )
    out = [head, "-" * len(head)]
    for r in result.rows:
        for s in STAGES:
            m = r.stages_us[s]
            p = result.predicted[r.key][s]
            lo, hi = result.interval[r.key][s]
            err = f"{result.errors[r.key][s] * 100:+.2f}%" if s in result.errors[r.key] else "-"
            ms = f"{m:.2f}" if m is not None else "-"
            extra = ""
            if s == "inference" and r.key in result.vela_raw_us:
                raw = result.vela_raw_us[r.key]
                extra = f"  Vela raw {raw:.0f} us ({(raw - m) / m * 100:+.1f}%)" if m else ""
            out.append(
                f"{r.key:24} {s:12} {ms:>10} {p:10.2f} {err:>8} [{lo:9.1f}, {hi:9.1f}]{extra}"
            )
    worst = {
        s: max((abs(e[s]) for e in result.errors.values() if s in e), default=float("nan"))
        for s in STAGES
    }
    out.append("max |error|: " + ", ".join(f"{s} {v * 100:.2f}%" for s, v in worst.items()))
    return "\n".join(out + result.notes)


def main(argv: Sequence[str] | None = None, echo: Callable[[str], None] = print) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--board", default="hx-we2")
    parser.add_argument(
        "--pipeline",
        action="store_true",
        help="re-derive Vela cycles (and the analytical fit) by running the model pipeline",
    )
    parser.add_argument("--out", type=Path, default=None, help="params file to write")
    parser.add_argument("--dry-run", action="store_true", help="print only, write nothing")
    args = parser.parse_args(argv)
    board = get_target(args.board)
    cycles = analyses = None
    if args.pipeline:
        cycles, analyses = pipeline_vela_cycles(["yolov1", "simplenet", "resnet"], board)
    out = None if args.dry_run else (args.out or Path(str(params_dir() / f"{args.board}.toml")))
    result = calibrate(args.board, vela_cycles=cycles, analyses=analyses, out_path=out)
    echo(format_table(result))
    if result.path:
        echo(f"wrote {result.path}")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
