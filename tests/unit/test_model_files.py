"""Malformed and oversized model and data files end in a ModelError (or CalibrationDataError)
naming the file, before anything large is read."""

from __future__ import annotations

import contextlib
import random
import time
from pathlib import Path

import numpy as np
import pytest

from npubench.errors import CalibrationDataError, ModelError
from npubench.models import calibration, source
from npubench.models.quantize import check_int8_tflite

pytestmark = pytest.mark.timeout(300)

MLP = Path(__file__).parents[1] / "data" / "cgen" / "mlp_per_tensor.tflite"


def sparse(path: Path, size: int, head: bytes = b"") -> Path:
    with open(path, "wb") as f:
        f.write(head)
        f.truncate(size)
    return path


def test_a_tensor_name_that_is_not_utf8_is_a_model_error(tmp_path: Path) -> None:
    data = bytearray(MLP.read_bytes())
    at = data.find(b"serving_default")
    assert at > 0
    data[at + 3] = 0xFF
    bad = tmp_path / "bad.tflite"
    bad.write_bytes(bytes(data))
    with pytest.raises(ModelError, match="not UTF-8"):
        check_int8_tflite(bad)
    with pytest.raises(ModelError, match="not UTF-8"):
        source.resolve_source(str(bad))


def test_bit_flips_never_escape_as_other_exceptions(
    tmp_path: Path, tflite_models: dict[str, Path]
) -> None:
    rng = random.Random(4)
    original = tflite_models["small_convnet"].read_bytes()
    path = tmp_path / "m.tflite"
    for _ in range(60):
        data = bytearray(original)
        for _ in range(rng.choice((1, 4))):
            data[rng.randrange(len(data))] = rng.randrange(256)
        path.write_bytes(bytes(data))
        for check in (check_int8_tflite, lambda p: source.resolve_source(str(p))):
            with contextlib.suppress(ModelError):
                check(path)


@pytest.mark.parametrize(
    ("name", "head", "spec"),
    [
        ("big.onnx", b"", None),
        ("big.tflite", b"\x1c\x00\x00\x00TFL3", None),
        ("big.py", b"import torch\n", "{}:Net"),
    ],
)
def test_huge_files_are_refused_before_reading(
    tmp_path: Path, name: str, head: bytes, spec: str | None
) -> None:
    path = sparse(tmp_path / name, 3 << 30, head)
    t0 = time.monotonic()
    with pytest.raises(ModelError, match="MiB, more than") as info:
        source.resolve_source(spec.format(path) if spec else str(path), input_shape=(1, 4))
    assert time.monotonic() - t0 < 5 and source.SIZE_LIMIT_ENV in (info.value.hint or "")


def test_the_size_limit_can_be_raised(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    path = sparse(tmp_path / "m.onnx", 600 << 20)
    with pytest.raises(ModelError, match="512 MiB"):
        source.check_file_size(path, "ONNX model", source.MAX_MODEL_BYTES)
    monkeypatch.setenv(source.SIZE_LIMIT_ENV, "1024")
    assert source.check_file_size(path, "ONNX model", source.MAX_MODEL_BYTES) == 600 << 20
    monkeypatch.setenv(source.SIZE_LIMIT_ENV, "lots")
    with pytest.raises(ModelError, match="not a positive number"):
        source.check_file_size(path, "ONNX model", source.MAX_MODEL_BYTES)


def test_calibration_files_too_large_or_lying_are_refused(tmp_path: Path) -> None:
    huge = sparse(tmp_path / "huge.npy", 3 << 30, b"\x93NUMPY")
    with pytest.raises(CalibrationDataError, match="MiB, more than"):
        calibration.calibration_source_id(huge)
    header = "{'descr': '<f4', 'fortran_order': False, 'shape': (400000000000, 3), }"
    header += " " * (118 - len(header)) + "\n"
    lying = tmp_path / "lying.npy"
    lying.write_bytes(b"\x93NUMPY\x01\x00" + len(header).to_bytes(2, "little") + header.encode())
    with pytest.raises(CalibrationDataError, match="header announces shape"):
        calibration.load_npy_samples(lying, (1, 3))
    junk = tmp_path / "junk.npy"
    junk.write_bytes(b"\x93NUMPY" + bytes(range(200)))
    with pytest.raises(CalibrationDataError, match=r"malformed \.npy header"):
        calibration.load_npy_samples(junk, (1, 3))
    good = tmp_path / "good.npy"
    np.save(good, np.zeros((12, 3), np.float32))
    assert calibration.load_npy_samples(good, (1, 3)).shape == (12, 3)
