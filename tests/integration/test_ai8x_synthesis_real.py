"""The real ADI ai8xize.py through npubench's ai8x-synthesis plug-in (compile_with).

Runs when $NPUBENCH_AI8X_SYNTHESIS names a checkout (and its Python is found: see the plug-in's
docstring); otherwise skipped with the install instructions. Each compile takes 15-50 s.
ADI's own figures (tests/data/ai8x_synthesis, ai8xize on ADI's networks/*.yaml): autoencoder
136,448 B weight memory and 3,415 cycles; cifar10-nas 301,760 B and 228,217 cycles.
"""

from __future__ import annotations

import os
from pathlib import Path

import pytest

from npubench.models.source import resolve_source
from npubench.targets import get_target
from npubench.toolchains import get_toolchain
from npubench.toolchains.ai8x_synthesis import INSTALL, find_checkout
from npubench.toolchains.ai8x_synthesis.network import popcount, read_yaml_summary
from npubench.toolchains.base import CompileReport
from npubench.toolchains.inputs import CompileInput
from npubench.toolchains.run import compile_with

pytestmark = pytest.mark.integration

PLUGIN = get_toolchain("ai8x-synthesis")


@pytest.fixture(autouse=True)
def _installed(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    if not os.environ.get("NPUBENCH_AI8X_SYNTHESIS"):
        pytest.skip(f"NPUBENCH_AI8X_SYNTHESIS is not set; to run these tests: {INSTALL}")
    info = PLUGIN.detect()
    if not info.available:
        pytest.skip(f"ai8x-synthesis not usable ({info.detail}); {INSTALL}")
    monkeypatch.setenv("NPUBENCH_CACHE_DIR", str(tmp_path / "cache"))


def zoo(name: str) -> CompileInput:
    source = resolve_source(f"zoo:{name}")
    return CompileInput(
        name=name,
        spec=f"zoo:{name}",
        source_kind="zoo",
        tflite_int8=Path("unused.tflite"),  # the plug-in consumes the PyTorch model
        onnx=None,
        source_input_shape=source.input_shape,
        int8_sha256="",
        source_sha256=source.sha256,
        calib_samples=8,
        eval_samples=2,
    )


def weight_bytes(report: CompileReport) -> int:
    return report.memory_in("cnn_weights")


def test_autoencoder_on_max78000() -> None:
    report = compile_with(PLUGIN, zoo("autoenc"), get_target("max78000"))
    assert report.verdict == "fits", report.verdict
    # The zoo's autoencoder has ADI's layer shapes: ADI's figure within 1 % (here: equal).
    assert abs(weight_bytes(report) - 136_448) <= 0.01 * 136_448
    assert report.memory[1].used_bytes == 352
    assert report.cost is not None and report.cost.clock_hz == 50e6
    assert report.cost.cycles_total is not None
    assert abs(report.cost.cycles_total - 3_415) <= 0.10 * 3_415
    assert report.extra["kernel_words_max"] <= 768
    assert len(report.layers) == 7 and report.layers[0].name == "encoder.0"
    assert (Path(report.artifact_dir) / "out" / "npubench" / "cnn.c").is_file()


def test_nas_on_max78000() -> None:
    report = compile_with(PLUGIN, zoo("nas"), get_target("max78000"), {"softmax": True})
    assert report.verdict == "fits", report.verdict
    # The zoo's nas is the study's widened variant: its last conv is 128 -> 512 (ADI's
    # cifar10-nas: 128 -> 128), 49,152 B of 1x1 weights more than ADI's 301,760 B. Stated
    # tolerance: ADI's figure + that layer, within 1 %; and within 20 % of ADI's figure.
    assert abs(weight_bytes(report) - (301_760 + 49_152)) <= 0.01 * 350_912
    assert abs(weight_bytes(report) - 301_760) <= 0.20 * 301_760
    assert report.cost is not None and report.cost.cycles_total is not None
    assert abs(report.cost.cycles_total - 228_217) <= 0.10 * 228_217
    assert report.extra["kernel_words_max"] <= 768


def test_adis_own_yaml_for_the_autoencoder() -> None:
    checkout = find_checkout()
    assert checkout is not None
    yaml = checkout / "networks" / "ai85-autoencoder.yaml"
    if not yaml.is_file():
        pytest.skip(f"{yaml} is not in this checkout")
    report = compile_with(
        PLUGIN, zoo("autoenc"), get_target("max78000"), {"network_yaml": str(yaml)}
    )
    assert weight_bytes(report) == 136_448 and report.extra["kernel_words_max"] == 299
    _, layers = read_yaml_summary(yaml.read_text())
    assert [popcount(lay["processors"]) for lay in layers] == [
        lay.extra["processors"] for lay in report.layers
    ]
