"""npubench worker (contract 1) for ExecuTorch's Cortex-M (CMSIS-NN) backend; "executorch" env.

Imports only the standard library, numpy and the vendor tools of that environment (torch,
torchao, ExecuTorch), never npubench. ``python _worker.py REQUEST.json`` reads the request
described in ``npubench.toolchains.worker`` and writes the reply it names.

The flow, through public entry points only: the float ``torch.export`` program (``model.pt2``),
re-exported with a channels_last example (CMSIS-NN convolutions want NHWC) -> PT2E int8 with
``CortexMQuantizer`` calibrated on the request's ``.npy`` samples -> ``to_edge`` ->
``CortexMPassManager(target_config=<core>)`` (``cortex_m.quantized_*`` operators with the
CMSIS-NN scratch buffer each needs on that core) -> ``model.pte``. The reply lists every
operator of the lowered graph with its kernel (CMSIS-NN, another Cortex-M operator, or
ExecuTorch's portable kernel), its scratch bytes and MACs, and ExecuTorch's memory plan of the
.pte (``non_const_buffer_sizes``, with and without the graph's input and output buffers).
There is no cycle estimate on this path.
"""

from __future__ import annotations

import contextlib
import copy
import json
import math
import os
import sys
import time
import traceback
from typing import Any

T_PROCESS = time.time()
CONTRACT = 1
TOOL = "executorch"
EXTRA_DISTS = ("torch", "torchao")
LOG = "tool_log.txt"
MAC_OPS = (
    "cortex_m.quantized_conv2d",
    "cortex_m.quantized_depthwise_conv2d",
    "cortex_m.quantized_transpose_conv2d",
    "cortex_m.quantized_linear",
)


def _versions() -> dict[str, str]:
    from importlib import metadata

    out = {}
    for dist in (TOOL, *EXTRA_DISTS):
        with contextlib.suppress(metadata.PackageNotFoundError):
            out[dist] = metadata.version(dist)
    return out


def _tool() -> dict[str, Any]:
    v = _versions()
    return {
        "name": TOOL,
        "version": v.get(TOOL),
        "extra_versions": {k: val for k, val in v.items() if k != TOOL},
    }


class _FdCapture:
    """fd 1 and 2 into a file for the duration of the tool's work."""

    def __init__(self, path: str) -> None:
        self.path = path

    def __enter__(self) -> _FdCapture:
        sys.stdout.flush()
        sys.stderr.flush()
        self._file = open(self.path, "ab", buffering=0)
        self._saved = (os.dup(1), os.dup(2))
        os.dup2(self._file.fileno(), 1)
        os.dup2(self._file.fileno(), 2)
        return self

    def __exit__(self, *exc: object) -> None:
        try:
            sys.stdout.flush()
            sys.stderr.flush()
        finally:
            os.dup2(self._saved[0], 1)
            os.dup2(self._saved[1], 2)
            os.close(self._saved[0])
            os.close(self._saved[1])
            self._file.close()


def _write_reply(path: str, obj: dict[str, Any]) -> None:
    tmp = path + ".tmp"
    with open(tmp, "w") as f:
        json.dump(obj, f, indent=1, default=str)
    os.replace(tmp, path)


def _sqnr(ref: Any, got: Any) -> tuple[float, float]:
    import numpy as np

    ref = np.asarray(ref, dtype=np.float64)
    got = np.asarray(got, dtype=np.float64)
    noise = float(np.sum((ref - got) ** 2))
    signal = float(np.sum(ref**2))
    sqnr = math.inf if noise == 0 else 10.0 * math.log10(max(signal, 1e-300) / noise)
    return sqnr, float(np.max(np.abs(ref - got)))


def _op_name(target: Any) -> str:
    return str(getattr(target, "__name__", target))


def _hint(message: str) -> str:
    m = message.lower()
    if "cortex-m" in m or "backend" in m:
        return (
            "board.core must be a cortex-m<variant> ExecuTorch knows: cortex-m0, m0plus, m3, "
            "m4, m7, m23, m33, m35p, m55, m85"
        )
    if "export" in m or "guard" in m:
        return "the model must be exportable with torch.export (torch 2.13) with one tensor input"
    return "see the log tail above; the worker can be re-run by hand on the same request.json"


def _to_tensor(a: Any, shape: list[int]) -> Any:
    """One sample as a fresh tensor with real strides, channels_last when 4-D."""
    import numpy as np
    import torch

    arr = np.array(np.asarray(a, dtype=np.float32).reshape(-1, *shape[1:]))
    x = torch.empty(arr.shape, dtype=torch.float32)
    x.copy_(torch.from_numpy(arr))
    return x.to(memory_format=torch.channels_last) if x.dim() == 4 else x


def _macs(name: str, node: Any, shape: list[int] | None) -> int | None:
    import numpy as np

    if shape is None or not name.startswith(MAC_OPS):
        return None
    weight = node.args[1] if len(node.args) > 1 else None
    wval = weight.meta.get("val") if weight is not None and hasattr(weight, "meta") else None
    if wval is None:
        return None
    out_channels = shape[-1] if name.startswith("cortex_m.quantized_linear") else shape[1]
    return int(np.prod(shape) * np.prod(list(wval.shape)) // max(1, out_channels))


def compile_model(req: dict[str, Any], workdir: str, timing: dict[str, Any]) -> dict[str, Any]:
    import numpy as np

    started = time.time()
    import torch
    from executorch.backends.cortex_m.edge_compile_config import cortex_m_edge_compile_config
    from executorch.backends.cortex_m.passes.cortex_m_pass_manager import CortexMPassManager
    from executorch.backends.cortex_m.quantizer.quantizer import CortexMQuantizer
    from executorch.backends.cortex_m.target_config import CortexMTargetConfig
    from executorch.exir import EdgeProgramManager, ExecutorchBackendConfig, to_edge
    from executorch.exir.passes import MemoryPlanningPass
    from torchao.quantization.pt2e.quantize_pt2e import convert_pt2e, prepare_pt2e

    timing["import_s"] = round(time.time() - started, 3)
    model, board = req["model"], req["board"]
    shape = list(model["input_shape"])
    target = CortexMTargetConfig.from_target_string(str(board["core"]).lower())
    backend = target.backend.name

    started = time.time()
    calib = np.load(model["calibration_npy"]).astype(np.float32)
    example = (_to_tensor(calib[0], shape),)
    float_module = torch.export.load(model["pt2"]).module(check_guards=False)
    # The program was traced with an NCHW input; the Cortex-M passes lower convolutions to
    # CMSIS-NN only when the traced input is channels_last, so it is traced again.
    graph_module = torch.export.export(float_module, example).module(check_guards=False)
    timing["load_export_s"] = round(time.time() - started, 3)

    started = time.time()
    prepared = prepare_pt2e(graph_module, CortexMQuantizer())
    with torch.no_grad():
        for sample in calib:
            prepared(_to_tensor(sample, shape))
    converted = convert_pt2e(prepared)
    timing["quantize_s"] = round(time.time() - started, 3)

    started = time.time()
    config = cortex_m_edge_compile_config()
    edge = to_edge(torch.export.export(converted, example), compile_config=config)
    lowered = CortexMPassManager(edge.exported_program(), target_config=target).transform()
    timing["lower_s"] = round(time.time() - started, 3)

    layers: list[dict[str, Any]] = []
    for node in lowered.graph.nodes:
        if node.op != "call_function":
            continue
        name = _op_name(node.target)
        if name == "alloc" or name.endswith("getitem"):
            continue
        scratch = [
            int(a.args[0][0][0])
            for a in node.args
            if hasattr(a, "op") and a.op == "call_function" and _op_name(a.target) == "alloc"
        ]
        val = node.meta.get("val")
        out_shape = list(val.shape) if hasattr(val, "shape") else None
        if name.startswith("cortex_m.quantized_"):
            kernel = "cmsis-nn"
        elif name.startswith("cortex_m."):
            kernel = "cortex-m"
        else:
            kernel = "portable"
        layers.append(
            {
                "index": len(layers),
                "name": node.name,
                "op": name,
                "kernel": kernel,
                "scratch_bytes": scratch,
                "macs": _macs(name, node, out_shape),
                "output_shape": out_shape,
                "dtype": str(val.dtype).replace("torch.", "") if hasattr(val, "dtype") else None,
            }
        )
    constants = 0
    for spec in lowered.graph_signature.input_specs:
        if spec.kind.name == "USER_INPUT":
            continue
        tensor = lowered.state_dict.get(spec.target)
        if tensor is None:
            tensor = lowered.constants.get(spec.target)
        if tensor is not None and hasattr(tensor, "nbytes"):
            constants += int(tensor.nbytes)

    fidelity = None
    if model.get("evaluation_npy"):
        started = time.time()
        evaluation = np.load(model["evaluation_npy"]).astype(np.float32)
        run = lowered.module()
        refs, gots = [], []
        with torch.no_grad():
            for sample in evaluation:
                x = _to_tensor(sample, shape)
                refs.append(float_module(x).detach().numpy().ravel())
                gots.append(run(x).detach().numpy().ravel())
        sqnr, max_abs = _sqnr(np.concatenate(refs), np.concatenate(gots))
        fidelity = {
            "what": "float model vs the lowered Cortex-M graph run on the host through the "
            "cortex_m operators' reference implementations (not the CMSIS-NN C kernels), on "
            "npubench's evaluation samples",
            "sqnr_db": sqnr,
            "max_abs_error": max_abs,
            "samples": len(evaluation),
        }
        timing["fidelity_s"] = round(time.time() - started, 3)

    started = time.time()
    # to_executorch() rewrites the program in place: a copy for the plan without graph I/O.
    pristine = copy.deepcopy(lowered)
    program = EdgeProgramManager({"forward": lowered}, compile_config=config).to_executorch(
        ExecutorchBackendConfig()
    )
    with open(os.path.join(workdir, "model.pte"), "wb") as out:
        out.write(program.buffer)
    buffers = [int(x) for x in program.executorch_program.execution_plan[0].non_const_buffer_sizes]
    no_io = EdgeProgramManager({"forward": pristine}, compile_config=config).to_executorch(
        ExecutorchBackendConfig(
            memory_planning_pass=MemoryPlanningPass(
                alloc_graph_input=False, alloc_graph_output=False
            )
        )
    )
    buffers_no_io = [
        int(x) for x in no_io.executorch_program.execution_plan[0].non_const_buffer_sizes
    ]
    timing["to_executorch_s"] = round(time.time() - started, 3)
    inputs = []
    for node in lowered.graph.nodes:
        if node.op == "placeholder" and node.name in lowered.graph_signature.user_inputs:
            v = node.meta.get("val")
            inputs.append(
                {
                    "shape": list(v.shape),
                    "dtype": str(v.dtype),
                    "bytes": v.numel() * v.element_size(),
                }
            )
    return {
        "contract": CONTRACT,
        "ok": True,
        "tool": _tool(),
        "layers": [],
        "cost": None,
        "memory": [],
        "fidelity": fidelity,
        "notes": [],
        "target": target.target_string,
        "cmsis_nn_backend": backend,
        "ops": layers,
        "constants_bytes": constants,
        "pte": "model.pte",
        "pte_bytes": len(program.buffer),
        "non_const_buffer_sizes": buffers,
        "non_const_buffer_sizes_no_io": buffers_no_io,
        "graph_inputs": inputs,
    }


def main() -> int:
    with open(sys.argv[1]) as f:
        req = json.load(f)
    reply_path = req["reply"]
    timing: dict[str, Any] = {}
    if req.get("action") == "version":
        _write_reply(reply_path, {"contract": CONTRACT, "ok": True, "tool": _tool()})
        return 0
    if req.get("action") != "compile":
        _write_reply(
            reply_path,
            {
                "contract": CONTRACT,
                "ok": False,
                "error": f"unknown action {req.get('action')!r}",
                "hint": "compile or version",
            },
        )
        return 0
    workdir = os.path.abspath(req["workdir"])
    os.makedirs(workdir, exist_ok=True)
    log_path = os.path.join(workdir, LOG)
    open(log_path, "w").close()
    started = time.time()
    reply: dict[str, Any] | None = None
    error: BaseException | None = None
    with _FdCapture(log_path):
        try:
            reply = compile_model(req, workdir, timing)
        except Exception as e:  # every failure becomes a reply
            error = e
            traceback.print_exc()
    timing["tool_s"] = round(time.time() - started, 3)
    timing["worker_s"] = round(time.time() - T_PROCESS, 3)
    with open(log_path, errors="replace") as f:
        log = f.read()
    if error is not None or reply is None:
        first = str(error).strip().splitlines()[0] if str(error).strip() else ""
        message = f"{type(error).__name__}: {first}"
        _write_reply(
            reply_path,
            {
                "contract": CONTRACT,
                "ok": False,
                "error": message,
                "hint": _hint(message),
                "log_tail": "\n".join(log.splitlines()[-40:]),
                "timing": timing,
            },
        )
        return 0
    reply["log"] = "\n".join(log.splitlines()[-60:])
    reply["timing"] = timing
    _write_reply(reply_path, reply)
    return 0


if __name__ == "__main__":
    sys.exit(main())
