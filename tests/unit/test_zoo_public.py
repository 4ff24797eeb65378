"""The parametric public zoo models (MobileNetV1, MobileNetV2, Tiny YOLOv2): parameter and MAC
counts against published figures, the spec syntax, and that they build, run and export.

Conventions. The zoo folds BatchNorm into conv biases, so a folded model has 1 value per
BatchNorm channel where Keras' totals have 4 (gamma, beta, moving mean and variance: folded +
3 per channel) and Keras' trainable count (= torchvision's) has 2 (folded + 1). MACs are
conv + depthwise + FC multiply-accumulates (``count_params_macs``, pooling not counted), the
TF-slim convention. Published figures rounded to 3 significant digits are compared within
1.5% (the rounding, plus slim's 1001-class heads and its parameter convention: V1 counts 3
BatchNorm values per channel, V2 none); exact published counts are compared exactly.
"""

from __future__ import annotations

import io

import numpy as np
import pytest
import torch
from torch import nn

from npubench.errors import ModelError
from npubench.models.source import resolve_source
from npubench.models.torch_stats import count_params_macs
from npubench.models.zoo import FAMILIES, ZOO, build_zoo_model, get_entry

KERAS_TABLE = (
    "Keras applications table (keras-team/keras docs/sources/applications.md, Keras 2.2: "
    "'Documentation for individual models', Parameters column)"
)
KERAS_SUMMARY = "keras.applications.MobileNetV2().summary(): trainable params"
SLIM_V1 = "tensorflow/models research/slim/nets/mobilenet_v1.md (Million MACs, Million Parameters)"
SLIM_V2 = "tensorflow/models research/slim/nets/mobilenet/README.md (MACs (M), Parameters (M))"
OPENVINO_TINY_YOLO = (
    "OpenVINO Open Model Zoo yolo-v2-tiny-ava-sparse-30-0001 (tiny YOLO v2 VOC re-implementation, "
    "416x416): MParams 15.8587, GFlops 6.9949 (docs.openvino.ai)"
)


def _counts(spec: str) -> tuple[int, int, int]:
    """(folded params, MACs, BatchNorm channels = output channels of every conv)."""
    entry = get_entry(spec)
    model = entry.factory()
    params, macs = count_params_macs(model, entry.input_shape)
    bn_channels = sum(m.out_channels for m in model.modules() if isinstance(m, nn.Conv2d))
    # Tiny YOLOv2's last conv is linear with a bias and no BatchNorm.
    if spec.startswith("tiny_yolov2"):
        bn_channels -= entry.output_shape[1]
    return params, macs, bn_channels


# --- published figures -----------------------------------------------------------------------


@pytest.mark.parametrize(
    ("spec", "published", "convention", "source"),
    [
        ("mobilenet_v2:alpha=1.0,res=224,classes=1000", 3_538_984, "keras", KERAS_TABLE),
        ("mobilenet_v2:alpha=1.0,res=224,classes=1000", 3_504_872, "trainable", KERAS_SUMMARY),
        ("mobilenet_v1:alpha=1.0,res=224,classes=1000", 4_253_864, "keras", KERAS_TABLE),
        ("tiny_yolov2:res=416,classes=20", 15_858_700, "folded", OPENVINO_TINY_YOLO),
    ],
)
def test_exact_published_parameter_counts(
    spec: str, published: int, convention: str, source: str
) -> None:
    params, _, bn = _counts(spec)
    count = {"keras": params + 3 * bn, "trainable": params + bn, "folded": params}[convention]
    if convention == "folded":  # published as 15.8587 M
        assert round(count / 100) * 100 == published, source
    else:
        assert count == published, source


@pytest.mark.parametrize(
    ("spec", "params_m", "macs_m", "source"),
    [
        ("mobilenet_v2:alpha=1.0,res=224,classes=1000", 3.47, 300, SLIM_V2),
        ("mobilenet_v2:alpha=1.4,res=224,classes=1000", 6.06, 582, SLIM_V2),
        ("mobilenet_v2:alpha=0.75,res=224,classes=1000", 2.61, 209, SLIM_V2),
        ("mobilenet_v2:alpha=0.5,res=224,classes=1000", 1.95, 97, SLIM_V2),
        ("mobilenet_v2:alpha=0.35,res=224,classes=1000", 1.66, 59, SLIM_V2),
        ("mobilenet_v2:alpha=0.35,res=128,classes=1000", 1.66, 20, SLIM_V2),
        ("mobilenet_v1:alpha=1.0,res=224,classes=1000", 4.24, 569, SLIM_V1),
        ("mobilenet_v1:alpha=0.5,res=128,classes=1000", 1.34, 49, SLIM_V1),
        ("mobilenet_v1:alpha=0.25,res=224,classes=1000", 0.47, 41, SLIM_V1),
        ("tiny_yolov2:res=416,classes=20", 15.8587, 6994.9 / 2, OPENVINO_TINY_YOLO),
    ],
)
def test_rounded_published_figures(spec: str, params_m: float, macs_m: float, source: str) -> None:
    params, macs, _ = _counts(spec)
    assert params / 1e6 == pytest.approx(params_m, rel=0.015), source
    assert macs / 1e6 == pytest.approx(macs_m, rel=0.015), source


def test_mobilenet_v1_025_128_is_the_470k_14m_model() -> None:
    # SLIM_V1: MobileNet_v1_0.25_128 | 14 | 0.47; our 13.57 M MACs round to 14.
    params, macs, _ = _counts("mobilenet_v1:alpha=0.25,res=128,classes=1000")
    assert round(macs / 1e6) == 14
    assert params / 1e6 == pytest.approx(0.47, rel=0.015)


def test_tiny_yolov2_macs_are_darknets_conv_sum() -> None:
    # darknet's yolov2-tiny-voc.cfg at 416: 9 convs, output 13x13x125; its 6.97 BFLOPs are
    # 2 x the conv MACs below (each conv: out_h * out_w * filters * 3 * 3 * channels).
    _, macs, _ = _counts("tiny_yolov2:res=416,classes=20")
    sizes, channels = [416, 208, 104, 52, 26, 13, 13, 13], [3, 16, 32, 64, 128, 256, 512, 1024]
    filters = [16, 32, 64, 128, 256, 512, 1024, 1024]
    expected = sum(s * s * f * 9 * c for s, f, c in zip(sizes, filters, channels, strict=True))
    assert macs == expected + 13 * 13 * 125 * 1024 == 3_485_520_896


# --- architecture details --------------------------------------------------------------------


def test_mobilenet_v1_at_the_vww_settings_counts_as_the_mlperf_tiny_model() -> None:
    vww = ZOO["vww_mobilenetv1"]
    ours = get_entry("mobilenet_v1:alpha=0.25,res=96,classes=2")
    assert ours.input_shape == vww.input_shape and ours.output_shape == vww.output_shape
    assert count_params_macs(ours.factory(), ours.input_shape) == count_params_macs(
        vww.factory(), vww.input_shape
    )


@pytest.mark.parametrize(("alpha", "last"), [(0.35, 1280), (1.0, 1280), (1.4, 1792)])
def test_mobilenet_v2_scales_the_last_conv_only_above_alpha_one(alpha: float, last: int) -> None:
    model = get_entry(f"mobilenet_v2:alpha={alpha},res=96").factory()
    assert model.fc.in_features == last
    assert sum(isinstance(m, nn.ReLU6) for m in model.modules()) == 35
    residual = [m for m in model.modules() if getattr(m, "residual", False)]
    assert len(residual) == 10


def test_tiny_yolov2_layers() -> None:
    model = get_entry("tiny_yolov2").factory()
    convs = [m for m in model.modules() if isinstance(m, nn.Conv2d)]
    assert [c.out_channels for c in convs] == [16, 32, 64, 128, 256, 512, 1024, 1024, 125]
    assert sum(isinstance(m, nn.MaxPool2d) for m in model.modules()) == 6
    leaky = [m for m in model.modules() if isinstance(m, nn.LeakyReLU)]
    assert len(leaky) == 8 and all(m.negative_slope == 0.1 for m in leaky)


# --- the spec syntax -------------------------------------------------------------------------


def test_specs_fill_defaults_in_a_canonical_order() -> None:
    assert get_entry("mobilenet_v2").name == "mobilenet_v2:alpha=1.0,res=224,classes=1000"
    entry = get_entry("mobilenet_v2:res=128,alpha=0.35")
    assert entry.name == "mobilenet_v2:alpha=0.35,res=128,classes=1000"
    assert entry.input_shape == (1, 3, 128, 128) and entry.output_shape == (1, 1000)
    assert entry.suite == "public" and entry.classifier and entry.postprocess == "softmax"
    yolo = get_entry("tiny_yolov2:res=224")
    assert yolo.name == "tiny_yolov2:res=224,classes=20"
    assert yolo.output_shape == (1, 125, 7, 7) and yolo.postprocess == "yolo"
    assert get_entry("mobilenet_v1:alpha=0.25,res=96,classes=2").output_shape == (1, 2)
    assert set(FAMILIES) == {"mobilenet_v1", "mobilenet_v2", "tiny_yolov2"}


@pytest.mark.parametrize(
    ("spec", "message", "hint"),
    [
        ("mobilenet_v2:beta=1", "not a parameter", "alpha=1.0,res=224,classes=1000"),
        ("mobilenet_v2:alpha", "not a parameter", "alpha="),
        ("mobilenet_v2:alpha=wide", "not a number", "width multiplier"),
        ("mobilenet_v2:res=96.5", "not an integer", "resolution"),
        ("mobilenet_v2:alpha=0", "out of range", "0.05..4.0"),
        ("tiny_yolov2:res=100", "out of range", "multiple of 32"),
        ("mobilenet_v2:res=96,res=128", "given twice", "once"),
        ("mobilenet_v3", "unknown zoo model", "mobilenet_v2"),
    ],
)
def test_bad_specs_say_what_is_wrong(spec: str, message: str, hint: str) -> None:
    with pytest.raises(ModelError, match=message) as info:
        get_entry(spec)
    assert hint in (info.value.hint or "")


def test_resolve_source_names_a_family_source_by_its_canonical_spec() -> None:
    source = resolve_source("zoo:mobilenet_v2:res=128,alpha=0.35")
    assert source.kind == "zoo" and source.name == "mobilenet_v2:alpha=0.35,res=128,classes=1000"
    assert source.input_shape == (1, 3, 128, 128) and source.classifier
    again = resolve_source("zoo:mobilenet_v2:alpha=0.35,res=128,classes=1000")
    assert again.sha256 == source.sha256
    other = resolve_source("zoo:mobilenet_v2:alpha=0.35,res=96")
    assert other.sha256 != source.sha256
    with pytest.raises(ModelError, match="no zoo model named"):
        resolve_source("zoo:mobilenet_v9:alpha=1")


# --- building, running, exporting ------------------------------------------------------------

SMALL = [
    "mobilenet_v1:alpha=0.25,res=64,classes=10",
    "mobilenet_v2:alpha=0.35,res=64,classes=10",
    "tiny_yolov2:res=64,classes=2",
]


@pytest.mark.parametrize("spec", SMALL)
def test_small_family_members_build_deterministically_and_run(spec: str) -> None:
    entry = get_entry(spec)
    model = build_zoo_model(spec, seed=0)
    again = build_zoo_model(spec, seed=0).state_dict()
    assert all(torch.equal(v, again[k]) for k, v in model.state_dict().items())
    x = torch.randn((8, *entry.input_shape[1:]), generator=torch.Generator().manual_seed(5))
    with torch.no_grad():
        out = model(x)
    assert tuple(out.shape[1:]) == entry.output_shape[1:]
    assert torch.isfinite(out).all()
    assert out.std(dim=0).mean() > 0.05 * out.pow(2).mean().sqrt()  # depends on the input


@pytest.mark.parametrize("spec", SMALL)
def test_small_family_members_export_to_onnx_matching_onnxruntime(spec: str) -> None:
    import onnxruntime as ort

    entry = get_entry(spec)
    model = build_zoo_model(spec)
    x = torch.randn(entry.input_shape, generator=torch.Generator().manual_seed(3))
    buffer = io.BytesIO()
    torch.onnx.export(model, (x,), buffer, dynamo=False, opset_version=17)
    session = ort.InferenceSession(buffer.getvalue(), providers=["CPUExecutionProvider"])
    (onnx_out,) = session.run(None, {session.get_inputs()[0].name: x.numpy()})
    with torch.no_grad():
        torch_out = model(x).numpy()
    scale = max(1.0, float(np.abs(torch_out).max()))
    np.testing.assert_allclose(onnx_out, torch_out, atol=1e-4 * scale, rtol=0)
