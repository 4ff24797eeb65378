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
from typing import TYPE_CHECKING, Any

from npubench.errors import NpubenchError, TargetError, UsageError
from npubench.provenance import base_provenance
from npubench.schema import BenchResult, Kind, empty_stages
from npubench.targets import Board, get_target, target_names

if TYPE_CHECKING:
    from npubench.analysis.graph_types import GraphAnalysis
    from npubench.models.prepare import PreparedModel
    from npubench.toolchains.base import CompileReport, Toolchain
    from npubench.toolchains.inputs import CompileInput

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
FRONTENDS: tuple[str, ...] = ("tflite", "executorch", "onnx")
CPU_KERNEL_BASES: tuple[str, ...] = ("deployed", "npubench-c")


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
    toolchain: str | None = None  # None: the board's own choice (its default, if installed)
    frontend: str | None = None  # pick the board's toolchain of this front end
    # --toolchain-option NAME.KEY=VALUE: {toolchain: {key: value}}, options beyond --optimise
    # (each validated by its toolchain when it runs)
    toolchain_options_given: dict[str, dict[str, Any]] = field(default_factory=dict)
    cpu_kernels: str = "deployed"  # the CPU kernel basis: "deployed" or "npubench-c"
    cpu_only: bool = False  # every layer on the board's CPU, no toolchain

    def __post_init__(self) -> None:
        if self.optimise not in OPTIMISE_MODES:
            raise UsageError(
                f"unknown --optimise {self.optimise!r}", f"use one of {', '.join(OPTIMISE_MODES)}"
            )
        if self.clock_mhz is not None and not (
            math.isfinite(self.clock_mhz) and self.clock_mhz > 0
        ):
            raise TargetError(f"--clock-mhz must be positive, got {self.clock_mhz:g}")
        if self.toolchain_options_given:
            from npubench.toolchains import get_toolchain

            for name in self.toolchain_options_given:
                get_toolchain(name)  # an unknown name is a usage error with suggestions
        if self.cpu_kernels not in CPU_KERNEL_BASES:
            raise UsageError(
                f"unknown --cpu-kernels {self.cpu_kernels!r}",
                f"use one of {', '.join(CPU_KERNEL_BASES)}",
            )
        if self.frontend is not None and self.frontend not in FRONTENDS:
            raise UsageError(
                f"unknown --frontend {self.frontend!r}", f"use one of {', '.join(FRONTENDS)}"
            )

    def as_dict(self) -> dict[str, Any]:
        return {
            "optimise": self.optimise,
            "clock_mhz": self.clock_mhz,
            "calibration": str(self.calibration) if self.calibration else None,
            "input_shape": list(self.input_shape) if self.input_shape else None,
            "checkpoint": str(self.checkpoint) if self.checkpoint else None,
            "tflm_checks": self.tflm_checks,
            "seed": self.seed,
            "toolchain": self.toolchain,
            "frontend": self.frontend,
            "toolchain_options": {k: dict(v) for k, v in self.toolchain_options_given.items()},
            "cpu_kernels": self.cpu_kernels,
            "cpu_only": self.cpu_only,
        }

    def toolchain_options(self, toolchain: Toolchain) -> dict[str, Any]:
        """The options of this run that ``toolchain`` takes: Vela's ``optimise`` where it has
        one, and every ``--toolchain-option`` (an option the toolchain does not know is an
        error naming the options it accepts, raised when it runs)."""
        fields = toolchain.Options.model_fields
        base = {"optimise": self.optimise} if "optimise" in fields else {}
        return {**base, **self.toolchain_options_given.get(toolchain.name, {})}


def takes_optimise(toolchain: Toolchain) -> bool:
    return "optimise" in toolchain.Options.model_fields


def board_toolchains(board: Board, options: BenchOptions | None = None) -> list[Toolchain]:
    """The board's toolchains that this run may use, in the board's order of preference."""
    from npubench.toolchains import get_toolchain, toolchains_for

    if options is not None and options.toolchain is not None:
        if options.toolchain not in board.toolchain_names():
            raise UsageError(
                f"toolchain {options.toolchain!r} does not target {board.name}",
                f"{board.name} names {', '.join(board.toolchain_names())}",
            )
        return [get_toolchain(options.toolchain)]
    found = toolchains_for(board)
    if options is not None and options.frontend is not None:
        found = [t for t in found if t.frontend == options.frontend]
    return found


def available_toolchains(board: Board, options: BenchOptions | None = None) -> list[Toolchain]:
    """The board's toolchains installed here (cheap: ``detect()`` reads no vendor package)."""
    return [t for t in board_toolchains(board, options) if t.detect().available]


def has_compiler(board: Board, options: BenchOptions | None = None) -> bool:
    """Whether a toolchain for the board is installed here."""
    return bool(available_toolchains(board, options))


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

    prepared: PreparedModel
    analysis: GraphAnalysis
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


def analyze_float(
    spec: str,
    input_shape: tuple[int, ...] | None = None,
    checkpoint: Path | None = None,
) -> GraphAnalysis:
    """The model's layer table from its float graph, without quantizing (the analytical path):
    shapes, MACs, and the int8 sizes they imply (``analysis.onnx_graph``)."""
    from npubench.analysis.onnx_graph import analyze_onnx
    from npubench.models.analytical import analytical_onnx
    from npubench.models.source import resolve_source

    source = resolve_source(spec, input_shape=input_shape, checkpoint=checkpoint)
    return analyze_onnx(*analytical_onnx(source))


def compile_input(bundle: PreparedBundle, options: BenchOptions) -> CompileInput:
    from npubench.toolchains.inputs import CompileInput

    return CompileInput.from_prepared(
        bundle.prepared,
        bundle.spec,
        calibration=options.calibration,
        seed=options.seed,
        input_shape=options.input_shape,
        checkpoint=options.checkpoint,
    )


def result_skeleton(bundle: PreparedBundle, board: Board, options: BenchOptions) -> BenchResult:
    from npubench.targets.catalogue import board_origin

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
            board_file=board_origin(board.name).to_json(),
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


def compile_report(
    bundle: PreparedBundle, board: Board, options: BenchOptions, toolchain: Toolchain
) -> CompileReport:
    """Run one toolchain on the bundle for the board (cached by content)."""
    from npubench.toolchains.run import compile_with

    return compile_with(
        toolchain,
        compile_input(bundle, options),
        board,
        options.toolchain_options(toolchain),
        options.clock_mhz,
    )


def compiled_result(
    bundle: PreparedBundle, board: Board, options: BenchOptions, report: CompileReport
) -> BenchResult:
    """A ``compiled`` result from any toolchain's report: its figures, named as its own."""
    from npubench.toolchains.results import apply_report

    result = result_skeleton(bundle, board, options)
    apply_report(result, board, report)
    return result


def _first_toolchain(board: Board, options: BenchOptions) -> Toolchain:
    candidates = board_toolchains(board, options)
    for toolchain in candidates:
        if toolchain.detect().available:
            return toolchain
    if not candidates:
        raise UsageError(
            f"{board.name} has no toolchain of front end {options.frontend!r}",
            f"{board.name} names {', '.join(board.toolchain_names())}",
        )
    from npubench.toolchains.run import require_available

    require_available(candidates[0])  # raises ToolchainMissing with its install command
    raise AssertionError("unreachable")


def compile_on(bundle: PreparedBundle, board: Board, options: BenchOptions) -> BenchResult:
    """Compile with the board's toolchain (or the one chosen) and turn the report into a result."""
    toolchain = _first_toolchain(board, options)
    return compiled_result(
        bundle, board, options, compile_report(bundle, board, options, toolchain)
    )


def predict_on(
    bundle: PreparedBundle,
    board: Board,
    options: BenchOptions,
    report: CompileReport | None = None,
) -> BenchResult:
    """Five-stage prediction: fit check, latency, power, energy, with intervals.

    With a toolchain's report whose cost has cycles or a time, the inference stage follows the
    tool's figure ("compiled" mode) and the fit is the tool's; without one it is the
    analytical model (no compiler run: fast enough for search loops).
    """
    from npubench.predict.fit import check_fit
    from npubench.predict.predict import predict

    fit = check_fit(bundle.analysis, board)
    result = predict(
        bundle.analysis,
        board,
        clock_mhz=options.clock_mhz,
        compiled=report,
        fit=fit,
        postprocess=bundle.prepared.postprocess,
        model=bundle.prepared.name,
        cpu_kernels=options.cpu_kernels,
        cpu_only=options.cpu_only,
    )
    skeleton = result_skeleton(bundle, board, options)
    result.fidelity = skeleton.fidelity
    result.options = {**skeleton.options, "mode": result.details.get("mode", "analytical")}
    if report is None:
        result.options["optimise"] = None  # a compiler option; no compiler ran
    result.provenance = {**skeleton.provenance, **result.provenance}
    result.details = {**skeleton.details, **result.details}
    return result


def calibrated_report(
    bundle: PreparedBundle,
    board: Board,
    options: BenchOptions,
    toolchain: Toolchain,
    report: CompileReport,
) -> CompileReport:
    """The report a calibrated prediction builds on: the toolchain run again on the memory
    system the board's calibration fitted (``npubench calibrate``), or ``report`` itself when
    the board has no fitted memory figures."""
    from npubench.predict.parameters import calibrated_board

    tuned = calibrated_board(board)
    if tuned is board:
        return report
    return compile_report(bundle, tuned, options, toolchain)


def bench_on(bundle: PreparedBundle, board: Board, options: BenchOptions) -> list[BenchResult]:
    """Compiled figures where a toolchain is installed, and the prediction built on them."""
    toolchains = [] if options.cpu_only else available_toolchains(board, options)
    if not toolchains:
        return [predict_on(bundle, board, options)]
    report = compile_report(bundle, board, options, toolchains[0])
    for_prediction = calibrated_report(bundle, board, options, toolchains[0], report)
    return [
        compiled_result(bundle, board, options, report),
        predict_on(bundle, board, options, for_prediction),
    ]


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


def predict_with_toolchain(
    bundle: PreparedBundle, board: Board, options: BenchOptions
) -> BenchResult:
    """The prediction, on the installed toolchain's figures where there is one."""
    return bench_on(bundle, board, options)[-1]


def _predict_only(bundle: PreparedBundle, board: Board, options: BenchOptions) -> list[BenchResult]:
    return [predict_with_toolchain(bundle, board, options)]


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


def takes_optimise_modes(board: Board, options: BenchOptions | None = None) -> bool:
    """Whether the toolchain this run would use on ``board`` takes Vela's optimise modes."""
    found = available_toolchains(board, options)
    return bool(found) and takes_optimise(found[0])


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
    multiply only the boards whose toolchain takes them; elsewhere they would duplicate results.
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
            board_modes = (
                modes
                if mode != "analytical" and takes_optimise_modes(board, options)
                else modes[:1]
            )
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
