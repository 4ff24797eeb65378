"""The real rknn-toolkit2 2.5.0, in its managed environment, driven through ``compile_with``.

A small CNN (conv-relu-pool, conv-relu, global average pool, linear) is built with torch here
and exported to ONNX (opset 17, ``dynamo=False``). Skipped, with the install command as the
reason, when the "rknn" environment is not installed.
"""

from __future__ import annotations

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

pytestmark = pytest.mark.integration

RKNN = get_toolchain("rknn")
_INFO = RKNN.detect()
if not _INFO.available:
    pytest.skip(
        f"rknn-toolkit2 is not installed ({_INFO.detail}): {_INFO.install}",
        allow_module_level=True,
    )

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

    torch.manual_seed(0)
    torch.onnx.export(Small().eval(), torch.rand(1, 3, 32, 32), sys.argv[1],
                      input_names=["input"], output_names=["output"],
                      opset_version=17, dynamo=False)
    """
)


@pytest.fixture(scope="module")
def small_onnx(tmp_path_factory: pytest.TempPathFactory) -> Path:
    path = tmp_path_factory.mktemp("rknn") / "small_cnn.onnx"
    done = subprocess.run(
        [sys.executable, "-c", _EXPORT, str(path)], capture_output=True, text=True, timeout=600
    )
    assert done.returncode == 0, done.stderr[-3000:]
    return path


def _input(onnx: Path) -> CompileInput:
    digest = file_sha256(onnx)
    return CompileInput(
        name=onnx.stem,
        spec=str(onnx),
        source_kind="onnx",
        tflite_int8=onnx,  # not used by rknn, which consumes the float ONNX
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


def test_small_cnn_on_rv1106(small_onnx: Path) -> None:
    board = get_target("rv1106")
    start = time.perf_counter()
    report = compile_with(RKNN, _input(small_onnx), board)
    seconds = time.perf_counter() - start
    assert report.cost is not None and report.fidelity is not None
    print(
        f"\nrknn rv1106: {seconds:.1f} s, {report.cost.cycles_total:.0f} cycles, "
        f"SQNR {report.fidelity.sqnr_db} dB, memory "
        f"{[(m.region, m.used_bytes) for m in report.memory]}"
    )
    assert not report.cached
    assert report.tool_version == "2.5.0"
    # Cycles: the compiler's, at the board file's NPU clock (rknn states none).
    assert report.cost.cycles_total is not None and report.cost.cycles_total > 0
    assert report.cost.cycles_npu is not None and report.cost.cycles_npu > 0
    assert report.cost.clock_hz == 420e6
    assert report.cost.time_us == pytest.approx(report.cost.cycles_total / 420)
    assert any("states no clock" in n for n in report.notes)
    # Every compute layer of this CNN is placed on the NPU; the convs have cycles.
    compute = [lay for lay in report.layers if not lay.extra.get("io_pseudo_op")]
    assert compute and {lay.placement for lay in compute} == {"npu"}
    convs = [lay for lay in compute if lay.extra.get("onnx_op") == "Conv"]
    assert len(convs) >= 3 and all((lay.cycles or 0) > 0 for lay in convs[:2])
    assert report.ops == {"npu": len(compute), "cpu": 0}
    # Memory: both compiler regions, in the board's DDR.
    regions = {m.region: m for m in report.memory}
    assert set(regions) == {"internal", "weight"}
    assert regions["weight"].used_bytes >= (3 * 16 * 9 + 16 * 32 * 9 + 32 * 10)  # int8 weights
    assert regions["internal"].used_bytes > 0
    assert {m.board_memory for m in report.memory} == {"ddr"}
    assert report.fits
    # Fidelity: rknn's simulator against onnxruntime's float run.
    assert report.fidelity.samples == 4
    assert report.fidelity.sqnr_db is not None and report.fidelity.sqnr_db > 20
    assert report.fidelity.per_layer
    files = {a.path for a in report.artifacts}
    assert {"model.rknn", "rknn.log", "reply.json", "request.json"} <= files
    # The second call is the cache's.
    again = compile_with(RKNN, _input(small_onnx), board)
    assert again.cached and again.cost is not None
    assert again.cost.cycles_total == report.cost.cycles_total


def test_rk3566_without_per_layer_fidelity(small_onnx: Path) -> None:
    report = compile_with(
        RKNN, _input(small_onnx), get_target("rk3566"), {"per_layer_fidelity": False}
    )
    assert report.cost is not None and report.cost.clock_hz == 900e6
    assert report.cost.cycles_total is not None and report.cost.cycles_total > 0
    assert report.fidelity is not None and report.fidelity.per_layer == []
    assert report.fidelity.sqnr_db is not None and report.fidelity.sqnr_db > 20
    assert {m.capacity_bytes for m in report.memory} == {1 << 30}


def test_custom_domain_op_is_rejected_naming_the_layer() -> None:
    model = Path(__file__).resolve().parents[1] / "data" / "rknn" / "models" / "customop.onnx"
    with pytest.raises(CompilerError) as info:
        compile_with(RKNN, _input(model), get_target("rv1106"))
    assert "layer 1 'output' (MyWeirdOp, domain 'com.example')" in str(info.value)
