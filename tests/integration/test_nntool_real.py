"""The real GreenWaves NNTool + AutoTiler driven by npubench, when a GAP SDK is sourced.

The GAP SDK cannot be installed by npubench: these tests skip, saying where to get it, unless
``nntool`` is on PATH and the SDK's environment ($GAP_SDK_HOME, the AutoTiler's $TILER_*) is set.
The model is ``small_convnet`` from ``tests/_tflite_models.py`` (Keras + full-int8
TFLiteConverter), compiled for the board of the sourced chip family (GAP8 or GAP9).
"""

from __future__ import annotations

import os
from pathlib import Path

import pytest

from npubench.targets.catalogue import builtin_dir, load_board_file
from npubench.toolchains.inputs import CompileInput
from npubench.toolchains.nntool import HOMEPAGE, TOOLCHAIN
from npubench.toolchains.run import compile_with

pytestmark = [
    pytest.mark.integration,
    # Decided at collection, before the session's TensorFlow-built models are made.
    pytest.mark.skipif(
        not TOOLCHAIN.detect().available,
        reason=f"nntool not installed: get it from {HOMEPAGE} "
        "(npubench needs nntool on PATH and the sourced SDK's $GAP_SDK_HOME and $TILER_*)",
    ),
]


@pytest.fixture(autouse=True)
def _own_cache(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("NPUBENCH_CACHE_DIR", str(tmp_path / "cache"))


def test_small_convnet_is_tiled_for_the_sourced_chip(tflite_models: dict[str, Path]) -> None:
    chip = os.environ.get("TARGET_CHIP_FAMILY", "GAP8").lower()
    board = load_board_file(builtin_dir() / f"{chip}.toml")
    model = CompileInput.from_tflite(tflite_models["small_convnet"])
    report = compile_with(TOOLCHAIN, model, board)
    assert report.layers and all(lay.placement == "npu" for lay in report.layers)
    assert report.memory_in("l1") > 0 and report.memory_in("l2") > 0
    assert report.extra["operations"] and report.extra["operations"] > 0
    assert report.cost is None and report.fits
