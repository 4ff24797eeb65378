"""The board catalogue: the shipped board files validate, and bad board files are rejected.

Checks the non-Ethos-U boards written from datasheets, SDK sources and the paper, and the loader's
error messages for broken files (built from a real board file with one field damaged).
"""

from __future__ import annotations

import tomllib
from pathlib import Path

import pytest

from npubench.errors import TargetError
from npubench.targets import catalogue
from npubench.targets.catalogue import all_targets, get_target, load_board_file

BOARDS_DIR = Path(catalogue.__file__).parent / "boards"

# The boards this catalogue promises (the list of non-Ethos-U targets).
EXPECTED_BOARDS = {
    "max78000",
    "max78000-riscv",
    "max78002",
    "mcxn947",
    "gap8",
    "gap9",
    "cv1800b",
    "stm32n6",
    "stm32h7a3",
    "stm32l4r5",
    "esp32s3",
    "efr32mg24",
    "qemu-cortex-m4",
    "qemu-cortex-m55",
    "ndp120",
    "stm32u385",
}
EMULATORS = {"qemu-cortex-m4", "qemu-cortex-m55"}
# Boards that cannot (or, under Linux, do not) run the study's equal 100 MHz CPU clock.
NOT_AT_100_MHZ = {
    "max78000-riscv",
    "efr32mg24",
    "esp32s3",
    "cv1800b",
    "ndp120",  # no 100 MHz clock preset: 98.304 MHz
    "stm32u385",  # 96 MHz maximum
} | EMULATORS
# Sources that back only the free-text description; every other source must back a figure.
DESCRIPTION_ONLY_SOURCES = {
    "stm32l4r5": {"mlperf"},
    "cv1800b": {"datasheet"},
    "stm32n6": {"stedgeai"},
}


# Each test sees the board folders as they are now, not a cached earlier load.
pytestmark = pytest.mark.usefixtures("fresh_catalogue")


def _board_file(name: str) -> Path:
    return BOARDS_DIR / f"{name}.toml"


@pytest.mark.parametrize("name", sorted(EXPECTED_BOARDS))
def test_board_file_loads_and_is_named_like_its_file(name: str) -> None:
    board = load_board_file(_board_file(name))
    assert board.name == name
    assert board.figures(), f"{name} has no figures"


def test_catalogue_lists_every_expected_board() -> None:
    missing = EXPECTED_BOARDS - set(all_targets())
    assert not missing, f"boards missing from the catalogue: {sorted(missing)}"


@pytest.mark.parametrize("name", sorted(EXPECTED_BOARDS))
def test_every_figure_cites_a_declared_source_with_a_title(name: str) -> None:
    board = load_board_file(_board_file(name))
    for path, figure in board.figures():
        assert figure.source in board.sources, f"{name}: {path} cites {figure.source!r}"
    for key, source in board.sources.items():
        assert source.title.strip(), f"{name}: source {key} has no title"
        if source.kind == "assumption":
            # An assumption must say what was assumed and why, not just "assumed".
            assert len(source.title.split()) >= 8, f"{name}: assumption {key} gives no reason"
        else:
            assert source.url.startswith("https://"), f"{name}: source {key} has no URL"


@pytest.mark.parametrize("name", sorted(EXPECTED_BOARDS))
def test_every_declared_source_is_used(name: str) -> None:
    board = load_board_file(_board_file(name))
    used = {figure.source for _, figure in board.figures()}
    unused = set(board.sources) - used - DESCRIPTION_ONLY_SOURCES.get(name, set())
    assert not unused, f"{name}: sources declared but not cited: {sorted(unused)}"


@pytest.mark.parametrize("name", sorted(EXPECTED_BOARDS))
def test_default_clock_is_the_studys_100_mhz_where_the_chip_allows_it(name: str) -> None:
    board = load_board_file(_board_file(name))
    if name in NOT_AT_100_MHZ:
        assert board.cpu.clock_mhz.note, f"{name}: a clock other than 100 MHz needs a note"
    else:
        assert board.cpu.clock_mhz.value == 100, f"{name}: default CPU clock is not 100 MHz"


@pytest.mark.parametrize("name", sorted(EXPECTED_BOARDS - EMULATORS))
def test_physical_boards_have_power_for_every_engine(name: str) -> None:
    board = load_board_file(_board_file(name))
    assert board.power is not None, f"{name}: no [power] table"
    if board.npu is not None:
        assert board.power.active_npu_mw is not None, f"{name}: NPU board without NPU power"
        assert board.power.active_npu_mw.value >= board.power.active_cpu_mw.value


def test_emulators_are_marked_as_emulators_and_have_no_power() -> None:
    for name in EMULATORS:
        board = load_board_file(_board_file(name))
        assert board.kind == "emulator"
        assert board.power is None, f"{name}: QEMU models no power"


def test_max78000_cnn_clock_is_below_the_cpu_clock() -> None:
    board = get_target("max78000")
    assert board.npu is not None
    # The CNN runs from PCLK = system clock / 2, so it can never reach the study's 100 MHz.
    assert board.npu.clock_mhz.value == board.cpu.clock_mhz.value / 2


# --- broken board files: the loader names the file and the field ----------------------------


def _write_damaged(tmp_path: Path, old: str, new: str, name: str = "max78000") -> Path:
    """A copy of a real board file with one piece of text replaced."""
    text = _board_file(name).read_text(encoding="utf-8")
    assert old in text, f"test setup: {old!r} not in {name}.toml"
    path = tmp_path / f"{name}.toml"
    path.write_text(text.replace(old, new, 1), encoding="utf-8")
    return path


def _load_error(path: Path) -> str:
    with pytest.raises(TargetError) as info:
        load_board_file(path)
    message = str(info.value)
    assert str(path) in message, f"error does not name the file: {message}"
    return message


def test_rejects_a_missing_figure(tmp_path: Path) -> None:
    # Renaming the idle figure to the (optional) sleep figure leaves idle_mw missing.
    message = _load_error(
        _write_damaged(tmp_path, "idle_mw = { value = 3,", "sleep_mw = { value = 3,")
    )
    assert "power.idle_mw" in message
    assert "Field required" in message


def test_rejects_a_negative_figure(tmp_path: Path) -> None:
    message = _load_error(
        _write_damaged(tmp_path, "size_bytes = { value = 131072", "size_bytes = { value = -131072")
    )
    assert "memories.0.size_bytes.value" in message


def test_rejects_an_undeclared_source(tmp_path: Path) -> None:
    old = 'macs_per_cycle = { value = 576, source = "assume-arch"'
    message = _load_error(
        _write_damaged(tmp_path, old, old.replace("assume-arch", "no-such-source"))
    )
    assert "npu.macs_per_cycle" in message
    assert "'no-such-source' is not declared" in message


def test_rejects_a_clock_above_its_maximum(tmp_path: Path) -> None:
    old = 'clock_mhz = { value = 100, source = "paper"'
    message = _load_error(_write_damaged(tmp_path, old, old.replace("100", "120")))
    assert "cpu.clock_mhz (120) exceeds cpu.max_clock_mhz (100)" in message


def test_rejects_an_npu_clock_above_its_maximum(tmp_path: Path) -> None:
    old = '\nclock_mhz = { value = 50, source = "ai8x"'  # not the max_clock_mhz line
    message = _load_error(_write_damaged(tmp_path, old, old.replace("50", "60")))
    assert "npu.clock_mhz (60) exceeds npu.max_clock_mhz (50)" in message


def test_rejects_idle_power_above_active(tmp_path: Path) -> None:
    message = _load_error(
        _write_damaged(tmp_path, "idle_mw = { value = 3,", "idle_mw = { value = 300,")
    )
    assert "power.idle_mw exceeds power.active_cpu_mw" in message


def test_rejects_a_file_whose_name_differs_from_the_board_name(tmp_path: Path) -> None:
    path = tmp_path / "max7800.toml"
    path.write_text(_board_file("max78000").read_text(encoding="utf-8"), encoding="utf-8")
    assert "differs from the file name" in _load_error(path)


def test_rejects_invalid_toml(tmp_path: Path) -> None:
    path = tmp_path / "broken.toml"
    path.write_text('name = "broken"\n[cpu\n', encoding="utf-8")
    assert "not valid TOML" in _load_error(path)


# --- lookup ------------------------------------------------------------------------------


def test_unknown_target_suggests_the_closest_name() -> None:
    with pytest.raises(TargetError) as info:
        get_target("max7800")
    assert info.value.hint is not None
    assert "max78000" in info.value.hint


def test_board_in_the_extra_boards_folder_is_found(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    data = tomllib.loads(_board_file("stm32l4r5").read_text(encoding="utf-8"))
    text = _board_file("stm32l4r5").read_text(encoding="utf-8")
    text = text.replace('name = "stm32l4r5"', 'name = "my-lab-l4r5"', 1)
    (tmp_path / "my-lab-l4r5.toml").write_text(text, encoding="utf-8")
    monkeypatch.setenv(catalogue.BOARDS_PATH_ENV, str(tmp_path))
    catalogue._load_all.cache_clear()

    board = get_target("my-lab-l4r5")
    assert board.display_name == data["display_name"]
    assert "stm32l4r5" in all_targets(), "built-in boards must still be listed"
