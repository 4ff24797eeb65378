"""``count_model``: retired instructions per stage and per layer of generated C on one core.

Mark protocol (see firmware/icount_main.c): two back-to-back calibration calls, then a mark
before init, after init, after input_io, one before each computing layer and one before the
output copy inside invoke, then after inference, output_io and postprocess. Each interval
between two marks contains exactly one marker call, whose cost (the calibration interval,
2 instructions: BL + BX LR) is subtracted, so stage and layer counts are the code's own.

May import: npubench (STAGES), npubench.errors, npubench.cache, npubench.analysis.graph and
sibling icount modules.
"""

from __future__ import annotations

import hashlib
from dataclasses import dataclass, field
from itertools import pairwise
from pathlib import Path

from npubench import __version__
from npubench.analysis.graph import analyze_tflite
from npubench.analysis.graph_types import LayerInfo
from npubench.errors import MeasurementError
from npubench.measure.icount.boards import get_core
from npubench.measure.icount.build import (
    CROSS_CC,
    build_image,
    build_plugin,
    compile_flags,
    prepare_sources,
    tool_version,
)
from npubench.measure.icount.qemu_run import RawRun, run_counting

METHOD = "qemu-tcg-plugin"
INVOKE_PARTS = ("invoke_copy_in", "invoke_copy_out")


@dataclass(frozen=True)
class LayerCount:
    """Instructions one operator of the generated code retired."""

    index: int  # TFLite operator index
    op: str
    output_shape: tuple[int, ...]
    macs: int
    instructions: int  # 0 for operators that only alias their input (no code)
    info: LayerInfo  # the analyser's row (shapes, kernel, stride) for keying recorded counts


@dataclass(frozen=True)
class InstructionCounts:
    """One counted inference of one model on one emulated core."""

    model_sha256: str
    core: str
    machine: str
    method: str
    elf_sha256: str
    compile_flags: str
    compiler: str
    stages: dict[str, int]  # the five STAGES
    layers: list[LayerCount]
    invoke_copies: dict[str, int]  # invoke's own input/output copies and call overhead
    total: int  # everything the image retired (start-up and printing included)
    marker_cost: int  # instructions of one empty marker call, already subtracted
    output_checked: bool
    npubench_version: str = __version__
    notes: list[str] = field(default_factory=list)

    @property
    def inference(self) -> int:
        return self.stages["inference"]

    @property
    def total_macs(self) -> int:
        return sum(layer.macs for layer in self.layers)


def _sha256(path: Path) -> str:
    return hashlib.sha256(path.read_bytes()).hexdigest()


def split_marks(
    marks: list[int], n_layers: int | None
) -> tuple[int, dict[str, int], list[int], dict[str, int]]:
    """(marker cost, stage counts, per-layer counts, invoke copies) from raw snapshots.

    ``n_layers`` None means the image has no layer markers (only stage marks).
    """
    inner = 0 if n_layers is None else n_layers + 1
    expected = 2 + 3 + inner + 3
    if len(marks) != expected:
        raise MeasurementError(
            f"the counting image made {len(marks)} marker calls, {expected} were expected",
            hint="the generated code and its layer list disagree; this is an npubench bug",
        )
    cost = marks[1] - marks[0]
    start, after_init, after_input = marks[2], marks[3], marks[4]
    after_inf, after_out, after_post = marks[5 + inner], marks[6 + inner], marks[7 + inner]

    def net(a: int, b: int, calls: int = 1) -> int:
        return b - a - calls * cost

    stages = {
        "init": net(start, after_init),
        "input_io": net(after_init, after_input),
        "inference": net(after_input, after_inf, inner + 1),
        "output_io": net(after_inf, after_out),
        "postprocess": net(after_out, after_post),
    }
    layers: list[int] = []
    copies: dict[str, int] = {}
    if n_layers is not None:
        bounds = marks[5 : 5 + inner]
        copies["invoke_copy_in"] = net(after_input, bounds[0])
        layers = [net(a, b) for a, b in pairwise(bounds)]
        copies["invoke_copy_out"] = net(bounds[-1], after_inf)
    if any(v < 0 for v in (*stages.values(), *layers, *copies.values())):
        raise MeasurementError(
            "negative instruction count between two markers",
            hint="the marker calibration failed; this is an npubench bug",
        )
    return cost, stages, layers, copies


def _check_output(raw: RawRun, expected: bytes, core: str) -> None:
    if raw.status != 0:
        raise MeasurementError(
            f"a stage returned an error on {core} (status {raw.status:#x})",
            hint="run the model through the harness on the host to find the stage",
        )
    if raw.output != expected:
        diff = sum(a != b for a, b in zip(raw.output, expected, strict=False))
        raise MeasurementError(
            f"{core} output differs from the host build of the same C "
            f"({diff} of {len(expected)} bytes, lengths {len(raw.output)}/{len(expected)})",
            hint="a compiler or emulator issue: report it with the model file",
        )


def count_model(
    tflite: Path, core: str, *, layer_marks: bool = True, seed: int = 0
) -> InstructionCounts:
    """Count retired instructions of one inference of ``tflite`` on ``core``'s QEMU board.

    The output is checked byte for byte against the same generated C built for the host; a
    mismatch raises :class:`MeasurementError`. ``layer_marks=False`` builds without the layer
    markers (stage totals only), to check that the markers do not change the code they count.
    """
    tflite = Path(tflite)
    spec = get_core(core)
    sources = prepare_sources(tflite, seed=seed)
    elf = build_image(sources, spec, layer_marks=layer_marks)
    raw = run_counting(elf, spec, build_plugin())
    _check_output(raw, sources.expected_output, spec.core)
    cost, stages, per_layer, copies = split_marks(
        raw.marks, len(sources.layers) if layer_marks else None
    )
    layers: list[LayerCount] = []
    if layer_marks:
        counted = {idx: n for (idx, _), n in zip(sources.layers, per_layer, strict=True)}
        for info in analyze_tflite(tflite).layers:
            layers.append(
                LayerCount(
                    index=info.index,
                    op=info.op,
                    output_shape=tuple(info.output_shape),
                    macs=info.macs,
                    instructions=counted.get(info.index, 0),
                    info=info,
                )
            )
        missing = set(counted) - {layer.index for layer in layers}
        if missing:
            raise MeasurementError(
                f"counted layers {sorted(missing)} are not in the analyser's table",
                hint="graph analysis and the C generator disagree on operator indices",
            )
    return InstructionCounts(
        model_sha256=sources.model_sha256,
        core=spec.core,
        machine=spec.machine,
        method=METHOD,
        elf_sha256=_sha256(elf),
        compile_flags=compile_flags(spec),
        compiler=tool_version(CROSS_CC),
        stages=stages,
        layers=layers,
        invoke_copies=copies,
        total=raw.total,
        marker_cost=cost,
        output_checked=True,
    )
