"""Sweep files: validation names the line and the closest names; the matrix and its keys."""

from __future__ import annotations

import shutil
from pathlib import Path

import numpy as np
import pytest

from npubench.pipeline import ETHOS_U_BOARDS
from npubench.sweep.cells import expand
from npubench.sweep.spec import SweepSpecError, load_spec, parse_spec, spec_from_flags

MODEL = Path(__file__).parents[1] / "data" / "cgen" / "mlp_per_tensor.tflite"


@pytest.fixture()
def folder(tmp_path: Path) -> Path:
    shutil.copy(MODEL, tmp_path / "mlp.tflite")
    return tmp_path


def write(folder: Path, text: str, name: str = "sweep.toml") -> Path:
    path = folder / name
    path.write_text(text, encoding="utf-8")
    return path


GOOD = """\
name = "study"
models = ["mlp.tflite"]
targets = ["hx-we2", "max78000"]
kinds = ["compile", "predict"]

[options]
optimise = ["Size", "Performance"]
clock_mhz = [100, "default"]
calibration = ["synthetic"]
tflm_checks = false
"""


def test_a_valid_file_parses_with_paths_resolved_against_its_folder(folder: Path) -> None:
    spec = load_spec(write(folder, GOOD))
    assert spec.name == "study"
    assert spec.models == (str(folder / "mlp.tflite"),)
    assert spec.targets == ("hx-we2", "max78000")
    assert spec.optimise == ("Size", "Performance")
    assert spec.clock_mhz == (100.0, None)
    assert spec.tflm_checks is False
    assert spec.group_id.startswith("sweep:study:")


def test_each_problem_is_named_with_its_line_and_the_closest_names(folder: Path) -> None:
    text = """\
name = "bad"
models = ["zoo:resnt", "mlp.tflite"]
targets = [
  "hx-we2",
  "max7800",
]
kinds = ["compile", "predicted"]
colour = "blue"

[options]
optimise = ["Fast"]
clock = [100]
"""
    with pytest.raises(SweepSpecError) as info:
        load_spec(write(folder, text, "bad.toml"))
    message = info.value.message
    assert "bad.toml:2: unknown zoo model 'zoo:resnt' (did you mean zoo:resnet" in message
    assert "bad.toml:5: unknown target 'max7800' (did you mean max78002, max78000" in message
    assert "bad.toml:7: unknown kind 'predicted' (did you mean predict?)" in message
    assert "bad.toml:8: unknown key 'colour'" in message
    assert "bad.toml:11: unknown optimise mode 'Fast'" in message
    assert "bad.toml:12: unknown [options] key 'clock' (did you mean clock_mhz?)" in message
    assert info.value.hint


@pytest.mark.parametrize(
    ("line", "expected"),
    [
        ('clock_mhz = ["fast"]', 'options.clock_mhz must be positive numbers or "default"'),
        ("clock_mhz = [-5]", "options.clock_mhz must be positive numbers"),
        ("optimise = [3]", "options.optimise must be strings, got 3"),
        ("seed = 1.5", "options.seed must be an integer"),
        ('tflm_checks = "yes"', "options.tflm_checks must be true or false"),
        ("input_shape = [1, 0, 4]", "options.input_shape must be positive integers"),
        ('calibration = ["missing.npy"]', "missing.npy does not exist"),
    ],
)
def test_type_errors_are_named(folder: Path, line: str, expected: str) -> None:
    text = f'models = ["mlp.tflite"]\ntargets = ["hx-we2"]\n[options]\n{line}\n'
    with pytest.raises(SweepSpecError, match=r"sweep\.toml:4: ") as info:
        load_spec(write(folder, text))
    assert expected in info.value.message


def test_missing_model_file_and_missing_lists_are_reported(folder: Path) -> None:
    with pytest.raises(SweepSpecError) as info:
        load_spec(write(folder, 'name = "x"\nmodels = ["nope.onnx"]\n'))
    assert "sweep.toml:2: model file" in info.value.message
    assert "no targets" in info.value.message


def test_invalid_toml_names_the_position(folder: Path) -> None:
    with pytest.raises(SweepSpecError, match=r"not valid TOML: .*line 2"):
        load_spec(write(folder, 'name = "x"\nmodels = ["a" "b"]\n'))


def test_a_missing_file_is_a_clear_error(tmp_path: Path) -> None:
    with pytest.raises(SweepSpecError, match="does not exist"):
        load_spec(tmp_path / "none.toml")


def test_flags_are_validated_the_same_way_naming_the_flag() -> None:
    with pytest.raises(SweepSpecError) as info:
        spec_from_flags([str(MODEL)], ["hx-we3"], kinds=["compile"])
    assert "--target: unknown target 'hx-we3' (did you mean hx-we2" in info.value.message


def test_the_group_id_follows_what_the_sweep_computes(folder: Path) -> None:
    a = parse_spec(GOOD, folder / "s.toml")
    assert parse_spec(GOOD, folder / "s.toml").group_id == a.group_id
    assert parse_spec(GOOD.replace('"Size", ', ""), folder / "s.toml").group_id != a.group_id
    # Ports are where a board is plugged in, not what is computed.
    with_ports = GOOD + '[measure]\nports = { max78000 = "/dev/ttyACM0" }\n'
    assert parse_spec(with_ports, folder / "s.toml").group_id == a.group_id


def test_expansion_drops_compile_cells_without_a_compiler(folder: Path) -> None:
    spec = parse_spec(GOOD, folder / "s.toml")
    matrix = expand(spec)
    kinds = [(c.kind, c.target, c.optimise, c.clock_mhz) for c in matrix.cells]
    # hx-we2 (Vela): 2 kinds x 2 optimise x 2 clocks; max78000: predict x 2 clocks only.
    assert len(kinds) == 2 * 2 * 2 + 2
    assert ("compile", "max78000") not in {(k, t) for k, t, _, _ in kinds}
    assert all(o is None for k, t, o, _ in kinds if t == "max78000")
    assert matrix.not_applicable == [
        "compile mlp on max78000: ai8x-synthesis is not installed here (`npubench toolchains list`)"
    ]
    assert len(matrix.prepares) == 1
    assert len({c.key for c in matrix.cells}) == len(matrix.cells)


def test_cell_keys_are_stable_and_follow_content(folder: Path) -> None:
    spec = parse_spec(GOOD, folder / "s.toml")
    keys = [c.key for c in expand(spec).cells]
    assert keys == [c.key for c in expand(parse_spec(GOOD, folder / "s.toml")).cells]
    # The same file under another path is another spec; the same path with other bytes is
    # another model: both change every key.
    shutil.copy(folder / "mlp.tflite", folder / "copy.tflite")
    renamed = expand(parse_spec(GOOD.replace("mlp.tflite", "copy.tflite"), folder / "s.toml"))
    assert not set(keys) & {c.key for c in renamed.cells}
    with open(folder / "mlp.tflite", "ab") as f:
        f.write(b"\0\0\0\0")
    changed = expand(parse_spec(GOOD, folder / "s.toml"))
    assert not set(keys) & {c.key for c in changed.cells}


def test_calibration_content_is_part_of_the_key(folder: Path) -> None:
    np.save(folder / "a.npy", np.zeros((4, 8), np.float32))
    text = GOOD.replace('["synthetic"]', '["a.npy"]')
    before = {c.key for c in expand(parse_spec(text, folder / "s.toml")).cells}
    np.save(folder / "a.npy", np.ones((4, 8), np.float32))
    after = {c.key for c in expand(parse_spec(text, folder / "s.toml")).cells}
    assert before.isdisjoint(after)


def test_target_groups_expand(folder: Path) -> None:
    text = 'models = ["mlp.tflite"]\ntargets = ["ethos-u"]\nkinds = ["compile"]\n'
    matrix = expand(parse_spec(text, folder / "s.toml"))
    assert sorted(c.target for c in matrix.cells) == sorted(ETHOS_U_BOARDS)


def test_measure_section_takes_a_baud_rate_and_a_power_instrument_per_board() -> None:
    from npubench.errors import NpubenchError
    from npubench.sweep.cells import expand
    from npubench.sweep.spec import parse_spec

    spec = parse_spec(
        'name = "hil"\nmodels = ["zoo:autoenc"]\ntargets = ["hx-we2", "qemu-cortex-m4"]\n'
        'kinds = ["measure"]\n[measure]\nbaud = { hx-we2 = 921600 }\n'
        'power = { hx-we2 = "ppk2" }\n'
    )
    assert spec.bauds == {"hx-we2": 921600} and spec.power == {"hx-we2": "ppk2"}
    cells = {c.target: c for c in expand(spec).cells}
    assert (cells["hx-we2"].baud, cells["hx-we2"].power) == (921600, "ppk2")
    assert (cells["qemu-cortex-m4"].baud, cells["qemu-cortex-m4"].power) == (None, None)
    with pytest.raises(NpubenchError, match="hx-we3"):
        parse_spec(
            'name = "x"\nmodels = ["zoo:autoenc"]\ntargets = ["hx-we2"]\n'
            'kinds = ["measure"]\n[measure]\npower = { hx-we3 = "ppk2" }\n'
        )
