"""Insert layer markers into a generated ``model.c`` and write the fixed input as C.

The generator (``compilers/cgen``) writes ``<prefix>_invoke`` as: copy the input into the arena,
then for every computing operator a ``/* op N: OPCODE -> output */`` comment followed by its
kernel call, then copy the output out. A call to ``npb_icount_mark()`` is placed before each such
comment and before the final copy, so the instruction count between two marks is one layer.
Operators that only alias their input's bytes (RESHAPE with no copy) emit no code and get no
marker. If the generated text ever stops matching, :class:`InstrumentError` says so instead of
silently mis-attributing counts.

May import: npubench.errors, numpy.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from npubench.errors import MeasurementError

MARK_FUNCTION = "npb_icount_mark"
_OP_COMMENT = re.compile(r"^    /\* op (\d+): ([A-Z0-9_]+) -> ")
_ANY_OP_COMMENT = re.compile(r"^    /\* op \d+: ")
_ALIAS_NOTE = "shares its input's arena bytes"


class InstrumentError(MeasurementError):
    """The generated model.c does not have the shape the layer markers rely on."""


@dataclass(frozen=True)
class MarkedLayer:
    """A computing operator of the generated code, in execution order."""

    index: int  # TFLite operator index
    op: str


def instrument_model_c(source: str, prefix: str) -> tuple[str, list[MarkedLayer]]:
    """``model.c`` text with a marker before every computing layer and before the output copy."""
    invoke = re.compile(rf"^int {re.escape(prefix)}_invoke\(")
    out_copy = "    memcpy(output, "
    lines = source.splitlines()
    result: list[str] = []
    layers: list[MarkedLayer] = []
    inside = False
    closed = False
    for line in lines:
        if invoke.match(line):
            inside = True
        elif inside and line.startswith(out_copy):
            result.append(f"    {MARK_FUNCTION}();")
            inside, closed = False, True
        elif inside and (m := _OP_COMMENT.match(line)):
            result.append(f"    {MARK_FUNCTION}();")
            layers.append(MarkedLayer(int(m.group(1)), m.group(2)))
        elif inside and _ANY_OP_COMMENT.match(line) and _ALIAS_NOTE not in line:
            raise InstrumentError(
                f"unrecognised operator comment in the generated model.c: {line.strip()[:80]}",
                hint="the C generator's output format changed; update measure/icount/instrument.py",
            )
        result.append(line)
    if not closed:
        raise InstrumentError(
            f"could not find {prefix}_invoke and its output copy in the generated model.c",
            hint="the C generator's output format changed; update measure/icount/instrument.py",
        )
    include = '#include "npb_kernels.h"\n'
    text = "\n".join(result) + "\n"
    if include not in text:
        raise InstrumentError(
            "generated model.c does not include npb_kernels.h",
            hint="the C generator's output format changed; update measure/icount/instrument.py",
        )
    text = text.replace(include, f"{include}\nvoid {MARK_FUNCTION}(void);\n", 1)
    return text, layers


def input_c(sample: np.ndarray, size: int) -> str:
    """C source defining ``npb_icount_input``: the int8 sample as raw bytes."""
    flat = np.asarray(sample, np.int8).reshape(-1)
    if flat.size != size:
        raise MeasurementError(
            f"input sample has {flat.size} elements, the model takes {size}",
            hint="pass one sample of the model's input shape",
        )
    values = flat.view(np.uint8).tolist()
    rows = [", ".join(map(str, values[i : i + 32])) for i in range(0, len(values), 32)]
    body = ",\n    ".join(rows)
    return (
        "/* The fixed input of one counted inference (written by npubench measure/icount). */\n"
        "#include <stdint.h>\n\n"
        '#include "model.h"\n\n'
        f"const uint8_t npb_icount_input[NPB_MODEL_INPUT_SIZE] = {{\n    {body}\n}};\n"
    )


def write_instrumented(model_c: Path, prefix: str) -> tuple[Path, list[MarkedLayer]]:
    """Write ``model_marked.c`` next to ``model_c``; return it and the marked layers."""
    text, layers = instrument_model_c(model_c.read_text(), prefix)
    marked = model_c.with_name("model_marked.c")
    marked.write_text(text)
    return marked, layers
