"""npubench's worker for Espressif esp-ppq (the ESP-DL quantizer), worker contract version 1.

Runs inside the managed ``esp-ppq`` environment, never in npubench's own:
``<env>/bin/python _worker.py REQUEST.json`` (see ``npubench.toolchains.worker`` for the
contract). May import the standard library, numpy and esp-ppq's public API only (plus torch,
onnx and onnxruntime, which esp-ppq itself installs); it never imports npubench.

What it does for a ``compile`` request:

1. copies the float ONNX into the work folder twice: a pristine reference, and the copy handed to
   ``esp_ppq.api.espdl_quantize_onnx`` (which saves its simplified model over its input file);
2. quantizes it for ``board.target`` (esp32s3 or esp32p4) at ``options.num_of_bits`` (8) with the
   calibration samples of ``model.calibration_npy``, each batch shaped (1, C, H, W), and exports
   the ``.espdl`` (plus esp-ppq's ``.info`` and ``.json``);
3. parses esp-ppq's two printed NOISE:SIGNAL POWER RATIO tables (graphwise: every op quantized;
   layerwise: only that op quantized) into per-layer rows;
4. reads the exported ``.espdl`` (EDL2 header + FlatBuffers, through esp-ppq's own reader) for the
   op list, the stored parameter bytes and the activation shapes;
5. runs esp-ppq's ``TorchExecutor`` on the quantized graph against onnxruntime on the float
   model over ``model.evaluation_npy`` for the output SQNR and max abs error.

The reply carries no cost: esp-ppq gives no cycle, latency or memory estimate.
"""

import contextlib
import json
import math
import os
import re
import shutil
import sys
import time
import traceback

_T0 = time.perf_counter()

CONTRACT = 1
TOOL = "esp-ppq"
TARGETS = ("esp32s3", "esp32p4")
BITS = (8,)
LOG_NAME = "esp_ppq_log.txt"
VERSIONED = ("torch", "onnx", "onnxruntime", "onnxsim", "numpy", "protobuf", "flatbuffers")
ANSI = re.compile(r"\x1b\[[0-9;]*[A-Za-z]")
# esp-ppq's MeasurePrinter: a header "Layer<pad> | NOISE:SIGNAL POWER RATIO " and one row per
# computing op "<op name>:<pad> | <bar of up to 20 blocks> | <value x 100, 3 decimals>%".
TABLE_HEADER = re.compile(r"^Layer\s*\| (?P<measure>[A-Z][A-Z :()]*?)\s*$")
TABLE_ROW = re.compile(
    r"^(?P<name>.+?):\s* \| (?P<bar>[█ ]*) \| (?P<value>[-+0-9.eE]+|nan|inf)(?P<pct>%?)\s*$"
)
COMPUTING_OPS = ("Conv", "Gemm", "MatMul", "ConvTranspose")
BOUNDARY_OPS = ("QuantizeLinear", "DequantizeLinear", "RequantizeLinear")
DTYPE_BYTES = {
    "INT8": 1,
    "UINT8": 1,
    "INT16": 2,
    "UINT16": 2,
    "INT32": 4,
    "UINT32": 4,
    "FLOAT": 4,
    "FLOAT32": 4,
    "FLOAT16": 2,
    "INT64": 8,
    "DOUBLE": 8,
    "BOOL": 1,
}


# ----------------------------------------------------------------------------- reply helpers
def versions():
    from importlib import metadata

    out = {}
    for dist in (TOOL, *VERSIONED):
        with contextlib.suppress(metadata.PackageNotFoundError):
            out[dist] = metadata.version(dist)
    return out


def tool_block():
    v = versions()
    return {
        "name": TOOL,
        "version": v.get(TOOL),
        "extra_versions": {k: x for k, x in v.items() if k != TOOL},
    }


def write_json(path, obj):
    tmp = path + ".tmp"
    with open(tmp, "w") as f:
        json.dump(obj, f, indent=1, default=_json_default)
    os.replace(tmp, path)


def _json_default(o):
    if hasattr(o, "item"):  # numpy scalars
        return o.item()
    if hasattr(o, "tolist"):
        return o.tolist()
    return str(o)


def failure(error, hint, log_text=""):
    lines = [line for line in ANSI.sub("", log_text or "").splitlines() if line.strip()]
    return {
        "contract": CONTRACT,
        "ok": False,
        "error": " ".join(str(error).split())[:800],
        "hint": hint,
        "log_tail": "\n".join(lines[-40:]),
    }


class CaptureFds:
    """File descriptors 1 and 2 (Python prints, tqdm, native code) appended to one file."""

    def __init__(self, path):
        self.path = path

    def __enter__(self):
        sys.stdout.flush()
        sys.stderr.flush()
        self.fd = os.open(self.path, os.O_WRONLY | os.O_CREAT | os.O_APPEND, 0o644)
        self.saved = (os.dup(1), os.dup(2))
        os.dup2(self.fd, 1)
        os.dup2(self.fd, 2)
        return self

    def __exit__(self, *exc):
        sys.stdout.flush()
        sys.stderr.flush()
        os.dup2(self.saved[0], 1)
        os.dup2(self.saved[1], 2)
        for fd in (*self.saved, self.fd):
            os.close(fd)
        return False


def read_text(path):
    try:
        with open(path, encoding="utf-8", errors="replace") as f:
            return f.read()
    except OSError:
        return ""


def describe_failure(exc):
    """(error, hint) for an exception raised inside esp-ppq, naming the op when it can."""
    chain, cur = [], exc
    while cur is not None and cur not in chain:
        chain.append(cur)
        cur = cur.__cause__ or cur.__context__
    outer, root = chain[0], chain[-1]
    text = " ".join(str(e) for e in chain)
    msg = f"{type(outer).__name__}: {outer}"
    if root is not outer:
        msg += f" (caused by {type(root).__name__}: {root})"
    m = re.search(
        r"Graph op: (?P<name>.+?)\((?P<op>[^()]+)\) has no backend implementation on target "
        r"platform (?P<plat>\S+?)\.(?:\s|$)",
        text,
    )
    if m:
        return (
            f"op {m.group('name')} ({m.group('op')}) is not implemented in esp-ppq's executor "
            f"(no backend implementation on {m.group('plat')}), so the model cannot be "
            "calibrated",
            "replace the op: ESP-DL has kernels for convolutions, Gemm/MatMul, pooling, "
            "elementwise arithmetic, reshapes and the common activations "
            "(esp-dl's operator_support_state.md lists them)",
        )
    m = re.search(r"Op Execution Error: (?P<name>.+?)\(Type: (?P<op>[^,]+),", text)
    if m:
        return (
            f"esp-ppq failed executing op {m.group('name')} ({m.group('op')}): "
            f"{type(root).__name__}: {root}",
            "esp-ppq could not run the named op while tracing or calibrating: check its inputs "
            "and the model's input shape",
        )
    return msg, "see log_tail; the whole log is esp_ppq_log.txt in the work folder"


# ----------------------------------------------------------------------------- parsing
def parse_error_tables(log_text):
    """esp-ppq's printed error tables, in order of appearance.

    ``espdl_quantize_onnx(error_report=True)`` prints ``graphwise_error_analyse`` first
    (cumulative error: every op quantized) and ``layerwise_error_analyse`` second (only that op
    quantized). Each table is ``{"measure": str, "rows": [{"name", "value", "percent",
    "printed"}]}``, rows in the printed order (largest first).
    """
    tables, cur = [], None
    for raw in ANSI.sub("", log_text).splitlines():
        line = raw.split("\r")[-1].rstrip()
        header = TABLE_HEADER.match(line)
        if header:
            cur = {"measure": header.group("measure").strip(), "rows": []}
            tables.append(cur)
            continue
        row = TABLE_ROW.match(line)
        if row and cur is not None:
            cur["rows"].append(
                {
                    "name": row.group("name").strip(),
                    "value": float(row.group("value")),
                    "percent": row.group("pct") == "%",
                    "printed": line.strip(),
                }
            )
            continue
        if cur is not None and cur["rows"]:
            cur = None  # the table ended
    return tables


def ratio_pct_to_db(pct):
    """SQNR in dB from esp-ppq's noise:signal power ratio printed in percent (None at 0)."""
    if pct is None or not pct > 0 or math.isinf(pct):
        return None
    return round(-10.0 * math.log10(pct / 100.0), 3)


def per_layer_rows(tables, op_of):
    """One row per op in esp-ppq's tables: cumulative and layer-only noise:signal ratios."""
    cumulative = {r["name"]: r for r in tables[0]["rows"]} if tables else {}
    layerwise = {r["name"]: r for r in tables[1]["rows"]} if len(tables) > 1 else {}
    names = list(cumulative) + [n for n in layerwise if n not in cumulative]
    rows = []
    for name in names:
        c, lay = cumulative.get(name), layerwise.get(name)
        rows.append(
            {
                "name": name,
                "op": op_of.get(name),
                "noise_signal_pct_cumulative": c["value"] if c else None,
                "noise_signal_pct_layer": lay["value"] if lay else None,
                "sqnr_db_cumulative": ratio_pct_to_db(c["value"]) if c else None,
                "sqnr_db_layer": ratio_pct_to_db(lay["value"]) if lay else None,
                "printed_cumulative": c["printed"] if c else None,
                "printed_layer": lay["printed"] if lay else None,
            }
        )
    return rows


def read_espdl(path):
    """Header facts, nodes, initializers and value infos of an ``.espdl`` file."""
    from esp_ppq.parser.espdl import helper
    from esp_ppq.parser.espdl.FlatBuffers.Dl import Model

    with open(path, "rb") as f:
        buf = f.read()
    info = {
        "magic": buf[:4].decode("ascii", "replace"),
        "encrypted": bool(int.from_bytes(buf[4:8], "little")),
        "payload_bytes": int.from_bytes(buf[8:12], "little"),
        "file_bytes": len(buf),
    }
    if info["magic"] != "EDL2" or info["encrypted"]:
        return info, [], {}, {"values": {}, "inputs": [], "outputs": []}
    graph = Model.Model.GetRootAs(buf, 16).Graph()

    def s(b):
        return b.decode() if isinstance(b, bytes) else (b or "")

    inits = {}
    for i in range(graph.InitializerLength()):
        t = graph.Initializer(i)
        inits[s(t.Name())] = {
            "dims": [int(t.Dims(k)) for k in range(t.DimsLength())],
            # raw data is a vector of 16-byte aligned blocks
            "stored_bytes": int(t.RawDataLength()) * 16,
        }
    values = {}
    vi = re.compile(
        r"^%(?P<name>.+?)\[(?P<dtype>[A-Z0-9_]+), (?P<shape>[0-9x]+|scalar)\]"
        r"(?:, exponents: \[(?P<exp>[-0-9, ]*)\])?"
    )
    for get, n in (
        (graph.Input, graph.InputLength()),
        (graph.Output, graph.OutputLength()),
        (graph.ValueInfo, graph.ValueInfoLength()),
    ):
        for i in range(n):
            m = vi.match(helper.printable_value_info(get(i)))
            if not m:
                continue
            shape = (
                []
                if m.group("shape") == "scalar"
                else [int(x) for x in m.group("shape").split("x")]
            )
            values[m.group("name")] = {
                "dtype": m.group("dtype"),
                "shape": shape,
                "exponents": [int(x) for x in (m.group("exp") or "").split(",") if x.strip()],
            }
    nodes = []
    for i in range(graph.NodeLength()):
        node = graph.Node(i)
        attrs = {}
        for j in range(node.AttributeLength()):
            txt = helper.printable_attribute(node.Attribute(j))
            if isinstance(txt, tuple):
                txt = txt[0]
            key, _, value = str(txt).partition(" = ")
            attrs[key.strip()] = value.strip().strip("'")
        nodes.append(
            {
                "name": s(node.Name()),
                "op": s(node.OpType()),
                "inputs": [s(node.Input(k)) for k in range(node.InputLength())],
                "outputs": [s(node.Output(k)) for k in range(node.OutputLength())],
                "attributes": attrs,
            }
        )
    io = {
        "values": values,
        "inputs": [s(graph.Input(i).Name()) for i in range(graph.InputLength())],
        "outputs": [s(graph.Output(i).Name()) for i in range(graph.OutputLength())],
    }
    return info, nodes, inits, io


def tensor_bytes(value):
    n = 1
    for d in value["shape"]:
        n *= d
    return n * DTYPE_BYTES.get(value["dtype"], 4)


def peak_live_bytes(nodes, inits, io):
    """Peak bytes of activation tensors alive at once, in the exported node order.

    A tensor lives from its producer (graph inputs: from the start) to its last consumer (graph
    outputs: to the end); no in-place reuse, no alignment. ESP-DL plans memory on the device.
    """
    values = io["values"]
    last_use = {}
    for i, node in enumerate(nodes):
        for t in node["inputs"]:
            if t in values and t not in inits:
                last_use[t] = i
    for t in io["outputs"]:
        last_use[t] = len(nodes)
    live = {t for t in io["inputs"] if t in values}
    peak = sum(tensor_bytes(values[t]) for t in live)
    for i, node in enumerate(nodes):
        live |= {t for t in node["outputs"] if t in values}
        peak = max(peak, sum(tensor_bytes(values[t]) for t in live))
        live = {t for t in live if last_use.get(t, -1) > i}
    return peak


def layer_rows(nodes, inits, io, tables):
    """The exported ops in order, with placement, MACs and esp-ppq's per-op facts."""
    cumulative = {r["name"]: r["value"] for r in tables[0]["rows"]} if tables else {}
    layerwise = {r["name"]: r["value"] for r in tables[1]["rows"]} if len(tables) > 1 else {}
    values = io["values"]
    rows = []
    for i, node in enumerate(nodes):
        quant = node["attributes"].get("quant_type")
        outs = [values.get(t) for t in node["outputs"]]
        macs = None
        weight = next((inits[t] for t in node["inputs"][1:2] if t in inits), None)
        if node["op"] in COMPUTING_OPS and weight and outs and outs[0] and outs[0]["shape"]:
            # output elements x weights per output channel (the output's last axis: NHWC / NC)
            out_elems = math.prod(outs[0]["shape"])
            macs = int(out_elems * math.prod(weight["dims"]) // max(1, outs[0]["shape"][-1]))
        placement, reason = "cpu", ""
        if quant == "F32" and node["op"] not in BOUNDARY_OPS:
            placement = "unsupported"
            reason = (
                "esp-ppq left it in float (quant_type F32): ESP-DL's kernels are int8/int16 "
                "and esp-ppq quantizes every op type ESP-DL implements"
            )
        extra = {
            "quant_type": quant,
            "attributes": node["attributes"],
            "outputs": node["outputs"],
            "output_shapes": [o["shape"] if o else None for o in outs],
            "output_exponents": [o["exponents"] if o else None for o in outs],
            "weight_bytes_stored": sum(
                inits[t]["stored_bytes"] for t in node["inputs"] if t in inits
            ),
        }
        if node["name"] in cumulative:
            extra["noise_signal_pct_cumulative"] = cumulative[node["name"]]
        if node["name"] in layerwise:
            extra["noise_signal_pct_layer"] = layerwise[node["name"]]
        rows.append(
            {
                "index": i,
                "name": node["name"],
                "op": node["op"],
                "placement": placement,
                "reason": reason,
                "cycles": None,
                "macs": macs,
                "extra": extra,
            }
        )
    return rows


# ----------------------------------------------------------------------------- actions
def check_request(req):
    """(problem, hint) when the request cannot be run, else None; before any slow import."""
    import numpy as np

    model = req.get("model") or {}
    target = str((req.get("board") or {}).get("target", ""))
    if target not in TARGETS:
        return (
            f"board.target {target!r} is not one of {list(TARGETS)}",
            "set target = esp32s3 or esp32p4 in the board's [toolchains.esp-ppq] table "
            "(esp-ppq falls back to float for chips it does not know)",
        )
    bits = (req.get("options") or {}).get("num_of_bits", 8)
    if bits not in BITS:
        return f"options.num_of_bits {bits!r} is not supported", "use 8"
    if not model.get("onnx") or not os.path.isfile(model["onnx"]):
        return f"model.onnx {model.get('onnx')!r} is not a file", "give the float ONNX model"
    shape = model.get("input_shape") or []
    if not shape or shape[0] != 1:
        return (
            f"input_shape {shape} must start with batch 1",
            "esp-ppq quantizes batch-1 models only",
        )
    for key in ("calibration_npy", "evaluation_npy"):
        path = model.get(key)
        if path is None and key == "evaluation_npy":
            continue
        if not path or not os.path.isfile(path):
            return f"model.{key} {path!r} is not a file", "give a float32 .npy of samples"
        got = list(np.load(path, mmap_mode="r").shape)
        if got[1:] != list(shape[1:]):
            return (
                f"model.{key} has shape {got}, the model's input_shape is {shape} "
                f"(want (N, {', '.join(map(str, shape[1:]))}))",
                "store the samples in the source layout (NCHW) with the batch axis first",
            )
    return None


def onnx_input(path, shape):
    """The float model's single graph input name; a shape mismatch is an error."""
    import onnx

    graph = onnx.load(path).graph
    inits = {i.name for i in graph.initializer}
    inputs = [i for i in graph.input if i.name not in inits]
    if len(inputs) != 1:
        raise ValueError(f"the model has {len(inputs)} inputs; esp-ppq's worker takes one")
    dims = [
        d.dim_value if d.HasField("dim_value") else None
        for d in inputs[0].type.tensor_type.shape.dim
    ]
    if len(dims) != len(shape) or any(
        d not in (None, 0, s) for d, s in zip(dims, shape, strict=True)
    ):
        raise ValueError(f"ONNX input {inputs[0].name!r} has shape {dims}, input_shape is {shape}")
    return inputs[0].name


def evaluate(graph, float_onnx, in_name, data):
    """esp-ppq's simulation of the quantized graph vs onnxruntime on the float model."""
    import numpy as np
    import onnxruntime as ort
    import torch
    from esp_ppq.executor import TorchExecutor

    session = ort.InferenceSession(float_onnx, providers=["CPUExecutionProvider"])
    executor = TorchExecutor(graph=graph, device="cpu")
    signal = noise = max_abs = 0.0
    agree = 0
    with torch.no_grad():
        for i in range(len(data)):
            x = np.ascontiguousarray(data[i : i + 1])
            ref = session.run(None, {in_name: x})[0].astype(np.float64)
            out = executor.forward(inputs=torch.from_numpy(x))[0]
            q = out.detach().cpu().numpy().astype(np.float64).reshape(ref.shape)
            signal += float((ref**2).sum())
            noise += float(((q - ref) ** 2).sum())
            max_abs = max(max_abs, float(np.abs(q - ref).max()))
            agree += int(ref.reshape(-1).argmax() == q.reshape(-1).argmax())
    return {
        "sqnr_db": round(10 * math.log10(signal / noise), 3) if noise > 0 and signal > 0 else None,
        "max_abs_error": max_abs,
        "samples": len(data),
        "argmax_agreement": round(agree / len(data), 4) if len(data) else None,
    }


def action_compile(req):
    problem = check_request(req)
    if problem:
        return failure(*problem)
    import numpy as np

    model, opts = req["model"], req.get("options") or {}
    target = req["board"]["target"]
    bits = int(opts.get("num_of_bits", 8))
    shape = [int(x) for x in model["input_shape"]]
    workdir = os.path.abspath(req["workdir"])
    os.makedirs(workdir, exist_ok=True)
    log_path = os.path.join(workdir, LOG_NAME)
    open(log_path, "w").close()
    os.environ.setdefault("TQDM_DISABLE", "1")  # progress bars are noise in a captured log
    notes, timing = [], {}

    stem = re.sub(r"[^A-Za-z0-9_.-]", "_", os.path.splitext(os.path.basename(model["onnx"]))[0])
    float_ref = os.path.join(workdir, f"{stem}.float.onnx")
    quant_in = os.path.join(workdir, f"{stem}.onnx")  # esp-ppq overwrites it (simplified)
    espdl_path = os.path.join(workdir, f"{stem}.espdl")
    shutil.copyfile(model["onnx"], float_ref)
    shutil.copyfile(model["onnx"], quant_in)
    calib = np.load(model["calibration_npy"]).astype(np.float32, copy=False)
    steps = min(int(opts.get("calib_steps") or len(calib)), len(calib))
    eval_path = model.get("evaluation_npy")
    data = np.load(eval_path).astype(np.float32, copy=False) if eval_path else calib
    if not eval_path:
        notes.append("no evaluation samples: the output SQNR is measured on the calibration ones")

    try:
        with CaptureFds(log_path):
            t = time.perf_counter()
            import torch
            from esp_ppq.api import espdl_quantize_onnx
            from torch.utils.data import DataLoader

            timing["import_s"] = round(time.perf_counter() - t, 3)
            in_name = onnx_input(float_ref, shape)
            batches = [torch.from_numpy(np.ascontiguousarray(c[None])) for c in calib]
            loader = DataLoader(batches, batch_size=None, shuffle=False)  # each (1, C, H, W)
            print(
                f"[npubench worker] espdl_quantize_onnx target={target} num_of_bits={bits} "
                f"calib_steps={steps} input_shape={shape}",
                flush=True,
            )
            t = time.perf_counter()
            graph = espdl_quantize_onnx(
                onnx_import_file=quant_in,
                espdl_export_file=espdl_path,
                calib_dataloader=loader,
                calib_steps=steps,
                input_shape=shape,
                target=target,
                num_of_bits=bits,
                device="cpu",
                error_report=True,
                export_config=True,
                verbose=1,
            )
            sys.stdout.flush()
            sys.stderr.flush()
            timing["quantize_s"] = round(time.perf_counter() - t, 3)
            t = time.perf_counter()
            measured = evaluate(graph, float_ref, in_name, data)
            timing["evaluate_s"] = round(time.perf_counter() - t, 3)
    except Exception as exc:  # the tool rejected the model or the data
        with open(log_path, "a") as f:
            f.write("\n[npubench worker] exception:\n" + traceback.format_exc())
        return failure(*describe_failure(exc), read_text(log_path))

    log_text = ANSI.sub("", read_text(log_path))
    tables = parse_error_tables(log_text)
    if len(tables) != 2:
        notes.append(f"esp-ppq printed {len(tables)} error tables, 2 were expected")
    info, nodes, inits, io = read_espdl(espdl_path)
    layers = layer_rows(nodes, inits, io, tables)
    if any(r["placement"] == "unsupported" for r in layers):
        notes.append("esp-ppq left some ops in float (quant_type F32): see their reasons")
    activations = {t: v for t, v in io["values"].items() if t not in inits}
    memory = [
        {
            "region": "espdl",
            "used_bytes": os.path.getsize(espdl_path),
            "what": ".espdl model file (16-byte EDL2 header + FlatBuffers graph with the "
            "quantized parameters in 16-byte blocks), the size the flash partition holds",
        },
        {
            "region": "parameters",
            "used_bytes": sum(v["stored_bytes"] for v in inits.values()),
            "what": "initializers stored in the .espdl (int8 weights, int32 biases, in 16-byte "
            "blocks); part of the .espdl; ESP-DL copies them to RAM by default (param_copy)",
        },
    ]
    if activations:
        memory.append(
            {
                "region": "activations",
                "used_bytes": peak_live_bytes(nodes, inits, io),
                "what": "worker estimate from the .espdl's tensor shapes and types: peak of "
                "the tensors alive at once in node order, no in-place reuse or alignment "
                "(ESP-DL's own memory planner runs on the device; esp-ppq reports none)",
            }
        )
    fidelity = dict(measured)
    fidelity["what"] = (
        "output SQNR and max abs error: esp-ppq's TorchExecutor on the quantized graph (its "
        "simulation of ESP-DL's integer arithmetic) vs onnxruntime on the float ONNX, over the "
        "evaluation samples; per_layer: esp-ppq's NOISE:SIGNAL POWER RATIO tables printed by "
        "espdl_quantize_onnx (cumulative = graphwise_error_analyse, every op quantized; layer = "
        "layerwise_error_analyse, only that op quantized) over its first 9 calibration batches, "
        "in % with 3 decimals (0.000% is below the print resolution: its SQNR is null)"
    )
    fidelity["per_layer"] = per_layer_rows(tables, {n["name"]: n["op"] for n in nodes})
    artifacts = sorted(f for f in os.listdir(workdir) if os.path.isfile(os.path.join(workdir, f)))
    timing["total_s"] = round(time.perf_counter() - _T0, 3)
    return {
        "contract": CONTRACT,
        "ok": True,
        "tool": tool_block(),
        "target": target,
        "num_of_bits": bits,
        "calib_steps": steps,
        "layers": layers,
        "cost": None,
        "memory": memory,
        "fidelity": fidelity,
        "artifacts": artifacts,
        "espdl": info,
        "log": log_text,
        "notes": notes,
        "timing": timing,
    }


def main(argv):
    if len(argv) != 2:
        print("usage: _worker.py REQUEST.json", file=sys.stderr)
        return 2
    with open(argv[1]) as f:
        req = json.load(f)
    reply_path = req["reply"]
    try:
        if req.get("contract") != CONTRACT:
            reply = failure(
                f"request speaks contract {req.get('contract')!r}",
                f"this worker speaks contract {CONTRACT}",
            )
        elif req.get("action") == "version":
            reply = {"contract": CONTRACT, "ok": True, "tool": tool_block(), "targets": TARGETS}
        elif req.get("action") == "compile":
            reply = action_compile(req)
        else:
            reply = failure(f"unknown action {req.get('action')!r}", "use compile or version")
    except Exception as exc:  # a bug in this worker: still reply
        reply = failure(
            f"worker error: {type(exc).__name__}: {exc}",
            "this is a bug in npubench's esp-ppq worker; please report it",
            traceback.format_exc(),
        )
    write_json(reply_path, reply)
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv))
