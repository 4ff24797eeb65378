"""Graph analysis of int8 TFLite models: per-layer MACs/params/options, peak activations, errors.

The models are small Keras graphs converted with TFLiteConverter full-integer quantization
(tests/_tflite_models.py, built once and kept in pytest's cache folder); every expected number
is worked out by hand from the layer definitions, not read back from the analyser.
"""

from __future__ import annotations

import sys
from pathlib import Path

import pytest

from npubench.analysis.graph import analyze_tflite, peak_activation_bytes
from npubench.analysis.graph_types import GraphAnalysis
from npubench.analysis.tflite_reader import ModelRecord, OperatorRecord, TensorRecord
from npubench.errors import AnalysisError

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))


@pytest.fixture(scope="session")
def models(tflite_models: dict[str, Path]) -> dict[str, Path]:
    return tflite_models


def only_layer(analysis: GraphAnalysis):
    assert len(analysis.layers) == 1
    return analysis.layers[0]


def test_conv_same_stride2(models):
    a = analyze_tflite(models["conv_same_s2"])
    layer = only_layer(a)
    # 16x16x3 -> 8 filters 3x3, stride 2, SAME: ceil(16/2) = 8 -> 1x8x8x8
    assert layer.op == "CONV_2D"
    assert layer.input_shapes == [[1, 16, 16, 3]]
    assert layer.output_shape == [1, 8, 8, 8]
    assert (layer.kernel, layer.stride, layer.padding, layer.dilation) == (
        [3, 3],
        [2, 2],
        "SAME",
        [1, 1],
    )
    assert layer.fused_activation == "RELU"
    assert layer.macs == (8 * 8 * 8) * (3 * 3 * 3)
    assert layer.params == 8 * 3 * 3 * 3 + 8
    assert layer.weight_bytes == 8 * 3 * 3 * 3 * 1 + 8 * 4  # int8 weights, int32 bias
    assert layer.activation_bytes == 16 * 16 * 3 + 8 * 8 * 8
    assert (a.input_shape, a.input_dtype) == ([1, 16, 16, 3], "int8")
    assert (a.output_shape, a.output_dtype) == ([1, 8, 8, 8], "int8")
    assert a.total_macs == layer.macs and a.total_params == layer.params


def test_conv_valid_dilated(models):
    layer = only_layer(analyze_tflite(models["conv_valid_dilated"]))
    # 10x10x2, 4 filters 3x3, dilation 2 (effective 5x5), VALID: 10 - 5 + 1 = 6
    assert layer.output_shape == [1, 6, 6, 4]
    assert (layer.padding, layer.dilation, layer.fused_activation) == ("VALID", [2, 2], "NONE")
    assert layer.macs == (6 * 6 * 4) * (3 * 3 * 2)
    assert layer.params == 4 * 3 * 3 * 2 + 4


def test_depthwise(models):
    layer = only_layer(analyze_tflite(models["depthwise"]))
    # 12x12x4, 3x3, depth multiplier 2, VALID -> 10x10x8; one 3x3 window per output element
    assert layer.op == "DEPTHWISE_CONV_2D"
    assert layer.output_shape == [1, 10, 10, 8]
    assert layer.kernel == [3, 3]
    assert layer.macs == (10 * 10 * 8) * (3 * 3)
    assert layer.params == 3 * 3 * 8 + 8
    assert layer.weight_bytes == 3 * 3 * 8 + 8 * 4


def test_fully_connected(models):
    layer = only_layer(analyze_tflite(models["fc"]))
    assert layer.op == "FULLY_CONNECTED"
    assert layer.input_shapes == [[1, 20]]  # weights and bias are not activations
    assert layer.fused_activation == "RELU6"
    assert layer.macs == 1 * 10 * 20
    assert layer.params == 10 * 20 + 10
    assert layer.weight_bytes == 10 * 20 + 10 * 4
    assert layer.activation_bytes == 20 + 10


def test_pool_add_concat(models):
    a = analyze_tflite(models["pool_add_concat"])
    assert [layer.op for layer in a.layers] == [
        "CONV_2D",
        "MAX_POOL_2D",
        "ADD",
        "CONCATENATION",
        "AVERAGE_POOL_2D",
    ]
    conv, maxpool, add, concat, avgpool = a.layers
    assert conv.macs == (8 * 8 * 4) * (1 * 1 * 4) and conv.params == 4 * 4 + 4
    assert (maxpool.kernel, maxpool.stride, maxpool.padding) == ([3, 3], [1, 1], "SAME")
    assert (avgpool.kernel, avgpool.stride, avgpool.padding) == ([2, 2], [2, 2], "VALID")
    assert avgpool.output_shape == [1, 4, 4, 8]
    assert add.input_shapes == [[1, 8, 8, 4], [1, 8, 8, 4]]
    assert concat.input_shapes == [[1, 8, 8, 4], [1, 8, 8, 4]]
    assert concat.output_shape == [1, 8, 8, 8]
    for layer in (maxpool, add, concat, avgpool):
        assert (layer.macs, layer.params, layer.weight_bytes) == (0, 0, 0), layer.op
    assert a.total_macs == conv.macs
    assert a.total_params == conv.params


def test_peak_activation_residual(models):
    a = analyze_tflite(models["residual"])
    assert [layer.op for layer in a.layers] == ["CONV_2D", "CONV_2D", "ADD", "CONV_2D"]
    x, c1, c2, y, z = 8 * 8 * 4, 8 * 8 * 8, 8 * 8 * 4, 8 * 8 * 4, 8 * 8 * 2  # int8 bytes
    # x (input) is live until the ADD (op 2), so it sits beside c1 and c2 during op 1.
    live = [x + c1, x + c1 + c2, x + c2 + y, y + z]
    assert a.peak_activation_bytes == max(live) == 1024
    # A per-layer view (inputs + output of one op) misses the skip connection.
    assert max(layer.activation_bytes for layer in a.layers) == 768
    assert a.total_macs == 64 * 8 * (3 * 3 * 4) + 64 * 4 * (3 * 3 * 8) + 64 * 2 * 4
    assert a.total_params == (3 * 3 * 4 * 8 + 8) + (3 * 3 * 8 * 4 + 4) + (4 * 2 + 2)


def _tensor(index: int, nbytes: int, constant: bool = False) -> TensorRecord:
    return TensorRecord(index, f"t{index}", [nbytes], "int8", constant, False, True, nbytes)


def test_peak_keeps_graph_outputs_and_skips_constants():
    # op0: t0 -> t1 (a graph output), op1: t1 + const t4 -> t2, op2: t2 -> t3 (output).
    tensors = [
        _tensor(0, 100),
        _tensor(1, 10),
        _tensor(2, 50),
        _tensor(3, 7),
        _tensor(4, 999, True),
    ]
    ops = [
        OperatorRecord(0, "RELU", [0], [1]),
        OperatorRecord(1, "ADD", [1, 4], [2]),
        OperatorRecord(2, "RELU", [2], [3]),
    ]
    model = ModelRecord(
        tensors, ops, inputs=[0], outputs=[1, 3], subgraph_count=1, schema_version=3
    )
    # t1 stays live to the end because it is an output: op2 holds t1 + t2 + t3 = 67.
    assert peak_activation_bytes(model) == max(100 + 10, 10 + 50, 10 + 50 + 7)


def test_json_round_trip(models):
    a = analyze_tflite(models["small_convnet"])
    assert GraphAnalysis.from_json(a.to_json()) == a
    assert a.op_counts()["CONV_2D"] == 2


def test_not_a_tflite_file(tmp_path):
    bogus = tmp_path / "model.tflite"
    bogus.write_bytes(b"\x08\x07\x12\x04onnx-ish bytes, not a flatbuffer")
    with pytest.raises(AnalysisError, match="not a TFLite model") as info:
        analyze_tflite(bogus)
    assert info.value.hint


def test_missing_and_truncated_files(tmp_path, models):
    with pytest.raises(AnalysisError, match="cannot read"):
        analyze_tflite(tmp_path / "absent.tflite")
    truncated = tmp_path / "truncated.tflite"
    truncated.write_bytes(models["small_convnet"].read_bytes()[:400])
    with pytest.raises(AnalysisError, match="corrupt"):
        analyze_tflite(truncated)


def test_float_model_refused(models):
    with pytest.raises(AnalysisError, match="float") as info:
        analyze_tflite(models["float_conv"])
    assert "int8" in (info.value.hint or "")
