"""The real TPU-MLIR in the user's Python 3.10 ($NPUBENCH_TPU_MLIR_PYTHON), via ``compile_with``.

A small CNN (conv-relu-pool, conv-relu, global average pool, linear) is built with torch here and
exported to ONNX (opset 17, ``dynamo=False``), then compiled for the CV1800B (cv180x); a model
with an ONNX op TPU-MLIR cannot import (Det) must fail naming it. Skipped, with the install
recipe as the reason, when $NPUBENCH_TPU_MLIR_PYTHON is not set.
"""

from __future__ import annotations

import os
import subprocess
import sys
import textwrap
import time
from pathlib import Path

import pytest

from npubench.cache import file_sha256
from npubench.errors import CompilerError
from npubench.targets.catalogue import get_target
from npubench.toolchains import get_toolchain
from npubench.toolchains.inputs import CompileInput
from npubench.toolchains.run import compile_with
from npubench.toolchains.tpu_mlir import ENV_VAR, INSTALL

pytestmark = pytest.mark.integration

if not os.environ.get(ENV_VAR):
    pytest.skip(f"${ENV_VAR} is not set; to run TPU-MLIR: {INSTALL}", allow_module_level=True)

TPU_MLIR = get_toolchain("tpu-mlir")

_EXPORT = textwrap.dedent(
    """
    import sys
    import torch
    import torch.nn as nn
    import torch.nn.functional as F

    class Small(nn.Module):
        def __init__(self):
            super().__init__()
            self.c1 = nn.Conv2d(3, 16, 3, padding=1)
            self.c2 = nn.Conv2d(16, 32, 3, padding=1)
            self.fc = nn.Linear(32, 10)

        def forward(self, x):
            x = F.max_pool2d(F.relu(self.c1(x)), 2)
            x = F.relu(self.c2(x))
            return self.fc(F.adaptive_avg_pool2d(x, 1).flatten(1))

    class WithDet(nn.Module):
        def __init__(self):
            super().__init__()
            self.c = nn.Conv2d(3, 8, 3, padding=1)

        def forward(self, x):
            return torch.det(self.c(x)[:, :, :4, :4])

    torch.manual_seed(0)
    model = {"small": Small, "det": WithDet}[sys.argv[2]]().eval()
    torch.onnx.export(model, torch.rand(1, 3, 32, 32), sys.argv[1],
                      input_names=["input"], output_names=["output"],
                      opset_version=17, dynamo=False)
    """
)


def _export(folder: Path, which: str) -> Path:
    path = folder / f"{which}.onnx"
    done = subprocess.run(
        [sys.executable, "-c", _EXPORT, str(path), which],
        capture_output=True,
        text=True,
        timeout=600,
    )
    assert done.returncode == 0, done.stderr[-3000:]
    return path


@pytest.fixture(scope="module")
def models(tmp_path_factory: pytest.TempPathFactory) -> dict[str, Path]:
    folder = tmp_path_factory.mktemp("tpu_mlir")
    return {which: _export(folder, which) for which in ("small", "det")}


def _input(onnx: Path) -> CompileInput:
    digest = file_sha256(onnx)
    return CompileInput(
        name=onnx.stem,
        spec=str(onnx),
        source_kind="onnx",
        tflite_int8=onnx,  # not used by tpu-mlir, which consumes the float ONNX
        onnx=onnx,
        source_input_shape=(1, 3, 32, 32),
        int8_sha256=digest,
        source_sha256=digest,
        calib_samples=16,
        eval_samples=4,
    )


@pytest.fixture(autouse=True)
def _own_cache(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("NPUBENCH_CACHE_DIR", str(tmp_path / "cache"))


def test_small_cnn_on_cv1800b(models: dict[str, Path]) -> None:
    board = get_target("cv1800b")
    start = time.perf_counter()
    report = compile_with(TPU_MLIR, _input(models["small"]), board)
    seconds = time.perf_counter() - start
    assert report.cost is not None and report.fidelity is not None
    print(
        f"\ntpu-mlir cv1800b: {seconds:.1f} s (worker {report.seconds_tool} s), "
        f"{report.cost.cycles_total:.0f} cycles, SQNR {report.fidelity.sqnr_db} dB, memory "
        f"{[(m.region, m.used_bytes) for m in report.memory]}, timing {report.extra['timing']}"
    )
    assert not report.cached
    assert report.tool_version == "1.30.2"
    assert report.extra_versions["cvimodel"] == "1.4.0"
    # Cycles: TPU-MLIR's layer-group estimate, partial, at the board file's TPU clock.
    assert report.cost.cycles_total == report.cost.cycles_npu
    assert report.cost.cycles_total is not None and report.cost.cycles_total > 0
    assert report.cost.clock_hz == 500e6
    assert report.cost.time_us == pytest.approx(report.cost.cycles_total / 500)
    assert any("states no clock" in n for n in report.notes)
    assert any("cycles are partial" in n for n in report.notes)
    groups = report.extra["layer_groups"]
    assert sum(g["group_cost"] for g in groups) == report.cost.cycles_total
    # Placement: the input quantization on the CPU, every layer of the CNN on the TPU.
    assert (report.layers[0].op, report.layers[0].placement) == ("quant", "cpu")
    assert {lay.placement for lay in report.layers[1:]} == {"npu"}
    convs = [lay for lay in report.layers if lay.op == "Conv2D"]
    assert len(convs) == 2 and all(lay.extra["onnx_op"] == "Relu" for lay in convs)
    assert any(lay.extra["local_memory_group"] for lay in report.layers)
    assert report.op_counts()["cpu"] == 1
    # Memory: the cvimodel's regions in the board's DRAM; ion_total is their sum.
    regions = {m.region: m for m in report.memory}
    assert set(regions) == {
        "weight",
        "cmdbuf",
        "private_gmem",
        "shared_gmem",
        "io_mem",
        "ion_total",
    }
    assert regions["weight"].used_bytes >= 3 * 16 * 9 + 16 * 32 * 9 + 32 * 10  # int8 weights
    assert regions["io_mem"].used_bytes == (3 * 32 * 32 + 10) * 4  # fp32 input and output
    parts = sum(m.used_bytes for m in report.memory if m.region != "ion_total")
    assert regions["ion_total"].used_bytes == parts == report.memory_in("dram")
    assert {m.board_memory for m in report.memory} == {"dram", None}
    assert report.fits
    # Fidelity: the CV18xx simulator against onnxruntime's float run, per layer model_deploy's.
    assert report.fidelity.samples == 4
    assert report.fidelity.sqnr_db is not None and report.fidelity.sqnr_db > 25
    assert report.fidelity.per_layer
    assert {row["status"] for row in report.fidelity.per_layer} == {"PASSED"}
    files = {a.path for a in report.artifacts}
    assert {
        "small_cv180x_int8.cvimodel",
        "small_cv180x_int8_sym_final.mlir",
        "small_cv180x_int8.layer_group_cache.json",
        "logs/03_model_deploy.log",
        "model_info.txt",
        "reply.json",
        "request.json",
    } <= files
    # The second call is the cache's.
    again = compile_with(TPU_MLIR, _input(models["small"]), board)
    assert again.cached and again.cost is not None
    assert again.cost.cycles_total == report.cost.cycles_total


def test_unsupported_onnx_op_is_rejected_naming_it(models: dict[str, Path]) -> None:
    with pytest.raises(CompilerError) as info:
        compile_with(TPU_MLIR, _input(models["det"]), get_target("cv1800b"))
    message = str(info.value)
    assert "TPU-MLIR's ONNX importer does not support op Det: layer '/Det' (Det)" in message
