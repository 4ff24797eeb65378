"""Calibration and held-out evaluation samples for int8 post-training quantization.

May import ``npubench.errors``, ``npubench.cache`` and ``npubench.models.source`` (file size
limits; numpy only, no ML framework). A ``.npy`` file larger than ``MAX_NPY_BYTES`` (2 GiB,
``$NPUBENCH_MAX_FILE_MB`` overrides) is refused before it is read or hashed, and its header is
checked against the file's size, so a header announcing a terabyte array is refused rather
than allocated. Samples are
float32 arrays of shape ``(N, *input_shape[1:])`` in the SOURCE layout (NCHW / NCW as PyTorch and
ONNX see them); the quantizer permutes them to the TFLite layout itself. Samples come from a
user ``.npy`` file or are synthetic (seeded). Calibration and evaluation samples are always
disjoint, so fidelity is never measured on the data that chose the quantization ranges.
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

import numpy as np

from npubench.cache import file_sha256
from npubench.errors import CalibrationDataError

MAX_NPY_BYTES = 2048 << 20
MIN_CALIBRATION_SAMPLES = 8
MIN_EVALUATION_SAMPLES = 2
NPY_MAGIC = b"\x93NUMPY"


@dataclass(frozen=True)
class SampleSet:
    """Disjoint calibration and evaluation samples, source layout, float32."""

    calibration: np.ndarray
    evaluation: np.ndarray
    source: str  # "synthetic" or "npy:<sha256 of the file>"


def calibration_source_id(path: Path | None) -> str:
    """How the samples are recorded in results: ``synthetic`` or ``npy:<sha256>``."""
    if path is None:
        return "synthetic"
    path = Path(path)
    if not path.is_file():
        raise CalibrationDataError(
            f"calibration file {path} does not exist",
            hint="pass the path of a .npy file of input samples, or omit it for synthetic samples",
        )
    _check_size(path)
    return f"npy:{file_sha256(path)}"


def _check_size(path: Path) -> None:
    from npubench.errors import ModelError
    from npubench.models.source import check_file_size

    try:
        check_file_size(path, "calibration file", MAX_NPY_BYTES)
    except ModelError as e:
        raise CalibrationDataError(e.message, hint=e.hint) from None


def _check_header(path: Path) -> None:
    """The .npy header's shape and dtype against the file's size, before anything is loaded."""
    import numpy.lib.format as npy_format

    try:
        with open(path, "rb") as f:
            version = npy_format.read_magic(f)
            if version == (1, 0):
                shape, _, dtype = npy_format.read_array_header_1_0(f)
            else:
                shape, _, dtype = npy_format.read_array_header_2_0(f)
            offset = f.tell()
    except (ValueError, OSError, EOFError, SyntaxError) as exc:
        raise CalibrationDataError(
            f"calibration file {path} has a malformed .npy header: {exc}",
            hint="write the file again with numpy.save",
        ) from None
    if dtype.hasobject:
        raise CalibrationDataError(
            f"calibration file {path} holds Python objects, not numbers",
            hint="save a float32 array of input samples with numpy.save",
        )
    count = 1
    for d in shape:
        count *= int(d)
    need = count * dtype.itemsize
    have = path.stat().st_size - offset
    if need != have:
        raise CalibrationDataError(
            f"calibration file {path} is truncated or corrupt: its header announces shape "
            f"{tuple(shape)} of {dtype} ({need:,} bytes) but the file holds {have:,}",
            hint="write the file again with numpy.save",
        )


def synthetic_samples(input_shape: tuple[int, ...], count: int, seed: int) -> np.ndarray:
    """``count`` standard-normal samples: the range of normalised inputs most models expect."""
    rng = np.random.default_rng(seed)
    return rng.standard_normal((count, *input_shape[1:])).astype(np.float32)


def load_npy_samples(path: Path, input_shape: tuple[int, ...]) -> np.ndarray:
    """Samples from a .npy file, checked against ``input_shape`` (batch 1, source layout)."""
    path = Path(path)
    if not path.is_file():
        raise CalibrationDataError(
            f"calibration file {path} does not exist",
            hint="pass the path of a .npy file of input samples, or omit it for synthetic samples",
        )
    with open(path, "rb") as f:
        magic = f.read(len(NPY_MAGIC))
    if magic != NPY_MAGIC:
        raise CalibrationDataError(
            f"calibration file {path} is not a NumPy .npy file",
            hint="save the samples with numpy.save(path, array) (not .npz, .csv or pickle)",
        )
    _check_size(path)
    _check_header(path)
    try:
        data = np.load(path, allow_pickle=False)
    except ValueError as exc:
        if "allow_pickle" in str(exc) or "Object arrays" in str(exc):
            raise CalibrationDataError(
                f"calibration file {path} holds Python objects, not numbers",
                hint="save a float32 array of input samples with numpy.save",
            ) from exc
        raise CalibrationDataError(
            f"calibration file {path} is truncated or corrupt: {exc}",
            hint="write the file again with numpy.save",
        ) from exc
    except (OSError, EOFError, MemoryError) as exc:
        raise CalibrationDataError(
            f"calibration file {path} is truncated or corrupt: {exc}",
            hint="write the file again with numpy.save",
        ) from exc
    if not isinstance(data, np.ndarray) or data.dtype.kind not in "biuf":
        raise CalibrationDataError(
            f"calibration file {path} does not hold a numeric array",
            hint="save a float32 array of input samples with numpy.save",
        )
    return check_samples(data, input_shape, origin=str(path))


def check_samples(data: np.ndarray, input_shape: tuple[int, ...], origin: str) -> np.ndarray:
    """``data`` as float32 ``(N, *input_shape[1:])``, or a CalibrationDataError naming the flaw."""
    if data.dtype.kind != "f":
        raise CalibrationDataError(
            f"calibration samples in {origin} have dtype {data.dtype}; floating point is needed",
            hint="give the float inputs the model sees after preprocessing (float32 or float64)",
        )
    per_sample = tuple(input_shape[1:])
    if data.ndim == len(input_shape) + 1 and data.shape[1] == 1 and data.shape[2:] == per_sample:
        data = data[:, 0]  # (N, 1, C, H, W): one batch-1 tensor per sample
    if data.ndim != len(per_sample) + 1 or tuple(data.shape[1:]) != per_sample:
        expected = "(N, " + ", ".join(str(d) for d in per_sample) + ")"
        raise CalibrationDataError(
            f"calibration samples in {origin} have shape {tuple(data.shape)}; expected {expected} "
            f"for model input {tuple(input_shape)}",
            hint="stack samples along a new first axis in the model's source layout "
            "(NCHW / NCW as in PyTorch and ONNX)",
        )
    if not np.all(np.isfinite(data)):
        bad = int(np.count_nonzero(~np.isfinite(data)))
        raise CalibrationDataError(
            f"calibration samples in {origin} contain {bad} NaN or infinite values",
            hint="remove or repair the samples with non-finite values",
        )
    minimum = MIN_CALIBRATION_SAMPLES + MIN_EVALUATION_SAMPLES
    if data.shape[0] < minimum:
        raise CalibrationDataError(
            f"calibration samples in {origin}: {data.shape[0]} samples, at least {minimum} are "
            f"needed ({MIN_CALIBRATION_SAMPLES} to calibrate, {MIN_EVALUATION_SAMPLES} held out)",
            hint="give more samples (64 or more calibrate well), or omit the file for "
            "synthetic ones",
        )
    return np.ascontiguousarray(data, dtype=np.float32)


def split_samples(
    data: np.ndarray, calib_samples: int, eval_samples: int, seed: int, source: str
) -> SampleSet:
    """Shuffle (seeded) and cut into disjoint calibration and evaluation sets.

    With fewer samples than asked for, evaluation gets a quarter (at least the minimum) and
    calibration the rest.
    """
    if calib_samples < MIN_CALIBRATION_SAMPLES or eval_samples < MIN_EVALUATION_SAMPLES:
        raise CalibrationDataError(
            f"asked for {calib_samples} calibration and {eval_samples} evaluation samples; at "
            f"least {MIN_CALIBRATION_SAMPLES} and {MIN_EVALUATION_SAMPLES} are needed",
            hint="raise calib_samples / eval_samples",
        )
    total = data.shape[0]
    order = np.random.default_rng(seed).permutation(total)
    if total >= calib_samples + eval_samples:
        n_eval, n_calib = eval_samples, calib_samples
    else:
        n_eval = min(eval_samples, max(MIN_EVALUATION_SAMPLES, total // 4))
        n_calib = min(calib_samples, total - n_eval)
    evaluation = data[order[:n_eval]]
    calibration = data[order[n_eval : n_eval + n_calib]]
    return SampleSet(calibration=calibration, evaluation=evaluation, source=source)


def make_sample_set(
    calibration: Path | None,
    input_shape: tuple[int, ...],
    calib_samples: int = 64,
    eval_samples: int = 16,
    seed: int = 0,
) -> SampleSet:
    """The calibration and evaluation samples for a model with ``input_shape`` (source layout)."""
    source = calibration_source_id(calibration)
    if calibration is None:
        data = synthetic_samples(input_shape, calib_samples + eval_samples, seed)
    else:
        data = load_npy_samples(Path(calibration), input_shape)
    return split_samples(data, calib_samples, eval_samples, seed, source)
