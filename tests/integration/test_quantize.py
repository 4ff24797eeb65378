"""End-to-end int8 quantization through the real onnx2tf + TensorFlow converter, and fidelity.

Each conversion takes 15-40 s (TensorFlow start-up dominates), so the models are tiny and each
is converted once per module. SQNR thresholds (15 dB) sit below what these untrained nets
measured (conv classifier: 22 dB on the uniform .npy samples, 36 dB on synthetic normal ones;
1-D net 32 dB; ONNX net 48 dB) and far above what a wrong layout or a mis-scaled input gives
(about 0 dB or less).
"""

from __future__ import annotations

import math
import textwrap
import time
from collections.abc import Iterator
from pathlib import Path

import numpy as np
import pytest

from npubench.errors import ModelError
from npubench.models.fidelity import run_int8, sqnr_db, top1_agreement
from npubench.models.prepare import PreparedModel, prepare_model
from npubench.models.source import resolve_source

NETS = textwrap.dedent(
    """
    import torch

    class ConvClassifier(torch.nn.Module):
        def __init__(self):
            super().__init__()
            self.conv1 = torch.nn.Conv2d(3, 8, 3, padding=1)
            self.conv2 = torch.nn.Conv2d(8, 16, 3, stride=2, padding=1)
            self.fc = torch.nn.Linear(16 * 8 * 8, 10)

        def forward(self, x):
            x = torch.relu(self.conv1(x))
            x = torch.relu(self.conv2(x))
            return self.fc(x.flatten(1))

    class Signal1d(torch.nn.Module):
        # NCW input (1, 4, 32) and NCW output (1, 6, 16): both change layout in TFLite.
        def __init__(self):
            super().__init__()
            self.conv1 = torch.nn.Conv1d(4, 8, 3, padding=1)
            self.conv2 = torch.nn.Conv1d(8, 6, 3, stride=2, padding=1)

        def forward(self, x):
            return self.conv2(torch.relu(self.conv1(x)))
    """
)

pytestmark = pytest.mark.integration


@pytest.fixture(scope="module")
def workdir(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Path]:
    root = tmp_path_factory.mktemp("quantize")
    (root / "nets.py").write_text(NETS)
    with pytest.MonkeyPatch.context() as mp:
        mp.setenv("NPUBENCH_CACHE_DIR", str(root / "cache"))
        yield root


@pytest.fixture(scope="module")
def classifier_npy(workdir: Path) -> Path:
    path = workdir / "calib.npy"
    rng = np.random.default_rng(7)
    np.save(path, rng.uniform(-1.0, 1.0, (48, 3, 16, 16)).astype(np.float64))
    return path


@pytest.fixture(scope="module")
def conv_prepared(workdir: Path, classifier_npy: Path) -> PreparedModel:
    source = resolve_source(f"{workdir / 'nets.py'}:ConvClassifier", input_shape=(1, 3, 16, 16))
    started = time.monotonic()
    prepared = prepare_model(source, calibration=classifier_npy, calib_samples=32, eval_samples=16)
    print(f"ConvClassifier: {time.monotonic() - started:.1f} s, {prepared.fidelity}")
    return prepared


def tensor_details(path: Path) -> tuple[list[dict], list[dict]]:
    from ai_edge_litert.interpreter import Interpreter

    interpreter = Interpreter(model_path=str(path))
    return interpreter.get_tensor_details(), interpreter._get_ops_details()


def test_conv_classifier_int8_io_and_layouts(conv_prepared: PreparedModel) -> None:
    from ai_edge_litert.interpreter import Interpreter

    interpreter = Interpreter(model_path=str(conv_prepared.int8_tflite))
    (inp,), (out,) = interpreter.get_input_details(), interpreter.get_output_details()
    assert inp["dtype"] == np.int8 and out["dtype"] == np.int8
    assert conv_prepared.input_shape == (1, 16, 16, 3)  # NCHW -> NHWC
    assert conv_prepared.input_layout == (0, 2, 3, 1)
    assert conv_prepared.output_shape == (1, 10)
    assert conv_prepared.output_layout == (0, 1)
    assert conv_prepared.source_input_shape == (1, 3, 16, 16)
    tensors, _ = tensor_details(conv_prepared.int8_tflite)
    floats = [t["name"] for t in tensors if t["dtype"] in (np.float32, np.float16)]
    assert floats == []


def test_conv_weights_are_per_channel(conv_prepared: PreparedModel) -> None:
    tensors, ops = tensor_details(conv_prepared.int8_tflite)
    by_index = {t["index"]: t for t in tensors}
    convs = [op for op in ops if op["op_name"] == "CONV_2D"]
    assert len(convs) == 2
    for op in convs:
        weight = by_index[op["inputs"][1]]
        assert weight["dtype"] == np.int8
        out_channels = weight["shape"][0]
        scales = weight["quantization_parameters"]["scales"]
        assert out_channels in (8, 16)
        assert len(scales) == out_channels
        assert len(set(scales.tolist())) > 1  # genuinely per channel, not one scale repeated


def test_conv_classifier_fidelity(conv_prepared: PreparedModel, classifier_npy: Path) -> None:
    fidelity = conv_prepared.fidelity
    assert conv_prepared.calibration_source.startswith("npy:")
    assert fidelity.calibration == conv_prepared.calibration_source
    assert fidelity.samples == 16  # 48 samples: 16 held out, 32 calibrate
    assert fidelity.sqnr_db is not None and fidelity.sqnr_db > 15.0
    assert fidelity.max_abs_error is not None and fidelity.max_abs_error > 0.0
    assert fidelity.top1_agreement is None  # a user module is not known to be a classifier
    assert conv_prepared.converter["onnx2tf"] == "1.28.8"
    assert conv_prepared.converter["float_graph_max_error"] < 1e-4


def test_second_call_is_a_cache_hit(
    conv_prepared: PreparedModel, workdir: Path, classifier_npy: Path
) -> None:
    source = resolve_source(f"{workdir / 'nets.py'}:ConvClassifier", input_shape=(1, 3, 16, 16))
    started = time.monotonic()
    again = prepare_model(source, calibration=classifier_npy, calib_samples=32, eval_samples=16)
    assert again.cached and not conv_prepared.cached
    assert time.monotonic() - started < 2.0
    assert again.sha256 == conv_prepared.sha256
    assert again.int8_tflite == conv_prepared.int8_tflite
    folder = again.int8_tflite.parent
    assert {"model.onnx", "model_int8.tflite", "prepared.json"} <= {
        p.name for p in folder.iterdir()
    }


def test_given_int8_tflite_is_used_as_is(conv_prepared: PreparedModel) -> None:
    source = resolve_source(str(conv_prepared.int8_tflite))
    assert source.kind == "tflite-int8"
    prepared = prepare_model(source)
    assert prepared.int8_tflite == conv_prepared.int8_tflite
    assert prepared.float_reference is None
    assert prepared.fidelity.sqnr_db is None and prepared.fidelity.samples == 0
    assert prepared.input_shape == (1, 16, 16, 3)


def test_fidelity_metrics_recomputed_independently(conv_prepared: PreparedModel) -> None:
    """Recompute SQNR by hand from the two runtimes on fresh samples: same ballpark."""
    import onnxruntime as ort

    assert conv_prepared.float_reference is not None
    samples = np.random.default_rng(99).uniform(-1, 1, (8, 3, 16, 16)).astype(np.float32)
    session = ort.InferenceSession(str(conv_prepared.float_reference))
    reference = np.concatenate([session.run(None, {"input": x[None]})[0] for x in samples])
    int8 = run_int8(conv_prepared.int8_tflite, samples.transpose(0, 2, 3, 1))
    noise = np.sum((reference - int8) ** 2)
    by_hand = 10 * math.log10(np.sum(reference**2) / noise)
    assert by_hand == pytest.approx(sqnr_db(reference, int8))
    assert by_hand > 15.0
    # The same data fed without the NCHW -> NHWC permutation must score far worse: this is what
    # the recorded input layout protects against.
    scrambled = run_int8(conv_prepared.int8_tflite, samples.reshape(8, 16, 16, 3))
    scrambled_sqnr = sqnr_db(reference, scrambled)
    assert scrambled_sqnr is not None and scrambled_sqnr < by_hand - 10.0
    assert 0.0 <= top1_agreement(reference, int8) <= 1.0


def test_one_dimensional_model(workdir: Path) -> None:
    source = resolve_source(f"{workdir / 'nets.py'}:Signal1d", input_shape=(1, 4, 32))
    started = time.monotonic()
    prepared = prepare_model(source, calib_samples=32, eval_samples=8)
    print(f"Signal1d: {time.monotonic() - started:.1f} s, {prepared.fidelity}")
    assert prepared.calibration_source == "synthetic"
    assert prepared.input_shape == (1, 32, 4)  # NCW -> NWC
    assert prepared.input_layout == (0, 2, 1)
    assert prepared.output_shape == (1, 16, 6)
    assert prepared.output_layout == (0, 2, 1)
    assert prepared.source_output_shape == (1, 6, 16)
    assert prepared.fidelity.samples == 8
    assert prepared.fidelity.sqnr_db is not None and prepared.fidelity.sqnr_db > 15.0


def test_onnx_file_with_dynamic_batch(workdir: Path) -> None:
    import torch

    torch.manual_seed(3)
    net = torch.nn.Sequential(
        torch.nn.Conv2d(1, 8, 3, padding=1),
        torch.nn.ReLU(),
        torch.nn.AdaptiveAvgPool2d(1),
        torch.nn.Flatten(),
        torch.nn.Linear(8, 4),
    ).eval()
    path = workdir / "dynamic.onnx"
    torch.onnx.export(
        net,
        (torch.zeros(1, 1, 12, 12),),
        str(path),
        dynamo=False,
        opset_version=17,
        input_names=["image"],
        output_names=["logits"],
        dynamic_axes={"image": {0: "batch"}, "logits": {0: "batch"}},
    )
    with pytest.raises(ModelError, match="dynamic"):
        resolve_source(str(path))
    source = resolve_source(str(path), input_shape=(1, 1, 12, 12))
    started = time.monotonic()
    prepared = prepare_model(source, calib_samples=32, eval_samples=8)
    print(f"dynamic.onnx: {time.monotonic() - started:.1f} s, {prepared.fidelity}")
    assert prepared.source_kind == "onnx"
    assert prepared.input_shape == (1, 12, 12, 1)
    assert prepared.output_shape == (1, 4)
    assert prepared.fidelity.sqnr_db is not None and prepared.fidelity.sqnr_db > 15.0


def test_one_zoo_model() -> None:
    zoo = pytest.importorskip("npubench.models.zoo")
    name = "kws_dscnn" if "kws_dscnn" in zoo.ZOO else sorted(zoo.ZOO)[0]
    source = resolve_source(f"zoo:{name}")
    started = time.monotonic()
    prepared = prepare_model(source, calib_samples=32, eval_samples=8)
    print(f"zoo:{name}: {time.monotonic() - started:.1f} s, {prepared.fidelity}")
    assert prepared.classifier == zoo.ZOO[name].classifier
    assert prepared.postprocess == zoo.ZOO[name].postprocess
    assert prepared.fidelity.sqnr_db is not None and prepared.fidelity.sqnr_db > 10.0
    if prepared.classifier:
        assert prepared.fidelity.top1_agreement is not None


def test_sqnr_formula() -> None:
    reference = np.array([[2.0, 0.0], [0.0, 0.0]])
    assert sqnr_db(reference, reference + np.array([[0.2, 0.0], [0.0, 0.0]])) == pytest.approx(20.0)
    assert sqnr_db(reference, reference) == math.inf
    assert sqnr_db(np.zeros(3), np.ones(3)) is None


def test_float_tflite_is_quantized_with_tensorflows_calibrator(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """A float .tflite (the sine model shipped in the tflite-micro wheel) becomes full int8,
    and its fidelity is measured against the float model itself."""
    import tflite_micro

    from npubench.models.prepare import prepare_model
    from npubench.models.quantize import check_int8_tflite
    from npubench.models.source import resolve_source
    from npubench.targets import get_target

    monkeypatch.setenv("NPUBENCH_CACHE_DIR", str(tmp_path / "cache"))
    sine = Path(tflite_micro.__file__).parent / "python" / "tflite_micro" / "sine_float.tflite"
    if not sine.exists():
        pytest.skip("the tflite-micro wheel ships no sine_float.tflite")
    calib = np.random.default_rng(1).uniform(0, 2 * np.pi, (64, 1)).astype(np.float32)
    np.save(tmp_path / "calib.npy", calib)
    prepared = prepare_model(resolve_source(str(sine)), calibration=tmp_path / "calib.npy")
    assert check_int8_tflite(prepared.int8_tflite) == ((1, 1), (1, 1))
    assert prepared.float_reference is not None and prepared.float_reference.suffix == ".tflite"
    assert prepared.fidelity.calibration.startswith("npy:")
    # A 3-layer sine regressor quantizes well; 20 dB leaves room for calibration noise.
    assert prepared.fidelity.sqnr_db is not None and prepared.fidelity.sqnr_db > 20
    from npubench.toolchains.vela import compile_tflite

    report = compile_tflite(prepared.int8_tflite, get_target("hx-we2"), "Performance")
    assert report.cost is not None and (report.cost.cycles_total or 0) > 0
