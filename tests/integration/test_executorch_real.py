"""The real ExecuTorch 1.5.1 (managed environment "executorch") through ``compile_with``.

A tiny CNN written to a .py file (the ``file.py:Class`` spec) goes through both plug-ins:
``executorch-ethos-u`` on hx-we2 (PT2E int8 -> TOSA -> ExecuTorch's Vela with npubench's system
configuration) and ``executorch-cortex-m`` on qemu-cortex-m4 (CMSIS-NN operators). Skipped, with
the install command, when the environment is absent. About a minute per compile on 2 cores.
"""

from __future__ import annotations

import textwrap
from pathlib import Path

import pytest

from npubench.models.source import resolve_source
from npubench.targets.catalogue import load_board_file
from npubench.targets.schema import Board
from npubench.toolchains import get_toolchain
from npubench.toolchains.environments import get_environment
from npubench.toolchains.inputs import CompileInput
from npubench.toolchains.run import compile_with

pytestmark = pytest.mark.integration

BOARDS = Path(__file__).resolve().parents[2] / "src" / "npubench" / "targets" / "boards"
SHAPE = (1, 3, 32, 32)
TINY_CNN = textwrap.dedent(
    """
    import torch
    from torch import nn


    class TinyCNN(nn.Module):
        def __init__(self):
            super().__init__()
            self.c1 = nn.Conv2d(3, 8, 3, padding=1)
            self.p = nn.MaxPool2d(2)
            self.c2 = nn.Conv2d(8, 16, 3, padding=1)
            self.gap = nn.AdaptiveAvgPool2d(1)
            self.fc = nn.Linear(16, 10)

        def forward(self, x):
            x = self.p(torch.relu(self.c1(x)))
            x = torch.relu(self.c2(x))
            return self.fc(torch.flatten(self.gap(x), 1))
    """
)


@pytest.fixture(scope="module", autouse=True)
def _environment() -> None:
    env = get_environment("executorch")
    status = env.status()
    if not status.healthy:
        pytest.skip(
            f"ExecuTorch environment not installed ({status.problem}): {env.install_command}"
        )


@pytest.fixture(autouse=True)
def _own_cache(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("NPUBENCH_CACHE_DIR", str(tmp_path / "cache"))


def board(name: str) -> Board:
    return load_board_file(BOARDS / f"{name}.toml")


def tiny_cnn(tmp_path: Path) -> CompileInput:
    path = tmp_path / "tinycnn.py"
    path.write_text(TINY_CNN)
    spec = f"{path}:TinyCNN"
    source = resolve_source(spec, input_shape=SHAPE)
    return CompileInput(
        name=source.name,
        spec=spec,
        source_kind=source.kind,
        tflite_int8=tmp_path / "unused.tflite",  # these plug-ins consume the PyTorch model
        onnx=None,
        source_input_shape=source.input_shape,
        int8_sha256="",
        source_sha256=source.sha256,
        calib_samples=16,
        eval_samples=4,
        input_shape_option=SHAPE,
    )


def test_ethos_u_on_hx_we2(tmp_path: Path) -> None:
    plugin = get_toolchain("executorch-ethos-u")
    report = compile_with(plugin, tiny_cnn(tmp_path), board("hx-we2"), {"optimise": "Performance"})
    assert report.tool_version == "1.5.1"
    assert report.extra_versions["ethos-u-vela"] == "5.1.0"
    assert report.cost is not None and report.cost.clock_hz == 100e6
    # Vela's estimate of the tiny CNN at 100 MHz: about 30k cycles (29,579 recorded).
    assert report.cost.cycles_total is not None
    assert 20_000 < report.cost.cycles_total < 45_000
    assert report.extra["system_config"] == "npubench_hx_we2_100MHz"
    assert report.extra["partitions"] == 1
    npu = [lay.op for lay in report.layers if lay.placement == "npu"]
    assert npu.count("Conv2D") == 3 and "MaxPool" in npu
    assert {lay.op for lay in report.layers if lay.placement == "cpu"} == {
        "quantized_decomposed.quantize_per_tensor.default",
        "quantized_decomposed.dequantize_per_tensor.default",
    }
    assert 15_000 < report.memory_in("sram") < 60_000
    assert report.memory_in("flash") == report.extra["pte_bytes"] > 4000
    assert report.fidelity is not None and (report.fidelity.sqnr_db or 0) > 25
    assert report.verdict == "fits" and not report.cached
    files = {a.path for a in report.artifacts}
    assert "model.pte" in files and "executorch/partition_report.txt" in files
    again = compile_with(plugin, tiny_cnn(tmp_path), board("hx-we2"), {"optimise": "Performance"})
    assert again.cached and again.cost == report.cost


def test_cortex_m_on_qemu_cortex_m4(tmp_path: Path) -> None:
    plugin = get_toolchain("executorch-cortex-m")
    report = compile_with(plugin, tiny_cnn(tmp_path), board("qemu-cortex-m4"))
    assert report.tool_version == "1.5.1" and report.cost is None
    assert report.extra["core"] == "cortex-m4" and report.extra["cmsis_nn_backend"] == "DSP"
    assert all(lay.placement == "cpu" for lay in report.layers)
    convs = [lay for lay in report.layers if lay.op == "cortex_m.quantized_conv2d.default"]
    assert [c.macs for c in convs] == [221184, 294912]
    assert all(c.reason.startswith("CMSIS-NN quantized_conv2d") for c in convs)
    # The same scratch sizes and memory plan as the recorded run (same shapes, same core).
    assert report.extra["cmsis_nn_scratch_total_bytes"] == 112 + 288 + 64
    assert report.memory_in("ssram23") == report.extra["planned_bytes"] == 15360
    assert report.memory_in("ssram1") == report.extra["pte_bytes"] > 4000
