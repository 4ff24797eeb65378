"""The Ethos-U board files: they load, validate, cite their figures, and drive Vela consistently.

Also checks that the loader rejects an Ethos-U board file with one figure damaged, naming the
field (files built from the real hx-we2.toml).
"""

from __future__ import annotations

import configparser
from pathlib import Path

import pytest

from npubench.errors import TargetError
from npubench.targets import catalogue
from npubench.targets.catalogue import load_board_file
from npubench.toolchains.vela.config import system_config_ini, vela_config

BOARDS_DIR = Path(catalogue.__file__).parent / "boards"
BOARDS = {"hx-we2", "alif-e7-hp", "alif-e7-he", "corstone-300"}
ACCELERATORS = {
    "ethos-u55-32",
    "ethos-u55-64",
    "ethos-u55-128",
    "ethos-u55-256",
    "ethos-u65-256",
    "ethos-u65-512",
    "ethos-u85-128",
    "ethos-u85-256",
    "ethos-u85-512",
}
ALL = sorted(BOARDS | ACCELERATORS)


# Each test sees the board folders as they are now, not a cached earlier load.
pytestmark = pytest.mark.usefixtures("fresh_catalogue")


def _load(name: str):
    return load_board_file(BOARDS_DIR / f"{name}.toml")


@pytest.mark.parametrize("name", ALL)
def test_ethos_board_loads_with_a_consistent_vela_table(name: str) -> None:
    board = _load(name)
    assert board.name == name
    assert board.npu is not None and board.npu.family == "ethos-u"
    assert vela_config(board).accelerator == board.npu.name
    assert board.toolchain == "vela"
    # The MAC count in the accelerator name is the NPU's MACs per cycle.
    assert board.npu.macs_per_cycle.value == int(board.npu.name.rsplit("-", 1)[1])
    expected_kind = "emulator" if name == "corstone-300" else "board"
    assert board.kind == ("accelerator" if name in ACCELERATORS else expected_kind)
    assert board.npu.weights_memory and board.npu.arena_memory
    for ref in (board.npu.weights_memory, board.npu.arena_memory):
        memory = board.memory(ref)
        assert memory.bandwidth_bytes_per_cycle is not None, f"{name}: {ref} has no bandwidth"
        assert memory.latency_cycles is not None, f"{name}: {ref} has no latency"
    assert board.memory(board.npu.arena_memory).role == "sram"


@pytest.mark.parametrize("name", ALL)
def test_every_source_is_cited_and_says_where_it_is(name: str) -> None:
    board = _load(name)
    used = {figure.source for _, figure in board.figures()}
    assert set(board.sources) == used, f"{name}: unused sources {set(board.sources) - used}"
    for key, source in board.sources.items():
        if source.kind == "assumption":
            assert len(source.title.split()) >= 8, f"{name}: assumption {key} gives no reason"
        elif source.kind in ("paper", "measurement"):
            assert "Millar" in source.title or "data/reference" in source.title
        else:
            assert source.url.startswith("https://"), f"{name}: source {key} has no URL"


@pytest.mark.parametrize("name", ALL)
def test_default_clock_is_the_studys_100_mhz(name: str) -> None:
    board = _load(name)
    assert board.npu is not None
    assert board.cpu.clock_mhz.value == board.npu.clock_mhz.value == 100


@pytest.mark.parametrize("name", ALL)
def test_every_ethos_board_gives_vela_a_parseable_config(name: str) -> None:
    parser = configparser.ConfigParser()
    parser.read_string(system_config_ini(_load(name)))
    assert len(parser.sections()) == 2


def test_hx_we2_power_comes_from_the_recorded_trace_and_orders_sensibly() -> None:
    board = _load("hx-we2")
    assert board.power is not None and board.power.active_npu_mw is not None
    assert board.sources[board.power.idle_mw.source].kind == "measurement"
    assert board.power.idle_mw.value < board.power.active_cpu_mw.value
    assert board.power.active_cpu_mw.value < board.power.active_npu_mw.value


def _damaged(tmp_path: Path, old: str, new: str) -> Path:
    text = (BOARDS_DIR / "hx-we2.toml").read_text(encoding="utf-8")
    assert old in text, f"test setup: {old!r} not in hx-we2.toml"
    path = tmp_path / "hx-we2.toml"
    path.write_text(text.replace(old, new, 1), encoding="utf-8")
    return path


def _error(path: Path) -> str:
    with pytest.raises(TargetError) as info:
        load_board_file(path)
    assert str(path) in str(info.value)
    return str(info.value)


def test_a_negative_sram_size_is_rejected_with_the_field_named(tmp_path: Path) -> None:
    old = 'size_bytes = { value = 2097152, source = "himax-sdk"'
    message = _error(_damaged(tmp_path, old, old.replace("2097152", "-2097152")))
    assert "memories.0.size_bytes.value" in message


def test_an_undeclared_source_is_rejected_with_the_field_named(tmp_path: Path) -> None:
    old = 'macs_per_cycle = { value = 64, source = "arm-u55"'
    message = _error(_damaged(tmp_path, old, old.replace("arm-u55", "arm-u56")))
    assert "npu.macs_per_cycle" in message and "'arm-u56' is not declared" in message


def test_a_vela_table_naming_a_missing_memory_is_rejected(tmp_path: Path) -> None:
    message = _error(_damaged(tmp_path, 'arena_memory = "sram"', 'arena_memory = "sram9"'))
    assert "npu.arena_memory: memory 'sram9' is not among" in message


def test_an_npu_clock_above_its_maximum_is_rejected(tmp_path: Path) -> None:
    old = 'macs_per_cycle = { value = 64, source = "arm-u55" }'
    text = (BOARDS_DIR / "hx-we2.toml").read_text(encoding="utf-8")
    npu_part = text[text.index("[npu]") : text.index(old)]
    bad = npu_part.replace(
        'clock_mhz = { value = 100, source = "paper"', 'clock_mhz = { value = 500, source = "paper"'
    )
    path = tmp_path / "hx-we2.toml"
    path.write_text(text.replace(npu_part, bad, 1), encoding="utf-8")
    assert "npu.clock_mhz (500) exceeds npu.max_clock_mhz (400)" in _error(path)
