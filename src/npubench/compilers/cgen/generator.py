"""Generate dependency-free C for an int8 TFLite model: ``generate_c(tflite, out_dir)``.

Output files in ``out_dir``: ``model.c`` (weights as const arrays, parameters, a static arena
and ``<prefix>_invoke``), ``model.h`` (sizes, shapes, quantization), ``npb_kernels.c/.h`` (the
int8 kernels). Tensor offsets in the arena come from a lifetime-based static plan
(``memory_plan.py``); RESHAPE/SQUEEZE/EXPAND_DIMS outputs share their input's bytes unless
copying them gives a smaller arena. The model is read with ``npubench.analysis.tflite_reader``;
its ``AnalysisError``s reach callers as ``CompilerError``s. May import: numpy, npubench.errors,
``npubench.analysis.tflite_reader`` and sibling cgen modules.
"""

from __future__ import annotations

import re
import shutil
from dataclasses import dataclass, field
from importlib import resources
from pathlib import Path

import numpy as np

from npubench.analysis.tflite_reader import ModelRecord, TensorRecord, read_tflite
from npubench.compilers.cgen.builder import CodeBuilder
from npubench.compilers.cgen.memory_plan import BufferRequest, MemoryPlan, plan_memory
from npubench.compilers.cgen.ops import ALIAS_OPS, LOWERINGS, SUPPORTED_OPS
from npubench.errors import AnalysisError, CompilerError

KERNEL_FILES = ("npb_kernels.c", "npb_kernels.h")
# The tensor types an int8 graph carries; anything else (strings, int4, bfloat16) is refused.
_HANDLED_DTYPES = frozenset({"float32", "float16", "int32", "uint8", "int64", "int16", "int8"})


@dataclass(frozen=True)
class CgenResult:
    """What ``generate_c`` wrote and what the generated program needs."""

    out_dir: Path
    sources: tuple[Path, ...]  # .c files to compile
    header: Path
    prefix: str
    arena_bytes: int  # the static activation arena
    naive_arena_bytes: int  # one buffer per activation tensor, for comparison
    constant_bytes: int  # weights, biases and op parameters arrays
    input_shape: tuple[int, ...]
    output_shape: tuple[int, ...]
    input_scale: float
    input_zero_point: int
    output_scale: float
    output_zero_point: int
    plan: str = ""  # how the arena was planned (reshape aliasing, placement order)
    operators: dict[str, int] = field(default_factory=dict)  # opcode -> count
    warnings: tuple[str, ...] = ()


def _check_prefix(prefix: str) -> None:
    if not re.fullmatch(r"[A-Za-z_][A-Za-z0-9_]*", prefix):
        raise CompilerError(
            f"C prefix {prefix!r} is not a valid C identifier",
            hint="use letters, digits and underscores, not starting with a digit",
        )


def _read_model(path: Path) -> ModelRecord:
    """The model's first subgraph; refuse files, control flow and types cgen cannot handle."""
    try:
        graph = read_tflite(path)
    except AnalysisError as exc:  # missing, not TFLite, or truncated: same message, cgen's type
        raise CompilerError(exc.message, exc.hint) from exc
    if graph.subgraph_count != 1:
        raise CompilerError(
            f"{path} has {graph.subgraph_count} subgraphs; the C generator reads exactly one",
            hint="control flow (WHILE/IF/CALL_ONCE) is not supported by the C generator",
        )
    for t in graph.tensors:
        if t.dtype not in _HANDLED_DTYPES:
            raise CompilerError(
                f"tensor {t.index} ({t.name!r}) has TFLite type {t.dtype}, which the C "
                "generator does not handle",
                hint="convert the model to full-integer int8",
            )
    return graph


def _single_io(graph: ModelRecord, path: Path) -> tuple[TensorRecord, TensorRecord]:
    if len(graph.inputs) != 1 or len(graph.outputs) != 1:
        raise CompilerError(
            f"{path} has {len(graph.inputs)} inputs and {len(graph.outputs)} outputs; the C "
            "generator handles exactly one of each",
            hint="export a model with a single input and a single output",
        )
    inp, out = graph.tensors[graph.inputs[0]], graph.tensors[graph.outputs[0]]
    for role, t in (("input", inp), ("output", out)):
        if t.dtype != "int8" or not t.scales:
            raise CompilerError(
                f"the model {role} {t.name!r} is {t.dtype}, not quantized int8",
                hint="convert with full-integer quantization and int8 input/output types",
            )
    return inp, out


class UnsupportedOperatorError(CompilerError):
    """The model has an operator the generator has no kernel for (``op`` at ``layer``)."""

    def __init__(self, message: str, hint: str, op: str, layer: int) -> None:
        super().__init__(message, hint)
        self.op = op
        self.layer = layer


def _check_supported(graph: ModelRecord) -> None:
    for op in graph.operators:
        if op.op not in LOWERINGS and op.op not in ALIAS_OPS:
            out = graph.tensors[op.outputs[0]].name if op.outputs else "?"
            raise UnsupportedOperatorError(
                f"cgen does not support operator {op.op} (layer {op.index}, output {out!r})",
                hint=f"supported operators: {', '.join(SUPPORTED_OPS)}",
                op=op.op,
                layer=op.index,
            )


def _plan(graph: ModelRecord, alias: bool) -> tuple[dict[int, int], MemoryPlan]:
    """Arena offsets for every activation tensor.

    With ``alias``, outputs of shape-only ops share their input's slot (no copy, but the shared
    buffer lives longer); without, they get their own slot and a memcpy.
    """
    root: dict[int, int] = {}  # activation tensor -> the tensor whose buffer holds its bytes

    def is_activation(i: int) -> bool:
        return i >= 0 and not graph.tensors[i].is_constant

    root[graph.inputs[0]] = graph.inputs[0]
    first: dict[int, int] = {graph.inputs[0]: -1}  # the input is written before op 0
    last: dict[int, int] = {graph.inputs[0]: -1}
    for op in graph.operators:
        for i in op.inputs:
            if is_activation(i):
                if i not in root:
                    raise CompilerError(
                        f"tensor {i} ({graph.tensors[i].name!r}) is read by operator "
                        f"{op.index} before any operator writes it",
                        hint="the graph may need a second input or a variable tensor",
                    )
                last[root[i]] = op.index
        for o in op.outputs:
            src = op.inputs[0] if op.inputs else -1
            if op.op in ALIAS_OPS and alias:
                if not is_activation(src):
                    raise CompilerError(
                        f"operator {op.index} ({op.op}) reshapes a constant tensor",
                        hint="fold constant reshapes before conversion (onnxsim does this)",
                    )
                root[o] = root[src]
                last[root[o]] = op.index
            else:
                root[o] = o
                first[o] = last[o] = op.index
    out_root = root.get(graph.outputs[0])
    if out_root is None:
        raise CompilerError("the model output is never written", hint="check the model")
    last[out_root] = len(graph.operators)  # read by the final copy to the caller
    buffers = sorted(first)
    requests = [
        BufferRequest(
            graph.tensors[t].name, graph.tensors[t].elements, first[t], max(last[t], first[t])
        )
        for t in buffers
    ]
    plan = plan_memory(requests)
    offset_of = dict(zip(buffers, plan.offsets, strict=True))
    return {t: offset_of[r] for t, r in root.items()}, plan


def _header(prefix: str, inp: TensorRecord, out: TensorRecord, arena: int) -> str:
    guard = f"{prefix.upper()}_H"
    up = prefix.upper()
    dims_in = ", ".join(str(d) for d in inp.shape)
    dims_out = ", ".join(str(d) for d in out.shape)
    return f"""/* Generated by npubench compilers/cgen: int8 inference without a runtime. */
#ifndef {guard}
#define {guard}

#include <stdint.h>

#define {up}_INPUT_SIZE {inp.elements}
#define {up}_OUTPUT_SIZE {out.elements}
#define {up}_ARENA_SIZE {arena}
#define {up}_INPUT_RANK {len(inp.shape)}
#define {up}_OUTPUT_RANK {len(out.shape)}
#define {up}_INPUT_DIMS {{{dims_in}}}
#define {up}_OUTPUT_DIMS {{{dims_out}}}
/* real = scale * (q - zero_point) */
#define {up}_INPUT_SCALE {np.float32(inp.scale)!r}f
#define {up}_INPUT_ZERO_POINT ({inp.zero_point})
#define {up}_OUTPUT_SCALE {np.float32(out.scale)!r}f
#define {up}_OUTPUT_ZERO_POINT ({out.zero_point})

/* Run one inference: reads {up}_INPUT_SIZE bytes, writes {up}_OUTPUT_SIZE bytes. Returns 0. */
int {prefix}_invoke(const int8_t *input, int8_t *output);

#endif /* {guard} */
"""


def generate_c(tflite: Path, out_dir: Path, prefix: str = "npb_model") -> CgenResult:
    """Write C sources for ``tflite`` into ``out_dir`` and describe them."""
    _check_prefix(prefix)
    tflite = Path(tflite)
    graph = _read_model(tflite)
    inp, out = _single_io(graph, tflite)
    _check_supported(graph)
    # Aliasing saves copies but stretches lifetimes: keep it unless copying needs less arena.
    offsets, plan = _plan(graph, alias=True)
    copy_offsets, copy_plan = _plan(graph, alias=False)
    aliased = plan.arena_size <= copy_plan.arena_size
    if not aliased:
        offsets, plan = copy_offsets, copy_plan

    arena = f"{prefix}_arena"
    builder = CodeBuilder(graph, prefix, arena, offsets)
    for op in graph.operators:
        if op.op in ALIAS_OPS:
            src, dst = op.inputs[0], op.outputs[0]
            if aliased:
                builder.statements.append(
                    f"    /* op {op.index}: {op.op} shares its input's arena bytes */"
                )
            elif graph.tensors[src].is_constant:
                raise CompilerError(
                    f"operator {op.index} ({op.op}) reshapes a constant tensor",
                    hint="fold constant reshapes before conversion (onnxsim does this)",
                )
            else:
                n = graph.tensors[dst].elements
                builder.call(op, f"memcpy({builder.ref(dst)}, {builder.ref(src)}, {n});")
            continue
        try:
            LOWERINGS[op.op](builder, op)
        except AnalysisError as exc:  # a tensor without quantization or with unviewable data
            raise CompilerError(
                f"cgen: operator {op.index} ({op.op}): {exc.message}", exc.hint
            ) from exc

    in_ref = builder.ref(graph.inputs[0])
    out_ref = builder.ref(graph.outputs[0])
    counts: dict[str, int] = {}
    for op in graph.operators:
        counts[op.op] = counts.get(op.op, 0) + 1

    out_dir = Path(out_dir)
    out_dir.mkdir(parents=True, exist_ok=True)
    body = "\n".join(builder.statements)
    model_c = (
        f"/* Generated by npubench compilers/cgen from {tflite.name}. Do not edit. */\n"
        "#include <stdint.h>\n#include <string.h>\n\n"
        f'#include "model.h"\n#include "npb_kernels.h"\n\n'
        f"/* Activations: static plan, {plan.arena_size} bytes (one buffer per tensor would "
        f"take {plan.naive_size}). */\n"
        f"static int8_t {arena}[{max(plan.arena_size, 1)}];\n\n"
        + "".join(builder.declarations)
        + f"\nint {prefix}_invoke(const int8_t *input, int8_t *output)\n{{\n"
        f"    memcpy({in_ref}, input, {inp.elements});\n"
        f"{body}\n"
        f"    memcpy(output, {out_ref}, {out.elements});\n"
        "    return 0;\n}\n"
    )
    (out_dir / "model.c").write_text(model_c)
    (out_dir / "model.h").write_text(_header(prefix, inp, out, plan.arena_size))
    kernel_dir = resources.files("npubench.compilers.cgen") / "kernels"
    for name in KERNEL_FILES:
        with resources.as_file(kernel_dir / name) as src:
            shutil.copyfile(src, out_dir / name)
    return CgenResult(
        out_dir=out_dir,
        sources=(out_dir / "model.c", out_dir / "npb_kernels.c"),
        header=out_dir / "model.h",
        prefix=prefix,
        arena_bytes=plan.arena_size,
        naive_arena_bytes=plan.naive_size,
        constant_bytes=builder.constant_bytes,
        input_shape=tuple(inp.shape),
        output_shape=tuple(out.shape),
        input_scale=inp.scale,
        input_zero_point=inp.zero_point,
        output_scale=out.scale,
        output_zero_point=out.zero_point,
        plan=f"{'aliased' if aliased else 'copied'} reshapes; placement by {plan.strategy}",
        operators=counts,
        warnings=tuple(builder.warnings),
    )
