"""The real Arm Vela 5.2.0 through npubench's Vela plug-in, on small int8 models (TFLiteConverter).

Models: ``small_convnet`` and ``float_conv`` from ``tests/_tflite_models.py``, and a single 1x1
convolution whose input and output activations (1.2 MB + 2.4 MB) exceed the WE2's 2 MiB SRAM,
built here the same way (Keras + full-int8 TFLiteConverter, in a subprocess).
"""

from __future__ import annotations

import subprocess
import sys
import textwrap
import time
from pathlib import Path

import pytest

from npubench.errors import CompilerError, ModelError, ToolchainMissing, UsageError
from npubench.targets.catalogue import get_target
from npubench.targets.schema import Board
from npubench.toolchains.base import CompileReport
from npubench.toolchains.vela import compile_tflite, vela_tflite, vela_version

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

pytestmark = pytest.mark.integration

_BIG_ACTIVATION = textwrap.dedent(
    """
    import sys
    import numpy as np
    import tensorflow as tf
    import keras

    inp = keras.Input((384, 384, 8), batch_size=1)
    out = keras.layers.Conv2D(16, 1, activation="relu")(inp)
    model = keras.Model(inp, out)

    def representative():
        rng = np.random.default_rng(0)
        for _ in range(2):
            yield [rng.uniform(-1, 1, (1, 384, 384, 8)).astype(np.float32)]

    conv = tf.lite.TFLiteConverter.from_keras_model(model)
    conv.optimizations = [tf.lite.Optimize.DEFAULT]
    conv.representative_dataset = representative
    conv.target_spec.supported_ops = [tf.lite.OpsSet.TFLITE_BUILTINS_INT8]
    conv.inference_input_type = tf.int8
    conv.inference_output_type = tf.int8
    open(sys.argv[1], "wb").write(conv.convert())
    """
)


@pytest.fixture(scope="session")
def models(tflite_models: dict[str, Path]) -> dict[str, Path]:
    return tflite_models


@pytest.fixture(scope="session")
def big_activation(request: pytest.FixtureRequest, tmp_path_factory: pytest.TempPathFactory):
    cache = getattr(request.config, "cache", None)
    root = cache.mkdir("npubench-vela-models") if cache else tmp_path_factory.mktemp("v")
    path = Path(root) / "big_activation_384x384x8_to_16.tflite"
    if not path.exists():
        tmp = path.with_suffix(".tmp")
        done = subprocess.run(
            [sys.executable, "-c", _BIG_ACTIVATION, str(tmp)],
            capture_output=True,
            text=True,
            timeout=600,
            env={"TF_CPP_MIN_LOG_LEVEL": "3", "CUDA_VISIBLE_DEVICES": "", "PATH": "/usr/bin"},
        )
        assert done.returncode == 0, done.stderr[-3000:]
        tmp.rename(path)
    return path


@pytest.fixture(autouse=True)
def _own_cache(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("NPUBENCH_CACHE_DIR", str(tmp_path / "cache"))


def _region(report: CompileReport, memory: str):
    return next(m for m in report.memory if m.board_memory == memory)


@pytest.mark.parametrize("optimise", ["Performance", "Size"])
def test_small_convnet_on_hx_we2(models, optimise: str) -> None:
    board = get_target("hx-we2")
    start = time.perf_counter()
    report = compile_tflite(models["small_convnet"], board, optimise)
    seconds = time.perf_counter() - start
    assert report.cost is not None and report.cost.cycles_total is not None
    print(f"\nvela {optimise}: {seconds:.2f} s per compile, {report.cost.cycles_total} cycles")
    assert not report.cached
    assert report.toolchain == "vela" and report.tool == "ethos-u-vela"
    assert report.cost.clock_hz == 100e6
    assert report.cost.cycles_total >= (report.cost.cycles_npu or 0) > 0
    assert report.cost.time_us == pytest.approx(report.cost.cycles_total / 100)
    assert report.layers and {layer.placement for layer in report.layers} == {"npu"}
    assert report.op_counts()["cpu"] == 0 and report.op_counts()["npu"] > 0
    assert report.fits and {m.board_memory for m in report.memory} == {"sram", "flash"}
    sram = _region(report, "sram")
    assert 0 < sram.used_bytes <= (sram.capacity_bytes or 0)
    assert _region(report, "flash").used_bytes == vela_tflite(report).stat().st_size
    assert report.extra["nn_macs"] > 0 and report.extra["encoded_weights_bytes"] > 0
    assert report.options["optimise"] == optimise and report.tool_version == vela_version()
    assert report.extra["system_config"] == "npubench_hx_we2_100MHz"
    # Every artifact is listed with its content hash; Vela's own time is recorded.
    assert {a.path for a in report.artifacts} >= {"model_vela.tflite", "vela_console.txt"}
    assert all(len(a.sha256) == 64 for a in report.artifacts)
    assert report.seconds_tool is not None and 0 < report.seconds_tool <= seconds


def test_second_compile_is_cached_and_reparsed(models) -> None:
    board = get_target("hx-we2")
    first = compile_tflite(models["small_convnet"], board)
    start = time.perf_counter()
    again = compile_tflite(models["small_convnet"], board)
    seconds = time.perf_counter() - start
    assert not first.cached and again.cached
    assert again.artifact_dir == first.artifact_dir
    assert again.cost == first.cost and again.memory == first.memory
    assert seconds < 0.25, f"a cached compile took {seconds:.2f} s"
    # Another option is another artifact.
    size = compile_tflite(models["small_convnet"], board, "Size")
    assert not size.cached and size.artifact_dir != first.artifact_dir


def test_a_clock_changes_time_and_memory_bound_cycles(models) -> None:
    board = get_target("hx-we2")
    at_100 = compile_tflite(models["small_convnet"], board)
    at_400 = compile_tflite(models["small_convnet"], board, clock_mhz=400)
    assert at_100.cost is not None and at_400.cost is not None
    assert at_400.cost.clock_hz == 400e6
    assert at_400.cost.time_us == pytest.approx((at_400.cost.cycles_total or 0) / 400)
    # The flash keeps its own clock, so weight reads cost more NPU cycles at 400 MHz.
    assert (at_400.cost.cycles_total or 0) > (at_100.cost.cycles_total or 0)
    assert (at_400.cost.time_us or 0) < (at_100.cost.time_us or 0)


def test_a_huge_activation_does_not_fit_the_we2_sram(big_activation: Path) -> None:
    report = compile_tflite(big_activation, get_target("hx-we2"))
    assert not report.fits
    sram = _region(report, "sram")
    assert sram.used_bytes > (sram.capacity_bytes or 0) == 2 * 1024 * 1024
    assert "in sram" in report.verdict
    # The same model fits the Alif HP subsystem's 4 MiB SRAM0.
    alif = compile_tflite(big_activation, get_target("alif-e7-hp"))
    assert alif.fits, alif.verdict


def test_velas_default_system_config_runs_at_500_mhz(models) -> None:
    report = compile_tflite(
        models["small_convnet"], get_target("hx-we2"), system_config="vela-default"
    )
    assert report.cost is not None
    assert report.extra["system_config"] == "Ethos_U55_High_End_Embedded"
    assert report.cost.clock_hz == 500e6
    assert report.cost.time_us == pytest.approx((report.cost.cycles_total or 0) / 500)


def test_vela_rejecting_a_model_is_a_compiler_error(models, tmp_path: Path) -> None:
    broken = tmp_path / "truncated.tflite"
    broken.write_bytes(models["small_convnet"].read_bytes()[:3000])
    with pytest.raises(CompilerError, match=r"Vela rejected truncated\.tflite") as info:
        compile_tflite(broken, get_target("hx-we2"))
    assert "exit status" in info.value.message
    # The tool's log is kept where the hint says (the compile itself left nothing behind).
    assert info.value.hint and "toolchain-failures" in info.value.hint


def test_a_float_model_is_refused_before_vela(models) -> None:
    with pytest.raises(CompilerError, match="not an int8 model"):
        compile_tflite(models["float_conv"], get_target("hx-we2"))


def test_bad_options_and_targets_are_clear_errors(models, tmp_path: Path) -> None:
    board = get_target("hx-we2")
    with pytest.raises(UsageError, match="optimise") as info:
        compile_tflite(models["small_convnet"], board, "Speed")
    assert "Performance" in str(info.value)
    with pytest.raises(ModelError, match="does not exist"):
        compile_tflite(tmp_path / "none.tflite", board)
    data = board.model_dump()
    data.update(npu=None, toolchains={}, toolchain="tflm", name="plain-m55")
    with pytest.raises(UsageError, match="does not target plain-m55"):
        compile_tflite(models["small_convnet"], Board.model_validate(data))


def test_missing_vela_is_an_environment_problem(models, monkeypatch: pytest.MonkeyPatch) -> None:
    from npubench.toolchains import vela

    monkeypatch.setattr(vela.sys, "executable", "/nonexistent/python")
    monkeypatch.setenv("PATH", "/nonexistent")
    vela.vela_version.cache_clear()
    try:
        with pytest.raises(ToolchainMissing, match="not installed") as info:
            compile_tflite(models["small_convnet"], get_target("hx-we2"))
        assert info.value.exit_code == 3
        assert "ethos-u-vela" in (info.value.hint or "")
    finally:
        vela.vela_version.cache_clear()
