"""The real ST Edge AI Core (or X-CUBE-AI's stm32ai) driven by npubench, when it is installed.

ST's tool is proprietary and cannot be installed by npubench: these tests skip, saying where to
get it, unless ``stedgeai``/``stm32ai`` is on PATH or ``$NPUBENCH_STEDGEAI`` names it. The model
is ``small_convnet`` from ``tests/_tflite_models.py`` (Keras + full-int8 TFLiteConverter).
"""

from __future__ import annotations

from pathlib import Path

import pytest

from npubench.targets.catalogue import builtin_dir, load_board_file
from npubench.toolchains.inputs import CompileInput
from npubench.toolchains.run import compile_with
from npubench.toolchains.stedgeai import ENV_VAR, HOMEPAGE, TOOLCHAIN

pytestmark = [
    pytest.mark.integration,
    # Decided at collection, before the session's TensorFlow-built models are made.
    pytest.mark.skipif(
        not TOOLCHAIN.detect().available,
        reason=f"stedgeai not installed: get it from {HOMEPAGE} "
        f"(npubench looks for ${ENV_VAR}, then stedgeai or stm32ai on PATH)",
    ),
]


@pytest.fixture(autouse=True)
def _own_cache(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("NPUBENCH_CACHE_DIR", str(tmp_path / "cache"))


def test_small_convnet_on_the_stm32h7a3_runs_on_the_cpu(tflite_models: dict[str, Path]) -> None:
    board = load_board_file(builtin_dir() / "stm32h7a3.toml")
    report = compile_with(
        TOOLCHAIN, CompileInput.from_tflite(tflite_models["small_convnet"]), board
    )
    assert report.layers and all(lay.placement == "cpu" for lay in report.layers)
    assert report.extra["macc"] and report.extra["macc"] > 0
    assert report.memory_in("flash") > 0 and report.memory_in("sram") > 0
    assert report.cost is None


def test_small_convnet_on_the_stm32n6_uses_neural_art_epochs(
    tflite_models: dict[str, Path],
) -> None:
    if TOOLCHAIN.detect().tool != "stedgeai":
        pytest.skip("X-CUBE-AI's stm32ai has no STM32N6 Neural-ART target; stedgeai needed")
    board = load_board_file(builtin_dir() / "stm32n6.toml")
    report = compile_with(
        TOOLCHAIN, CompileInput.from_tflite(tflite_models["small_convnet"]), board
    )
    assert report.op_counts()["npu"] > 0
    assert report.memory and report.fits
