"""Full-integer int8 post-training quantization of a float ONNX model, and checks of the result.

May import ``npubench.errors`` and ``npubench.provenance`` (package versions); ai-edge-litert
is imported when called. The conversion (onnx2tf, then TensorFlow's TFLiteConverter with our
calibration samples, ``TFLITE_BUILTINS_INT8``, int8 input and output, per-channel weights) runs
in a subprocess (``_quantize_worker``): TensorFlow takes about a gigabyte and logs noisily, and
onnx2tf may exit the process. The subprocess gets the venv's bin on PATH (onnx2tf runs the
``onnxsim`` CLI) and an unreachable proxy, so an accidental download fails fast instead of
reaching the network.
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
import time
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np

from npubench import processes
from npubench.errors import ExitStatus, ModelError
from npubench.provenance import package_version

CONVERSION_TIMEOUT_S = 1800
CONVERTER_OPTIONS = {
    "path": "onnx2tf+TFLiteConverter",
    "ops": "TFLITE_BUILTINS_INT8",
    "weights": "int8 per-channel",
    "activations": "int8",
    "io": "int8",
}
FLOAT_DTYPES = ("float16", "float32", "float64")


@dataclass(frozen=True)
class QuantizeResult:
    """An int8 TFLite file and how its tensors relate to the source model's."""

    tflite: Path
    input_layout: tuple[int, ...]  # tflite_input == source_input.transpose(input_layout)
    output_layout: tuple[int, ...]  # tflite_output == source_output.transpose(output_layout)
    input_shape: tuple[int, ...]  # TFLite layout
    output_shape: tuple[int, ...]
    float_graph_max_error: float  # onnx2tf's float TF graph vs onnxruntime, on probe samples
    seconds: float


def converter_versions() -> dict[str, str | None]:
    """Versions of every tool whose output the int8 model depends on."""
    return {
        name: package_version(dist)
        for name, dist in {
            "torch": "torch",
            "onnx": "onnx",
            "onnxruntime": "onnxruntime",
            "onnx2tf": "onnx2tf",
            "onnxsim": "onnxsim",
            "tensorflow": "tensorflow",
            "ai_edge_litert": "ai-edge-litert",
        }.items()
    }


def quantize_onnx(
    onnx_path: Path,
    calibration: np.ndarray,
    probe: np.ndarray,
    work_dir: Path,
    out_path: Path,
) -> QuantizeResult:
    """Quantize ``onnx_path`` to int8 TFLite at ``out_path``.

    ``calibration`` and ``probe`` are float32 samples in the source layout, one per row;
    ``probe`` samples (a few held-out ones) only serve to find the output layout.
    """
    work_dir.mkdir(parents=True, exist_ok=True)
    np.save(work_dir / "calibration.npy", calibration.astype(np.float32))
    np.save(work_dir / "probe.npy", probe.astype(np.float32))
    request = {
        "onnx": str(Path(onnx_path).resolve()),
        "calibration": str((work_dir / "calibration.npy").resolve()),
        "probe": str((work_dir / "probe.npy").resolve()),
        "out_dir": str(work_dir.resolve()),
    }
    return _run_worker(request, Path(onnx_path).name, work_dir, out_path)


def quantize_float_tflite(
    tflite_path: Path, calibration: np.ndarray, work_dir: Path, out_path: Path
) -> QuantizeResult:
    """Quantize a float .tflite to full-integer int8 with TensorFlow's calibrator.

    ``calibration`` holds float32 samples in the model's own (TFLite) layout, one per row.
    """
    work_dir.mkdir(parents=True, exist_ok=True)
    np.save(work_dir / "calibration.npy", calibration.astype(np.float32))
    request = {
        "tflite_float": str(Path(tflite_path).resolve()),
        "calibration": str((work_dir / "calibration.npy").resolve()),
        "out_dir": str(work_dir.resolve()),
    }
    return _run_worker(request, Path(tflite_path).name, work_dir, out_path)


def _run_worker(
    request: dict[str, Any], model_name: str, work_dir: Path, out_path: Path
) -> QuantizeResult:
    """Run the conversion worker in a subprocess (TensorFlow's memory and logs stay there)."""
    (work_dir / "request.json").write_text(json.dumps(request, indent=2))
    log_path = work_dir / "convert.log"
    started = time.monotonic()
    with open(log_path, "w") as log:
        try:
            proc = processes.run(
                [sys.executable, "-m", "npubench.models._quantize_worker", "request.json"],
                cwd=work_dir,
                env=_worker_env(),
                stdout=log,
                stderr=subprocess.STDOUT,
                timeout=CONVERSION_TIMEOUT_S,
            )
        except subprocess.TimeoutExpired as exc:
            raise ModelError(
                f"int8 conversion of {model_name} took over {CONVERSION_TIMEOUT_S} s",
                hint=f"see the conversion log {log_path}",
                exit_code=ExitStatus.FAILED,
            ) from exc
    result_path = work_dir / "result.json"
    if not result_path.exists():
        raise ModelError(
            f"int8 conversion of {model_name} crashed (exit status {proc.returncode}): "
            f"{_log_tail(log_path)}",
            hint=f"see the full conversion log {log_path}",
            exit_code=ExitStatus.FAILED,
        )
    result = json.loads(result_path.read_text())
    if not result["ok"]:
        stage = {"onnx2tf": "ONNX -> TensorFlow (onnx2tf)", "int8": "TFLite int8 conversion"}.get(
            result["stage"], "the conversion worker"
        )
        raise ModelError(
            f"{stage} failed for {model_name}: {result['error']}",
            hint="int8 TFLite needs standard ops that TFLite can quantize (Conv, Gemm, pooling, "
            f"ReLU, Add, ...); the conversion log is {log_path}",
            exit_code=ExitStatus.FAILED,
        )
    out_path = Path(out_path)
    out_path.write_bytes(Path(result["tflite"]).read_bytes())
    input_shape, output_shape = check_int8_tflite(out_path)
    output_layout = result["output_layout"]
    return QuantizeResult(
        tflite=out_path,
        input_layout=tuple(result["input_layout"]),
        output_layout=tuple(output_layout) if output_layout else tuple(range(len(output_shape))),
        input_shape=input_shape,
        output_shape=output_shape,
        float_graph_max_error=float(result["float_graph_max_error"]),
        seconds=time.monotonic() - started,
    )


def check_int8_tflite(path: Path) -> tuple[tuple[int, ...], tuple[int, ...]]:
    """Check ``path`` is a full-integer model (int8 I/O, no float tensor); return I/O shapes.

    A malformed file (a flatbuffer that does not verify, a tensor or operator name that is not
    UTF-8 after a flipped byte, a file beyond ``source.MAX_MODEL_BYTES``) raises ``ModelError``.
    """
    from npubench.models.source import MAX_MODEL_BYTES, check_file_size, load_tflite

    path = Path(path)
    if not path.is_file():
        raise ModelError(f"TFLite model {path} does not exist", hint="check the path")
    check_file_size(path, "TFLite model", MAX_MODEL_BYTES)
    interpreter, ins, outs, tensors = load_tflite(path)
    try:
        return _check_int8(path, interpreter, ins, outs, tensors)
    except ModelError:
        raise
    except UnicodeDecodeError:
        raise ModelError(
            f"{path} is a corrupt TFLite model: an operator or tensor name is not UTF-8",
            hint="the file was damaged (a flipped byte?): convert or copy the model again",
        ) from None
    except Exception as exc:
        raise ModelError(
            f"{path} is a truncated or corrupt TFLite model: {type(exc).__name__}: {exc}",
            hint="convert the model again",
        ) from exc


def _check_int8(
    path: Path, interpreter: Any, ins: list[Any], outs: list[Any], tensors: list[Any]
) -> tuple[tuple[int, ...], tuple[int, ...]]:
    if len(ins) != 1 or len(outs) != 1:
        raise ModelError(
            f"{path.name} has {len(ins)} inputs and {len(outs)} outputs; npubench handles one "
            "of each",
            hint="convert a single-input, single-output model",
        )
    io_types = [d["dtype"].__name__ for d in (*ins, *outs)]
    if any(t != "int8" for t in io_types):
        raise ModelError(
            f"{path.name}: input/output types are {io_types}, not int8",
            hint="convert with inference_input_type = inference_output_type = tf.int8",
        )
    tensor_types = {t["index"]: t["dtype"].__name__ for t in tensors}
    float_ops = sorted(
        {
            op["op_name"]
            for op in interpreter._get_ops_details()
            if any(tensor_types.get(i) in FLOAT_DTYPES for i in (*op["inputs"], *op["outputs"]))
        }
    )
    if float_ops:
        raise ModelError(
            f"{path.name} is not fully int8: float tensors at ops {', '.join(float_ops)}",
            hint="NPUs run int8 only; replace the ops TFLite cannot quantize",
        )
    return tuple(int(d) for d in ins[0]["shape"]), tuple(int(d) for d in outs[0]["shape"])


def _worker_env() -> dict[str, str]:
    env = dict(os.environ)
    bin_dir = str(Path(sys.executable).parent)
    env["PATH"] = bin_dir + os.pathsep + env.get("PATH", "")
    env["TF_CPP_MIN_LOG_LEVEL"] = "3"
    env["PYTHONUNBUFFERED"] = "1"
    # Nothing may download at run time: any HTTP(S) request from onnx2tf (sample data) or a
    # library fails at once against this closed local port instead of reaching the network.
    for var in ("HTTP_PROXY", "HTTPS_PROXY", "http_proxy", "https_proxy"):
        env[var] = "http://127.0.0.1:9"
    env.pop("NO_PROXY", None)
    env.pop("no_proxy", None)
    return env


def _log_tail(path: Path, lines: int = 5) -> str:
    text = path.read_text(errors="replace").strip().splitlines() if path.exists() else []
    return " | ".join(line.strip() for line in text[-lines:]) or "no output"
