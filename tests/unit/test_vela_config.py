"""npubench's Vela system configuration, and the parsers of Vela's reports.

The .ini tests read the board files; the parser tests read real Vela 5.2.0 output recorded in
``tests/data/vela/`` (see its README) and cross-check it with an independent csv read.
"""

from __future__ import annotations

import configparser
import csv
import dataclasses
from pathlib import Path

import pytest

from npubench.errors import CompilerError
from npubench.targets.catalogue import get_target
from npubench.targets.schema import Board
from npubench.toolchains.vela import memory_regions
from npubench.toolchains.vela.config import (
    AXI_PORT_BYTES,
    board_system,
    system_config_ini,
    system_config_name,
)
from npubench.toolchains.vela.parse import (
    count_ops,
    parse_console,
    parse_per_layer_csv,
    parse_summary_csv,
)

DATA = Path(__file__).resolve().parents[1] / "data" / "vela"


def _ini(board_name: str, clock_mhz: float | None = None) -> configparser.ConfigParser:
    parser = configparser.ConfigParser()
    parser.read_string(system_config_ini(get_target(board_name), clock_mhz))
    return parser


def _rows(name: str) -> list[dict[str, str]]:
    return list(csv.DictReader((DATA / name).open()))


# --- the .ini ------------------------------------------------------------------------------


def test_hx_we2_ini_runs_the_npu_at_100_mhz_with_sram_and_flash_ports() -> None:
    ini = _ini("hx-we2")
    system = ini["System_Config.npubench_hx_we2_100MHz"]
    assert float(system["core_clock"]) == 100e6
    assert system["axi0_port"] == "Sram"
    assert system["axi1_port"] == "OffChipFlash"
    mode = ini["Memory_Mode.npubench_Shared_Sram"]
    assert (mode["const_mem_area"], mode["arena_mem_area"], mode["cache_mem_area"]) == (
        "Axi1",
        "Axi0",
        "Axi0",
    )
    # Vela's arena limit is the board's SRAM, not Vela's 4 MiB default.
    board = get_target("hx-we2")
    assert int(mode["arena_cache_size"]) == board.memory("sram").size_bytes.value


def test_ini_keys_are_ones_vela_reads() -> None:
    areas = ("Sram", "Dram", "OffChipFlash")
    per_area = ("clock_scale", "burst_length", "read_latency", "write_latency")
    allowed = {"core_clock", "axi0_port", "axi1_port"} | {
        f"{a.lower()}_{k}" for a in areas for k in per_area
    }  # ConfigParser lower-cases keys
    mode_keys = {"const_mem_area", "arena_mem_area", "cache_mem_area", "arena_cache_size"}
    for name in ("hx-we2", "alif-e7-hp", "alif-e7-he", "corstone-300", "ethos-u85-256"):
        ini = _ini(name)
        (system,) = [s for s in ini.sections() if s.startswith("System_Config.")]
        (mode,) = [s for s in ini.sections() if s.startswith("Memory_Mode.")]
        assert set(ini[system]) <= allowed, f"{name}: {set(ini[system]) - allowed}"
        assert set(ini[mode]) == mode_keys


def test_clock_scale_is_the_boards_bandwidth_per_axi_transfer() -> None:
    board = get_target("alif-e7-hp")
    sram = board.memory("sram0")
    assert sram.bandwidth_bytes_per_cycle is not None
    ini = _ini("alif-e7-hp")["System_Config.npubench_alif_e7_hp_100MHz"]
    expected = sram.bandwidth_bytes_per_cycle.value / AXI_PORT_BYTES["ethos-u55"]
    assert float(ini["sram_clock_scale"]) == pytest.approx(expected, rel=1e-5)
    assert int(ini["sram_read_latency"]) == sram.latency_cycles.value  # same clock domain


def test_a_memory_on_its_own_clock_is_rescaled_to_npu_cycles() -> None:
    board = get_target("alif-e7-hp")
    mram = board.memory("mram")
    assert mram.clock_mhz is not None and mram.bandwidth_bytes_per_cycle is not None
    at_own = _ini("alif-e7-hp", mram.clock_mhz.value)
    at_100 = _ini("alif-e7-hp", 100)
    own = at_own[f"System_Config.{system_config_name(board, mram.clock_mhz.value)}"]
    slow = at_100["System_Config.npubench_alif_e7_hp_100MHz"]
    ratio = mram.clock_mhz.value / 100
    assert float(slow["offchipflash_clock_scale"]) == pytest.approx(
        float(own["offchipflash_clock_scale"]) * ratio, rel=1e-5
    )
    assert int(own["offchipflash_read_latency"]) == mram.latency_cycles.value
    assert int(slow["offchipflash_read_latency"]) == round(mram.latency_cycles.value / ratio)
    # Flash is read-only: no write latency, as in Vela's own vela.ini.
    assert int(slow["offchipflash_write_latency"]) == 0


def test_a_clock_argument_changes_the_core_clock_and_names_the_section() -> None:
    ini = _ini("hx-we2", 400)
    assert float(ini["System_Config.npubench_hx_we2_400MHz"]["core_clock"]) == 400e6


def test_a_clock_above_the_npu_maximum_is_refused() -> None:
    with pytest.raises(CompilerError, match="exceeds hx-we2's NPU maximum"):
        system_config_ini(get_target("hx-we2"), 401)


def test_a_board_without_an_ethos_u_npu_is_refused() -> None:
    data = get_target("hx-we2").model_dump()
    data.update(npu=None, toolchains={}, name="plain-m55")
    plain = Board.model_validate(data)
    with pytest.raises(CompilerError, match="not an Ethos-U target") as info:
        system_config_ini(plain)
    assert info.value.hint and "ethos-u" in info.value.hint


def test_vela_default_uses_velas_own_config_and_takes_no_clock() -> None:
    board = get_target("hx-we2")
    system = board_system(board, None, "vela-default")
    assert system.ini_text is None
    assert (system.system_config, system.memory_mode) == (
        "Ethos_U55_High_End_Embedded",
        "Shared_Sram",
    )
    with pytest.raises(CompilerError, match="clock cannot be given"):
        board_system(board, 100, "vela-default")
    with pytest.raises(CompilerError, match="unknown system_config"):
        board_system(board, None, "mine")


# --- the parsers, on recorded real Vela output ---------------------------------------------


def test_summary_parser_reads_the_recorded_hx_we2_run() -> None:
    text = (DATA / "tiny_hx-we2_performance_summary.csv").read_text()
    (row,) = _rows("tiny_hx-we2_performance_summary.csv")
    summary = parse_summary_csv(text)
    assert summary.system_config == "npubench_hx_we2_100MHz"
    assert summary.core_clock_hz == 100e6
    assert summary.cycles_total == int(row["cycles_total"]) > summary.cycles_npu > 0
    # Vela's inference time is its total cycle count at the board's clock.
    assert summary.inference_time_s == pytest.approx(summary.cycles_total / 100e6)
    # Memory columns are KiB: bytes come back whole.
    assert summary.memory_used_bytes["sram"] == float(row["sram_memory_used"]) * 1024
    assert summary.memory_used_bytes["dram"] == 0
    assert summary.arena_cache_size_bytes == get_target("hx-we2").memory("sram").size_bytes.value
    assert summary.nn_macs == int(row["nn_macs"])
    assert summary.encoded_weights_bytes == int(row["total_npu_encoded_weights"])


def test_summary_parser_reads_velas_default_config_at_500_mhz() -> None:
    summary = parse_summary_csv((DATA / "tiny_vela-default_summary.csv").read_text())
    assert summary.system_config == "Ethos_U55_High_End_Embedded"
    assert summary.core_clock_hz == 500e6
    assert summary.inference_time_s == pytest.approx(summary.cycles_total / 500e6)


def test_summary_parser_names_a_missing_column() -> None:
    text = (DATA / "tiny_hx-we2_performance_summary.csv").read_text()
    with pytest.raises(CompilerError, match="cycles_npu"):
        parse_summary_csv(text.replace("cycles_npu", "cycles_xpu", 1))


def test_per_layer_parser_puts_every_op_of_an_int8_cnn_on_the_npu() -> None:
    console = parse_console((DATA / "tiny_hx-we2_performance_console.txt").read_text())
    layers = parse_per_layer_csv(
        (DATA / "tiny_hx-we2_performance_per-layer.csv").read_text(), console
    )
    rows = _rows("tiny_hx-we2_performance_per-layer.csv")
    assert len(layers) == len(rows)
    assert {layer.placement for layer in layers} == {"npu"}
    assert [layer.op for layer in layers] == [r["Original Operator"] for r in rows]
    assert sum(layer.cycles or 0 for layer in layers) == sum(float(r["Op Cycles"]) for r in rows)
    assert sum(layer.macs or 0 for layer in layers) == sum(int(r["MAC Count"]) for r in rows)
    # Softmax is lowered into several NPU operations, and the row says so.
    softmax = [layer for layer in layers if layer.op == "Softmax"]
    assert softmax and all(layer.reason.startswith("lowered to NPU ") for layer in softmax)
    assert count_ops(layers, console) == {"npu": console.npu_ops, "cpu": 0}


def test_per_layer_parser_keeps_velas_reason_for_cpu_ops() -> None:
    console = parse_console((DATA / "cpuop_hx-we2_performance_console.txt").read_text())
    layers = parse_per_layer_csv(
        (DATA / "cpuop_hx-we2_performance_per-layer.csv").read_text(), console
    )
    cpu = [layer for layer in layers if layer.placement == "cpu"]
    rows = _rows("cpuop_hx-we2_performance_per-layer.csv")
    assert len(cpu) == sum(r["Target"] == "CPU" for r in rows) > 0
    gather = next(layer for layer in cpu if layer.op == "GatherV2")
    assert "GATHER: Unsupported opType" in gather.reason
    assert all("not timed by Vela" in layer.reason and layer.cycles is None for layer in cpu)
    assert count_ops(layers, console) == {"npu": console.npu_ops, "cpu": console.cpu_ops}
    assert console.cpu_ops == len(cpu)


def memory_fit(board: Board, summary: object, image_bytes: int) -> dict[str, object]:
    return {m.board_memory: m for m in memory_regions(board, summary, image_bytes)}  # type: ignore[arg-type]


def test_memory_fit_names_used_against_capacity() -> None:
    board = get_target("hx-we2")
    summary = parse_summary_csv((DATA / "tiny_hx-we2_performance_summary.csv").read_text())
    fit = memory_fit(board, summary, image_bytes=12_000)
    assert set(fit) == {"sram", "flash"}
    assert fit["sram"].used_bytes == summary.memory_used_bytes["sram"]
    assert fit["sram"].capacity_bytes == board.memory("sram").size_bytes.value
    # The flash holds the whole compiled image, at least what Vela places there.
    assert fit["flash"].used_bytes == max(12_000, summary.memory_used_bytes["off_chip_flash"])
    assert all(m.fits for m in fit.values())
    # The same arena on a board with a smaller SRAM does not fit.
    capacity = summary.memory_used_bytes["sram"] - 1
    small = _with_sram_size(board, capacity)
    small_fit = memory_fit(small, summary, image_bytes=12_000)
    assert not small_fit["sram"].fits
    assert small_fit["sram"].capacity_bytes == capacity


def _with_sram_size(board: Board, size: int) -> Board:
    data = board.model_dump()
    for memory in data["memories"]:
        if memory["name"] == "sram":
            memory["size_bytes"] = {**memory["size_bytes"], "value": size}
    return Board.model_validate(data)


def test_layer_placement_fields_are_the_schema_fields() -> None:
    layers = parse_per_layer_csv((DATA / "cpuop_hx-we2_performance_per-layer.csv").read_text())
    names = {f.name for f in dataclasses.fields(layers[0])}
    assert names == {"index", "name", "op", "placement", "reason", "cycles", "macs", "extra"}
    assert [layer.index for layer in layers] == list(range(len(layers)))
