"""Instruction counting of generated C on emulated Cortex-M cores (QEMU 7.2 + TCG plugin).

Real toolchains: cgen, arm-none-eabi-gcc, qemu-system-arm with npubench's plugin. Checks that
counts are deterministic, that per-layer counts add up to the inference and do not depend on
the markers, that bigger convolutions retire more instructions, that every core's output equals
the host build's, and that the image's arena is the generator's plan. Skipped without the tools.
"""

from __future__ import annotations

import shutil
from itertools import pairwise
from pathlib import Path

import pytest

from npubench.errors import MeasurementError
from npubench.measure.icount import CORES, count_model, elf_memory
from npubench.measure.icount.boards import get_core
from npubench.measure.icount.build import build_image, prepare_sources
from npubench.measure.icount.counts import _check_output, split_marks
from npubench.measure.icount.qemu_run import RawRun

DATA = Path(__file__).resolve().parents[1] / "data" / "cgen"
MLP = DATA / "mlp_per_tensor.tflite"
TOOLS = ("gcc", "arm-none-eabi-gcc", "qemu-system-arm")
MISSING = [t for t in TOOLS if shutil.which(t) is None]

pytestmark = [
    pytest.mark.integration,
    pytest.mark.skipif(bool(MISSING), reason=f"{', '.join(MISSING)} not installed"),
]


def _zoo(name: str) -> Path:
    from npubench.models.prepare import prepare_model
    from npubench.models.source import resolve_source

    return prepare_model(resolve_source(f"zoo:{name}")).int8_tflite


@pytest.fixture(scope="module")
def resnet8() -> Path:
    return _zoo("ic_resnet8")


def _signature(counts) -> tuple:
    return (
        counts.stages,
        [(layer.index, layer.instructions) for layer in counts.layers],
        counts.invoke_copies,
        counts.total,
        counts.elf_sha256,
    )


@pytest.mark.parametrize("model", ["mlp", "kws_dscnn"])
def test_counts_are_deterministic(model: str) -> None:
    tflite = MLP if model == "mlp" else _zoo(model)
    first = count_model(tflite, "cortex-m4")
    second = count_model(tflite, "cortex-m4")
    assert first.output_checked and second.output_checked
    assert _signature(first) == _signature(second)
    assert first.method == "qemu-tcg-plugin"
    assert first.inference > 0 and first.total > first.inference


def test_layers_sum_to_inference_and_markers_do_not_change_it(resnet8: Path) -> None:
    marked = count_model(resnet8, "cortex-m4")
    layer_sum = sum(layer.instructions for layer in marked.layers)
    assert layer_sum + sum(marked.invoke_copies.values()) == marked.inference
    # The copies into and out of the arena are a small part of a CNN's inference.
    assert layer_sum > 0.99 * marked.inference
    plain = count_model(resnet8, "cortex-m4", layer_marks=False)
    assert plain.layers == []
    # Same code apart from the marker calls (whose cost is subtracted): within 0.5 %.
    assert abs(plain.inference - marked.inference) <= 0.005 * plain.inference
    for stage in ("input_io", "output_io", "postprocess"):
        assert plain.stages[stage] == marked.stages[stage]


def test_bigger_convolutions_retire_more_instructions(resnet8: Path) -> None:
    counts = count_model(resnet8, "cortex-m4")
    convs = [layer for layer in counts.layers if layer.op == "CONV_2D"]

    def kind(layer) -> tuple:
        return (tuple(layer.info.kernel or ()), layer.info.input_shapes[0][-1])

    # Like for like (same kernel and input channels: the same inner loop), 2x the MACs retires
    # more instructions. Across kinds it need not: ic_resnet8's first conv (3 input channels)
    # costs ~2.5x more per MAC than the 16- and 32-channel ones.
    pairs = [(a, b) for a in convs for b in convs if kind(a) == kind(b) and b.macs >= 2 * a.macs]
    assert len(pairs) >= 2, "ic_resnet8 has 3x3 convs over 16 and 32 channels at two sizes"
    for small, big in pairs:
        assert big.instructions > small.instructions, (small, big)
        assert big.instructions < 4 * small.instructions * big.macs / small.macs
    per_mac = [layer.instructions / layer.macs for layer in convs]
    assert max(per_mac) < 5 * min(per_mac)
    # Every layer that computes something retired instructions; aliases retired none.
    assert all(layer.instructions > 0 for layer in counts.layers if layer.op != "RESHAPE")


def test_every_core_runs_and_matches_host(resnet8: Path) -> None:
    results = {core: count_model(resnet8, core) for core in CORES}
    for core, counts in results.items():
        assert counts.core == core and counts.output_checked
        per_mac = counts.inference / counts.total_macs
        assert 1.0 < per_mac < 50.0, (core, per_mac)
    # Same C, same ISA family: the cores' counts are within 25 % of each other.
    infs = sorted(c.inference for c in results.values())
    for a, b in pairwise(infs):
        assert b <= 1.25 * a
    # Different -mcpu -> different images.
    assert len({c.elf_sha256 for c in results.values()}) == len(CORES)


def test_elf_memory_matches_the_generators_plan(resnet8: Path) -> None:
    from npubench.analysis.tflm import measure_arena

    sources = prepare_sources(resnet8)
    for core in ("cortex-m4", "cortex-m55"):
        mem = elf_memory(build_image(sources, get_core(core)))
        assert mem.arena_bytes == sources.arena_bytes
        assert mem.code_bytes > 1000
        assert 0 < mem.weights_bytes <= sources.constant_bytes
        assert mem.weights_bytes + mem.op_params_bytes <= mem.rodata_bytes
        assert mem.bss_bytes >= mem.arena_bytes
        assert mem.flash_bytes > mem.weights_bytes
    # cgen's static plan needs no interpreter structures: no more than TFLM's arena.
    assert sources.arena_bytes <= measure_arena(resnet8)


def test_mismatching_output_is_an_error() -> None:
    good = RawRun(total=10, marks=[], output=b"\x01\x02", result=1, status=0)
    _check_output(good, b"\x01\x02", "cortex-m4")
    with pytest.raises(MeasurementError, match="differs from the host build"):
        _check_output(RawRun(10, [], b"\x01\x03", 1, 0), b"\x01\x02", "cortex-m4")
    with pytest.raises(MeasurementError, match="stage returned an error"):
        _check_output(RawRun(10, [], b"\x01\x02", 1, 4), b"\x01\x02", "cortex-m4")


def test_split_marks_subtracts_the_marker_cost() -> None:
    # calibration 100,102; start 200; init +10; input +50; 2 layers (+1000, +3000) with
    # copy-in +20 and copy-out +30; output +5; postprocess +7 (each interval + 2 for the call)
    marks = [100, 102, 200, 212, 264, 286, 1288, 4290, 4322, 4329, 4338]
    cost, stages, layers, copies = split_marks(marks, 2)
    assert cost == 2
    assert stages == {
        "init": 10,
        "input_io": 50,
        "inference": 20 + 1000 + 3000 + 30,
        "output_io": 5,
        "postprocess": 7,
    }
    assert layers == [1000, 3000]
    assert copies == {"invoke_copy_in": 20, "invoke_copy_out": 30}
    with pytest.raises(MeasurementError, match="marker calls"):
        split_marks(marks, 3)
