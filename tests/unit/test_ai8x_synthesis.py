"""The ai8x-synthesis plug-in on recorded real ai8xize.py outputs, and its own writers.

tests/data/ai8x_synthesis/<case>/ hold what ADI's ai8xize.py (ai8x-synthesis ab4f4c01,
2024-08-30) printed for the study's networks on 2026-12-03 (each folder's COMMAND.txt: the exact
command, checkpoint and how log.txt was trimmed). The YAML writer is checked on the zoo's models
against the per-layer configuration ai8xize read from ADI's own networks/*.yaml in those runs.
"""

from __future__ import annotations

import subprocess
from pathlib import Path

import numpy as np
import pytest

from npubench.errors import ToolchainMissing
from npubench.models.source import resolve_source
from npubench.targets import get_target
from npubench.toolchains import get_toolchain
from npubench.toolchains.ai8x_synthesis import (
    INSTALL,
    TOOLCHAIN,
    Ai8xBoardConfig,
    Ai8xOptions,
    board_device,
    compiler_error,
    report_from_outputs,
)
from npubench.toolchains.ai8x_synthesis.checkpoint import (
    output_shift,
    quantize_layer,
    write_checkpoint,
)
from npubench.toolchains.ai8x_synthesis.network import (
    DEVICES,
    Network,
    allocate,
    describe_module,
    popcount,
    read_yaml_summary,
    to_yaml,
    yaml_operation,
)
from npubench.toolchains.ai8x_synthesis.parse import Ai8xLog, notices, parse_error, parse_log
from npubench.toolchains.base import CompileReport
from npubench.toolchains.run import require_available

DATA = Path(__file__).resolve().parents[1] / "data" / "ai8x_synthesis"
VERSION = "ab4f4c0"


def recorded(case: str) -> tuple[Ai8xLog, str]:
    folder = DATA / case
    console = (folder / "console.log").read_text() + (folder / "console.stderr").read_text()
    return parse_log((folder / "log.txt").read_text()), console


def report(case: str, board: str = "max78000", softmax: bool = False) -> CompileReport:
    log, console = recorded(case)
    return report_from_outputs(
        get_target(board), log, console, options=Ai8xOptions(softmax=softmax), version=VERSION
    )


def test_every_case_says_how_it_was_recorded() -> None:
    for folder in sorted(p for p in DATA.iterdir() if p.is_dir()):
        text = (folder / "COMMAND.txt").read_text()
        assert "ai8xize.py --no-version-check" in text and "ab4f4c01f205c7d9" in text
        assert "log.txt:" in text  # how it was trimmed


# --- parsing the recorded runs --------------------------------------------------------------


def test_autoencoder_weight_and_bias_memory() -> None:
    log, _ = recorded("autoencoder_MAX78000")
    assert log.device == "MAX78000"
    assert log.weight_memory is not None and log.bias_memory is not None
    assert (log.weight_memory.used_bytes, log.weight_memory.capacity_bytes) == (136_448, 442_368)
    assert log.weight_memory.percent == 30.8
    assert (log.bias_memory.used_bytes, log.bias_memory.capacity_bytes) == (352, 2_048)
    assert log.layer_count == 7
    assert log.per_layer("Operator") == ["conv1d"] * 2 + ["linear"] * 5
    assert log.bias_per_quadrant == [128, 96, 64, 64]
    assert max(log.kernel_words_per_processor()) == 299  # layer 6: offset 128 + 171 words
    assert log.latency_total == 3_415 and log.latency[0] == 1_560


def test_autoencoder_report() -> None:
    r = report("autoencoder_MAX78000")
    weights, bias = r.memory
    assert (weights.region, weights.used_bytes, weights.capacity_bytes) == (
        "weight memory",
        136_448,
        442_368,
    )
    assert weights.board_memory == "cnn_weights" and r.memory_in("cnn_weights") == 136_448
    assert (bias.region, bias.used_bytes, bias.capacity_bytes, bias.board_memory) == (
        "bias memory",
        352,
        2_048,
        None,
    )
    assert r.verdict == "fits" and r.op_counts() == {"npu": 7, "cpu": 0}
    assert r.cost is not None and r.cost.cycles_total == 3_415
    assert r.cost.clock_hz == 50e6 and r.cost.time_us == pytest.approx(68.3)
    assert any("PCLK = 50 MHz" in n for n in r.notes)
    assert r.extra["kernel_words_max"] == 299 and r.extra["kernel_words_capacity"] == 768
    assert r.extra["weight_memory_percent"] == 30.8
    assert r.layers[0].extra["passes"] == 4 and r.layers[0].extra["processors"] == 64
    assert r.layers[6].extra["kernel_words"] == 171 and r.layers[6].cycles == 1_540
    assert r.layers[3].extra["processors"] == 32 and r.layers[4].extra["processors"] == 4


def test_cifar10_nas_max78000() -> None:
    r = report("cifar10-nas_MAX78000", softmax=True)
    assert r.memory[0].used_bytes == 301_760 and r.memory[1].used_bytes == 842
    assert r.cost is not None and r.cost.cycles_total == 228_217
    assert r.cost.time_us == pytest.approx(4564.34)
    assert r.extra["kernel_words_max"] == 624
    assert r.extra["hardware_macc"] == 36_180_992
    assert [lay.extra["kernel"] for lay in r.layers[:3]] == ["3x3", "1x1", "3x3"]
    assert r.layers[10].op == "linear" and r.layers[10].extra["kernel_words"] == 9
    assert r.layers[9].macs == 65_536


def test_cifar10_nas_max78002_has_no_latency_model() -> None:
    r = report("cifar10-nas_MAX78002", board="max78002")
    assert r.memory[0].used_bytes == 301_760 and r.memory[0].capacity_bytes == 2_396_160
    assert r.memory[1].capacity_bytes == 8_192
    assert r.cost is None and r.extra["device"] == "MAX78002"
    assert "ai8xize prints no latency estimate for MAX78002" in r.notes
    assert r.extra["kernel_words_capacity"] == 5_120  # processor 0 of MAX78002
    assert r.verdict == "fits"


def test_yolo_streaming() -> None:
    r = report("yolov1-96-synthq8_MAX78000")
    assert r.memory[0].used_bytes == 42_352 and r.memory[1].used_bytes == 396
    assert r.cost is not None and r.cost.cycles_total == 466_123
    assert r.extra["latency_estimated"] and "estimated for streaming layers" in r.cost.what
    assert [lay.extra["streaming"] for lay in r.layers[:4]] == [True, True, True, False]
    assert r.layers[0].extra["latency_estimated"] and not r.layers[3].extra["latency_estimated"]
    assert (
        "NOTICE: Layer 2: Using 3x3 kernel hardware for layer with 1x1 kernel due to streaming."
        in r.notes
    )
    assert r.extra["kernel_words_max"] == 178


def test_simplenet_uses_766_of_768_kernel_words() -> None:
    r = report("cifar100-simple-synthq8_MAX78000", softmax=True)
    assert r.memory[0].used_bytes == 381_792 and r.extra["weight_memory_percent"] == 86.3
    assert r.extra["kernel_words_max"] == 766
    assert r.extra["bias_per_quadrant"] == [512, 236, 236, 236]
    assert any("766 of 768 72-bit words" in n for n in r.notes)


def test_kernel_memory_exhausted_is_a_compiler_error_naming_the_layer() -> None:
    folder = DATA / "cifar100-simplewide2x-synthq8-OVERFLOW_MAX78000"
    console = (folder / "console.log").read_text() + (folder / "console.stderr").read_text()
    err = parse_error(console)
    assert err is not None
    assert err.message == (
        "Layer 12: Kernel memory exhausted at processor 0; offset: 196 (0x00c4), needed: 576."
    )
    assert (err.layer, err.processor, err.offset, err.needed) == (12, 0, 196, 576)
    assert parse_error((folder / "log.txt").read_text()) == err  # log.txt has it too
    e = compiler_error(err, console, None, 1)
    assert e.message.startswith("ai8xize rejects layer 12 (layer 12): Layer 12: Kernel memory")
    assert e.hint is not None and "MAX78002" in e.hint


def test_notices_skip_the_yamllint_warning() -> None:
    _, console = recorded("yolov1-96-synthq8_MAX78000")
    found = notices(console)
    assert all("yamllint" not in n for n in found)
    assert found[0] == (
        'NOTICE: Defaulting to "no activation" for conv2d in layer sequence 19 in YAML '
        "configuration."
    )


# --- the YAML writer against the networks ADI wrote for the same models ---------------------


def zoo_network(name: str) -> Network:
    source = resolve_source(f"zoo:{name}")
    return describe_module(source.build_module(), source.input_shape, name)


@pytest.mark.parametrize(
    ("zoo", "case"),
    [
        ("simplenet", "cifar100-simple-synthq8_MAX78000"),
        ("resnet", "cifar100-ressimplenet-synthq8_MAX78000"),
        ("autoenc", "autoencoder_MAX78000"),
        ("yolov1", "yolov1-96-synthq8_MAX78000"),
    ],
)
def test_yaml_layers_correspond_to_adis(zoo: str, case: str) -> None:
    net = zoo_network(zoo)
    text = to_yaml(net, DEVICES["MAX78000"], softmax=zoo != "yolov1")
    arch, layers = read_yaml_summary(text)
    log, _ = recorded(case)
    assert arch == f"npubench_{zoo}"
    assert len(layers) == log.layer_count  # ADI's YAML as ai8xize read it
    ops = [yaml_operation(lay) for lay in layers]
    adi_ops = [{"linear": "mlp"}.get(o, o) for o in log.per_layer("Operator")]
    assert ops == adi_ops
    assert [popcount(lay["processors"]) for lay in layers] == [
        popcount(int(m)) for m in log.per_layer("Processor map")
    ]
    assert [lay.in_channels for lay in net.layers] == log.per_layer("Input channels")
    assert [lay.out_channels for lay in net.layers] == log.per_layer("Output channels")
    eltwise = ["add" if lay.get("eltwise") == "add" else "none" for lay in layers]
    assert eltwise == log.per_layer("Element-wise op")


def test_yaml_for_the_widened_nas() -> None:
    net = zoo_network("nas")
    tops = allocate(net, DEVICES["MAX78000"])
    log, _ = recorded("cifar10-nas_MAX78000")
    assert len(net.layers) == log.layer_count == 11
    # The zoo's nas widens the last conv to 512 and pools to 1x1 before the FC (ADI: 128, and
    # a 128x2x2 flatten); everything before is ADI's cifar10-nas.
    assert [lay.out_channels for lay in net.layers][:9] == log.per_layer("Output channels")[:9]
    assert net.layers[9].out_channels == 512 and log.per_layer("Output channels")[9] == 128
    fc = net.layers[10]
    assert fc.op == "mlp" and fc.pool == ("avg", 2, 2) and not fc.flatten
    assert fc.in_channels == 512 and fc.kernel_words() == 9  # 8 passes x 10 outputs / 9
    assert max(tops) == 652  # as npubench's fit rules count it


def test_yaml_residual_pattern_as_adis() -> None:
    text = to_yaml(zoo_network("resnet"), DEVICES["MAX78000"], softmax=True)
    _, layers = read_yaml_summary(text)
    copy, branch, add = layers[2], layers[3], layers[4]
    assert yaml_operation(copy) == "passthrough" and copy["write_gap"] == "1"
    assert copy["output_processors"] == copy["processors"]
    assert branch["in_sequences"] == "1" and branch["write_gap"] == "1"
    assert int(branch["out_offset"], 16) == int(copy["out_offset"], 16) + 4
    assert add["in_sequences"] == "[2, 3]" and add["in_offset"] == copy["out_offset"]
    assert copy["processors"] == branch["processors"] == add["processors"]
    pooled = layers[12]  # add first, then pool (ADI: pool_first: false)
    assert pooled["eltwise"] == "add" and pooled["max_pool"] == "2"
    assert pooled["pool_first"] == "false"
    assert layers[-1]["output_width"] == "32" and layers[-1]["activate"] == "None"


def test_streaming_yaml_for_yolo() -> None:
    text = to_yaml(zoo_network("yolov1"), DEVICES["MAX78000"])
    _, layers = read_yaml_summary(text)
    assert [lay.get("streaming") for lay in layers[:3]] == ["true", "true", None]
    assert layers[0]["processors"] == "0x0000000000000007"  # the FIFOs feed processors 0-3
    _, on_78002 = read_yaml_summary(to_yaml(zoo_network("yolov1"), DEVICES["MAX78002"]))
    assert not any("streaming" in lay for lay in on_78002)


def test_yaml_writer_rejects_what_ai8x_cannot_run() -> None:
    import torch
    from torch import nn

    from npubench.errors import CompilerError

    class Strided(nn.Module):
        def __init__(self) -> None:
            super().__init__()
            self.conv = nn.Conv2d(3, 8, 3, stride=2, padding=1)

        def forward(self, x: torch.Tensor) -> torch.Tensor:
            return self.conv(x)

    with pytest.raises(CompilerError, match="stride 1 and dilation 1"):
        describe_module(Strided(), (1, 3, 16, 16), "strided")


# --- the checkpoint writer ------------------------------------------------------------------


def test_quantization_is_symmetric_power_of_two() -> None:
    w = np.array([0.25, -0.1, 0.05], dtype=np.float32)
    assert output_shift(w) == -1  # 0.25 * 2**8 = 64 <= 127; 2**9 would overflow
    q = quantize_layer("l0", w, np.array([0.1], dtype=np.float32))
    assert q.weight.tolist() == [64.0, -26.0, 13.0] and q.bias is not None
    assert q.bias.tolist() == [26.0]
    big = quantize_layer("l1", np.array([3.0, -1.0]), None)
    assert big.output_shift == 2 and big.weight.tolist() == [96.0, -32.0]
    assert output_shift(np.zeros(3)) == 0


def test_checkpoint_in_adis_format(tmp_path: Path) -> None:
    import torch

    net = zoo_network("autoenc")
    path = tmp_path / "ckpt.pth.tar"
    written = write_checkpoint(net, path)
    ckpt = torch.load(path, weights_only=True)
    assert ckpt["arch"] == "npubench_autoenc" and ckpt["epoch"] == 0
    state = ckpt["state_dict"]
    assert len(written) == 7 and state["l0.op.weight"].shape == (128, 256, 1)
    assert state["l6.op.weight"].shape == (768, 96) and "l6.op.bias" not in state
    assert int(state["l0.weight_bits"][0]) == 8
    for key, tensor in state.items():
        if key.endswith("op.weight"):
            assert tensor.min() >= -128 and tensor.max() <= 127
            assert torch.equal(tensor, tensor.round())
        if key.endswith("op.bias"):
            assert torch.equal(tensor % 128, torch.zeros_like(tensor))
            assert (tensor / 128).abs().max() <= 128
        if key.endswith("output_shift"):
            assert -15 <= float(tensor[0]) <= 15


# --- detection, board config, registry ------------------------------------------------------


def test_registered_and_configured() -> None:
    assert get_toolchain("ai8x-synthesis") is TOOLCHAIN
    assert TOOLCHAIN.consumes == "pytorch"
    assert board_device(get_target("max78000"), Ai8xBoardConfig()) == "MAX78000"
    assert board_device(get_target("max78002"), Ai8xBoardConfig()) == "MAX78002"
    assert board_device(get_target("max78000"), Ai8xBoardConfig(device="MAX78002")) == "MAX78002"
    assert TOOLCHAIN.check_board(get_target("hx-we2"), Ai8xBoardConfig()) != []


def test_missing_tool_names_the_install(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("NPUBENCH_AI8X_SYNTHESIS", str(tmp_path))
    info = TOOLCHAIN.detect()
    assert not info.available and "has no ai8xize.py" in info.detail
    assert info.install == INSTALL
    assert INSTALL.startswith("git clone https://github.com/analogdevicesinc/ai8x-synthesis")
    with pytest.raises(ToolchainMissing) as caught:
        require_available(TOOLCHAIN)
    assert (
        caught.value.hint is not None and "NPUBENCH_AI8X_SYNTHESIS=<checkout>" in caught.value.hint
    )


def test_detect_a_checkout(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    checkout = tmp_path / "ai8x-synthesis"
    (checkout / "venv" / "bin").mkdir(parents=True)
    (checkout / "ai8xize.py").write_text("print('stand-in')\n")
    python = checkout / "venv" / "bin" / "python"
    python.write_text("#!/bin/sh\n")
    python.chmod(0o755)
    git = ["git", "-C", str(checkout), "-c", "user.name=t", "-c", "user.email=t@t"]
    subprocess.run(["git", "init", "-q", str(checkout)], check=True)
    subprocess.run([*git, "add", "ai8xize.py"], check=True)
    subprocess.run([*git, "commit", "-q", "-m", "x"], check=True)
    commit = subprocess.run(
        [*git, "rev-parse", "--short", "HEAD"], check=True, capture_output=True, text=True
    ).stdout.strip()
    monkeypatch.setenv("NPUBENCH_AI8X_SYNTHESIS", str(checkout))
    monkeypatch.delenv("NPUBENCH_AI8X_PYTHON", raising=False)
    info = TOOLCHAIN.detect()
    assert info.available and info.version == commit
    assert info.environment == str(checkout) and str(python) in info.detail
    (checkout / "VERSION").write_text("1.2.3\n")
    assert TOOLCHAIN.detect().version == f"{commit} (VERSION 1.2.3)"
    monkeypatch.setenv("NPUBENCH_AI8X_PYTHON", str(tmp_path / "nope"))
    assert "no Python" in TOOLCHAIN.detect().detail
