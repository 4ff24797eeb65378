"""Subprocess worker: float ONNX -> onnx2tf (NHWC TF graph) -> full-integer int8 TFLite.

Run only by ``npubench.models.quantize`` as ``python -m npubench.models._quantize_worker
request.json`` with its working directory set to a scratch folder. It runs in its own process
because TensorFlow takes ~1 GB, logs noisily and onnx2tf may call ``sys.exit``. May import
numpy, onnxruntime, onnx2tf and tensorflow (nothing else from npubench, so it stays importable
on its own). It writes ``result.json``: ``{"ok": true, ...}`` or ``{"ok": false, "stage",
"error"}``.

Request fields: ``onnx`` (path), ``calibration`` and ``probe`` (.npy, float32, source layout,
one sample per row), ``out_dir``.
"""

from __future__ import annotations

import json
import sys
import time
import traceback
from pathlib import Path
from typing import Any

import numpy as np

# onnx2tf loads this file from the working directory, and otherwise downloads it, whenever
# every model input is 4-D with 3 channels. Writing our own samples under this name keeps the
# conversion offline and makes onnx2tf's internal checks run on the user's data.
ONNX2TF_SAMPLE_FILE = "calibration_image_sample_data_20x128x128x3_float32.npy"
FLOAT_AGREEMENT_LIMIT = 1e-3  # relative; float32 graphs that agree differ by ~1e-6


def channels_last(rank: int) -> tuple[int, ...]:
    """The permutation NC... -> N...C (identity below rank 3)."""
    return (0, *range(2, rank), 1) if rank >= 3 else tuple(range(rank))


def _candidate_layouts(source_shape: tuple[int, ...], tf_shape: tuple[int, ...]) -> list:
    """Permutations p with source_shape permuted by p == tf_shape, channels-last first."""
    rank = len(source_shape)
    candidates = [channels_last(rank), tuple(range(rank))]
    unique = list(dict.fromkeys(candidates))
    return [p for p in unique if tuple(source_shape[i] for i in p) == tuple(tf_shape)]


def _write_onnx2tf_samples(calibration: np.ndarray) -> None:
    if calibration.ndim != 4:
        return
    if calibration.shape[1] == 3:
        np.save(ONNX2TF_SAMPLE_FILE, calibration.transpose(0, 2, 3, 1))
    elif calibration.shape[-1] == 3:
        np.save(ONNX2TF_SAMPLE_FILE, calibration)


def _run_keras(model: Any, x: np.ndarray) -> np.ndarray:
    out = model(x, training=False)
    if isinstance(out, (list, tuple)):
        out = out[0]
    return np.asarray(out)


def convert(request: dict[str, Any]) -> dict[str, Any]:
    import onnxruntime as ort

    started = time.monotonic()
    calibration = np.load(request["calibration"])
    probe = np.load(request["probe"])
    out_dir = Path(request["out_dir"])
    _write_onnx2tf_samples(calibration)

    stage = "onnx2tf"
    try:
        import onnx2tf

        keras_model = onnx2tf.convert(
            input_onnx_file_path=request["onnx"],
            output_folder_path=str(out_dir / "saved_model"),
            output_signaturedefs=True,
            non_verbose=True,
        )
    except SystemExit as exc:  # onnx2tf reports some failures with sys.exit(1)
        return {"ok": False, "stage": stage, "error": f"onnx2tf exited with status {exc.code}"}
    t_onnx2tf = time.monotonic() - started

    source_in = tuple(int(d) for d in calibration.shape[1:])
    tf_in = tuple(int(d) for d in keras_model.inputs[0].shape[1:])
    in_layouts = _candidate_layouts((1, *source_in), (1, *tf_in))
    if not in_layouts:
        return {
            "ok": False,
            "stage": stage,
            "error": f"onnx2tf made input shape {(1, *tf_in)} from {(1, *source_in)}, which is "
            "neither the same nor channels-last",
        }
    input_layout = in_layouts[0]

    # Which permutation turns the ONNX output into the TF output: try the plausible ones on
    # probe samples; the right one matches to float precision, a wrong one does not.
    session = ort.InferenceSession(request["onnx"], providers=["CPUExecutionProvider"])
    in_name = session.get_inputs()[0].name
    reference = np.stack([session.run(None, {in_name: x[None]})[0][0] for x in probe])
    tf_probe = probe.transpose(input_layout)
    tf_out = np.stack([_run_keras(keras_model, x[None])[0] for x in tf_probe])
    best: tuple[float, tuple[int, ...]] | None = None
    for layout in _candidate_layouts((1, *reference.shape[1:]), (1, *tf_out.shape[1:])):
        err = float(np.max(np.abs(reference.transpose(layout) - tf_out)))
        if best is None or err < best[0]:
            best = (err, layout)
    if best is None:
        return {
            "ok": False,
            "stage": stage,
            "error": f"onnx2tf output shape {(1, *tf_out.shape[1:])} does not correspond to the "
            f"ONNX output shape {(1, *reference.shape[1:])}",
        }
    scale = max(float(np.max(np.abs(reference))), 1e-12)
    relative = best[0] / scale
    if relative > FLOAT_AGREEMENT_LIMIT:
        return {
            "ok": False,
            "stage": stage,
            "error": f"onnx2tf's float TF graph disagrees with onnxruntime (max error {best[0]:.3g}"
            f", {relative:.2%} of the output range)",
        }
    output_layout = best[1]

    stage = "int8"
    import tensorflow as tf

    tf_calibration = calibration.transpose(input_layout).astype(np.float32)

    def representative_dataset():
        for sample in tf_calibration:
            yield [sample[None]]

    converter = tf.lite.TFLiteConverter.from_saved_model(str(out_dir / "saved_model"))
    converter.optimizations = [tf.lite.Optimize.DEFAULT]
    converter.target_spec.supported_ops = [tf.lite.OpsSet.TFLITE_BUILTINS_INT8]
    converter.representative_dataset = representative_dataset
    converter.inference_input_type = tf.int8
    converter.inference_output_type = tf.int8
    # Per-channel weight scales are the converter's default; say so rather than rely on it.
    converter._experimental_disable_per_channel = False
    try:
        flatbuffer = converter.convert()
    except Exception as exc:
        lines = [ln for ln in str(exc).splitlines() if ln.strip()]
        detail = next((ln for ln in lines if "error" in ln.lower()), lines[0] if lines else "")
        return {"ok": False, "stage": stage, "error": f"{type(exc).__name__}: {detail.strip()}"}
    tflite_path = out_dir / "model_int8.tflite"
    tflite_path.write_bytes(flatbuffer)
    return {
        "ok": True,
        "tflite": str(tflite_path),
        "input_layout": list(input_layout),
        "output_layout": list(output_layout),
        "float_graph_max_error": best[0],
        "seconds_onnx2tf": t_onnx2tf,
        "seconds_total": time.monotonic() - started,
    }


def convert_float_tflite(request: dict[str, Any]) -> dict[str, Any]:
    """A float .tflite: TensorFlow's own post-training calibrator works on the flatbuffer."""
    import tensorflow as tf
    from tensorflow.lite.python.optimize import calibrator

    started = time.monotonic()
    calibration = np.load(request["calibration"]).astype(np.float32)
    out_dir = Path(request["out_dir"])

    def dataset() -> Any:
        for sample in calibration:
            yield [sample[None]]

    stage = "int8"
    try:
        quantizer = calibrator.Calibrator(Path(request["tflite_float"]).read_bytes())
        # Full integer: int8 in and out, no float fallback, per-channel weights (the default).
        int8 = quantizer.calibrate_and_quantize(dataset, tf.int8, tf.int8, False)
    except Exception as exc:
        return {
            "ok": False,
            "stage": stage,
            "error": f"{type(exc).__name__}: {exc}",
            "traceback": traceback.format_exc(),
        }
    out = out_dir / "model_int8.tflite"
    out.write_bytes(int8)
    rank_in = calibration.ndim
    return {
        "ok": True,
        "tflite": str(out),
        "input_layout": list(range(rank_in)),
        "output_layout": None,  # identity: the source is already in the TFLite layout
        "float_graph_max_error": 0.0,
        "seconds": time.monotonic() - started,
    }


def main(argv: list[str]) -> int:
    request_path = Path(argv[1])
    request = json.loads(request_path.read_text())
    result_path = Path(request["out_dir"]) / "result.json"
    try:
        result = convert_float_tflite(request) if "tflite_float" in request else convert(request)
    except Exception as exc:
        result = {
            "ok": False,
            "stage": "worker",
            "error": f"{type(exc).__name__}: {exc}",
            "traceback": traceback.format_exc(),
        }
    result_path.write_text(json.dumps(result, indent=2))
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv))
