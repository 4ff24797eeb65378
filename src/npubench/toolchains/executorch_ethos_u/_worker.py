"""npubench worker (contract 1) for ExecuTorch's Arm Ethos-U backend; runs in the "executorch" env.

Imports only the standard library, numpy and the vendor tools of that environment (torch,
torchao, ExecuTorch and its Vela), never npubench. ``python _worker.py REQUEST.json`` reads
the request described in ``npubench.toolchains.worker`` and writes the reply it names.

The flow, through public entry points only: the float ``torch.export`` program (``model.pt2``)
-> PT2E int8 with ``EthosUQuantizer`` calibrated on the request's ``.npy`` samples ->
``to_edge_transform_and_lower`` with ``EthosUPartitioner`` (TOSA, then ExecuTorch's own Vela
with the request's system configuration .ini) -> ``model.pte``. ExecuTorch keeps its
intermediate artifacts (the TOSA file of each delegated partition, its partition report) in
``executorch/`` because the compile spec is given that folder. ExecuTorch writes every
partition's Vela output under the same ``output/out_*`` names, so the worker runs the bundled
Vela CLI once more on each kept TOSA file, with ExecuTorch's own flags, into
``vela/partition<N>/`` (summary CSV, per-layer CSV, console text), and checks that the command
stream of that run is the one embedded in the delegate. The host parses those files with
npubench's Vela parsers; the reply lists the lowered graph in order (delegates and the nodes
left to the CPU), the .pte size and ExecuTorch's memory plan.
"""

from __future__ import annotations

import contextlib
import glob
import json
import logging
import math
import os
import re
import shutil
import subprocess
import sys
import tempfile
import time
import traceback
from typing import Any

T_PROCESS = time.time()
CONTRACT = 1
TOOL = "executorch"
EXTRA_DISTS = ("ethos-u-vela", "tosa-tools", "torch", "torchao")
PARTITION_LOGGER = "executorch.backends.arm.tosa.partitioner"
DUMP = "executorch"  # ExecuTorch's intermediate artifacts, relative to the workdir
VELA = "vela"  # the per-partition Vela runs, relative to the workdir
LOG = "tool_log.txt"


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
    """fd 1 and 2 into a file: Vela prints with print(), native code writes to fd 1."""

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
    if "system config" in m or "memory mode" in m or "configuration file" in m:
        return (
            "ExecuTorch's Vela (5.1.0) rejected npubench's system configuration; see the log "
            "and vela/npubench_vela.ini in the work folder"
        )
    if "export" in m or "guard" in m:
        return "the model must be exportable with torch.export (torch 2.13) with one tensor input"
    return "see the log tail above; the worker can be re-run by hand on the same request.json"


def _tosa_files(dump: str) -> list[str]:
    def tag(path: str) -> int:
        m = re.search(r"output_tag(\d+)_", os.path.basename(path))
        return int(m.group(1)) if m else 0

    return sorted(glob.glob(os.path.join(dump, "output_tag*_*.tosa")), key=tag)


def _rerun_vela(workdir: str, dump: str, flags: list[str], timing: dict[str, Any]) -> list[dict]:
    """The bundled Vela CLI on each TOSA file ExecuTorch kept, with ExecuTorch's own flags."""
    vela_bin = os.path.join(os.path.dirname(sys.executable), "vela")
    keep = [f for f in flags if not f.startswith("--output-dir") and f != "--verbose-all"]
    if "--verbose-performance" not in keep:
        keep.append("--verbose-performance")
    started = time.time()
    parts = []
    for i, tosa in enumerate(_tosa_files(dump)):
        out = os.path.join(workdir, VELA, f"partition{i}")
        os.makedirs(out, exist_ok=True)
        stem = os.path.splitext(os.path.basename(tosa))[0]
        done = subprocess.run(
            [vela_bin, *keep, f"--output-dir={out}", tosa],
            stdout=subprocess.PIPE,
            stderr=subprocess.STDOUT,
            text=True,
            cwd=out,
            check=False,
        )
        console = os.path.join(out, "vela_console.txt")
        with open(console, "w") as f:
            f.write(done.stdout)
        if done.returncode != 0:
            raise RuntimeError(
                f"Vela failed on partition {i} ({os.path.basename(tosa)}), exit status "
                f"{done.returncode}: {done.stdout.strip().splitlines()[-1:]}"
            )

        def one(pattern: str, where: str = out, name: str = stem) -> str | None:
            found = sorted(glob.glob(os.path.join(where, glob.escape(name) + pattern)))
            return os.path.relpath(found[0], workdir) if found else None

        parts.append(
            {
                "tosa": os.path.relpath(tosa, workdir),
                "summary_csv": one("_summary_*.csv"),
                "per_layer_csv": one("_per-layer.csv"),
                "console": os.path.relpath(console, workdir),
                "npz": one("_vela.npz"),
            }
        )
    timing["vela_rerun_s"] = round(time.time() - started, 3)
    return parts


def _command_stream(workdir: str, part: dict) -> bytes:
    import numpy as np

    if not part.get("npz"):
        return b""
    with np.load(os.path.join(workdir, part["npz"]), allow_pickle=False) as data:
        return bytes(data["cmd_data"].tobytes())


def _to_tensor(a: Any, shape: list[int]) -> Any:
    """One sample as a fresh (1, ...) tensor with real strides (a numpy ``a[None]`` view has a
    zero batch stride, which ExecuTorch's spec pass rejects)."""
    import numpy as np
    import torch

    arr = np.array(np.asarray(a, dtype=np.float32).reshape(-1, *shape[1:]))
    x = torch.empty(arr.shape, dtype=torch.float32)
    x.copy_(torch.from_numpy(arr))
    return x


def compile_model(req: dict[str, Any], workdir: str, timing: dict[str, Any]) -> dict[str, Any]:
    import numpy as np

    started = time.time()
    import torch
    from executorch.backends.arm.ethosu import EthosUCompileSpec, EthosUPartitioner
    from executorch.backends.arm.quantizer import (
        EthosUQuantizer,
        get_symmetric_quantization_config,
    )
    from executorch.exir import to_edge_transform_and_lower
    from torchao.quantization.pt2e.quantize_pt2e import convert_pt2e, prepare_pt2e

    timing["import_s"] = round(time.time() - started, 3)
    model, board, opts = req["model"], req["board"], req.get("options") or {}
    shape = list(model["input_shape"])
    optimise = opts.get("optimise", "Performance")
    if optimise not in ("Performance", "Size"):
        raise ValueError(f"options.optimise must be Performance or Size, not {optimise!r}")
    notes: list[str] = []

    # The system configuration: npubench's .ini for the board (Vela reads the path from a
    # space-joined argument string, hence the whitespace-free work folder).
    os.makedirs(os.path.join(workdir, VELA), exist_ok=True)
    ini = os.path.join(workdir, VELA, "npubench_vela.ini")
    with open(ini, "w") as f:
        f.write(board["config_ini_text"])
    spec = EthosUCompileSpec(
        target=board["accelerator"],
        system_config=board["system_config"],
        memory_mode=board["memory_mode"],
        extra_flags=["--verbose-performance", f"--optimise={optimise}"],
        config_ini=ini,
    )
    dump = os.path.join(workdir, DUMP)
    os.makedirs(dump, exist_ok=True)
    spec.dump_intermediate_artifacts_to(dump)
    flags = list(spec.compiler_flags)
    # At INFO the partitioner writes why it rejected each node to <dump>/partition_report.txt.
    logging.getLogger(PARTITION_LOGGER).setLevel(logging.INFO)

    started = time.time()
    calib = np.load(model["calibration_npy"]).astype(np.float32)
    example = (_to_tensor(calib[0], shape),)
    float_module = torch.export.load(model["pt2"]).module(check_guards=False)
    # A fresh export of the loaded module: without it the Arm passes meet a _guards_fn module.
    graph_module = torch.export.export(float_module, example).module(check_guards=False)
    timing["load_export_s"] = round(time.time() - started, 3)

    started = time.time()
    quantizer = EthosUQuantizer(spec)
    quantizer.set_global(get_symmetric_quantization_config(is_per_channel=True))
    prepared = prepare_pt2e(graph_module, quantizer)
    with torch.no_grad():
        for sample in calib:
            prepared(_to_tensor(sample, shape))
    converted = convert_pt2e(prepared)
    timing["quantize_s"] = round(time.time() - started, 3)

    fidelity = None
    if model.get("evaluation_npy"):
        started = time.time()
        evaluation = np.load(model["evaluation_npy"]).astype(np.float32)
        refs, gots = [], []
        with torch.no_grad():
            for sample in evaluation:
                x = _to_tensor(sample, shape)
                refs.append(float_module(x).detach().numpy().ravel())
                gots.append(converted(x).detach().numpy().ravel())
        sqnr, max_abs = _sqnr(np.concatenate(refs), np.concatenate(gots))
        fidelity = {
            "what": "float model vs its PT2E int8 graph (EthosUQuantizer, quantize/dequantize "
            "simulated in float on the host), on npubench's evaluation samples; not the NPU's "
            "bit-exact output",
            "sqnr_db": sqnr,
            "max_abs_error": max_abs,
            "samples": len(evaluation),
        }
        timing["fidelity_s"] = round(time.time() - started, 3)

    started = time.time()
    lowered = to_edge_transform_and_lower(
        torch.export.export(converted, example), partitioner=[EthosUPartitioner(spec)]
    )
    timing["lower_vela_s"] = round(time.time() - started, 3)

    # The lowered graph in order: delegates and the nodes left to the CPU. Read it before
    # to_executorch(), which rewrites it in place.
    gm = lowered.exported_program().graph_module
    graph: list[dict[str, Any]] = []
    delegates = []
    for node in gm.graph.nodes:
        if node.op != "call_function":
            continue
        name = _op_name(node.target)
        if name.endswith("getitem"):
            continue
        if "executorch_call_delegate" in str(node.target):
            module = getattr(gm, node.args[0].target)
            ops: dict[str, int] = {}
            for inner in module.original_module.graph.nodes:
                if inner.op == "call_function":
                    key = _op_name(inner.target)
                    ops[key] = ops.get(key, 0) + 1
            delegates.append(bytes(module.processed_bytes))
            graph.append(
                {
                    "kind": "delegate",
                    "name": node.name,
                    "backend": module.backend_id,
                    "delegate": len(delegates) - 1,
                    "ops": ops,
                }
            )
            continue
        val = node.meta.get("val")
        graph.append(
            {
                "kind": "node",
                "name": node.name,
                "op": str(getattr(node.target, "_op", None) or name),
                "output_shape": list(val.shape) if hasattr(val, "shape") else None,
                "dtype": str(val.dtype).replace("torch.", "") if hasattr(val, "dtype") else None,
            }
        )

    started = time.time()
    program = lowered.to_executorch()
    with open(os.path.join(workdir, "model.pte"), "wb") as out:
        out.write(program.buffer)
    plan = program.executorch_program.execution_plan[0]
    buffers = [int(x) for x in plan.non_const_buffer_sizes]
    timing["to_executorch_s"] = round(time.time() - started, 3)

    parts = _rerun_vela(workdir, dump, flags, timing)
    # Which Vela run belongs to which delegate: its command stream is embedded in the
    # delegate's bytes (the output_tag numbering is not the graph order).
    streams = [_command_stream(workdir, p) for p in parts]
    for entry in graph:
        if entry["kind"] != "delegate":
            continue
        blob = delegates[entry["delegate"]]
        found = [i for i, s in enumerate(streams) if s and s in blob]
        entry["partition"] = found[0] if found else None
        if not found:
            notes.append(
                f"delegate {entry['name']}: no Vela re-run reproduced its command stream; "
                "its layers are not itemised"
            )
    report = os.path.join(dump, "partition_report.txt")
    return {
        "contract": CONTRACT,
        "ok": True,
        "tool": _tool(),
        "layers": [],
        "cost": None,
        "memory": [],
        "fidelity": fidelity,
        "notes": notes,
        "graph": graph,
        "partitions": parts,
        "partition_report": os.path.relpath(report, workdir) if os.path.exists(report) else None,
        "pte": "model.pte",
        "pte_bytes": len(program.buffer),
        "non_const_buffer_sizes": buffers,
        "vela_flags": [f.replace(workdir, "<workdir>") for f in flags],
    }


def _finish(req: dict[str, Any], workdir: str, timing: dict[str, Any]) -> dict[str, Any]:
    """Compile in a whitespace-free folder (Vela splits its arguments on spaces)."""
    if not re.search(r"\s", workdir):
        return compile_model(req, workdir, timing)
    scratch = tempfile.mkdtemp(prefix="npubench-et-")
    try:
        reply = compile_model(req, scratch, timing)
        for name in os.listdir(scratch):
            src, dst = os.path.join(scratch, name), os.path.join(workdir, name)
            if os.path.isdir(src):
                shutil.copytree(src, dst, dirs_exist_ok=True)
            else:
                shutil.copy2(src, dst)
        return reply
    finally:
        shutil.rmtree(scratch, ignore_errors=True)


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
            reply = _finish(req, workdir, timing)
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
