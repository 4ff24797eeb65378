"""The real esp-ppq 1.3.12 in its managed environment, driven through ``compile_with``.

The model is the recorded tiny CNN (tests/data/esp_ppq/models/tiny_cnn.onnx: Conv 3->8 + ReLU,
MaxPool, Conv 8->16 + ReLU, global average pool, Linear 16->10), prepared by npubench as any
ONNX source is (its float ONNX and npubench's synthetic calibration samples), compiled for the
ESP32-S3 board. Skipped, with the install command, when the environment is not installed.
"""

from __future__ import annotations

import time
from pathlib import Path

import pytest

from npubench.models.prepare import prepare_model
from npubench.models.source import resolve_source
from npubench.targets.catalogue import get_target
from npubench.toolchains import get_toolchain
from npubench.toolchains.inputs import CompileInput
from npubench.toolchains.run import compile_with

pytestmark = pytest.mark.integration

MODEL = Path(__file__).resolve().parents[1] / "data" / "esp_ppq" / "models" / "tiny_cnn.onnx"


@pytest.fixture
def esp_ppq():
    plugin = get_toolchain("esp-ppq")
    info = plugin.detect()
    if not info.available:
        pytest.skip(f"esp-ppq environment not installed ({info.detail}): {info.install}")
    return plugin


def test_tiny_cnn_compiles_for_the_esp32s3(esp_ppq, monkeypatch, tmp_path) -> None:
    monkeypatch.setenv("NPUBENCH_CACHE_DIR", str(tmp_path / "cache"))
    prepared = prepare_model(resolve_source(str(MODEL)))
    model = CompileInput.from_prepared(prepared, str(MODEL))
    assert model.onnx is not None and model.source_input_shape == (1, 3, 32, 32)
    board = get_target("esp32s3")

    started = time.perf_counter()
    report = compile_with(esp_ppq, model, board)
    seconds = time.perf_counter() - started
    assert not report.cached and report.tool_version == "1.3.12"
    print(f"esp-ppq compile of tiny_cnn for esp32s3: {seconds:.1f} s")

    ops = [lay.op for lay in report.layers]
    assert ops.count("Conv") == 2 and ops.count("Gemm") == 1 and "MaxPool" in ops
    assert {lay.placement for lay in report.layers} == {"cpu"}
    assert {lay.reason for lay in report.layers} == {"ESP-DL kernel on the xtensa-lx7"}
    macs = [lay.macs for lay in report.layers if lay.macs]
    assert macs == [221184, 294912, 160]  # fixed by the graph, not by the samples

    espdl = report.memory[0]
    assert espdl.region == ".espdl model" and espdl.board_memory == "flash"
    assert espdl.capacity_bytes == 8388608
    (written,) = Path(report.artifact_dir).glob("*.espdl")
    assert espdl.used_bytes == written.stat().st_size
    assert written.read_bytes()[:4] == b"EDL2"
    # Same graph and parameters as the recording: 1680 parameter bytes, a .espdl of ~6.8 KB.
    assert report.extra["parameters_bytes"] == 1680
    assert 6000 < espdl.used_bytes < 8000

    f = report.fidelity
    assert f is not None and f.samples == 16
    assert f.sqnr_db is not None and 10 < f.sqnr_db < 60
    assert f.max_abs_error is not None and f.max_abs_error > 0
    assert [r["name"] for r in f.per_layer if r["op"] == "Conv"] and len(f.per_layer) == 3
    assert all(r["noise_signal_pct_cumulative"] is not None for r in f.per_layer)
    assert report.cost is None and report.fits

    again = compile_with(esp_ppq, model, board)
    assert again.cached and again.memory[0].used_bytes == espdl.used_bytes
