"""The real NXP eIQ Neutron converter driven by npubench, when it is installed.

The converter is proprietary (eIQ Toolkit / eIQ Neutron SDK) and cannot be installed by
npubench: these tests skip, saying where to get it, unless ``neutron-converter`` is on PATH or
``$NPUBENCH_NEUTRON_CONVERTER`` names it. The model is ``small_convnet`` from
``tests/_tflite_models.py`` (Keras + full-int8 TFLiteConverter), converted for the MCXN947.
"""

from __future__ import annotations

from pathlib import Path

import pytest

from npubench.targets.catalogue import builtin_dir, load_board_file
from npubench.toolchains.inputs import CompileInput
from npubench.toolchains.neutron_converter import ENV_VAR, HOMEPAGE, TOOLCHAIN
from npubench.toolchains.run import compile_with

pytestmark = [
    pytest.mark.integration,
    # Decided at collection, before the session's TensorFlow-built models are made.
    pytest.mark.skipif(
        not TOOLCHAIN.detect().available,
        reason=f"neutron-converter not installed: get it from {HOMEPAGE} "
        f"(npubench looks for ${ENV_VAR}, then neutron-converter on PATH)",
    ),
]


@pytest.fixture(autouse=True)
def _own_cache(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("NPUBENCH_CACHE_DIR", str(tmp_path / "cache"))


def test_small_convnet_is_converted_for_the_mcxn947(tflite_models: dict[str, Path]) -> None:
    board = load_board_file(builtin_dir() / "mcxn947.toml")
    model = CompileInput.from_tflite(tflite_models["small_convnet"])
    report = compile_with(TOOLCHAIN, model, board)
    assert report.op_counts()["npu"] > 0  # convolutions go into a Neutron graph
    assert any(lay.op == "NEUTRON_GRAPH" for lay in report.layers)
    assert report.memory_in("flash") > 0
    assert report.cost is None
