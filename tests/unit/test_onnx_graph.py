"""The analytical path: npubench.analysis.onnx_graph.analyze_onnx on the float ONNX graph.

Fast unit tests build small ONNX graphs with onnx.helper and check each mapping to the TFLite
builtins (and fusions) the int8 path (onnx2tf -> TFLiteConverter) produces, with hand-counted
shapes, MACs, params, weight bytes and peaks. The integration test compares the analytical
table of every zoo model with ``analysis.graph.analyze_tflite`` of its real int8 model
(``models.prepare.prepare_model``; cached under $NPUBENCH_CACHE_DIR after the first run).
"""

from __future__ import annotations

import hashlib
from pathlib import Path
from typing import Any

import numpy as np
import onnx
import pytest
from onnx import TensorProto, helper, numpy_helper

from npubench.analysis.graph_types import GraphAnalysis
from npubench.analysis.onnx_graph import ANALYTICAL_NOTE, ANALYTICAL_SOURCE, analyze_onnx
from npubench.errors import AnalysisError, ModelError


def _model(
    nodes: list[onnx.NodeProto],
    input_shape: list[Any],
    inits: dict[str, Any] | None = None,
    output: str = "y",
    output_shape: list[Any] | None = None,
) -> onnx.ModelProto:
    initializers = []
    for name, value in (inits or {}).items():
        array = np.asarray(value)
        if array.dtype.kind == "f":
            array = array.astype(np.float32)
        initializers.append(numpy_helper.from_array(array, name))
    graph = helper.make_graph(
        nodes,
        "t",
        [helper.make_tensor_value_info("x", TensorProto.FLOAT, input_shape)],
        [helper.make_tensor_value_info(output, TensorProto.FLOAT, output_shape)],
        initializer=initializers,
    )
    return helper.make_model(graph, opset_imports=[helper.make_opsetid("", 17)])


def _zeros(*shape: int) -> np.ndarray:
    return np.zeros(shape, np.float32)


def _ops(analysis: GraphAnalysis) -> list[str]:
    return [layer.op for layer in analysis.layers]


def _conv(x: str, y: str, w: str, b: str | None = None, **attrs: Any) -> onnx.NodeProto:
    return helper.make_node("Conv", [x, w] + ([b] if b else []), [y], **attrs)


# --- convolutions --------------------------------------------------------------------------


def test_conv_relu_is_one_conv_2d_with_the_relu_fused_in_nhwc() -> None:
    model = _model(
        [_conv("x", "c", "w", "b", pads=[1, 1, 1, 1]), helper.make_node("Relu", ["c"], ["y"])],
        [1, 3, 8, 8],
        {"w": _zeros(4, 3, 3, 3), "b": _zeros(4)},
    )
    a = analyze_onnx(model)
    [conv] = a.layers
    assert (conv.op, conv.padding, conv.fused_activation) == ("CONV_2D", "SAME", "RELU")
    assert conv.input_shapes == [[1, 8, 8, 3]] and conv.output_shape == [1, 8, 8, 4]
    assert (conv.kernel, conv.stride, conv.dilation) == ([3, 3], [1, 1], [1, 1])
    assert conv.macs == 8 * 8 * 4 * 3 * 3 * 3
    assert conv.params == 108 + 4 and conv.weight_bytes == 108 + 4 * 4  # int8 w, int32 bias
    assert conv.activation_bytes == 192 + 256
    assert a.input_shape == [1, 8, 8, 3] and a.output_shape == [1, 8, 8, 4]
    assert a.input_dtype == a.output_dtype == "int8"
    assert a.peak_activation_bytes == 448
    assert a.source == ANALYTICAL_SOURCE and ANALYTICAL_NOTE in a.notes
    assert (a.total_macs, a.total_params, a.total_weight_bytes) == (6912, 112, 124)


def test_batchnorm_and_relu6_fold_into_a_bias_free_conv_which_gets_an_int32_bias() -> None:
    bn = helper.make_node("BatchNormalization", ["c", "s", "o", "m", "v"], ["n"])
    clip = helper.make_node("Clip", ["n", "lo", "hi"], ["y"])
    inits = {"w": _zeros(4, 3, 3, 3), "lo": np.float32(0), "hi": np.float32(6)}
    inits |= {k: np.ones(4, np.float32) for k in "somv"}
    a = analyze_onnx(_model([_conv("x", "c", "w", pads=[1] * 4), bn, clip], [1, 3, 8, 8], inits))
    [conv] = a.layers
    assert (conv.op, conv.fused_activation) == ("CONV_2D", "RELU6")
    assert (conv.params, conv.weight_bytes) == (112, 124)


def test_a_strided_conv_with_pads_gets_an_explicit_pad_and_valid_padding() -> None:
    model = _model(
        [_conv("x", "y", "w", "b", pads=[1, 1, 1, 1], strides=[2, 2])],
        [1, 3, 8, 8],
        {"w": _zeros(4, 3, 3, 3), "b": _zeros(4)},
    )
    a = analyze_onnx(model)
    assert _ops(a) == ["PAD", "CONV_2D"]
    pad, conv = a.layers
    assert pad.output_shape == [1, 10, 10, 3] and (pad.params, pad.weight_bytes) == (0, 0)
    assert conv.padding == "VALID" and conv.output_shape == [1, 4, 4, 4]
    assert conv.macs == 4 * 4 * 4 * 27
    # Peak at the PAD: input 192 + padded 300 (the input dies there).
    assert a.peak_activation_bytes == 192 + 300


def test_depthwise_when_group_equals_channels_grouped_conv_otherwise() -> None:
    depthwise = _model(
        [_conv("x", "y", "w", "b", pads=[1] * 4, group=4)],
        [1, 4, 8, 8],
        {"w": _zeros(8, 1, 3, 3), "b": _zeros(8)},  # depth multiplier 2
    )
    [dw] = analyze_onnx(depthwise).layers
    assert dw.op == "DEPTHWISE_CONV_2D" and dw.macs == 8 * 8 * 8 * 9
    assert (dw.params, dw.weight_bytes) == (72 + 8, 72 + 32)
    grouped = _model(
        [_conv("x", "y", "w", "b", pads=[1] * 4, group=2)],
        [1, 4, 8, 8],
        {"w": _zeros(4, 2, 3, 3), "b": _zeros(4)},
    )
    [conv] = analyze_onnx(grouped).layers
    assert conv.op == "CONV_2D" and conv.macs == 8 * 8 * 4 * 9 * 2  # cin per group


def test_conv1d_is_reshape_conv_2d_reshape_in_nwc() -> None:
    model = _model(
        [_conv("x", "c", "w", "b", pads=[1, 1]), helper.make_node("Relu", ["c"], ["y"])],
        [1, 4, 10],
        {"w": _zeros(6, 4, 3), "b": _zeros(6)},
    )
    a = analyze_onnx(model)
    assert _ops(a) == ["RESHAPE", "CONV_2D", "RESHAPE"]
    expand, conv, squeeze = a.layers
    assert a.input_shape == [1, 10, 4] and expand.output_shape == [1, 1, 10, 4]
    assert conv.kernel == [1, 3] and conv.fused_activation == "RELU"
    assert conv.output_shape == [1, 1, 10, 6] and squeeze.output_shape == [1, 10, 6]
    assert conv.macs == 10 * 6 * 4 * 3


def test_per_channel_mul_and_add_after_a_conv_fold_into_it() -> None:
    nodes = [
        _conv("x", "c", "w", pads=[1] * 4),
        helper.make_node("Mul", ["c", "scale"], ["m"]),
        helper.make_node("Add", ["m", "shift"], ["a"]),
        helper.make_node("Relu", ["a"], ["y"]),
    ]
    inits = {"w": _zeros(4, 3, 3, 3), "scale": _zeros(4, 1, 1), "shift": _zeros(1, 4, 1, 1)}
    [conv] = analyze_onnx(_model(nodes, [1, 3, 8, 8], inits)).layers
    assert (conv.op, conv.fused_activation, conv.params) == ("CONV_2D", "RELU", 112)


# --- fully connected -----------------------------------------------------------------------


def test_flatten_gemm_relu_is_one_fully_connected_reading_the_pooled_tensor() -> None:
    nodes = [
        helper.make_node("GlobalAveragePool", ["x"], ["p"]),
        helper.make_node("Flatten", ["p"], ["f"], axis=1),
        helper.make_node("Gemm", ["f", "w", "b"], ["g"], transB=1),
        helper.make_node("Relu", ["g"], ["y"]),
    ]
    a = analyze_onnx(_model(nodes, [1, 8, 4, 4], {"w": _zeros(10, 8), "b": _zeros(10)}))
    assert _ops(a) == ["MEAN", "FULLY_CONNECTED"]
    mean, fc = a.layers
    assert mean.output_shape == [1, 1, 1, 8]
    assert fc.input_shapes == [[1, 1, 1, 8]] and fc.output_shape == [1, 10]
    assert (fc.fused_activation, fc.macs, fc.params, fc.weight_bytes) == ("RELU", 80, 90, 120)


def test_matmul_add_is_fully_connected_with_bias_and_without_add_has_none() -> None:
    with_bias = _model(
        [helper.make_node("MatMul", ["x", "w"], ["m"]), helper.make_node("Add", ["m", "b"], ["y"])],
        [1, 8],
        {"w": _zeros(8, 10), "b": _zeros(10)},
    )
    [fc] = analyze_onnx(with_bias).layers
    assert (fc.op, fc.params, fc.weight_bytes, fc.macs) == ("FULLY_CONNECTED", 90, 120, 80)
    without = _model([helper.make_node("MatMul", ["x", "w"], ["y"])], [1, 8], {"w": _zeros(8, 10)})
    [fc] = analyze_onnx(without).layers
    assert (fc.params, fc.weight_bytes) == (80, 80)


def test_flattening_a_spatial_map_transposes_back_to_nchw_before_the_fully_connected() -> None:
    nodes = [
        helper.make_node("Flatten", ["x"], ["f"], axis=1),
        helper.make_node("Gemm", ["f", "w", "b"], ["y"], transB=1),
    ]
    a = analyze_onnx(_model(nodes, [1, 2, 3, 3], {"w": _zeros(5, 18), "b": _zeros(5)}))
    # The flattening RESHAPE stays: its last dimension (18) is not the transposed one's (3).
    assert _ops(a) == ["TRANSPOSE", "RESHAPE", "FULLY_CONNECTED"]
    assert a.layers[0].output_shape == [1, 2, 3, 3] and a.layers[1].output_shape == [1, 18]


def test_a_weight_shared_by_two_layers_is_counted_once_in_the_totals() -> None:
    nodes = [
        helper.make_node("MatMul", ["x", "w"], ["a"]),
        helper.make_node("MatMul", ["a", "w"], ["y"]),
    ]
    a = analyze_onnx(_model(nodes, [1, 8], {"w": _zeros(8, 8)}))
    assert [layer.params for layer in a.layers] == [64, 64]
    assert (a.total_params, a.total_weight_bytes) == (64, 64)


# --- pooling -------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("attrs", "ops", "padding", "out_hw"),
    [
        ({"kernel_shape": [2, 2], "strides": [2, 2]}, ["MAX_POOL_2D"], "VALID", 4),
        ({"kernel_shape": [3, 3], "pads": [1, 1, 1, 1]}, ["MAX_POOL_2D"], "SAME", 8),
        # TF's SAME pads 0/1 here, not 1/1: an explicit PADV2 (float-min pad) and VALID.
        (
            {"kernel_shape": [3, 3], "strides": [2, 2], "pads": [1, 1, 1, 1]},
            ["PADV2", "MAX_POOL_2D"],
            "VALID",
            4,
        ),
    ],
)
def test_max_pool_padding(attrs: dict[str, Any], ops: list[str], padding: str, out_hw: int) -> None:
    a = analyze_onnx(_model([helper.make_node("MaxPool", ["x"], ["y"], **attrs)], [1, 4, 8, 8]))
    assert _ops(a) == ops
    pool = a.layers[-1]
    assert pool.padding == padding and pool.output_shape == [1, out_hw, out_hw, 4]
    assert pool.kernel == attrs["kernel_shape"] and pool.macs == 0  # pooling counts no MACs
    if ops[0] == "PADV2":
        assert a.layers[0].params == 1  # the pad value is an int8 constant


def test_average_pool_with_unequal_window_counts_gets_onnx2tfs_correction_slices() -> None:
    # A (4, 2) window on a 4x2 map, count_include_pad=1 (as torch exports it): the window
    # counts 4 and 2 differ, so onnx2tf slices each spatial dimension (factor 1 each: no MUL,
    # no CONCATENATION), as it does for KWS's (25, 5) pool.
    def pool(kernel: list[int], **attrs: Any) -> onnx.NodeProto:
        return helper.make_node(
            "AveragePool", ["x"], ["y"], kernel_shape=kernel, strides=kernel, **attrs
        )

    a = analyze_onnx(_model([pool([4, 2], count_include_pad=1)], [1, 8, 4, 2]))
    assert _ops(a) == ["AVERAGE_POOL_2D", "STRIDED_SLICE", "STRIDED_SLICE"]
    assert a.layers[1].output_shape == [1, 1, 1, 8]
    assert _ops(analyze_onnx(_model([pool([4, 2])], [1, 8, 4, 2]))) == ["AVERAGE_POOL_2D"]
    square = pool([2, 2], count_include_pad=1)
    assert _ops(analyze_onnx(_model([square], [1, 8, 4, 4]))) == ["AVERAGE_POOL_2D"]


# --- elementwise, layout and the rest ------------------------------------------------------


def test_relu_after_an_add_of_two_activations_fuses_into_the_add() -> None:
    nodes = [
        helper.make_node("Sigmoid", ["x"], ["s"]),
        helper.make_node("LeakyRelu", ["x"], ["l"], alpha=0.1),
        helper.make_node("Add", ["s", "l"], ["a"]),
        helper.make_node("Relu", ["a"], ["y"]),
    ]
    a = analyze_onnx(_model(nodes, [1, 4, 8, 8]))
    assert _ops(a) == ["LOGISTIC", "LEAKY_RELU", "ADD"]
    assert a.layers[2].fused_activation == "RELU" and a.layers[2].input_shapes == [[1, 8, 8, 4]] * 2
    # x, s and l are all live at the LEAKY_RELU; x dies there, s and l at the ADD with y.
    assert a.peak_activation_bytes == 3 * 256


def test_elementwise_constants_are_int8_params_and_concat_follows_the_channel_axis() -> None:
    nodes = [
        helper.make_node("Mul", ["x", "k"], ["m"]),
        helper.make_node("Concat", ["x", "m"], ["c"], axis=1),
        helper.make_node("Softmax", ["c"], ["y"], axis=1),
    ]
    a = analyze_onnx(_model(nodes, [1, 4, 2, 2], {"k": np.float32(0.5)}))
    assert _ops(a) == ["MUL", "CONCATENATION", "SOFTMAX"]
    assert a.layers[0].params == 1 and a.layers[0].weight_bytes == 1
    assert a.layers[1].output_shape == [1, 2, 2, 8]


def test_constant_shape_subgraphs_fold_and_aliases_vanish() -> None:
    nodes = [
        helper.make_node("Identity", ["x"], ["i"]),
        helper.make_node("Dropout", ["i"], ["d"]),
        helper.make_node("Shape", ["d"], ["shape"]),
        helper.make_node("Gather", ["shape", "zero"], ["batch"], axis=0),
        helper.make_node("Unsqueeze", ["batch", "axes"], ["batch1"]),
        helper.make_node("Concat", ["batch1", "minus_one"], ["target"], axis=0),
        helper.make_node("Reshape", ["d", "target"], ["y"]),
    ]
    inits = {
        "zero": np.array(0, np.int64),
        "axes": np.array([0], np.int64),
        "minus_one": np.array([-1], np.int64),
    }
    a = analyze_onnx(_model(nodes, [1, 3, 4, 4], inits))
    assert _ops(a) == ["TRANSPOSE", "RESHAPE"]  # NHWC -> NCHW, then flatten
    assert a.output_shape == [1, 48] and a.total_params == 0


def test_an_op_without_a_mapping_is_named_and_noted() -> None:
    a = analyze_onnx(_model([helper.make_node("Erf", ["x"], ["y"])], [1, 4]))
    assert _ops(a) == ["ONNX:Erf"]
    assert any("Erf" in note for note in a.notes)


# --- inputs --------------------------------------------------------------------------------


def _tiny() -> onnx.ModelProto:
    return _model(
        [_conv("x", "y", "w", "b", pads=[1] * 4)],
        [1, 3, 8, 8],
        {"w": _zeros(4, 3, 3, 3), "b": _zeros(4)},
        output_shape=[1, 4, 8, 8],
    )


def test_path_bytes_and_proto_give_the_same_analysis(tmp_path: Path) -> None:
    model = _tiny()
    blob = model.SerializeToString()
    path = tmp_path / "tiny.onnx"
    path.write_bytes(blob)
    from_path, from_bytes, from_proto = (analyze_onnx(m) for m in (path, blob, model))
    assert from_path.layers == from_bytes.layers == from_proto.layers
    assert from_bytes.model_sha256 == hashlib.sha256(blob).hexdigest() == from_path.model_sha256


def test_dynamic_input_dimensions_need_an_input_shape() -> None:
    model = _model(
        [_conv("x", "y", "w", "b", pads=[1] * 4)],
        ["N", 3, "H", "W"],
        {"w": _zeros(4, 3, 3, 3), "b": _zeros(4)},
    )
    with pytest.raises(AnalysisError, match="dynamic dimensions"):
        analyze_onnx(model)
    a = analyze_onnx(model, (1, 3, 16, 12))
    assert a.layers[0].output_shape == [1, 16, 12, 4]
    with pytest.raises(AnalysisError, match="rank"):
        analyze_onnx(model, (1, 3, 16))
    with pytest.raises(AnalysisError, match="fixes a dimension"):
        analyze_onnx(model, (1, 4, 16, 16))


def test_unreadable_models_are_analysis_errors(tmp_path: Path) -> None:
    with pytest.raises(AnalysisError, match="does not exist"):
        analyze_onnx(tmp_path / "missing.onnx")
    with pytest.raises(AnalysisError, match="not a readable ONNX"):
        analyze_onnx(b"not a protobuf at all")


def test_older_graph_analyses_read_back_as_int8_tflite() -> None:
    data = analyze_onnx(_tiny()).to_json()
    assert GraphAnalysis.from_json(data).source == ANALYTICAL_SOURCE
    del data["source"]
    assert GraphAnalysis.from_json(data).source == "int8-tflite"


# --- model sources (npubench.models.analytical) --------------------------------------------


def test_onnx_sources_are_read_in_place_and_tflite_ones_refused(tmp_path: Path) -> None:
    from npubench.models.analytical import analytical_onnx
    from npubench.models.source import ModelSource, resolve_source

    path = tmp_path / "tiny.onnx"
    path.write_bytes(_tiny().SerializeToString())
    model, shape = analytical_onnx(resolve_source(str(path)))
    assert model == path and shape == (1, 3, 8, 8)
    given = ModelSource("m", "tflite-int8", tmp_path / "m.tflite", (1, 8, 8, 3), "0" * 64)
    with pytest.raises(ModelError, match="no float ONNX form"):
        analytical_onnx(given)


@pytest.mark.parametrize(
    ("spec", "layers", "macs", "weight_bytes", "peak"),
    [
        # Figures of the real int8 models (analyze_tflite after prepare_model, onnx2tf 1.28.8).
        ("zoo:ad_fc_autoencoder", 10, 264_192, 270_880, 768),
        ("zoo:mobilenet_v1:alpha=0.25,res=64,classes=10", 34, 3_331_072, 221_144, 34_880),
    ],
)
def test_zoo_sources_export_in_memory(
    spec: str, layers: int, macs: int, weight_bytes: int, peak: int
) -> None:
    from npubench.models.analytical import analytical_onnx
    from npubench.models.source import resolve_source

    model, shape = analytical_onnx(resolve_source(spec))
    assert isinstance(model, bytes)
    a = analyze_onnx(model, shape)
    assert (len(a.layers), a.total_macs, a.total_weight_bytes) == (layers, macs, weight_bytes)
    assert a.peak_activation_bytes == peak


# --- against the int8 path ------------------------------------------------------------------

ZOO_SPECS = [
    "zoo:yolov1",
    "zoo:resnet",
    "zoo:simplenet",
    "zoo:nas",
    "zoo:autoenc",
    "zoo:kws_dscnn",
    "zoo:vww_mobilenetv1",
    "zoo:ic_resnet8",
    "zoo:ad_fc_autoencoder",
]
# Small members of the public families, so that converting them takes a minute, not ten.
PUBLIC_SPECS = [
    "zoo:mobilenet_v1:alpha=0.25,res=64,classes=10",
    "zoo:mobilenet_v2:alpha=0.35,res=96,classes=10",
    "zoo:tiny_yolov2:res=64,classes=2",
]
# Layer counts, op counts and MACs must be equal. Params and weight bytes may differ by 0.5%:
# TFLiteConverter stores equal constant buffers once (e.g. equal zero biases, equal scale
# factors), which the analytical path, not reading weight values, can count twice; int8
# weights and int32 biases are otherwise counted exactly. The peak may differ by 2%: it
# depends on the execution order, and the analytical path assumes the converter's depth-first
# order, which another converter version may change for graphs with parallel branches.
# (On all twelve models below every figure is equal, layer by layer.)
WEIGHT_TOLERANCE = 0.005
PEAK_TOLERANCE = 0.02


@pytest.mark.integration
@pytest.mark.parametrize("spec", ZOO_SPECS + PUBLIC_SPECS)
def test_analytical_matches_the_int8_path(spec: str) -> None:
    from npubench.analysis.graph import analyze_tflite
    from npubench.models.analytical import analytical_onnx
    from npubench.models.prepare import prepare_model
    from npubench.models.source import resolve_source

    source = resolve_source(spec)
    int8 = analyze_tflite(prepare_model(source).int8_tflite)
    analytical = analyze_onnx(*analytical_onnx(source))
    assert len(analytical.layers) == len(int8.layers)
    assert analytical.op_counts() == int8.op_counts()
    assert analytical.total_macs == int8.total_macs
    assert analytical.input_shape == int8.input_shape
    assert analytical.output_shape == int8.output_shape
    assert analytical.total_params == pytest.approx(int8.total_params, rel=WEIGHT_TOLERANCE)
    assert analytical.total_weight_bytes == pytest.approx(
        int8.total_weight_bytes, rel=WEIGHT_TOLERANCE
    )
    assert analytical.peak_activation_bytes == pytest.approx(
        int8.peak_activation_bytes, rel=PEAK_TOLERANCE
    )
