"""Unit tests of the C generator's static memory plan, quantization arithmetic and checks."""

from __future__ import annotations

import itertools
import math
import shutil
import subprocess
from pathlib import Path

import numpy as np
import pytest

from npubench.analysis.tflite_reader import ModelRecord, OperatorRecord, TensorRecord, read_tflite
from npubench.compilers.cgen import SUPPORTED_OPS, generate_c, quant
from npubench.compilers.cgen.generator import _check_supported
from npubench.compilers.cgen.memory_plan import BufferRequest, plan_memory
from npubench.errors import CompilerError

DATA = Path(__file__).parent.parent / "data" / "cgen"


def _assert_valid(requests: list[BufferRequest], offsets: tuple[int, ...], arena: int) -> None:
    for i, a in enumerate(requests):
        assert offsets[i] + a.size <= arena
        for j in range(i):
            b = requests[j]
            if a.overlaps_in_time(b) and a.size and b.size:
                disjoint = offsets[i] + a.size <= offsets[j] or offsets[j] + b.size <= offsets[i]
                assert disjoint, f"{a} and {b} overlap in time and in memory"


def test_chain_reuses_memory_of_dead_tensors() -> None:
    # A chain t0 -> t1 -> t2 -> t3: only neighbours are alive together.
    sizes = [1000, 400, 800, 100]
    requests = [BufferRequest(f"t{i}", s, i - 1, i) for i, s in enumerate(sizes)]
    plan = plan_memory(requests, alignment=1)
    _assert_valid(requests, plan.offsets, plan.arena_size)
    assert plan.arena_size == max(a + b for a, b in itertools.pairwise(sizes))
    assert plan.naive_size == sum(sizes)


def test_overlapping_lifetimes_never_share() -> None:
    requests = [BufferRequest("a", 64, 0, 5), BufferRequest("b", 64, 2, 3)]
    plan = plan_memory(requests, alignment=16)
    assert plan.arena_size == 128
    assert sorted(plan.offsets) == [0, 64]


def test_greedy_plan_is_valid_and_aligned_on_random_graphs() -> None:
    rng = np.random.default_rng(7)
    for _ in range(200):
        n = int(rng.integers(1, 25))
        requests = []
        for i in range(n):
            first = int(rng.integers(-1, 20))
            requests.append(
                BufferRequest(
                    f"t{i}", int(rng.integers(0, 5000)), first, first + int(rng.integers(0, 6))
                )
            )
        plan = plan_memory(requests, alignment=16)
        _assert_valid(requests, plan.offsets, plan.arena_size)
        assert all(o % 16 == 0 for o in plan.offsets)
        # Never worse than one buffer per tensor, never better than the busiest step.
        assert plan.arena_size <= plan.naive_size
        peak = max(
            sum(r.size for r in requests if r.first_use <= t <= r.last_use) for t in range(-1, 26)
        )
        assert plan.arena_size >= peak


def test_residual_network_reaches_the_peak_live_bytes() -> None:
    # Lifetimes of ResNet-8 (MLPerf Tiny) activations as onnx2tf lays them out: the first
    # residual ADD keeps three 16 KiB tensors alive, the peak any plan must hold. A single
    # size-then-first-use order misplaces the PAD output and needs 64 KiB.
    spans = [
        (3072, -1, 0), (16384, 0, 3), (16384, 1, 2), (16384, 2, 3), (16384, 3, 7),
        (18496, 4, 5), (8192, 5, 6), (8192, 6, 8), (8192, 7, 8), (8192, 8, 12),
        (10368, 9, 10), (4096, 10, 11), (4096, 11, 13), (4096, 12, 13), (4096, 13, 14),
        (64, 14, 15), (10, 15, 16),
    ]  # fmt: skip
    requests = [BufferRequest(f"t{i}", *span) for i, span in enumerate(spans)]
    plan = plan_memory(requests)
    _assert_valid(requests, plan.offsets, plan.arena_size)
    assert plan.arena_size == 3 * 16384


def test_invalid_request_is_rejected() -> None:
    with pytest.raises(ValueError):
        BufferRequest("x", 10, 3, 2)


@pytest.mark.parametrize(
    ("real", "expected"),
    [
        (0.0, (0, 0)),
        (1.0, (1 << 30, 1)),
        (0.5, (1 << 30, 0)),
        (0.25, (1 << 30, -1)),
        (2.0, (1 << 30, 2)),
        (0.75, (3 << 29, 0)),
        # q * 2^31 rounds up to 2^31: TFLite halves it and bumps the shift.
        (1.0 - 2.0**-33, (1 << 30, 1)),
        # Below 2^-31 the multiplier flushes to zero.
        (2.0**-40, (0, 0)),
    ],
)
def test_quantize_multiplier_matches_tflite(real: float, expected: tuple[int, int]) -> None:
    assert quant.quantize_multiplier(real) == expected


def test_quantize_multiplier_reconstructs_the_real_value() -> None:
    rng = np.random.default_rng(3)
    for real in rng.uniform(1e-6, 50.0, 500):
        m, s = quant.quantize_multiplier(float(real))
        assert (1 << 30) <= m < (1 << 31)
        assert math.isclose(m * 2.0 ** (s - 31), real, rel_tol=2**-30)


def test_tflite_round_goes_away_from_zero() -> None:
    assert quant.tflite_round(2.5) == 3.0
    assert quant.tflite_round(-2.5) == -3.0
    assert quant.tflite_round(0.49999999999999994) == 0.0
    assert quant.tflite_round(-0.4) == 0.0


def test_activation_range_relu6_and_relu() -> None:
    # scale 6/255, zero point -128: RELU6 spans the whole int8 range.
    assert quant.activation_range(3, 6.0 / 255.0, -128) == (-128, 127)
    assert quant.activation_range(1, 0.1, -20) == (-20, 127)
    assert quant.activation_range(3, 0.1, -20) == (-20, 40)
    assert quant.activation_range(0, 0.1, 5) == (-128, 127)


def test_mean_multiplier_folds_the_element_count() -> None:
    m, s = quant.quantize_multiplier(0.9)
    m2, s2 = quant.mean_multiplier(m, s, 49)
    assert s2 == s - 5  # floor(log2(49)) = 5
    assert math.isclose(m2 * 2.0 ** (s2 - 31), 0.9 / 49, rel_tol=1e-8)


def test_softmax_params_of_unit_scale() -> None:
    multiplier, left_shift, diff_min = quant.softmax_params(1.0, 1.0 / 16)
    # beta * scale * 2^26 = 2^22 -> significand 2^30 with left shift 23.
    assert (multiplier, left_shift) == (1 << 30, 23)
    assert diff_min == -math.floor(31 * 2.0**26 / 2.0**23)


def _tensor(index: int, name: str) -> TensorRecord:
    return TensorRecord(
        index, name, [1, 4], "int8", False, False, True, 4, scales=(0.1,), zero_points=(0,)
    )


def test_unsupported_operator_is_named_with_its_layer() -> None:
    graph = ModelRecord(
        tensors=[_tensor(0, "x"), _tensor(1, "y"), _tensor(2, "z")],
        operators=[
            OperatorRecord(0, "RESHAPE", [0], [1]),
            OperatorRecord(1, "HARD_SWISH", [1], [2]),
        ],
        inputs=[0],
        outputs=[2],
    )
    with pytest.raises(CompilerError, match=r"HARD_SWISH \(layer 1, output 'z'\)"):
        _check_supported(graph)
    assert "CONV_2D" in SUPPORTED_OPS and "SOFTMAX" in SUPPORTED_OPS


def test_generates_static_code_for_a_stored_model(tmp_path: Path) -> None:
    model = DATA / "mlp_per_tensor.tflite"
    graph = read_tflite(model)
    assert [op.op for op in graph.operators] == ["FULLY_CONNECTED"] * 4 + ["LOGISTIC"]
    result = generate_c(model, tmp_path, prefix="ae")
    model_c = (tmp_path / "model.c").read_text()
    header = (tmp_path / "model.h").read_text()
    assert f"static int8_t ae_arena[{result.arena_bytes}];" in model_c
    assert "malloc" not in model_c and "float" not in model_c
    assert "int ae_invoke(const int8_t *input, int8_t *output);" in header
    assert f"#define AE_INPUT_SIZE {int(np.prod(result.input_shape))}" in header
    assert f"#define AE_INPUT_ZERO_POINT ({result.input_zero_point})" in header
    assert result.operators == {"FULLY_CONNECTED": 4, "LOGISTIC": 1}
    # Every weight byte is emitted exactly once as const data.
    weights = sum(len(t.data) for t in graph.tensors if t.data is not None)
    assert result.constant_bytes >= weights
    assert result.arena_bytes < result.naive_arena_bytes


@pytest.mark.skipif(shutil.which("gcc") is None, reason="gcc not installed")
def test_generated_code_compiles_with_strict_warnings(tmp_path: Path) -> None:
    result = generate_c(DATA / "mlp_per_tensor.tflite", tmp_path)
    for source in result.sources:
        subprocess.run(
            [
                "gcc",
                "-std=c99",
                "-Wall",
                "-Wextra",
                "-Werror",
                "-O2",
                "-I",
                str(tmp_path),
                "-c",
                str(source),
                "-o",
                str(tmp_path / f"{source.stem}.o"),
            ],
            check=True,
        )


def test_bad_prefix_is_rejected(tmp_path: Path) -> None:
    with pytest.raises(CompilerError, match="not a valid C identifier"):
        generate_c(DATA / "mlp_per_tensor.tflite", tmp_path, prefix="9lives")
