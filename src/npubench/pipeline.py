"""The end-to-end data flow: source model -> int8 -> analysis -> compile -> result -> store.

May import every stage package. The CLI and the Python API (``npubench.api``) both call these
functions; they report progress through a callback so that the CLI can draw it with rich.
"""

from __future__ import annotations

import dataclasses
import math
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from npubench.errors import CompilerError, NpubenchError, TargetError
from npubench.provenance import base_provenance
from npubench.schema import BenchResult, Kind, empty_stages
from npubench.targets import Board, get_target, target_names

Progress = Callable[[str], None]

STUDY_MODELS: tuple[str, ...] = ("yolov1", "resnet", "simplenet", "nas", "autoenc")
MLPERF_TINY_MODELS: tuple[str, ...] = (
    "kws_dscnn",
    "vww_mobilenetv1",
    "ic_resnet8",
    "ad_fc_autoencoder",
)
MODEL_GROUPS: dict[str, tuple[str, ...]] = {
    "study": STUDY_MODELS,
    "mlperf-tiny": MLPERF_TINY_MODELS,
    "zoo": STUDY_MODELS + MLPERF_TINY_MODELS,
}
ETHOS_U_BOARDS: tuple[str, ...] = ("hx-we2", "alif-e7-hp", "alif-e7-he", "corstone-300")
OPTIMISE_MODES: tuple[str, ...] = ("Performance", "Size")


def _quiet(_: str) -> None:
    pass


@dataclass
class BenchOptions:
    """Everything that changes what a bench run computes (and so goes into its cache keys)."""

    optimise: str = "Performance"
    clock_mhz: float | None = None
    calibration: Path | None = None
    input_shape: tuple[int, ...] | None = None
    checkpoint: Path | None = None
    tflm_checks: bool = True
    seed: int = 0

    def __post_init__(self) -> None:
        if self.optimise not in OPTIMISE_MODES:
            raise CompilerError(
                f"unknown --optimise {self.optimise!r}", f"use one of {', '.join(OPTIMISE_MODES)}"
            )
        if self.clock_mhz is not None and not (
            math.isfinite(self.clock_mhz) and self.clock_mhz > 0
        ):
            raise TargetError(f"--clock-mhz must be positive, got {self.clock_mhz:g}")

    def as_dict(self) -> dict[str, Any]:
        return {
            "optimise": self.optimise,
            "clock_mhz": self.clock_mhz,
            "calibration": str(self.calibration) if self.calibration else None,
            "input_shape": list(self.input_shape) if self.input_shape else None,
            "checkpoint": str(self.checkpoint) if self.checkpoint else None,
            "tflm_checks": self.tflm_checks,
            "seed": self.seed,
        }


def has_compiler(board: Board) -> bool:
    """Whether a real compiler for the board is installed here (Vela, for Ethos-U boards)."""
    return board.npu is not None and board.npu.family == "ethos-u"


def expand_models(specs: Sequence[str]) -> list[str]:
    """Model specs with group names (``study``, ``mlperf-tiny``, ``zoo``) expanded."""
    out: list[str] = []
    for spec in specs:
        group = MODEL_GROUPS.get(spec.removeprefix("zoo:") if spec != "zoo" else spec)
        if group and not Path(spec).exists():
            out += [f"zoo:{name}" for name in group]
        else:
            out.append(spec)
    return out


def expand_targets(names: Sequence[str]) -> list[Board]:
    """Boards for names, with ``all`` and ``ethos-u`` (the built-in Ethos-U boards) expanded."""
    boards: list[Board] = []
    for name in names:
        if name == "all":
            boards += [get_target(n) for n in target_names()]
        elif name == "ethos-u":
            boards += [get_target(n) for n in ETHOS_U_BOARDS]
        else:
            boards.append(get_target(name))
    seen: set[str] = set()
    return [b for b in boards if not (b.name in seen or seen.add(b.name))]


@dataclass
class PreparedBundle:
    """A model ready for targets: its int8 form, its analysis and what they cost."""

    prepared: Any  # npubench.models.prepare.PreparedModel
    analysis: Any  # npubench.analysis.graph_types.GraphAnalysis
    timings_s: dict[str, float] = field(default_factory=dict)
    spec: str = ""  # the model as the user gave it (a path, zoo:<name>, file.py:Class)


def prepare(spec: str, options: BenchOptions, progress: Progress = _quiet) -> PreparedBundle:
    """Resolve, quantize (cached) and analyse one model."""
    import time

    from npubench.analysis.graph import analyze_tflite
    from npubench.models.prepare import prepare_model
    from npubench.models.source import resolve_source

    timings: dict[str, float] = {}
    t0 = time.perf_counter()
    source = resolve_source(spec, input_shape=options.input_shape, checkpoint=options.checkpoint)
    progress(f"{source.name}: quantizing to int8")
    prepared = prepare_model(source, calibration=options.calibration, seed=options.seed)
    timings["quantize_s"] = time.perf_counter() - t0
    t0 = time.perf_counter()
    if options.tflm_checks:
        from npubench.analysis.tflm import analyze_with_tflm

        progress(f"{source.name}: graph analysis, TFLM arena and bit-exactness")
        analysis = analyze_with_tflm(prepared.int8_tflite)
    else:
        progress(f"{source.name}: graph analysis")
        analysis = analyze_tflite(prepared.int8_tflite)
    timings["analysis_s"] = time.perf_counter() - t0
    return PreparedBundle(prepared=prepared, analysis=analysis, timings_s=timings, spec=spec)


def result_skeleton(bundle: PreparedBundle, board: Board, options: BenchOptions) -> BenchResult:
    p = bundle.prepared
    return BenchResult(
        model=p.name,
        target=board.name,
        kind="compiled",
        latency_us=empty_stages(),
        fidelity=p.fidelity,
        clock_mhz=options.clock_mhz or board.default_clock_mhz,
        options=options.as_dict(),
        provenance=base_provenance(
            model_sha256=p.sha256,
            source_sha256=getattr(p, "source_sha256", None),
            source=bundle.spec or p.name,
            calibration=p.calibration_source,
            converter=p.converter,
        ),
        details={
            "macs": bundle.analysis.total_macs,
            # zoo --json and the published facts count pooling too (Vela's nn_macs).
            "macs_convention": "conv, depthwise and fully connected MACs; pooling not counted",
            "params": bundle.analysis.total_params,
            "peak_activation_bytes": bundle.analysis.peak_activation_bytes,
            "tflm_arena_bytes": bundle.analysis.tflm_arena_bytes,
            "tflm_bit_exact": bundle.analysis.bit_exact,
            "analysis_notes": list(bundle.analysis.notes),
        },
    )


def _compile_vela(
    bundle: PreparedBundle, board: Board, options: BenchOptions
) -> tuple[BenchResult, Any]:
    """Compile with Vela and turn its report into a ``compiled`` result."""
    result = result_skeleton(bundle, board, options)
    if not has_compiler(board):
        raise CompilerError(
            f"no compiler for {board.name} ({board.toolchain}) is installed here",
            "use `npubench predict` for this target, or an Ethos-U target for compiled figures",
        )
    from npubench.compilers.vela import compile_for_board

    report = compile_for_board(
        bundle.prepared.int8_tflite, board, options.optimise, options.clock_mhz
    )
    result.clock_mhz = report.clock_hz / 1e6
    result.latency_us["inference"] = report.inference_time_s * 1e6
    result.memory = {"sram_bytes": report.sram_used_bytes, "flash_bytes": report.flash_used_bytes}
    result.fit = dict(report.fit)
    result.placement = list(report.layers)
    # Vela's own operator count (its per-layer CSV also lists lowered sub-steps, e.g. a fused
    # ReLU, as rows): the same figure the predicted result carries.
    result.ops = dict(report.ops)
    result.compiler = {
        "name": "vela",
        "version": report.vela_version,
        "cycles": report.cycles_total,
        "cycles_npu": report.cycles_npu,
        "encoded_weights_bytes": report.encoded_weights_bytes,
        "nn_macs": report.nn_macs,
        "cached": report.cached,
    }
    result.provenance["artifacts"] = {"vela_dir": str(report.artifact_dir)}
    if not report.fits:
        result.status = "does_not_fit"
        result.message = "; ".join(
            f"{name}: needs {m.used_bytes} B of {m.capacity_bytes} B"
            for name, m in report.fit.items()
            if not m.fits
        )
    return result, report


def compile_on(bundle: PreparedBundle, board: Board, options: BenchOptions) -> BenchResult:
    """Compile with the board's real toolchain and turn the report into a result."""
    return _compile_vela(bundle, board, options)[0]


def predict_on(
    bundle: PreparedBundle, board: Board, options: BenchOptions, vela_report: Any | None = None
) -> BenchResult:
    """Five-stage prediction: fit check, latency, power, energy, with intervals.

    With a Vela report (Ethos-U boards) the inference stage follows Vela's cycle model;
    without one it is the analytical model (no compiler run: fast enough for search loops).
    """
    from npubench.predict.fit import check_fit
    from npubench.predict.predict import predict

    fit = check_fit(bundle.analysis, board)
    result = predict(
        bundle.analysis,
        board,
        clock_mhz=options.clock_mhz,
        vela=vela_report,
        fit=fit,
        postprocess=bundle.prepared.postprocess,
        model=bundle.prepared.name,
    )
    skeleton = result_skeleton(bundle, board, options)
    result.fidelity = skeleton.fidelity
    result.options = {**skeleton.options, "mode": "compiled" if vela_report else "analytical"}
    if vela_report is None:
        result.options["optimise"] = None  # a compiler option; no compiler ran
    result.provenance = {**skeleton.provenance, **result.provenance}
    result.details = {**skeleton.details, **result.details}
    return result


def bench_on(bundle: PreparedBundle, board: Board, options: BenchOptions) -> list[BenchResult]:
    """Compiled figures where a real compiler exists, and the prediction built on them."""
    if has_compiler(board):
        compiled, report = _compile_vela(bundle, board, options)
        return [compiled, predict_on(bundle, board, options, report)]
    return [predict_on(bundle, board, options)]


def failed_result(
    bundle: PreparedBundle,
    board_name: str,
    options: BenchOptions,
    error: NpubenchError,
    kind: Kind = "compiled",
) -> BenchResult:
    """A target that failed: its error, with the model's identity and provenance."""
    p = bundle.prepared
    return BenchResult(
        model=p.name,
        target=board_name,
        kind=kind,
        status="failed",
        message=str(error),
        fidelity=p.fidelity,
        options=options.as_dict(),
        provenance=base_provenance(
            model_sha256=p.sha256,
            source_sha256=getattr(p, "source_sha256", None),
            source=bundle.spec or p.name,
        ),
    )


def _predict_only(bundle: PreparedBundle, board: Board, options: BenchOptions) -> list[BenchResult]:
    return bench_on(bundle, board, options)[-1:]


def _analytical(bundle: PreparedBundle, board: Board, options: BenchOptions) -> list[BenchResult]:
    return [predict_on(bundle, board, options)]


MODES: dict[
    str, tuple[Callable[[PreparedBundle, Board, BenchOptions], list[BenchResult]], str, Kind]
] = {
    # compile where a real compiler exists, then predict on its figures; store both
    "bench": (bench_on, "benchmarking", "compiled"),
    # the same, keeping the predictions only
    "predict": (_predict_only, "predicting", "predicted"),
    # predictions without any compiler run (design-space exploration)
    "analytical": (_analytical, "predicting", "predicted"),
}


def bench(
    models: Sequence[str],
    targets: Sequence[str],
    options: BenchOptions,
    store: Any | None = None,
    progress: Progress = _quiet,
    mode: str = "bench",
    optimise_modes: Sequence[str] | None = None,
) -> list[BenchResult]:
    """Every model on every target (see ``MODES``). A failure on one target is recorded and the
    rest go on; a model that does not fit a target is a result, not an error.

    A failure to prepare a model (bad file, bad calibration data) is raised: nothing useful
    can be done with that model on any target. ``optimise_modes`` (Vela's Performance/Size)
    multiply only the boards that have a compiler; elsewhere they would duplicate results.
    """
    import uuid

    run, action, kind = MODES[mode]
    modes = list(optimise_modes or [options.optimise])
    for m in modes:
        BenchOptions(optimise=m)  # validates the name before anything runs
    boards = expand_targets(targets)
    group_id = uuid.uuid4().hex
    results: list[BenchResult] = []
    for spec in expand_models(models):
        bundle = prepare(spec, options, progress)
        for board in boards:
            board_modes = modes if has_compiler(board) and mode != "analytical" else modes[:1]
            for optimise in board_modes:
                opts = dataclasses.replace(options, optimise=optimise)
                progress(f"{bundle.prepared.name}: {action} on {board.name}")
                try:
                    cell = run(bundle, board, opts)
                except NpubenchError as e:
                    cell = [failed_result(bundle, board.name, opts, e, kind)]
                for result in cell:
                    results.append(result)
                    if store is not None:
                        store.add(result, group_id=group_id)
    return results
