"""The forms a model takes in a firmware project, shared by the SDK writers.

``tflm_model`` embeds a ``.tflite`` as a C array with a TFLM model port that registers its
operators; ``cgen_model`` writes npubench's generated C (bit-exact with TFLM's reference
kernels) with its glue; ``model_id`` writes the model's identity header (name, hash, sizes);
``copy_vendor`` copies a vendor tool's output into ``model/``. ``arena_estimate`` and
``io_values`` size the tensor arena and the harness's I/O buffers.

May import the foundation modules, ``analysis``, ``compilers`` and the sibling
``measure.firmware`` modules.
"""

from __future__ import annotations

from pathlib import Path

from npubench.measure.firmware.common import (
    CGEN_GLUE,
    FirmwareError,
    copy_file,
    write_c_array,
    write_template,
)
from npubench.measure.firmware.sdks import ModelInfo, Parts
from npubench.targets import Board

# TFLite builtin operator -> MicroMutableOpResolver method (TFLM API).
_TFLM_ADD = {
    "ADD": "AddAdd",
    "AVERAGE_POOL_2D": "AddAveragePool2D",
    "CONCATENATION": "AddConcatenation",
    "CONV_2D": "AddConv2D",
    "DEPTHWISE_CONV_2D": "AddDepthwiseConv2D",
    "DEQUANTIZE": "AddDequantize",
    "EXPAND_DIMS": "AddExpandDims",
    "FULLY_CONNECTED": "AddFullyConnected",
    "HARD_SWISH": "AddHardSwish",
    "LOGISTIC": "AddLogistic",
    "MAX_POOL_2D": "AddMaxPool2D",
    "MEAN": "AddMean",
    "MUL": "AddMul",
    "PAD": "AddPad",
    "QUANTIZE": "AddQuantize",
    "RELU": "AddRelu",
    "RELU6": "AddRelu6",
    "RESHAPE": "AddReshape",
    "RESIZE_NEAREST_NEIGHBOR": "AddResizeNearestNeighbor",
    "SOFTMAX": "AddSoftmax",
    "SQUEEZE": "AddSqueeze",
    "STRIDED_SLICE": "AddStridedSlice",
    "SUB": "AddSub",
    "TANH": "AddTanh",
    "TRANSPOSE": "AddTranspose",
    "CUSTOM:ethos-u": "AddEthosU",
}
_TFLM_CUSTOM = {
    "CUSTOM:NeutronGraph": (
        '#include "tensorflow/lite/micro/kernels/neutron/neutron.h"',
        "g_resolver.AddCustom(tflite::GetString_NEUTRON_GRAPH(), "
        "tflite::Register_NEUTRON_GRAPH());",
    )
}


def tflm_operators(tflite: Path) -> list[str]:
    """The distinct operators of a .tflite, in first-use order (``CUSTOM:<name>`` for custom)."""
    from npubench.analysis.tflite_reader import read_tflite

    seen: list[str] = []
    for op in read_tflite(Path(tflite)).operators:
        if op.op not in seen:
            seen.append(op.op)
    return seen


def tflm_model(
    family: str,
    board: Board,
    model: ModelInfo,
    out: Path,
    tflite: Path,
    desc: str,
    arena: int,
    *,
    accel_init: str = "",
    arena_attr: str = "",
    declarations: tuple[str, ...] = (),
) -> Parts:
    """The embedded .tflite and the TFLM model port for it."""
    files, array = write_c_array(tflite, out, "npb_model_data", "npb_model_tflite")
    ops = tflm_operators(tflite)
    includes, lines = list(declarations), []
    for op in ops:
        if op in _TFLM_ADD:
            lines.append(f"    g_resolver.{_TFLM_ADD[op]}();")
        elif op in _TFLM_CUSTOM:
            include, line = _TFLM_CUSTOM[op]
            includes.append(include)
            lines.append(f"    {line}")
        else:
            raise FirmwareError(
                f"{tflite.name} uses operator {op}, which the TFLM model port does not register",
                hint="add it to _TFLM_ADD in measure/firmware/model_forms.py",
            )
    values = {
        "BOARD": board.name,
        "MODEL_DESC": desc,
        "ARENA_BYTES": str(arena),
        "ARENA_ATTR": arena_attr,
        "OP_COUNT": str(max(len(lines), 1)),
        "TFLM_OPS": "\n".join(lines),
        "TFLM_EXTRA_INCLUDES": "\n".join(includes),
        "TFLM_ACCEL_INIT": accel_init,
    }
    files.append(
        write_template(family, "npb_model_tflm.cc", out, "model/npb_model_tflm.cc", values)
    )
    files.append(model_id(family, model, out))
    parts = Parts(model_files=files, model_array=array, values={"MODEL_DESC": desc})
    parts.notes.append(f"TFLM operators registered: {', '.join(ops)}; tensor arena {arena} bytes.")
    return parts


def model_id(family: str, model: ModelInfo, out: Path) -> str:
    return write_template(
        family,
        "npb_model_id.h",
        out,
        "model/npb_model_id.h",
        {
            "MODEL_NAME": model.fw_name,
            "MODEL_HASH16": model.hash16,
            "MODEL_SHA256": model.sha256,
            "INPUT_BYTES": str(model.input_bytes),
            "OUTPUT_BYTES": str(model.output_bytes),
        },
    )


def cgen_model(model: ModelInfo, out: Path) -> Parts:
    """npubench's generated C (bit-exact with TFLM's reference kernels) plus the cgen glue."""
    from npubench.compilers.cgen import generate_c

    result = generate_c(model.tflite, out / "model", prefix="npb_model")
    files = sorted(f"model/{p.name}" for p in (out / "model").iterdir() if p.suffix in (".c", ".h"))
    files.append(copy_file(CGEN_GLUE, out, "model/npb_model_glue.c"))
    parts = Parts(model_files=sorted(set(files)))
    parts.notes.append(
        f"Model code: npubench cgen, static arena {result.arena_bytes} bytes, constants "
        f"{result.constant_bytes} bytes, operators {result.operators}."
    )
    return parts


def arena_estimate(tflite: Path) -> int:
    """TFLM arena for a model: twice the peak activation plus 16 KiB of interpreter state."""
    from npubench.analysis.graph import analyze_tflite

    peak = analyze_tflite(Path(tflite)).peak_activation_bytes or 0
    return int(-(-(2 * peak + 16384) // 1024) * 1024)


def io_values(model: ModelInfo) -> dict[str, str]:
    def room(n: int) -> str:
        return str(max(64, -(-n // 8) * 8))

    return {"MAX_IN": room(model.input_bytes), "MAX_OUT": room(model.output_bytes)}


def copy_vendor(artifact: Path | None, out: Path, names: list[str]) -> list[str]:
    """Copies vendor outputs (a folder holding ``names``, or one file) into model/."""
    copied: list[str] = []
    if artifact is None:
        return copied
    artifact = Path(artifact)
    sources = [artifact / n for n in names] if artifact.is_dir() else [artifact]
    for src in sources:
        if not src.is_file():
            raise FirmwareError(
                f"vendor artifact {src} not found",
                hint=f"pass the folder holding {', '.join(names)} (or the file itself)",
            )
        dest = names[0] if not artifact.is_dir() else src.name
        copied.append(copy_file(src, out, f"model/{dest}"))
    return copied
