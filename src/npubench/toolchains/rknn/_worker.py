"""npubench's worker for Rockchip rknn-toolkit2: runs inside the managed "rknn" environment.

``<env python> _worker.py REQUEST.json`` (the JSON contract of ``npubench.toolchains.worker``,
version 1). It imports only the standard library, numpy, onnx/onnxruntime (dependencies of
rknn-toolkit2 in that environment) and rknn-toolkit2's public Python API (``rknn.api.RKNN``);
it never imports npubench, whose environment it does not run in. This is npubench's own code,
not Rockchip's: it drives the tool and reads the text the tool prints.

Actions:

- ``version``: the tool's and its dependencies' versions, the target platforms it accepts.
- ``compile``: float ONNX -> int8 (w8a8, per-channel) ``.rknn`` for ``board.target_platform``,
  calibrated on ``model.calibration_npy`` (NCHW float32). The native compiler's verbose output
  gives the per-layer table ("Network Layer Information Table": op, NPU/CPU target, shapes,
  cycles DDR/NPU/Total, RW KB; the columns are read from its header line, because other
  versions print more of them) and the memory totals ("Total Internal Memory Size", "Total
  Weight Memory Size"). Fidelity: rknn's simulator (``init_runtime()`` with no target) on
  ``model.evaluation_npy`` against onnxruntime's float32 run of the source model; per layer,
  rknn's own ``accuracy_analysis()`` on the first sample.

The native compiler prints to file descriptor 1 from C++; fds 1 and 2 are redirected into
``<workdir>/rknn.log`` while the tool runs, and the reply goes to ``request["reply"]``, never to
stdout. After the reply is on disk the process ends with ``os._exit(0)`` (unloading torch and
rknn takes over a second and adds nothing).
"""

from __future__ import annotations

import contextlib
import json
import os
import re
import sys
import time
import traceback
from typing import Any

T_START = time.monotonic()
CONTRACT = 1
TOOL_NAME = "rknn-toolkit2"
LOG_NAME = "rknn.log"
RKNN_NAME = "model.rknn"
ACCURACY_DIR = "accuracy"
ERROR_ANALYSIS = "error_analysis.txt"
STANDARD_DOMAINS = frozenset({"", "ai.onnx", "ai.onnx.ml"})

ANSI_RE = re.compile(r"\x1b\[[0-9;]*[A-Za-z]")
# "D RKNN: [17:31:35.541] ": the prefix of the native compiler's lines.
NATIVE_PREFIX_RE = re.compile(r"^[DIWE] RKNN: (?:\[[0-9:.]+\] ?)?")
MEM_LINE_RE = re.compile(
    r"^(Total [A-Za-z /]+?)\s*(?:\(([A-Za-z]+)\))?\s*:"
    r"\s*([0-9]+(?:\.[0-9]+)?)\s*([KMG]?B|Byte)?\s*$"
)
UNIT = {None: 1, "B": 1, "Byte": 1, "KB": 1024, "MB": 1024**2, "GB": 1024**3}
# One row of accuracy_analysis()'s table: "[Op] tensor  cos | euc   cos | euc".
ERROR_ROW_RE = re.compile(
    r"^\[(\S+)\]\s+(\S+)\s+([0-9.]+)\s*\|\s*([0-9.]+)\s+([0-9.]+)\s*\|\s*([0-9.]+)"
)
# onnxruntime's message for a node of a domain no opset imports.
ORT_NODE_RE = re.compile(r'In Node, \("([^"]*)", ([^,]+), "([^"]*)", -?\d+\)')
DYNAMIC_INPUT_RE = re.compile(r"The input shape (\[[^\]]*\]) of '([^']*)' is not support")
KNOWN_COLUMNS = (
    "ID",
    "OpType",
    "DataType",
    "Target",
    "InputShape",
    "OutputShape",
    "Cycles(DDR/NPU/Total)",
    "RW(KB)",
    "FullName",
)
IO_PSEUDO_OPS = ("InputOperator", "OutputOperator")

MEM_WHAT = {
    "internal": "rknn 'Total Internal Memory Size': span of the feature-tensor buffer (activations"
    ", graph input and output) the compiler planned (its Feature Tensor Information Table)",
    "weight": "rknn 'Total Weight Memory Size': the constant tensors (int8 weights, int32 biases,"
    " other constants) the compiler laid out (its Const Tensor Information Table)",
}


# --- small helpers ---------------------------------------------------------------------------


def versions() -> dict[str, str | None]:
    from importlib import metadata

    out: dict[str, str | None] = {}
    for dist in ("rknn-toolkit2", "onnx", "onnxruntime", "numpy", "torch", "protobuf"):
        try:
            out[dist] = metadata.version(dist)
        except Exception:
            out[dist] = None
    return out


def tool_record() -> dict[str, Any]:
    v = versions()
    extra = {k: val for k, val in v.items() if k != "rknn-toolkit2" and val is not None}
    return {"name": TOOL_NAME, "version": v.get("rknn-toolkit2"), "extra_versions": extra}


def supported_platforms() -> list[str] | None:
    """The target platforms the public ``RKNN.config`` docstring lists."""
    try:
        from rknn.api import RKNN  # type: ignore[import-not-found,unused-ignore]

        doc = RKNN.config.__doc__ or ""
        m = re.search(r":param target_platform:(.*?):param", doc, re.S)
        if not m:
            return None
        return sorted(set(re.findall(r"\b(r[kv]\d{4}[a-z]?)\b", m.group(1))))
    except Exception:
        return None


def clean_lines(text: str) -> list[str]:
    """Log lines without ANSI colour codes; a carriage-return progress bar keeps its last state."""
    return [raw.split("\r")[-1] for raw in ANSI_RE.sub("", text).split("\n")]


def tail(lines: list[str], n: int = 40) -> str:
    kept = [line for line in lines if line.strip()]
    return "\n".join(kept[-n:])


def native_body(line: str) -> str | None:
    """The text of a native-compiler line after its 'D RKNN: [time] ' prefix, or None."""
    m = NATIVE_PREFIX_RE.match(line)
    return line[m.end() :] if m else None


def to_int(text: str | None) -> int | None:
    try:
        return int(text) if text is not None else None
    except ValueError:
        return None


def to_num(text: str | None) -> int | float | None:
    try:
        v = float(text) if text is not None else None
    except ValueError:
        return None
    if v is None:
        return None
    return int(v) if v.is_integer() else v


def split_shapes(text: str | None) -> list[str]:
    """'(1,3,32,32),(8,3,3,3),(8)' -> ['(1,3,32,32)', '(8,3,3,3)', '(8)']."""
    if text in (None, "", "\\"):
        return []
    return re.findall(r"\([^)]*\)|\.\.\.", text or "")


# --- the compiler's log ----------------------------------------------------------------------


def parse_layer_table(lines: list[str]) -> tuple[list[str] | None, list[dict[str, str]]]:
    """The header and rows of the last 'Network Layer Information Table' in the log.

    Column positions come from the header line (2.5.0 prints ID OpType DataType Target
    InputShape OutputShape Cycles(DDR/NPU/Total) RW(KB) FullName; other versions add Time(us),
    MacUsage(%), WorkLoad(..)). Cells hold no spaces, except possibly the last (FullName)."""
    bodies = [native_body(line) for line in lines]
    starts = [
        i for i, b in enumerate(bodies) if b is not None and "Network Layer Information Table" in b
    ]
    if not starts:
        return None, []
    header: list[str] | None = None
    rows: list[dict[str, str]] = []
    for b in bodies[starts[-1] + 1 :]:
        if b is None:
            continue
        s = b.strip()
        if not s or set(s) <= set("-+"):
            if header is not None and rows:
                break  # the closing rule of the table
            continue
        if s.startswith(("<<<", ">>>")):
            break
        toks = s.split()
        if header is None:
            if toks[0] == "ID":
                header = toks
            continue
        if not toks[0].isdigit():
            break
        rows.append(dict(zip(header, s.split(None, len(header) - 1), strict=False)))
    return header, rows


def layers_from_rows(rows: list[dict[str, str]]) -> tuple[list[dict[str, Any]], list[str]]:
    """Contract layer rows from the table rows, and notes on what the table leaves out."""
    layers: list[dict[str, Any]] = []
    zero_npu: list[str] = []
    for r in rows:
        target = (r.get("Target") or "").strip()
        placement = {"NPU": "npu", "CPU": "cpu"}.get(target.upper(), "unsupported")
        full = r.get("FullName", "").strip()
        onnx_op, _, node = full.partition(":")
        ddr = npu = total = None
        parts = (r.get("Cycles(DDR/NPU/Total)") or "").split("/")
        if len(parts) == 3:
            ddr, npu, total = (to_int(p) for p in parts)
        op = r.get("OpType", "")
        pseudo = op in IO_PSEUDO_OPS
        reason = ""
        cycles = total
        if placement == "cpu":
            cycles = None
            reason = (
                "graph input/output (runtime copy or layout conversion), not a compute layer"
                if pseudo
                else "placed on the CPU by rknn; the compiler gives no cycle estimate for "
                "CPU layers"
            )
        elif placement == "unsupported":
            reason = f"unknown target {target!r} in the compiler's table"
        elif total == 0:
            zero_npu.append(f"{op} {node or full}")
            reason = "the compiler's estimate is 0/0/0 cycles for this NPU layer (not modelled)"
        extra: dict[str, Any] = {
            "rknn_op": op,
            "onnx_op": onnx_op if node else None,
            "full_name": full,
            "data_type": r.get("DataType"),
            "target": target,
            "input_shapes": split_shapes(r.get("InputShape")),
            "output_shapes": split_shapes(r.get("OutputShape")),
            "cycles_ddr": ddr,
            "cycles_npu": npu,
            "cycles_total": total,
            "rw_kb": to_num(r.get("RW(KB)")),
            "io_pseudo_op": pseudo,
        }
        for k, v in r.items():  # columns other versions print
            if k not in KNOWN_COLUMNS:
                extra["column:" + k] = v
        layers.append(
            {
                "index": to_int(r.get("ID")),
                "name": node or full,
                "op": op,
                "placement": placement,
                "reason": reason,
                "cycles": cycles,
                "macs": None,
                "extra": extra,
            }
        )
    notes = []
    if zero_npu:
        notes.append(
            "NPU layers with a 0-cycle estimate (they add nothing to cycles_total): "
            + ", ".join(zero_npu)
        )
    odd = [
        lay["index"]
        for lay in layers
        if None not in (lay["extra"]["cycles_total"], lay["extra"]["cycles_ddr"])
        and lay["extra"]["cycles_total"]
        != max(lay["extra"]["cycles_ddr"], lay["extra"]["cycles_npu"] or 0)
    ]
    if odd:
        notes.append(f"layers whose Total cycles is not max(DDR, NPU): {odd}")
    return layers, notes


def cost_from_layers(layers: list[dict[str, Any]]) -> dict[str, Any] | None:
    """Sum over NPU layers of the compiler's per-layer estimate (the tool states no clock)."""
    if not layers:
        return None
    npu_layers = [lay for lay in layers if lay["placement"] == "npu"]

    def total(key: str) -> int:
        return sum(lay["extra"][key] or 0 for lay in npu_layers)

    return {
        "cycles_total": total("cycles_total"),
        "cycles_npu": total("cycles_npu"),
        "cycles_ddr": total("cycles_ddr"),
        "clock_hz": None,
        "latency_us": None,
        "what": "sum over NPU layers of the compiler's static per-layer estimate in its verbose "
        "'Network Layer Information Table' (Total = max(DDR, NPU) per layer); CPU layers and "
        "0-cycle layers add nothing; rknn-toolkit2 states no clock for these cycles",
    }


def parse_memory(lines: list[str]) -> list[dict[str, Any]]:
    """The compiler's 'Total ... Memory Size' lines, one region each (the last one printed)."""
    found: dict[str, dict[str, Any]] = {}
    for line in lines:
        b = native_body(line)
        m = MEM_LINE_RE.match(b.strip()) if b is not None else None
        if m is None or b is None:
            continue
        label, unit_in_label, value, unit = m.group(1).strip(), m.group(2), m.group(3), m.group(4)
        unit = unit or unit_in_label
        if unit not in UNIT:
            continue
        slug = re.sub(r"[^a-z0-9]+", "_", label.lower()).strip("_")
        region = re.sub(r"^total_|_size$", "", slug).replace("_memory", "")
        found.pop(region, None)  # keep the order of the last occurrence
        found[region] = {
            "region": region,
            "used_bytes": round(float(value) * UNIT[unit]),
            "capacity_bytes": None,
            "what": MEM_WHAT.get(region, f"rknn '{label}' ({value}{unit or ''})"),
            "raw": b.strip(),
        }
    return list(found.values())


def parse_error_analysis(lines: list[str]) -> list[dict[str, Any]]:
    """accuracy_analysis()'s table (error_analysis.txt, also echoed in the log): per layer the
    cosine and euclidean distance to the float 'golden' run, accumulated ('entire') and of
    that layer alone ('single'). Rows without figures (fused layers) are skipped."""
    rows = []
    for line in lines:
        m = ERROR_ROW_RE.match(line.strip())
        if m:
            rows.append(
                {
                    "op": m.group(1),
                    "tensor": m.group(2),
                    "entire_cos": float(m.group(3)),
                    "entire_euc": float(m.group(4)),
                    "single_cos": float(m.group(5)),
                    "single_euc": float(m.group(6)),
                }
            )
    return rows


def misc_notes(lines: list[str]) -> list[str]:
    """What the tool says about the build that a reader should see (warnings, its version)."""
    notes: list[str] = []
    for line in lines:
        b = native_body(line)
        if b is not None:
            if b.startswith("librknnc version:"):
                notes.append("native compiler: " + b.strip())
            elif line.startswith(("E RKNN", "W RKNN")) and "need parameter qtype" not in b:
                kind = "compiler error line (the build still succeeded): "
                notes.append((kind if line.startswith("E") else "compiler warning: ") + b.strip())
            continue
        s = line.strip()
        if s.startswith("W ") and ("mini rknn" in s or "dtype of" in s):
            notes.append("rknn: " + s[2:].strip())
    return list(dict.fromkeys(notes))


# --- failures --------------------------------------------------------------------------------


def precheck_onnx(path: str) -> tuple[str, str] | None:
    """(error, hint) for a model rknn-toolkit2 is known to reject, found before it starts.

    A node of a custom domain (rknn builds standard ONNX operators only unless the op is
    registered with ``RKNN.reg_custom_op``), or a graph input with a symbolic dimension (rknn
    compiles static shapes). None when neither applies or the file cannot be read here (then
    rknn's own message is the one to report)."""
    try:
        import onnx  # type: ignore[import-untyped,unused-ignore]

        model = onnx.load(path, load_external_data=False)
    except Exception:
        return None
    for i, node in enumerate(model.graph.node):
        if node.domain not in STANDARD_DOMAINS:
            name = node.name or (node.output[0] if node.output else f"node {i}")
            return (
                f"layer {i} '{name}' ({node.op_type}, domain '{node.domain}') is a custom-domain "
                "operator: rknn-toolkit2 builds standard ONNX operators only",
                "replace it with standard ONNX operators (rknn can run a custom operator only "
                "when it is registered with RKNN.reg_custom_op, which npubench does not do)",
            )
    constants = {t.name for t in model.graph.initializer}
    for inp in model.graph.input:
        if inp.name in constants:
            continue
        dims = inp.type.tensor_type.shape.dim
        shape = [d.dim_param if d.dim_param else d.dim_value for d in dims]
        if any(isinstance(d, str) or d == 0 for d in shape):
            return (
                f"input '{inp.name}' has a dynamic shape {shape}: rknn-toolkit2 compiles static "
                "shapes only",
                "export the model with a fixed input shape and batch 1 (torch.onnx.export "
                "without dynamic_axes)",
            )
    return None


def explain_error(message: str) -> tuple[str, str] | None:
    """A clearer (error, hint) for messages of rknn-toolkit2 2.5.0 that bury the cause."""
    m = ORT_NODE_RE.search(message)
    if m and "No opset import for domain" in message:
        node, op, domain = m.group(1), m.group(2).strip(), m.group(3)
        return (
            f"layer '{node}' ({op}, domain '{domain}') is a custom-domain operator: "
            f"rknn-toolkit2 cannot build it (onnxruntime: No opset import for domain '{domain}')",
            "replace it with standard ONNX operators, or register it with RKNN.reg_custom_op",
        )
    m = DYNAMIC_INPUT_RE.search(message)
    if m:
        return (
            f"input '{m.group(2)}' has a dynamic shape {m.group(1)}: rknn-toolkit2 compiles "
            "static shapes only",
            "export the model with a fixed input shape and batch 1 (torch.onnx.export without "
            "dynamic_axes)",
        )
    return None


def first_error(lines: list[str], exc: BaseException | None) -> str:
    """One line naming the problem: the first 'E <api>: message' line that is not the version
    banner or a traceback header, else the exception's last line."""
    for line in lines:
        s = line.strip()
        if s.startswith("E ") and not s.startswith("E RKNN"):
            msg = s[2:].strip()
            if "rknn-toolkit2 version" in msg or msg.endswith("Traceback (most recent call last):"):
                continue
            return msg
    text = [t.strip() for t in str(exc).strip().splitlines() if t.strip()] if exc else []
    if text:
        return text[-1]
    for line in lines:
        body = native_body(line)
        if line.startswith("E RKNN") and body:
            return body.strip()
    return repr(exc)


def hint_for(error: str) -> str:
    e = error.lower()
    if "not exists" in e or "no such file" in e:
        return "check the model path in the request"
    if "invalid target_platform" in e:
        known = ", ".join(supported_platforms() or [])
        return f"use a target platform rknn-toolkit2 supports: {known}"
    if "expect 'nchw'" in e or "calibration" in e:
        return "calibration .npy files must be NCHW float32 matching the model input, (1,C,H,W)"
    if "invalid_graph" in e or "no opset import" in e or "not support" in e:
        return (
            "the model has an operator rknn cannot handle: replace it with standard ONNX "
            "operators; log_tail shows the layer"
        )
    return "see log_tail (the tool's own output) for the failing step"


def failure(
    step: str, lines: list[str], exc: BaseException | None, timing: dict[str, float]
) -> dict[str, Any]:
    """The ok=false reply for a step of the tool that failed, its cause made clear if known."""
    err = first_error(lines, exc)
    clear = explain_error(err) or explain_error("\n".join(lines))
    error, hint = clear if clear else (err, hint_for(err))
    return {
        "contract": CONTRACT,
        "ok": False,
        "error": error if error.startswith(step) else f"{step}: {error}",
        "hint": hint,
        "log_tail": tail(lines),
        "timing": timing_done(timing),
    }


def fail(error: str, hint: str, log_tail: str = "") -> dict[str, Any]:
    return {"contract": CONTRACT, "ok": False, "error": error, "hint": hint, "log_tail": log_tail}


# --- fd redirection --------------------------------------------------------------------------


class CaptureFds:
    """Send file descriptors 1 and 2 (Python and native writers alike) to a file."""

    def __init__(self, path: str) -> None:
        self.path = path

    def __enter__(self) -> CaptureFds:
        sys.stdout.flush()
        sys.stderr.flush()
        self.fh = open(self.path, "ab", buffering=0)
        self.saved = (os.dup(1), os.dup(2))
        os.dup2(self.fh.fileno(), 1)
        os.dup2(self.fh.fileno(), 2)
        return self

    def __exit__(self, *exc: object) -> None:
        try:
            sys.stdout.flush()
            sys.stderr.flush()
        except Exception:
            pass
        os.dup2(self.saved[0], 1)
        os.dup2(self.saved[1], 2)
        os.close(self.saved[0])
        os.close(self.saved[1])
        self.fh.close()


# --- fidelity --------------------------------------------------------------------------------


def sqnr_db(ref: Any, test: Any) -> float:
    import numpy as np

    r = np.asarray(ref, dtype=np.float64).ravel()
    err = r - np.asarray(test, dtype=np.float64).ravel()
    p_sig, p_err = float(np.sum(r * r)), float(np.sum(err * err))
    if p_err == 0.0:
        return float("inf")
    if p_sig == 0.0:
        return float("-inf")
    return float(10.0 * np.log10(p_sig / p_err))


def float_reference(onnx_path: str, samples: Any) -> list[list[Any]]:
    """Float outputs of the source ONNX model with onnxruntime, one sample at a time."""
    import numpy as np
    import onnxruntime as ort  # type: ignore[import-untyped,unused-ignore]

    sess = ort.InferenceSession(onnx_path, providers=["CPUExecutionProvider"])
    name = sess.get_inputs()[0].name
    return [
        [np.asarray(o) for o in sess.run(None, {name: s[None].astype(np.float32)})] for s in samples
    ]


def fidelity_record(
    onnx_path: str, eval_np: Any, outputs: list[list[Any]], acc_file: str
) -> dict[str, Any]:
    import numpy as np

    ref_all, q_all = [], []
    for r_out, q_out in zip(float_reference(onnx_path, eval_np), outputs, strict=False):
        for r_t, q_t in zip(r_out, q_out, strict=False):
            if r_t.size != q_t.size:
                raise RuntimeError(f"output size mismatch {r_t.shape} vs {q_t.shape}")
            ref_all.append(r_t.ravel())
            q_all.append(q_t.ravel())
    ref = np.concatenate(ref_all).astype(np.float64)
    quant = np.concatenate(q_all).astype(np.float64)
    s = sqnr_db(ref, quant)
    per_layer: list[dict[str, Any]] = []
    if os.path.exists(acc_file):
        with open(acc_file, errors="replace") as f:
            per_layer = parse_error_analysis(f.read().splitlines())
    return {
        "sqnr_db": round(s, 4) if np.isfinite(s) else None,
        "max_abs_error": float(np.max(np.abs(ref - quant))),
        "per_layer": per_layer,
        "samples": len(outputs),
        "what": "rknn simulator (init_runtime() with no target) on the quantized model vs "
        "onnxruntime float32 on the source ONNX, all outputs of all samples pooled; per_layer: "
        "rknn accuracy_analysis() on the first sample (cosine / euclidean distance to its own "
        "float run, accumulated 'entire' and per-layer 'single')",
    }


# --- actions ---------------------------------------------------------------------------------


def do_version(req: dict[str, Any]) -> dict[str, Any]:
    return {
        "contract": CONTRACT,
        "ok": True,
        "tool": tool_record(),
        "targets": supported_platforms(),
        "notes": ["the native compiler's own version (librknnc) is printed only during build()"],
    }


def write_dataset(calib_path: str, input_shape: list[int], workdir: str) -> tuple[str, int]:
    """One (1, C, H, W) .npy per calibration sample and the dataset.txt that lists them."""
    import numpy as np

    calib = np.load(calib_path)
    want = tuple(input_shape[1:])
    if calib.ndim == len(input_shape) - 1:
        calib = calib[None]
    if tuple(calib.shape[1:]) != want:
        raise ValueError(
            f"calibration_npy has shape {tuple(calib.shape)}, expected (N, "
            f"{', '.join(map(str, want))}) in NCHW like input_shape {list(input_shape)}"
        )
    folder = os.path.join(workdir, "calib")
    os.makedirs(folder, exist_ok=True)
    paths = []
    for i, s in enumerate(calib.astype(np.float32)):
        p = os.path.join(folder, f"calib_{i:04d}.npy")
        np.save(p, s[None])  # rknn wants NCHW with the batch dimension
        paths.append(p)
    dataset = os.path.join(folder, "dataset.txt")
    with open(dataset, "w") as f:
        f.write("\n".join(paths) + "\n")
    return dataset, len(paths)


def load_eval(model: dict[str, Any], opts: dict[str, Any]) -> Any:
    import numpy as np

    if not model.get("evaluation_npy"):
        return None
    eval_np = np.load(model["evaluation_npy"]).astype(np.float32)
    if eval_np.ndim == 3:
        eval_np = eval_np[None]
    if opts.get("max_eval_samples"):
        eval_np = eval_np[: int(opts["max_eval_samples"])]
    return eval_np


def do_compile(req: dict[str, Any]) -> dict[str, Any]:
    import numpy as np

    model = req.get("model") or {}
    board = req.get("board") or {}
    opts = req.get("options") or {}
    workdir = os.path.abspath(req["workdir"])
    os.makedirs(workdir, exist_ok=True)
    os.chdir(workdir)  # verbose=True writes check*.onnx into the working directory
    log_path = os.path.join(workdir, LOG_NAME)
    open(log_path, "wb").close()
    timing: dict[str, float] = {}

    onnx_path = model.get("onnx")
    if not onnx_path:
        given = [k for k in ("pt2", "tflite_int8") if model.get(k)]
        return fail(
            f"this worker compiles float ONNX only (model.onnx is null; given: {given or 'none'})",
            "export the model to ONNX (opset 17, static shape) and pass model.onnx",
        )
    platform = board.get("target_platform")
    if not platform:
        return fail("board.target_platform is missing", "set board.target_platform, e.g. rv1106")
    input_shape = list(model.get("input_shape") or [])
    if len(input_shape) != 4:
        return fail(f"input_shape {input_shape} is not 4-D NCHW", "give input_shape as [1,C,H,W]")
    if not os.path.exists(onnx_path):
        return fail(f"model file {onnx_path} does not exist", "check the model path in the request")
    rejected = precheck_onnx(onnx_path)
    if rejected is not None:
        return fail(*rejected)
    try:
        dataset, n_calib = write_dataset(model["calibration_npy"], input_shape, workdir)
        eval_np = load_eval(model, opts)
    except Exception as e:
        return fail(f"calibration data: {e}", "calibration_npy must be float32 (N,C,H,W)")

    channels = input_shape[1]
    cfg = {
        "target_platform": platform,
        "quantized_dtype": "w8a8",
        "quantized_algorithm": "normal",
        "quantized_method": "channel",
        "optimization_level": int(opts.get("optimization_level", 3)),
        "mean_values": [[0.0] * channels],
        "std_values": [[1.0] * channels],
    }
    per_layer = bool(opts.get("per_layer_fidelity", True))
    acc_dir = os.path.join(workdir, ACCURACY_DIR)

    t0 = time.monotonic()
    from rknn.api import RKNN  # type: ignore[import-not-found,unused-ignore]

    timing["import_rknn_s"] = round(time.monotonic() - t0, 3)
    rknn = None
    exc: BaseException | None = None
    step = "init"
    outputs: list[list[Any]] = []

    def check(rc: int, what: str) -> None:
        if rc != 0:
            raise RuntimeError(f"{what}() returned {rc}")

    with CaptureFds(log_path):
        try:
            rknn = RKNN(verbose=True)
            step = "config"
            t = time.monotonic()
            check(rknn.config(**cfg), "config")
            step = "load_onnx"
            check(rknn.load_onnx(model=onnx_path), "load_onnx")
            timing["config_load_s"] = round(time.monotonic() - t, 3)
            step = "build"
            t = time.monotonic()
            check(rknn.build(do_quantization=True, dataset=dataset), "build")
            timing["build_s"] = round(time.monotonic() - t, 3)
            step = "export_rknn"
            t = time.monotonic()
            check(rknn.export_rknn(os.path.join(workdir, RKNN_NAME)), "export_rknn")
            timing["export_s"] = round(time.monotonic() - t, 3)
            if eval_np is not None and len(eval_np):
                if per_layer:
                    step = "accuracy_analysis"
                    t = time.monotonic()
                    first = os.path.join(workdir, "accuracy_input0.npy")
                    np.save(first, eval_np[:1])
                    rc = rknn.accuracy_analysis(inputs=[first], output_dir=acc_dir)
                    timing["accuracy_analysis_s"] = round(time.monotonic() - t, 3)
                    if rc != 0:
                        print(f"worker: accuracy_analysis returned {rc}", flush=True)
                step = "init_runtime"
                check(rknn.init_runtime(), "init_runtime")  # no target: the simulator
                step = "inference"
                t = time.monotonic()
                for s in eval_np:
                    out = rknn.inference(inputs=[s[None]], data_format="nchw")
                    if out is None:
                        raise RuntimeError("inference() returned None")
                    outputs.append([np.asarray(o) for o in out])
                timing["simulator_inference_s"] = round(time.monotonic() - t, 3)
        except BaseException as e:  # rknn raises ValueError (and worse) on its own errors
            exc = e
            print(f"worker: {step} failed:\n{traceback.format_exc()}", flush=True)
        finally:
            if rknn is not None:
                with contextlib.suppress(Exception):
                    rknn.release()

    with open(log_path, "rb") as f:
        log_text = f.read().decode("utf-8", errors="replace")
    lines = clean_lines(log_text)
    if exc is not None:
        return failure(step, lines, exc, timing)

    _, rows = parse_layer_table(lines)
    layers, table_notes = layers_from_rows(rows)
    notes = misc_notes(lines) + table_notes
    if not rows:
        notes.append("no 'Network Layer Information Table' in the log (verbose output missing?)")
    cpu = [
        lay["name"]
        for lay in layers
        if lay["placement"] == "cpu" and not lay["extra"]["io_pseudo_op"]
    ]
    if cpu:
        notes.append("compute layers on the CPU: " + ", ".join(cpu))
    notes.append(f"calibration: {n_calib} samples, mean 0 / std 1 per channel (no normalisation)")
    fidelity = None
    if outputs:
        fidelity = fidelity_record(
            onnx_path, eval_np, outputs, os.path.join(acc_dir, ERROR_ANALYSIS)
        )
    notes += prune(workdir)
    artifacts = [RKNN_NAME, LOG_NAME, "calib/dataset.txt"]
    artifacts += sorted(
        f for f in os.listdir(workdir) if f.startswith("check") and f.endswith(".onnx")
    )
    artifacts.append(f"{ACCURACY_DIR}/{ERROR_ANALYSIS}")
    return {
        "contract": CONTRACT,
        "ok": True,
        "tool": tool_record(),
        "config": cfg,
        "layers": layers,
        "cost": cost_from_layers(layers),
        "memory": parse_memory(lines),
        "fidelity": fidelity,
        "artifacts": [a for a in artifacts if os.path.exists(os.path.join(workdir, a))],
        "log": log_text,
        "log_tail": tail(lines),
        "notes": notes,
        "timing": timing_done(timing),
    }


def prune(workdir: str) -> list[str]:
    """Remove the bulky copies the tool leaves: accuracy_analysis()'s per-tensor text/npy dumps
    of every layer (golden/, simulator/) and the per-sample calibration .npy files (the samples
    themselves stay in the request's calibration_npy). Their figures are in the reply."""
    import shutil

    removed = []
    for sub in (os.path.join(ACCURACY_DIR, "golden"), os.path.join(ACCURACY_DIR, "simulator")):
        path = os.path.join(workdir, sub)
        if os.path.isdir(path):
            shutil.rmtree(path, ignore_errors=True)
            removed.append(sub + "/")
    calib = os.path.join(workdir, "calib")
    if os.path.isdir(calib):
        for name in os.listdir(calib):
            if name.endswith(".npy"):
                os.remove(os.path.join(calib, name))
        removed.append("calib/*.npy")
    if not removed:
        return []
    return ["removed after parsing (bulky tool copies): " + ", ".join(removed)]


def timing_done(timing: dict[str, float]) -> dict[str, float]:
    timing["worker_total_s"] = round(time.monotonic() - T_START, 3)
    return timing


def write_reply(path: str, reply: dict[str, Any]) -> None:
    tmp = path + ".tmp"
    with open(tmp, "w") as f:
        json.dump(reply, f, indent=1, allow_nan=False, default=str)
    os.replace(tmp, path)


def main(argv: list[str]) -> int:
    if len(argv) != 2:
        sys.stderr.write("usage: _worker.py REQUEST.json\n")
        return 2
    with open(argv[1]) as f:
        req = json.load(f)
    reply_path = os.path.abspath(req["reply"])
    try:
        if req.get("contract") != CONTRACT:
            reply = fail(
                f"unsupported contract {req.get('contract')!r} (worker speaks {CONTRACT})",
                f"send contract {CONTRACT}",
            )
        elif req.get("action") == "version":
            reply = do_version(req)
        elif req.get("action") == "compile":
            reply = do_compile(req)
        else:
            reply = fail(f"unknown action {req.get('action')!r}", "use 'compile' or 'version'")
    except Exception as e:
        reply = fail(
            f"worker error: {type(e).__name__}: {e}",
            "this is a bug in npubench's rknn worker; please report it",
            traceback.format_exc()[-4000:],
        )
    write_reply(reply_path, reply)
    # The reply is on disk; skip interpreter teardown (torch and rknn take ~1.4 s to unload).
    sys.stdout.flush()
    sys.stderr.flush()
    os._exit(0)


if __name__ == "__main__":
    sys.exit(main(sys.argv))
