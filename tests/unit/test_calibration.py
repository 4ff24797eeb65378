"""Calibration samples: loading, validation errors, synthetic samples and the held-out split."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest

from npubench.cache import file_sha256
from npubench.errors import CalibrationDataError
from npubench.models.calibration import (
    MIN_CALIBRATION_SAMPLES,
    MIN_EVALUATION_SAMPLES,
    calibration_source_id,
    load_npy_samples,
    make_sample_set,
    split_samples,
    synthetic_samples,
)

SHAPE = (1, 3, 4, 4)


def save(tmp_path: Path, array: np.ndarray, name: str = "calib.npy") -> Path:
    path = tmp_path / name
    np.save(path, array)
    return path


def calibration_error(path: Path, shape: tuple[int, ...] = SHAPE) -> CalibrationDataError:
    with pytest.raises(CalibrationDataError) as info:
        load_npy_samples(path, shape)
    assert info.value.hint
    return info.value


def test_loads_float64_as_float32(tmp_path: Path) -> None:
    data = np.random.default_rng(1).standard_normal((20, 3, 4, 4))
    samples = load_npy_samples(save(tmp_path, data), SHAPE)
    assert samples.dtype == np.float32
    np.testing.assert_allclose(samples, data.astype(np.float32))


def test_batch_one_axis_is_squeezed(tmp_path: Path) -> None:
    data = np.ones((12, 1, 3, 4, 4), dtype=np.float32)
    assert load_npy_samples(save(tmp_path, data), SHAPE).shape == (12, 3, 4, 4)


@pytest.mark.parametrize("bad_shape", [(20, 4, 4, 3), (20, 3, 4), (20, 2, 3, 4, 4), (48,)])
def test_wrong_shape_names_expected_and_got(tmp_path: Path, bad_shape: tuple[int, ...]) -> None:
    err = calibration_error(save(tmp_path, np.zeros(bad_shape, dtype=np.float32)))
    assert str(bad_shape) in err.message
    assert "(N, 3, 4, 4)" in err.message


@pytest.mark.parametrize(
    "array",
    [np.zeros((20, 3, 4, 4), dtype=np.int32), np.zeros((20, 3, 4, 4), dtype=np.uint8)],
)
def test_integer_dtype_is_refused(tmp_path: Path, array: np.ndarray) -> None:
    err = calibration_error(save(tmp_path, array))
    assert str(array.dtype) in err.message


def test_string_dtype_is_refused(tmp_path: Path) -> None:
    err = calibration_error(save(tmp_path, np.array(["a", "b"] * 10)))
    assert "dtype" in err.message


def test_object_array_is_refused_without_unpickling(tmp_path: Path) -> None:
    path = tmp_path / "obj.npy"
    np.save(path, np.array([{"a": 1}, None], dtype=object), allow_pickle=True)
    err = calibration_error(path)
    assert "Python objects" in err.message


@pytest.mark.parametrize("bad", [np.nan, np.inf, -np.inf])
def test_non_finite_values(tmp_path: Path, bad: float) -> None:
    data = np.zeros((20, 3, 4, 4), dtype=np.float32)
    data[3, 1, 2, 2] = bad
    err = calibration_error(save(tmp_path, data))
    assert "1 NaN or infinite" in err.message


def test_too_few_samples(tmp_path: Path) -> None:
    count = MIN_CALIBRATION_SAMPLES + MIN_EVALUATION_SAMPLES - 1
    err = calibration_error(save(tmp_path, np.zeros((count, 3, 4, 4), dtype=np.float32)))
    assert f"{count} samples" in err.message


def test_not_a_npy_file(tmp_path: Path) -> None:
    path = tmp_path / "samples.npy"
    path.write_text("1,2,3\n4,5,6\n")
    assert "not a NumPy .npy file" in calibration_error(path).message


def test_npz_is_not_npy(tmp_path: Path) -> None:
    path = tmp_path / "samples.npz"
    np.savez(path, x=np.zeros((20, 3, 4, 4), dtype=np.float32))
    assert "not a NumPy .npy file" in calibration_error(path).message


def test_truncated_npy(tmp_path: Path) -> None:
    data = save(tmp_path, np.zeros((20, 3, 4, 4), dtype=np.float32)).read_bytes()
    cut = tmp_path / "cut.npy"
    cut.write_bytes(data[: len(data) // 2])
    assert "truncated or corrupt" in calibration_error(cut).message


def test_missing_file(tmp_path: Path) -> None:
    with pytest.raises(CalibrationDataError, match="does not exist"):
        make_sample_set(tmp_path / "none.npy", SHAPE)


def test_synthetic_is_seeded() -> None:
    a = synthetic_samples(SHAPE, 5, seed=3)
    assert a.shape == (5, 3, 4, 4) and a.dtype == np.float32
    np.testing.assert_array_equal(a, synthetic_samples(SHAPE, 5, seed=3))
    assert not np.array_equal(a, synthetic_samples(SHAPE, 5, seed=4))


def test_source_ids(tmp_path: Path) -> None:
    path = save(tmp_path, np.zeros((20, 3, 4, 4), dtype=np.float32))
    assert calibration_source_id(None) == "synthetic"
    assert calibration_source_id(path) == f"npy:{file_sha256(path)}"
    assert make_sample_set(path, SHAPE).source == f"npy:{file_sha256(path)}"
    assert make_sample_set(None, SHAPE).source == "synthetic"


def rows(array: np.ndarray) -> set[bytes]:
    return {row.tobytes() for row in array}


def test_split_is_disjoint_and_sized() -> None:
    data = np.arange(100 * 48, dtype=np.float32).reshape(100, 3, 4, 4)  # every row distinct
    split = split_samples(data, calib_samples=64, eval_samples=16, seed=0, source="synthetic")
    assert split.calibration.shape == (64, 3, 4, 4)
    assert split.evaluation.shape == (16, 3, 4, 4)
    assert not rows(split.calibration) & rows(split.evaluation)


def test_split_with_fewer_samples_than_asked() -> None:
    data = np.arange(20 * 48, dtype=np.float32).reshape(20, 3, 4, 4)
    split = split_samples(data, calib_samples=64, eval_samples=16, seed=0, source="x")
    assert len(split.evaluation) == 5  # a quarter held out
    assert len(split.calibration) == 15
    assert not rows(split.calibration) & rows(split.evaluation)


def test_split_depends_on_seed() -> None:
    data = np.arange(40 * 48, dtype=np.float32).reshape(40, 3, 4, 4)
    a = split_samples(data, 16, 8, seed=0, source="x")
    b = split_samples(data, 16, 8, seed=1, source="x")
    assert rows(a.evaluation) != rows(b.evaluation)


def test_split_refuses_tiny_requests() -> None:
    data = np.zeros((40, 3, 4, 4), dtype=np.float32)
    with pytest.raises(CalibrationDataError, match="at least"):
        split_samples(data, calib_samples=2, eval_samples=8, seed=0, source="x")


def test_synthetic_sample_set_is_disjoint() -> None:
    split = make_sample_set(None, SHAPE, calib_samples=32, eval_samples=8, seed=5)
    assert len(split.calibration) == 32 and len(split.evaluation) == 8
    assert not rows(split.calibration) & rows(split.evaluation)
