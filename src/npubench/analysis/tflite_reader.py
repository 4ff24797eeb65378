"""Read a TFLite flatbuffer into plain Python records: tensors, operators and their options.

The one TFLite reader of npubench: graph analysis (``analysis.graph``, ``analysis.tflm``), the
firmware projects and the C code generator (``compilers.cgen``) all read models through it, so
no other module has to know the generated bindings. Only the first subgraph (the one an
interpreter runs) is read. A tensor record carries its shape, dtype, per-tensor or per-channel
quantization (scales, zero points, quantized dimension) and, for constants, the raw buffer
bytes (``TensorRecord.array()`` views them as a typed numpy array); an operator record carries
its builtin name and every scalar field of its builtin options.

May import ``npubench.errors``, numpy and the FlatBuffers bindings of the TFLite schema that
ship with ``ethos-u-vela`` (``ethosu.vela.tflite``), a declared dependency.
"""

from __future__ import annotations

import importlib
import inspect
import math
import struct
from dataclasses import dataclass, field
from functools import cache
from pathlib import Path
from typing import Any

import numpy as np
from ethosu.vela.tflite.ActivationFunctionType import ActivationFunctionType
from ethosu.vela.tflite.BuiltinOperator import BuiltinOperator
from ethosu.vela.tflite.BuiltinOptions import BuiltinOptions
from ethosu.vela.tflite.Model import Model
from ethosu.vela.tflite.Padding import Padding
from ethosu.vela.tflite.TensorType import TensorType

from npubench.errors import AnalysisError

TFLITE_FILE_IDENTIFIER = b"TFL3"

# Bytes per element; INT4 is packed two to a byte and handled in ``nbytes_for``.
_ELEMENT_BYTES = {
    "float32": 4,
    "float16": 2,
    "bfloat16": 2,
    "float64": 8,
    "int64": 8,
    "uint64": 8,
    "int32": 4,
    "uint32": 4,
    "int16": 2,
    "uint16": 2,
    "int8": 1,
    "uint8": 1,
    "bool": 1,
    "complex64": 8,
    "complex128": 16,
}


def _enum_names(enum_class: type) -> dict[int, str]:
    """Value -> name of a FlatBuffers-generated enum class."""
    return {
        value: name
        for name, value in vars(enum_class).items()
        if not name.startswith("_") and isinstance(value, int)
    }


_OPERATOR_NAMES = _enum_names(BuiltinOperator)
_OPTIONS_NAMES = _enum_names(BuiltinOptions)
_TENSOR_TYPE_NAMES = {v: n.lower() for v, n in _enum_names(TensorType).items()}
ACTIVATION_NAMES = _enum_names(ActivationFunctionType)
PADDING_NAMES = _enum_names(Padding)


def nbytes_for(dtype: str, shape: list[int]) -> int:
    """Bytes of a dense tensor of ``dtype`` and ``shape`` (unknown dtypes count 1 byte each)."""
    elements = math.prod(max(d, 0) for d in shape)
    if dtype == "int4":
        return (elements + 1) // 2
    return elements * _ELEMENT_BYTES.get(dtype, 1)


# Tensor types numpy can view directly (TFLite buffers are little-endian); INT4 is packed and
# BFLOAT16/STRING have no numpy equivalent, so ``TensorRecord.array`` refuses them.
_NUMPY_DTYPES = {
    name: np.dtype(name).newbyteorder("<") for name in _ELEMENT_BYTES if name != "bfloat16"
}


@dataclass
class TensorRecord:
    """One tensor of the subgraph. Constant tensors have data in their buffer; activations don't.

    ``scales``/``zero_points`` hold one entry per tensor, or one per channel along
    ``quantized_dimension``; both are empty for a tensor without quantization parameters.
    """

    index: int
    name: str
    shape: list[int]
    dtype: str
    is_constant: bool
    is_variable: bool
    quantized: bool  # has at least one quantization scale
    nbytes: int  # stored bytes for constants, dense size for activations
    scales: tuple[float, ...] = ()
    zero_points: tuple[int, ...] = ()
    quantized_dimension: int = 0
    data: bytes | None = None  # the raw buffer bytes of a constant tensor, as stored

    @property
    def elements(self) -> int:
        return math.prod(max(d, 0) for d in self.shape)

    @property
    def scale(self) -> float:
        """The per-tensor scale (the first one for per-channel tensors)."""
        if not self.scales:
            raise AnalysisError(
                f"tensor {self.name!r} has no quantization parameters",
                "convert the model to full-integer int8 with int8 input and output",
            )
        return self.scales[0]

    @property
    def zero_point(self) -> int:
        """The per-tensor zero point (0 when the tensor is not quantized)."""
        return self.zero_points[0] if self.zero_points else 0

    def array(self) -> np.ndarray | None:
        """The constant data as a read-only numpy array of the tensor's dtype and shape.

        ``None`` for activations. Raises ``AnalysisError`` for types numpy cannot view (INT4,
        BFLOAT16, STRING) or a buffer whose size does not match the shape.
        """
        if self.data is None:
            return None
        dtype = _NUMPY_DTYPES.get(self.dtype)
        if dtype is None:
            raise AnalysisError(
                f"constant tensor {self.index} ({self.name!r}) has type {self.dtype}, which has "
                "no numpy equivalent",
                "convert the model to full-integer int8",
            )
        if len(self.data) != self.elements * dtype.itemsize:
            raise AnalysisError(
                f"constant tensor {self.index} ({self.name!r}) stores {len(self.data)} bytes, "
                f"not the {self.elements * dtype.itemsize} its shape {self.shape} needs",
                "the file is probably corrupt: regenerate it",
            )
        return np.frombuffer(self.data, dtype=dtype).reshape(self.shape)


@dataclass
class OperatorRecord:
    """One operator in execution order; ``-1`` in ``inputs`` marks an omitted optional input."""

    index: int
    op: str  # builtin name, or "CUSTOM:<code>" for custom operators
    inputs: list[int]
    outputs: list[int]
    options: dict[str, Any] = field(default_factory=dict)  # scalar fields of the builtin options


@dataclass
class ModelRecord:
    """The first subgraph of a TFLite model, with the model's operator-code table."""

    tensors: list[TensorRecord]
    operators: list[OperatorRecord]
    inputs: list[int]  # subgraph input tensor indices
    outputs: list[int]  # subgraph output tensor indices
    subgraph_count: int = 1
    schema_version: int = 3  # the only TFLite schema version in use
    opcodes: list[str] = field(default_factory=list)  # operator names by opcode index


def read_tflite(path: Path) -> ModelRecord:
    """Parse ``path``; raise ``AnalysisError`` if it is missing or not a TFLite flatbuffer."""
    path = Path(path)
    try:
        data = path.read_bytes()
    except OSError as exc:
        raise AnalysisError(
            f"cannot read model file {path}: {exc.strerror or exc}",
            "check the path; npubench reads models as int8 .tflite files",
        ) from exc
    if len(data) < 8 or not Model.ModelBufferHasIdentifier(data, 0):
        raise AnalysisError(
            f"{path} is not a TFLite model (no 'TFL3' flatbuffer identifier)",
            "pass an int8 .tflite file; ONNX and PyTorch models are quantized to TFLite "
            "by the models stage (npubench bench --model ...)",
        )
    try:
        return _parse(data)
    except (struct.error, IndexError, ValueError, TypeError, UnicodeDecodeError) as exc:
        raise AnalysisError(
            f"{path} has a TFLite identifier but its flatbuffer is corrupt ({exc})",
            "the file is probably truncated: regenerate or re-download it",
        ) from exc


def _parse(data: bytes) -> ModelRecord:
    model = Model.GetRootAs(data, 0)
    if model.SubgraphsLength() < 1:
        raise ValueError("the model has no subgraph")
    graph = model.Subgraphs(0)

    opcodes = []
    for i in range(model.OperatorCodesLength()):
        code = model.OperatorCodes(i)
        # Codes above 127 only fit the newer field; the deprecated one keeps old files readable.
        builtin = max(code.BuiltinCode(), code.DeprecatedBuiltinCode())
        name = _OPERATOR_NAMES.get(builtin, f"BUILTIN_{builtin}")
        if name == "CUSTOM":
            custom = code.CustomCode()
            name = f"CUSTOM:{custom.decode() if custom else '?'}"
        opcodes.append(name)

    tensors = []
    for i in range(graph.TensorsLength()):
        t = graph.Tensors(i)
        shape = [int(d) for d in t.ShapeAsNumpy()] if t.ShapeLength() else []
        dtype = _TENSOR_TYPE_NAMES.get(t.Type(), f"type{t.Type()}")
        buffer = model.Buffers(t.Buffer()) if t.Buffer() < model.BuffersLength() else None
        raw = _buffer_bytes(buffer, data) if buffer is not None else b""
        stored = len(raw)
        quant = t.Quantization()
        has_scales = quant is not None and quant.ScaleLength() > 0
        tensors.append(
            TensorRecord(
                index=i,
                name=t.Name().decode(errors="replace") if t.Name() else f"tensor_{i}",
                shape=shape,
                dtype=dtype,
                is_constant=stored > 0,
                is_variable=bool(t.IsVariable()),
                quantized=has_scales,
                nbytes=stored if stored > 0 else nbytes_for(dtype, shape),
                # ``float`` of a float32 is exact: the kernels' arithmetic stays bit-exact.
                scales=tuple(float(s) for s in quant.ScaleAsNumpy()) if has_scales else (),
                zero_points=(
                    tuple(int(z) for z in quant.ZeroPointAsNumpy())
                    if has_scales and quant.ZeroPointLength()
                    else ()
                ),
                quantized_dimension=quant.QuantizedDimension() if has_scales else 0,
                data=raw or None,
            )
        )

    operators = []
    for i in range(graph.OperatorsLength()):
        op = graph.Operators(i)
        operators.append(
            OperatorRecord(
                index=i,
                op=opcodes[op.OpcodeIndex()],
                inputs=[int(x) for x in op.InputsAsNumpy()] if op.InputsLength() else [],
                outputs=[int(x) for x in op.OutputsAsNumpy()] if op.OutputsLength() else [],
                options=_decode_options(op.BuiltinOptionsType(), op.BuiltinOptions()),
            )
        )

    return ModelRecord(
        tensors=tensors,
        operators=operators,
        inputs=[int(x) for x in graph.InputsAsNumpy()] if graph.InputsLength() else [],
        outputs=[int(x) for x in graph.OutputsAsNumpy()] if graph.OutputsLength() else [],
        subgraph_count=model.SubgraphsLength(),
        schema_version=model.Version(),
        opcodes=opcodes,
    )


def _buffer_bytes(buffer: Any, data: bytes) -> bytes:
    """A buffer's bytes: inline, or (models > 2 GB) at an offset after the flatbuffer."""
    if buffer.DataLength():
        return buffer.DataAsNumpy().tobytes()
    if buffer.Offset() > 1:
        start = buffer.Offset()
        return data[start : start + buffer.Size()]
    return b""


@cache
def _options_getters(options_name: str) -> tuple[type, tuple[str, ...]] | None:
    """The generated options class and its scalar getters (methods taking no argument)."""
    try:
        module = importlib.import_module(f"ethosu.vela.tflite.{options_name}")
    except ImportError:
        return None
    cls = getattr(module, options_name, None)
    if cls is None:
        return None
    getters = []
    for name, fn in vars(cls).items():
        if name.startswith(("_", "GetRootAs", "Init")) or not callable(fn):
            continue
        if name.endswith(("Length", "IsNone", "AsNumpy")) or "BufferHasIdentifier" in name:
            continue
        if len(inspect.signature(fn).parameters) == 1:  # only ``self``: a scalar field
            getters.append(name)
    return cls, tuple(getters)


def _decode_options(options_type: int, table: Any) -> dict[str, Any]:
    """Scalar fields of a builtin-options table, e.g. {"StrideW": 2, "Padding": 0, ...}."""
    if table is None or options_type == 0:
        return {}
    found = _options_getters(_OPTIONS_NAMES.get(options_type, ""))
    if found is None:
        return {}
    cls, getters = found
    options = cls()
    options.Init(table.Bytes, table.Pos)
    decoded: dict[str, Any] = {}
    for name in getters:
        value = getattr(options, name)()
        if isinstance(value, bool | int | float):
            decoded[name] = value
    return decoded
