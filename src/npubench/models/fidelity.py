"""Fidelity of an int8 TFLite model against its float reference, on held-out samples.

May import ``npubench.errors`` and ``npubench.schema``; onnxruntime and ai-edge-litert are
imported when called. The float reference runs in onnxruntime on the ONNX file; the int8 model
runs in LiteRT with the BUILTIN_REF reference kernels (the ones TFLM matches bit for bit; the
default XNNPACK kernels can differ by one LSB). Inputs are quantized with the TFLite input
scale and zero point, outputs dequantized, and both sides compared in the TFLite layout.
"""

from __future__ import annotations

import math
from pathlib import Path

import numpy as np

from npubench.errors import ExitStatus, ModelError
from npubench.schema import Fidelity


def sqnr_db(reference: np.ndarray, approximation: np.ndarray) -> float | None:
    """10·log10(Σ ref² / Σ (ref − approx)²); inf when identical, None for an all-zero reference."""
    reference = np.asarray(reference, dtype=np.float64)
    noise = float(np.sum((reference - np.asarray(approximation, dtype=np.float64)) ** 2))
    signal = float(np.sum(reference**2))
    if signal == 0.0:
        return None
    if noise == 0.0:
        return math.inf
    return 10.0 * math.log10(signal / noise)


def top1_agreement(reference: np.ndarray, approximation: np.ndarray) -> float:
    """Share of samples (axis 0) whose arg-max over the remaining elements is the same."""
    ref = np.asarray(reference).reshape(len(reference), -1).argmax(axis=1)
    approx = np.asarray(approximation).reshape(len(approximation), -1).argmax(axis=1)
    return float(np.mean(ref == approx))


def run_float_reference(onnx_path: Path, samples: np.ndarray) -> np.ndarray:
    """Outputs of the float model (ONNX, or a float .tflite), one row per sample (source layout)."""
    if Path(onnx_path).suffix == ".tflite":
        return _run_float_tflite(Path(onnx_path), samples)
    import onnxruntime as ort

    session = ort.InferenceSession(str(onnx_path), providers=["CPUExecutionProvider"])
    name = session.get_inputs()[0].name
    return np.stack([session.run(None, {name: x[None].astype(np.float32)})[0][0] for x in samples])


def _run_float_tflite(path: Path, samples: np.ndarray) -> np.ndarray:
    from ai_edge_litert.interpreter import Interpreter, OpResolverType

    interpreter = Interpreter(
        model_path=str(path), experimental_op_resolver_type=OpResolverType.BUILTIN_REF
    )
    interpreter.allocate_tensors()
    inp = interpreter.get_input_details()[0]
    out = interpreter.get_output_details()[0]
    results = []
    for x in samples:
        interpreter.set_tensor(inp["index"], x[None].astype(np.float32))
        interpreter.invoke()
        results.append(interpreter.get_tensor(out["index"])[0].astype(np.float64))
    return np.stack(results)


def run_int8(tflite_path: Path, samples: np.ndarray) -> np.ndarray:
    """Dequantized outputs of the int8 model for float ``samples`` given in the TFLite layout."""
    from ai_edge_litert.interpreter import Interpreter, OpResolverType

    interpreter = Interpreter(
        model_path=str(tflite_path),
        experimental_op_resolver_type=OpResolverType.BUILTIN_REF,
    )
    interpreter.allocate_tensors()
    inp = interpreter.get_input_details()[0]
    out = interpreter.get_output_details()[0]
    in_scale, in_zero = inp["quantization"]
    out_scale, out_zero = out["quantization"]
    if in_scale == 0.0 or out_scale == 0.0:
        raise ModelError(
            f"{tflite_path.name} has an unquantized input or output (scale 0)",
            hint="give a full-integer int8 model",
        )
    info = np.iinfo(inp["dtype"])
    results = []
    for x in samples:
        q = np.clip(np.round(x / in_scale + in_zero), info.min, info.max).astype(inp["dtype"])
        interpreter.set_tensor(inp["index"], q[None])
        interpreter.invoke()
        y = interpreter.get_tensor(out["index"])[0].astype(np.float64)
        results.append((y - out_zero) * out_scale)
    return np.stack(results)


def measure_fidelity(
    onnx_path: Path,
    tflite_path: Path,
    samples: np.ndarray,
    input_layout: tuple[int, ...],
    output_layout: tuple[int, ...],
    classifier: bool | None,
    calibration: str,
) -> Fidelity:
    """Fidelity of ``tflite_path`` against ``onnx_path`` on ``samples`` (source layout).

    ``input_layout``/``output_layout`` are the permutations (batch axis included) that take a
    source-layout tensor to the TFLite layout. Top-1 agreement is computed for classifiers only.
    """
    reference = run_float_reference(onnx_path, samples)
    int8 = run_int8(tflite_path, samples.transpose(input_layout))
    reference = reference.transpose(output_layout)
    if reference.shape != int8.shape:
        raise ModelError(
            f"float output {reference.shape[1:]} and int8 output {int8.shape[1:]} of "
            f"{tflite_path.name} do not correspond",
            hint="this is a layout bug in the conversion; please report it",
            exit_code=ExitStatus.FAILED,
        )
    return Fidelity(
        sqnr_db=sqnr_db(reference, int8),
        top1_agreement=top1_agreement(reference, int8) if classifier else None,
        max_abs_error=float(np.max(np.abs(reference - int8))),
        samples=len(samples),
        calibration=calibration,
    )
