"""npubench's worker for Sophgo TPU-MLIR (CV18xx "cvi" targets): runs with the user's Python 3.10.

``$NPUBENCH_TPU_MLIR_PYTHON _worker.py REQUEST.json`` (the JSON contract of
``npubench.toolchains.worker``, version 1). It imports only the standard library and numpy, plus
onnx and onnxruntime (TPU-MLIR's own ONNX dependencies in that interpreter) for the float reference
and for naming ONNX nodes in error messages; it never imports npubench or tpu_mlir. It drives
TPU-MLIR's command-line tools as subprocesses and reads the files and text they write. This is
npubench's own code, not Sophgo's.

Actions:

- ``version``: the versions of tpu-mlir and its ONNX dependencies, and the install check.
- ``compile``: float ONNX (one NCHW input) -> int8 ``.cvimodel`` for ``board.processor``:

      model_transform --model_def M.onnx --input_shapes [[...]] --mean 0,.. --scale 1,..
          --channel_format none --test_input test_input.npy --test_result <n>_top_outputs.npz
          --mlir <n>.mlir
      run_calibration <n>.mlir --data_list cali_list.txt --input_num N --processor P
          -o <n>_cali_table
      model_deploy --mlir <n>.mlir --quantize INT8 --processor P --calibration_table <n>_cali_table
          --test_input <n>_in_f32.npz --test_reference <n>_top_outputs.npz --tolerance C,E
          [--compare_all] --model <n>_<P>_int8.cvimodel
      model_tool --info <n>_<P>_int8.cvimodel
      model_runner --input in_K.npz --model <n>_<P>_int8.cvimodel --output int8_K.npz  (per sample)

  Placement per layer from ``*_final.mlir`` (TPU ops in TPU subfunctions, ``tpu.GenericCpu`` in
  CPU subfunctions), the cost from ``*.layer_group_cache.json`` (``group_cost`` of each layer
  group: TPU cycles of TPU-MLIR's CV18xx cycle calculator), the memory from ``model_tool --info``
  (sections, private/shared gmem, io_mem tensors, "Need ION Memory Size"), fidelity from the
  CV18xx simulator (``model_runner`` on the cvimodel) against onnxruntime's float32 run of the
  source ONNX, and per tensor from ``model_deploy``'s own similarity checks.

Two pitfalls of the pip wheel are handled here:

- TPU-MLIR's ONNX importer imports ``torch`` only for ``torch.tensor(x).numpy()``; a real torch
  for Python 3.10 from the registry pulls CUDA. A stand-in ``torch`` is written into a temporary
  folder put on the tools' PYTHONPATH only (any other name raises ImportError, so optional-torch
  imports fall back as if torch were absent).
- The wheel bundles glibc (``tpu_mlir/lib/third_party/libc.so.6``, ``libm.so.6``,
  ``libpthread.so.0``), which breaks the system libexpat on newer hosts ("version `GLIBC_2.36'
  not found"). The worker refuses to run while they are there and says how to move them aside;
  it never changes the interpreter's installation itself.
"""

from __future__ import annotations

import glob
import json
import os
import re
import shutil
import subprocess
import sys
import tempfile
import time
import traceback
from typing import Any

T_START = time.monotonic()
CONTRACT = 1
TOOL_NAME = "tpu-mlir"
TOOL_TIMEOUT_S = 1800
DEFAULT_TOLERANCE = "0.85,0.45"
BUNDLED_GLIBC = ("libc.so.6", "libm.so.6", "libpthread.so.0")
MOVED_ASIDE_DIR = "moved_aside_glibc"
FIDELITY_DIR = "fidelity"
CALIB_DIR = "calib"
LOG_DIR = "logs"

TORCH_STUB = '''"""Stand-in for `torch` for TPU-MLIR's tools (written by npubench's worker).

TPU-MLIR's ONNX importer only calls torch.tensor(x).numpy(). Any other name raises ImportError,
so code that treats torch as optional (`try: import torch ... except ImportError`) falls back as
if torch were absent.
"""
import numpy as _np

__version__ = "0.0.0+npubench-stub"


class _Tensor:
    def __init__(self, x):
        self._a = _np.asarray(x)

    def numpy(self):
        return self._a


def tensor(x, *args, **kwargs):
    return _Tensor(x)


def __getattr__(name):
    if name.startswith("__") and name.endswith("__"):
        raise AttributeError(name)
    raise ImportError("torch stand-in (npubench tpu-mlir worker): torch.%s is not provided" % name)
'''

# tpu/top dialect ops that are structure or data movement, not layers.
NON_LAYER_OPS = frozenset(
    {
        "top.Weight",
        "top.None",
        "top.Input",
        "tpu.Load",
        "tpu.Store",
        "tpu.Yield",
        "tpu.Group",
        "tpu.GroupParallel",
    }
)
# Lines of native (tpuc-opt) failures, which the Python tools only re-raise as
# "RuntimeError: [!Error]: <command>".
NATIVE_ERROR_RES = [
    re.compile(p)
    for p in (
        r"UNREACHABLE executed at",
        r"LLVM ERROR",
        r"Assertion .* failed",
        r"[Nn]ot support",
        r"\berror:",
        r"GLIBC_",
        r"Segmentation fault",
        r"core dumped",
        r"\[worker\] timeout",
    )
]
STACK_FRAME_RE = re.compile(r"^\s*#\d+\s+0x[0-9a-fA-F]+")
UNSUPPORTED_IMPORT_RE = re.compile(r"Op not support:\s*(\{'[^}]*\})")
LOWERING_ABORT_RE = re.compile(r"TopToTpu/CV18xx/(\w+)\.cpp:?(\d+)?")
DTYPE_BYTES = {
    "fp32": 4,
    "int32": 4,
    "uint32": 4,
    "bf16": 2,
    "fp16": 2,
    "int16": 2,
    "uint16": 2,
    "int8": 1,
    "uint8": 1,
}


class StepFailed(Exception):
    """A TPU-MLIR tool failed (exit status, traceback or a failed similarity check)."""

    def __init__(self, step: str, rc: int, out: str, hint: str) -> None:
        super().__init__(step)
        self.step, self.rc, self.out, self.hint = step, rc, out, hint


# --------------------------------------------------------------------------- the installation


def venv_bin() -> str:
    return os.path.dirname(os.path.abspath(sys.executable))


def tpu_mlir_pkg_dir() -> str | None:
    """site-packages/tpu_mlir, found without importing it (its __init__ edits os.environ)."""
    import importlib.util

    spec = importlib.util.find_spec("tpu_mlir")
    if spec is None or not spec.submodule_search_locations:
        return None
    return str(next(iter(spec.submodule_search_locations)))


def dist_version(name: str) -> str | None:
    from importlib import metadata

    try:
        return metadata.version(name)
    except metadata.PackageNotFoundError:
        return None


def tool_versions() -> tuple[str | None, dict[str, str]]:
    version = dist_version("tpu_mlir") or dist_version("tpu-mlir")
    extra = {"python": ".".join(str(v) for v in sys.version_info[:3])}
    for dist in ("numpy", "onnx", "onnxruntime", "onnxsim", "protobuf"):
        found = dist_version(dist)
        if found:
            extra[dist] = found
    return version, extra


def glibc_move_command(third_party: str, present: list[str]) -> str:
    aside = os.path.join(third_party, MOVED_ASIDE_DIR)
    files = " ".join(os.path.join(third_party, f) for f in present)
    return f"mkdir -p {aside} && mv {files} {aside}/"


def check_install() -> tuple[str | None, str | None]:
    """(error, hint) when this interpreter cannot run TPU-MLIR's tools, else (None, None)."""
    if sys.version_info[:2] != (3, 10):
        return (
            f"tpu-mlir 1.30 needs CPython 3.10; {sys.executable} is "
            f"{sys.version_info[0]}.{sys.version_info[1]}",
            "point $NPUBENCH_TPU_MLIR_PYTHON at the python of a Python 3.10 venv",
        )
    pkg = tpu_mlir_pkg_dir()
    if pkg is None:
        return (
            f"tpu_mlir is not installed for {sys.executable}",
            "pip install tpu-mlir==1.30.2 into that Python 3.10 venv",
        )
    third_party = os.path.join(pkg, "lib", "third_party")
    present = [f for f in BUNDLED_GLIBC if os.path.exists(os.path.join(third_party, f))]
    if present:
        return (
            f"tpu-mlir's bundled glibc ({', '.join(present)}) is still in {third_party}; it "
            'breaks the system libexpat ("version `GLIBC_2.36\' not found")',
            "move it aside: " + glibc_move_command(third_party, present),
        )
    return None, None


# --------------------------------------------------------------------------- running the tools


def write_torch_stub(root: str) -> str:
    os.makedirs(os.path.join(root, "torch"), exist_ok=True)
    with open(os.path.join(root, "torch", "__init__.py"), "w") as f:
        f.write(TORCH_STUB)
    return root


def tool_env(stub_root: str) -> dict[str, str]:
    env = dict(os.environ)
    old = env.get("PYTHONPATH")
    env["PYTHONPATH"] = stub_root + (os.pathsep + old if old else "")
    env["PATH"] = venv_bin() + os.pathsep + env.get("PATH", "")
    env["PYTHONUNBUFFERED"] = "1"
    env["PYTHONDONTWRITEBYTECODE"] = "1"
    env["TQDM_DISABLE"] = "1"
    return env


def find_tool(name: str) -> str:
    """A TPU-MLIR console script: beside this interpreter, else on PATH."""
    beside = os.path.join(venv_bin(), name)
    if os.path.exists(beside):
        return beside
    return shutil.which(name) or name


class Runner:
    """Runs the tools in ``workdir``, keeping each one's console text in ``logs/``."""

    def __init__(self, workdir: str, env: dict[str, str]) -> None:
        self.workdir, self.env = workdir, env
        self.logs: list[str] = []
        self.timing: dict[str, float] = {}

    def run(self, step: str, argv: list[str], hint: str) -> str:
        cmd = [find_tool(argv[0])] + [str(a) for a in argv[1:]]
        started = time.monotonic()
        try:
            done = subprocess.run(
                cmd,
                cwd=self.workdir,
                env=self.env,
                stdout=subprocess.PIPE,
                stderr=subprocess.STDOUT,
                timeout=TOOL_TIMEOUT_S,
            )
            out, rc = done.stdout.decode("utf-8", "replace"), done.returncode
        except subprocess.TimeoutExpired as e:
            partial = e.stdout if isinstance(e.stdout, bytes) else b""
            out = partial.decode("utf-8", "replace") + f"\n[worker] timeout after {TOOL_TIMEOUT_S}s"
            rc = -9
        except OSError as e:
            out, rc = f"[worker] cannot start {cmd[0]}: {e}", -1
        seconds = time.monotonic() - started
        key = step + "_s"
        self.timing[key] = round(self.timing.get(key, 0.0) + seconds, 3)
        newline = "" if out.endswith("\n") else "\n"
        entry = f"$ {' '.join(argv)}\n{out}{newline}[worker] exit {rc} in {seconds:.2f} s\n"
        self.logs.append(entry)
        log_dir = os.path.join(self.workdir, LOG_DIR)
        os.makedirs(log_dir, exist_ok=True)
        with open(os.path.join(log_dir, f"{len(self.logs):02d}_{step}.log"), "w") as f:
            f.write(entry)
        # TPU-MLIR's Python tools can exit 0 after a traceback or a failed comparison.
        failed = (
            rc != 0 or "Traceback (most recent call last)" in out or "npz compare FAILED" in out
        )
        if failed:
            raise StepFailed(step, rc, out, hint)
        return out


# --------------------------------------------------------------------------- parsers (pure)


def parse_model_info(text: str) -> dict[str, Any]:
    """``model_tool --info x.cvimodel`` (cvimodel 1.4): versions, sections, weights, programs."""
    info: dict[str, Any] = {"sections": [], "weights": [], "programs": []}
    for key, pattern in (
        ("mlir_version", r"Mlir Version:\s*(\S+)"),
        ("cvimodel_version", r"Cvimodel Version:\s*(\S+)"),
        ("chip", r"For (\S+) chip ONLY"),
    ):
        m = re.search(pattern, text)
        info[key] = m.group(1) if m else None
    m = re.search(r"Need ION Memory Size:\s*\(([\d.]+)\s*MB\)", text)
    info["ion_mb"] = float(m.group(1)) if m else None
    sec = re.search(r"\nSections:\n.*?\n(.*?)\n\s*\n", text, re.S)
    if sec:
        for line in sec.group(1).splitlines():
            f = line.split()
            if len(f) >= 5 and f[0].isdigit():
                info["sections"].append(
                    {
                        "id": int(f[0]),
                        "type": f[1],
                        "name": f[2],
                        "size": int(f[3]),
                        "offset": int(f[4]),
                    }
                )
    wm = re.search(r"\nWeightMap:\n.*?\n(.*?)\n\s*\n", text, re.S)
    if wm:
        for line in wm.group(1).splitlines():
            f = line.split()
            if len(f) >= 9 and f[0].isdigit():
                info["weights"].append(
                    {
                        "offset": int(f[1]),
                        "size": int(f[2]),
                        "type": f[3],
                        "shape": [int(x) for x in f[4:8]],
                        "name": f[8],
                    }
                )
    for block in re.split(r"\nProgram #", text)[1:]:
        prog: dict[str, Any] = {"tensors": [], "routines": []}
        for key in ("batch_num", "private_gmem_size", "shared_gmem_size"):
            m = re.search(key + r"\s*:\s*(\d+)", block)
            prog[key] = int(m.group(1)) if m else None
        for key in ("inputs", "outputs"):
            m = re.search(r"\n\s*" + key + r"\s*:\s*(.*)", block)
            prog[key] = [s.strip() for s in (m.group(1).split(",") if m else []) if s.strip()]
        for rm in re.finditer(
            r"#(\d+)\s+(cpu|tpu)\s*\n(.*?)(?=\n\s*#\d+\s+(?:cpu|tpu)|\n\s*tensor_map|\Z)",
            block,
            re.S,
        ):
            routine: dict[str, Any] = {"index": int(rm.group(1)), "kind": rm.group(2)}
            for key in ("inputs", "outputs", "function", "section"):
                mm = re.search(r"\b" + key + r"\s*:\s*(.*)", rm.group(3))
                if mm:
                    routine[key] = mm.group(1).strip()
            prog["routines"].append(routine)
        tm = re.search(r"tensor_map\s*:\s*\n.*?\n(.*)", block, re.S)
        if tm:
            for line in tm.group(1).splitlines():
                f = line.split()
                if len(f) >= 10 and f[0].isdigit():
                    prog["tensors"].append(
                        {
                            "offset": int(f[1]),
                            "type": f[2],
                            "shape": [int(x) for x in f[3:7]],
                            "qscale": float(f[7]),
                            "mem": f[8],
                            "name": f[9],
                        }
                    )
        info["programs"].append(prog)
    return info


def memory_entries(info: dict[str, Any]) -> tuple[list[dict[str, Any]], bool]:
    """The cvimodel's memory regions from ``model_tool --info``, and whether their sum agrees
    with the "Need ION Memory Size" the tool prints (rounded to 0.01 MB)."""
    sections = info["sections"]
    weight = sum(s["size"] for s in sections if s["type"] == "weight")
    cmdbuf = sum(s["size"] for s in sections if s["type"] == "cmdbuf")
    other = sum(s["size"] for s in sections if s["type"] not in ("weight", "cmdbuf"))
    private = sum(p["private_gmem_size"] or 0 for p in info["programs"])
    shared = max([p["shared_gmem_size"] or 0 for p in info["programs"]] or [0])
    io = 0
    for p in info["programs"]:
        for t in p["tensors"]:
            if t["mem"] == "io_mem":
                n = 1
                for d in t["shape"]:
                    n *= d
                io += n * DTYPE_BYTES.get(t["type"], 4)
    mem = [
        {
            "region": "weight",
            "used_bytes": weight,
            "what": "the cvimodel's 'weight' section (int8 weights, packed bias and "
            "requantization parameters)",
        },
        {
            "region": "cmdbuf",
            "used_bytes": cmdbuf,
            "what": "the cvimodel's 'cmdbuf' sections (TPU command buffers)",
        },
    ]
    if other:
        mem.append(
            {
                "region": "other_sections",
                "used_bytes": other,
                "what": "the cvimodel's other sections (e.g. CPU functions)",
            }
        )
    mem += [
        {
            "region": "private_gmem",
            "used_bytes": private,
            "what": "the programs' private_gmem_size: activation memory private to this model",
        },
        {
            "region": "shared_gmem",
            "used_bytes": shared,
            "what": "the largest shared_gmem_size: activation memory models loaded together "
            "may share",
        },
        {
            "region": "io_mem",
            "used_bytes": io,
            "what": "the input and output tensors in io_mem (tensor_map), at their stored dtype",
        },
    ]
    total = weight + cmdbuf + other + private + shared + io
    agrees = info["ion_mb"] is None or abs(round(total / 1048576.0, 2) - info["ion_mb"]) < 0.011
    mem.append(
        {
            "region": "ion_total",
            "used_bytes": total,
            "what": "the sum of the regions above: model_tool's 'CviModel Need ION Memory Size' "
            f"(printed {info['ion_mb']} MB{'' if agrees else '; it DIFFERS from the sum'})",
        }
    )
    return mem, agrees


def _loc_resolver(mlir_text: str) -> Any:
    locs: dict[str, tuple[list[str], list[str]]] = {}
    for m in re.finditer(r"^(#loc\d*) = loc\((.*)\)\s*$", mlir_text, re.M):
        body = m.group(2)
        locs[m.group(1)] = (re.findall(r'"([^"]*)"', body), re.findall(r"#loc\d+", body))

    def resolve(ref: str, depth: int = 0) -> list[str]:
        if ref not in locs or depth > 8:
            return []
        names, refs = locs[ref]
        if names:
            return names
        out: list[str] = []
        for r in refs:
            out += resolve(r, depth + 1)
        return out

    return resolve


def _loc_name(line: str, resolve: Any) -> str | None:
    lm = re.search(r'loc\((#loc\d*|"[^"]*")\)\s*$', line)
    if not lm:
        return None
    tok = lm.group(1)
    return tok.strip('"') if tok.startswith('"') else ",".join(resolve(tok)) or None


def _attr_value(raw: str) -> Any:
    v = raw.strip()
    if v.startswith("["):
        return [int(x) for x in re.findall(r"-?\d+", v)]
    if v.startswith('"'):
        return v.strip('"')
    if v in ("true", "false"):
        return v == "true"
    v = re.sub(r"\s*:\s*\w+$", "", v)
    return int(v) if re.match(r"^-?\d+$", v) else v


def parse_final_mlir(text: str) -> list[dict[str, Any]]:
    """Layers of TPU-MLIR's ``*_final.mlir`` (after layer grouping and address assignment), in
    order: op, loc name, subfunction and its run mode, result shape and dtype, in a group."""
    resolve = _loc_resolver(text)
    layers: list[dict[str, Any]] = []
    mode: str | None = None
    func: str | None = None
    group_depth = 0
    for line in text.splitlines():
        fm = re.match(r"\s*func\.func @(\w+)\(", line)
        if fm:
            func = fm.group(1)
            mm = re.search(r"mode = #tpu<run_mode (\w+)>", line)
            mode = mm.group(1) if mm else None
            continue
        om = re.match(r'\s*(?:%[\w#:]+(?:, %[\w#:]+)* = )?"([\w.]+)"\(', line)
        if not om:
            if re.match(r"\s*\}\)", line) and group_depth:
                group_depth -= 1
            continue
        op = om.group(1)
        if op == "tpu.Group":
            group_depth += 1
            continue
        if op in NON_LAYER_OPS or func == "main":
            continue
        shape: list[int] | None = None
        dtype: str | None = None
        found = re.findall(r"->\s*\(?tensor<([^>]*?)(?:,\s*\d+ : i64)?>", line)
        if found:
            parts = found[-1].split("x")
            dims: list[int] = []
            for p in parts:
                if not p.isdigit():
                    dtype = "x".join(parts[len(dims) :])
                    break
                dims.append(int(p))
            shape = dims
            if dtype:
                dq = re.match(r"!quant\.(?:uniform|calibrated)<(\w+)", dtype)
                dtype = dq.group(1) if dq else dtype.split(",")[0]
        attrs = {}
        for key in ("do_relu", "cpu_op_name", "kernel_shape", "strides", "pads", "group"):
            am = re.search(r"[{ ]" + key + r' = (\[[^\]]*\]|"[^"]*"|[^,}]+)', line)
            if am:
                attrs[key] = _attr_value(am.group(1))
        layers.append(
            {
                "op": op,
                "name": _loc_name(line, resolve),
                "subfunc": func,
                "run_mode": mode,
                "in_group": group_depth > 0,
                "shape": shape,
                "dtype": dtype,
                "attrs": attrs,
            }
        )
    return layers


def parse_lg_cache(obj: dict[str, Any]) -> tuple[dict[str, dict[str, Any]], list[dict[str, Any]]]:
    """``*.layer_group_cache.json``: (loc name -> its group, every group in order). A group is
    {subfunc, index, kind ("group": a local-memory layer group, "global": one layer outside any
    group), group_cost, locs}."""
    by_loc: dict[str, dict[str, Any]] = {}
    groups: list[dict[str, Any]] = []
    for key, sf in obj.items():
        if not key.startswith("subfunc_") or not isinstance(sf, dict):
            continue
        for g in sf.get("GroupLayer") or []:
            entry = {
                "subfunc": key,
                "index": g.get("index"),
                "kind": "group",
                "group_cost": int(g.get("group_cost") or 0),
                "locs": list(g.get("locs") or []),
                "shape_secs": g.get("shape_secs"),
            }
            groups.append(entry)
            for loc in entry["locs"]:
                by_loc[loc] = entry
        for g in sf.get("GlobalLayer") or []:
            entry = {
                "subfunc": key,
                "index": g.get("index"),
                "kind": "global",
                "group_cost": int(g.get("group_cost") or 0),
                "locs": [g.get("loc")],
            }
            groups.append(entry)
            by_loc[str(g.get("loc"))] = entry
    return by_loc, groups


def parse_compares(text: str) -> list[dict[str, Any]]:
    """The ``npz_tool.py compare`` blocks ``model_deploy`` prints: per tensor its class, verdict,
    shape and similarities (cosine, euclidean, SQNR dB)."""
    results = []
    for run in re.finditer(
        r"\[Running\]: npz_tool\.py compare (\S+) (\S+) --tolerance (\S+)(.*?)"
        r"npz compare (PASSED|FAILED)",
        text,
        re.S,
    ):
        target, ref, tol, body, verdict = run.groups()
        body = body.replace("\r", "\n")
        tensors = []
        for m in re.finditer(
            r"^\[([^\]\n]+?)\s*\]\s+([A-Z][A-Z_ ]*?)\s*\[(PASSED|FAILED)\][ \t]*\n"
            r"\s*\(([^)]*)\)\s*(\w+)[ \t]*\n(.*?)(?=^\[|^\d+ compared)",
            body,
            re.S | re.M,
        ):
            name, cls, status, shp, dt, rest = m.groups()
            t: dict[str, Any] = {
                "name": name.strip(),
                "class": cls.strip(),
                "status": status,
                "shape": [int(x) for x in shp.split(",") if x.strip()],
                "dtype": dt,
            }
            for k in ("cosine_similarity", "euclidean_similarity", "sqnr_similarity"):
                mm = re.search(k + r"\s*=\s*([-\w.+]+)", rest)
                if mm:
                    try:
                        t[k] = float(mm.group(1))
                    except ValueError:
                        t[k] = mm.group(1)
            tensors.append(t)
        ms = re.search(r"min_similarity = \(([^)]*)\)", body)
        results.append(
            {
                "target": target,
                "reference": ref,
                "tolerance": tol,
                "verdict": verdict,
                "min_similarity": ms.group(1) if ms else None,
                "tensors": tensors,
            }
        )
    return results


def compare_stage(compare: dict[str, Any]) -> str:
    """Which of model_deploy's two checks a comparison is."""
    if compare["reference"].endswith("_top_outputs.npz"):
        return "tpu_mlir_int8_vs_top_f32"
    return "cvimodel_vs_tpu_mlir"


# --------------------------------------------------------------------------- errors (pure)


def clean_lines(out: str) -> list[str]:
    """The tool's console lines without blank lines and native stack-dump frames."""
    lines = [line.rstrip() for line in out.replace("\r", "\n").splitlines()]
    return [line for line in lines if line.strip() and not STACK_FRAME_RE.match(line)]


def log_tail(out: str, lines: int = 40) -> str:
    return "\n".join(clean_lines(out)[-lines:])


def first_error_line(out: str) -> str:
    """One line naming the problem: native compiler messages first, then the last exception."""
    skip = ("[Running]", "[CMD]", "[Success]", "0.\tProgram arguments")
    lines = [line.strip() for line in clean_lines(out) if not line.strip().startswith(skip)]
    native: list[str] = []
    for line in lines:
        if any(p.search(line) for p in NATIVE_ERROR_RES) and not line.startswith(
            ("RuntimeError", "File ", "raise ")
        ):
            line = line.replace("/__w/tpu-mlir/tpu-mlir/", "")
            if line not in native:
                native.append(line)
    if native:
        return " | ".join(native[:3])
    for line in reversed(lines):
        if re.match(r"^[A-Za-z_][\w.]*(Error|Exception|Exit)\b", line):
            return line[:400]
    return lines[-1][:400] if lines else "(no output)"


def onnx_nodes(onnx_path: str) -> list[dict[str, Any]]:
    """(name, op_type, outputs) of every node of the ONNX graph; [] when onnx cannot read it."""
    try:
        import onnx

        graph = onnx.load(onnx_path, load_external_data=False).graph
    except Exception:
        return []
    return [{"name": n.name, "op": n.op_type, "outputs": list(n.output)} for n in graph.node]


def node_for_loc(loc: str, nodes: list[dict[str, Any]]) -> dict[str, Any] | None:
    """The ONNX node a TPU-MLIR loc name comes from: its importer names an op's result
    "<onnx output>_<OpType>" and the ops it decomposes it into "<that>_<suffix>"."""
    best: dict[str, Any] | None = None
    best_len = -1
    for node in nodes:
        for output in node["outputs"]:
            stem = f"{output}_{node['op']}"
            if (loc == stem or loc.startswith(stem + "_")) and len(stem) > best_len:
                best, best_len = node, len(stem)
    return best


def first_top_op(top_mlir: str, op: str) -> str | None:
    """The loc name of the first ``top.<op>`` of a top-dialect MLIR file."""
    resolve = _loc_resolver(top_mlir)
    for line in top_mlir.splitlines():
        if re.search(rf'"top\.{re.escape(op)}"\(', line):
            return _loc_name(line, resolve)
    return None


def describe_failure(
    step: str,
    out: str,
    processor: str,
    top_mlir: str | None = None,
    nodes: list[dict[str, Any]] | None = None,
) -> tuple[str, str]:
    """(error, hint) for a failed tool, naming the first layer TPU-MLIR rejected and why."""
    nodes = nodes or []
    error = f"{step} failed: {first_error_line(out)}"
    hint = "see the tool's log in logs/ of the work folder"
    m = UNSUPPORTED_IMPORT_RE.search(out)
    if m:
        ops = sorted(set(re.findall(r"'([^']+)'", m.group(1))))
        named = [f"'{n['name']}' ({n['op']})" for n in nodes if n["op"] in ops]
        layers = ": layer " + ", ".join(named) if named else ""
        error = f"{step}: TPU-MLIR's ONNX importer does not support op {', '.join(ops)}{layers}"
        hint = (
            f"replace or remove the {', '.join(ops)} node(s): TPU-MLIR 1.30 cannot import them "
            "for any processor"
        )
        return error, hint
    m = LOWERING_ABORT_RE.search(out)
    if m:
        top_op = m.group(1)
        where = ""
        loc = first_top_op(top_mlir, top_op) if top_mlir else None
        if loc:
            node = node_for_loc(loc, nodes)
            where = f" at layer '{loc}'"
            if node is not None:
                where += f" (from ONNX node '{node['name']}', {node['op']})"
        error = (
            f"{step}: TPU-MLIR's CV18xx lowering of top.{top_op}{where} aborted for "
            f"{processor}: {first_error_line(out)}"
        )
        hint = (
            f"top.{top_op} is not supported for {processor} in INT8: replace the ONNX op that "
            "became it"
        )
        return error, hint
    failed = [c for c in parse_compares(out) if c["verdict"] == "FAILED"]
    if step == "model_deploy" and failed:
        c = failed[0]
        bad = [t["name"] for t in c["tensors"] if t["status"] == "FAILED"]
        error = (
            f"model_deploy's similarity check failed ({c['target']} vs {c['reference']}, "
            f"tolerance {c['tolerance']}): {len(bad)} tensor(s) below it, first "
            f"'{bad[0] if bad else '?'}'; min_similarity (cosine, euclidean, sqnr_dB) = "
            f"({c['min_similarity']})"
        )
        hint = (
            f"lower options.tolerance (cosine, euclidean; default {DEFAULT_TOLERANCE}), or set "
            "options.compare_all=false so that only the outputs are checked (--compare_all "
            "checks every intermediate tensor)"
        )
    return error, hint


# --------------------------------------------------------------------------- the reply (pure)


def layers_from_mlir(
    mlir_layers: list[dict[str, Any]],
    by_loc: dict[str, dict[str, Any]],
    nodes: list[dict[str, Any]] | None = None,
) -> list[dict[str, Any]]:
    """Contract layer rows: TPU ops on the NPU, CPU-subfunction ops on the CPU; each with the
    ONNX node whose result it computes, when its loc name says so."""
    rows = []
    for i, lay in enumerate(mlir_layers):
        cpu = lay["run_mode"] == "CPU" or lay["op"] == "tpu.GenericCpu"
        attrs = lay["attrs"]
        extra: dict[str, Any] = {
            "tpu_op": lay["op"],
            "subfunc": lay["subfunc"],
            "run_mode": lay["run_mode"],
            "output_shape": lay["shape"],
            "output_dtype": lay["dtype"],
            "local_memory_group": lay["in_group"],
        }
        extra.update(attrs)
        for loc in (lay["name"] or "").split(","):
            node = node_for_loc(loc, nodes or [])
            if node is not None:
                extra["onnx_node"], extra["onnx_op"] = node["name"], node["op"]
                break
        group = by_loc.get(lay["name"] or "")
        if group is not None:
            extra["layer_group"] = {
                "subfunc": group["subfunc"],
                "index": group["index"],
                "kind": group["kind"],
                "group_cost": group["group_cost"],
                "n_layers": len(group["locs"]),
            }
        op = lay["op"].split(".", 1)[-1]
        if lay["op"] == "tpu.GenericCpu" and attrs.get("cpu_op_name"):
            op = str(attrs["cpu_op_name"])  # quant, argmax_v3, topk, grid_sampler, cumsum
        if cpu:
            named = f", cpu_op_name={attrs['cpu_op_name']}" if "cpu_op_name" in attrs else ""
            reason = (
                f"TPU-MLIR put it in a CPU subfunction (run_mode CPU{named}): it runs on the "
                "host CPU as a cvimodel cpu routine"
            )
        else:
            grouped = ", in a local-memory layer group" if lay["in_group"] else ""
            reason = f"TPU op in {lay['subfunc']} (run_mode {lay['run_mode']}){grouped}"
        rows.append(
            {
                "index": i,
                "name": lay["name"] or f"{op}#{i}",
                "op": op,
                "placement": "cpu" if cpu else "npu",
                "reason": reason,
                "cycles": None,
                "macs": None,
                "extra": extra,
            }
        )
    return rows


def cost_entry(groups: list[dict[str, Any]], cache_name: str) -> dict[str, Any]:
    total = sum(int(g["group_cost"]) for g in groups)
    n_grouped = sum(len(g["locs"]) for g in groups if g["kind"] == "group")
    n_global = sum(1 for g in groups if g["kind"] == "global" and g["locs"] != ["func.return"])
    return {
        "cycles_total": total,
        "cycles_npu": total,
        "clock_hz": None,
        "latency_us": None,
        "what": f"the sum of group_cost over the layer groups of {cache_name}: TPU-MLIR's "
        f"layer-group estimate in CV18xx TPU cycles (its CV18xx cycle calculator) for the "
        f"{n_grouped} layers in local-memory groups; the {n_global} layers outside any group "
        "count 0 there, so it is a partial figure (a lower bound), not a latency",
        "n_grouped_layers": n_grouped,
        "n_global_layers": n_global,
        "groups": groups,
    }


def fidelity_entry(
    measured: dict[str, Any] | None, compares: list[dict[str, Any]], compare_all: bool
) -> dict[str, Any] | None:
    if measured is None:
        return None
    per_layer = []
    for c in compares:
        for t in c["tensors"]:
            per_layer.append({**t, "stage": compare_stage(c)})
    checked = "every tensor (--compare_all)" if compare_all else "the outputs only"
    return {
        **measured,
        "per_layer": per_layer,
        "deploy_checks": [
            {k: c[k] for k in ("target", "reference", "tolerance", "verdict", "min_similarity")}
            for c in compares
        ],
        "what": "sqnr_db/max_abs_error: the CV18xx simulator's output of the cvimodel "
        "(model_runner) vs onnxruntime's float32 run of the source ONNX on "
        f"{measured['samples']} evaluation samples; per_layer: model_deploy's own similarity "
        f"checks on one test input, {checked} (int8 TPU MLIR vs float top MLIR, then cvimodel "
        "vs TPU MLIR)",
    }


def build_reply(
    *,
    info_txt: str,
    lg_cache: dict[str, Any] | None,
    lg_cache_name: str,
    final_mlir: str,
    deploy_out: str,
    fidelity: dict[str, Any] | None,
    compare_all: bool,
    version: str | None,
    extra_versions: dict[str, str],
    nodes: list[dict[str, Any]] | None = None,
) -> dict[str, Any]:
    """The ok reply from the files and text the tools wrote (and the measured fidelity)."""
    notes: list[str] = []
    info = parse_model_info(info_txt)
    memory, agrees = memory_entries(info)
    if not agrees:
        notes.append(
            "the ION total recomputed from model_tool's parts differs from its printed MB figure"
        )
    by_loc: dict[str, dict[str, Any]] = {}
    cost = None
    if lg_cache is not None:
        by_loc, groups = parse_lg_cache(lg_cache)
        cost = cost_entry(groups, lg_cache_name)
    else:
        notes.append("model_deploy wrote no *.layer_group_cache.json: no cycle figure")
    layers = layers_from_mlir(parse_final_mlir(final_mlir), by_loc, nodes)
    m = re.search(r"module\.FLOPs = (\d+)", final_mlir)
    flops = int(m.group(1)) if m else None
    if flops is not None:
        notes.append(f"module.FLOPs (TPU-MLIR's count for the whole model) = {flops}")
    if any(lay["op"] == "quant" and lay["placement"] == "cpu" for lay in layers):
        notes.append(
            "the input quantization (fp32 -> int8) runs on the host CPU as a cvimodel cpu routine"
        )
    versions = dict(extra_versions)
    if info.get("cvimodel_version"):
        versions["cvimodel"] = info["cvimodel_version"]
    if info.get("mlir_version"):
        versions["mlir_build"] = info["mlir_version"]
    return {
        "contract": CONTRACT,
        "ok": True,
        "tool": {"name": TOOL_NAME, "version": version, "extra_versions": versions},
        "layers": layers,
        "cost": cost,
        "memory": memory,
        "fidelity": fidelity_entry(fidelity, parse_compares(deploy_out), compare_all),
        "artifacts": [],
        "log": "",
        "notes": notes,
        "model_info": {
            "chip": info["chip"],
            "ion_mb": info["ion_mb"],
            "flops": flops,
            "sections": info["sections"],
            "routines": [r for p in info["programs"] for r in p["routines"]],
        },
    }


# --------------------------------------------------------------------------- fidelity


def sqnr_db(ref: Any, test: Any) -> float:
    import numpy as np

    r = np.asarray(ref, np.float64).ravel()
    err = r - np.asarray(test, np.float64).ravel()
    noise, signal = float(np.sum(err * err)), float(np.sum(r * r))
    if noise == 0:
        return float("inf")
    if signal == 0:
        return float("-inf")
    return float(10.0 * np.log10(signal / noise))


def float_reference(onnx_path: str, samples: Any) -> list[list[Any]]:
    """onnxruntime's float32 outputs, one list per sample (in this process: model_runner on the
    ONNX costs seconds of start-up per sample)."""
    import onnxruntime as ort

    so = ort.SessionOptions()
    so.intra_op_num_threads = 1
    sess = ort.InferenceSession(onnx_path, so, providers=["CPUExecutionProvider"])
    feed = sess.get_inputs()[0].name
    return [list(sess.run(None, {feed: x[None].astype("float32")})) for x in samples]


def run_fidelity(
    runner: Runner, onnx_path: str, cvimodel: str, in_name: str, out_names: list[str], samples: Any
) -> dict[str, Any]:
    """int8: model_runner on the cvimodel (the CV18xx simulator); float: onnxruntime."""
    import numpy as np

    fdir = os.path.join(runner.workdir, FIDELITY_DIR)
    os.makedirs(fdir, exist_ok=True)
    started = time.monotonic()
    refs = float_reference(onnx_path, samples)
    runner.timing["fidelity_float_onnxruntime_s"] = round(time.monotonic() - started, 3)
    outs = []
    for i, x in enumerate(samples):
        inp = os.path.join(fdir, f"in_{i:03d}.npz")
        np.savez(inp, **{in_name: x[None].astype(np.float32)})
        got = os.path.join(fdir, f"int8_{i:03d}.npz")
        runner.run(
            "fidelity_model_runner",
            ["model_runner", "--input", inp, "--model", cvimodel, "--output", got],
            "model_runner could not run the cvimodel on the CV18xx simulator",
        )
        with np.load(got) as d:
            outs.append([d[k] for k in out_names])
    n_out = min(len(refs[0]), len(outs[0]))
    per_output, all_r, all_q = [], [], []
    for j in range(n_out):
        r = np.concatenate([s[j].ravel() for s in refs]).astype(np.float64)
        q = np.concatenate([s[j].ravel() for s in outs]).astype(np.float64)
        if r.size != q.size:
            continue
        all_r.append(r)
        all_q.append(q)
        cos = float(np.dot(r, q) / (np.linalg.norm(r) * np.linalg.norm(q) + 1e-30))
        per_output.append(
            {
                "output": out_names[j],
                "sqnr_db": round(sqnr_db(r, q), 4),
                "max_abs_error": float(np.max(np.abs(r - q))),
                "cosine": round(cos, 6),
            }
        )
    top1 = None
    if n_out >= 1 and refs[0][0].size == outs[0][0].size:
        agree = [int(np.argmax(a[0]) == np.argmax(b[0])) for a, b in zip(refs, outs, strict=True)]
        top1 = sum(agree) / float(len(agree))
    r = np.concatenate(all_r) if all_r else np.zeros(1)
    q = np.concatenate(all_q) if all_q else np.zeros(1)
    return {
        "sqnr_db": round(sqnr_db(r, q), 4),
        "max_abs_error": float(np.max(np.abs(r - q))),
        "samples": len(samples),
        "per_output": per_output,
        "top1_agreement": top1,
    }


# --------------------------------------------------------------------------- actions


def failure(
    error: str, hint: str, tail: str = "", timing: dict[str, Any] | None = None
) -> dict[str, Any]:
    return {
        "contract": CONTRACT,
        "ok": False,
        "error": error,
        "hint": hint,
        "log_tail": tail,
        "timing": timing or {},
    }


def do_version(req: dict[str, Any]) -> dict[str, Any]:
    error, hint = check_install()
    if error:
        return failure(error, hint or "")
    version, extra = tool_versions()
    return {
        "contract": CONTRACT,
        "ok": True,
        "tool": {"name": TOOL_NAME, "version": version, "extra_versions": extra},
        "layers": [],
        "cost": None,
        "memory": [],
        "fidelity": None,
        "artifacts": [],
        "log": "",
        "notes": [],
    }


def sanitize(name: str) -> str:
    s = re.sub(r"[^A-Za-z0-9_]", "_", name)
    return s if s and not s[0].isdigit() else "m_" + s


def tolerance_text(value: Any) -> str:
    if value is None:
        return DEFAULT_TOLERANCE
    if isinstance(value, str):
        return value
    return ",".join(repr(float(v)) for v in value)


def do_compile(req: dict[str, Any]) -> dict[str, Any]:
    import numpy as np

    model = req.get("model") or {}
    board = req.get("board") or {}
    opts = req.get("options") or {}
    workdir = os.path.abspath(req["workdir"])
    os.makedirs(workdir, exist_ok=True)
    error, hint = check_install()
    if error:
        return failure(error, hint or "")
    onnx_path = model.get("onnx")
    if not onnx_path or not os.path.exists(onnx_path):
        return failure(
            f"model.onnx is missing or does not exist: {onnx_path!r}",
            "this worker compiles the float ONNX (opset 17) npubench exported",
        )
    onnx_path = os.path.abspath(onnx_path)
    shape = [int(d) for d in model.get("input_shape") or []]
    if len(shape) != 4:
        return failure(
            f"input_shape must be 4-D NCHW, got {shape!r}",
            "the tpu-mlir plug-in compiles single-input NCHW image models",
        )
    processor = str(board.get("processor") or "cv180x")
    tolerance = tolerance_text(opts.get("tolerance"))
    compare_all = bool(opts.get("compare_all", True))
    name = sanitize(os.path.splitext(os.path.basename(onnx_path))[0])
    channels = shape[1]

    calib = np.load(model["calibration_npy"]).astype(np.float32)
    if calib.ndim == len(shape) - 1:
        calib = calib[None]
    evaluation = None
    if model.get("evaluation_npy"):
        evaluation = np.load(model["evaluation_npy"]).astype(np.float32)
        if evaluation.ndim == len(shape) - 1:
            evaluation = evaluation[None]
    samples = evaluation if evaluation is not None and len(evaluation) else calib
    cal_dir = os.path.join(workdir, CALIB_DIR)
    os.makedirs(cal_dir, exist_ok=True)
    with open(os.path.join(workdir, "cali_list.txt"), "w") as f:
        for i, x in enumerate(calib):
            path = os.path.join(cal_dir, f"cali_{i:04d}.npy")
            np.save(path, x[None])
            f.write(path + "\n")
    test_npy = os.path.join(workdir, "test_input.npy")
    np.save(test_npy, samples[0][None])

    mlir = name + ".mlir"
    top_out = name + "_top_outputs.npz"
    in_npz = name + "_in_f32.npz"
    cvimodel = f"{name}_{processor}_int8.cvimodel"
    mean, scale = ",".join(["0.0"] * channels), ",".join(["1.0"] * channels)  # no preprocessing
    stub_dir = tempfile.mkdtemp(prefix="npubench_torch_stub_")
    runner = Runner(workdir, tool_env(write_torch_stub(stub_dir)))
    try:
        try:
            runner.run(
                "model_transform",
                [
                    "model_transform",
                    "--model_name",
                    name,
                    "--model_def",
                    onnx_path,
                    "--input_shapes",
                    "[" + json.dumps(shape).replace(" ", "") + "]",
                    "--mean",
                    mean,
                    "--scale",
                    scale,
                    "--channel_format",
                    "none",
                    "--test_input",
                    test_npy,
                    "--test_result",
                    top_out,
                    "--mlir",
                    mlir,
                ],
                "model_transform (ONNX -> top MLIR) failed: see its log for the ONNX op",
            )
            runner.run(
                "run_calibration",
                [
                    "run_calibration",
                    mlir,
                    "--data_list",
                    "cali_list.txt",
                    "--input_num",
                    str(len(calib)),
                    "--processor",
                    processor,
                    "-o",
                    name + "_cali_table",
                ],
                "run_calibration failed: do the calibration samples match input_shape?",
            )
            deploy = [
                "model_deploy",
                "--mlir",
                mlir,
                "--quantize",
                "INT8",
                "--processor",
                processor,
                "--calibration_table",
                name + "_cali_table",
                "--test_input",
                in_npz,
                "--test_reference",
                top_out,
                "--tolerance",
                tolerance,
                "--model",
                cvimodel,
            ]
            if compare_all:
                deploy.append("--compare_all")
            deploy_out = runner.run(
                "model_deploy",
                deploy,
                f"model_deploy failed: an op may be unsupported on {processor}",
            )
            info_txt = runner.run(
                "model_tool_info",
                ["model_tool", "--info", cvimodel],
                "model_tool could not read the cvimodel",
            )
        except StepFailed as e:
            top_path = os.path.join(workdir, mlir)
            top_text = None
            if os.path.exists(top_path):
                with open(top_path) as f:
                    top_text = f.read()
            err, why = describe_failure(e.step, e.out, processor, top_text, onnx_nodes(onnx_path))
            return failure(err, why, log_tail(e.out), runner.timing)
        with open(os.path.join(workdir, "model_info.txt"), "w") as f:
            f.write(info_txt)
        notes: list[str] = []
        info = parse_model_info(info_txt)
        with np.load(os.path.join(workdir, in_npz)) as d:
            in_name = d.files[0]
        out_names = info["programs"][0]["outputs"] if info["programs"] else []
        try:
            fidelity: dict[str, Any] | None = run_fidelity(
                runner, onnx_path, os.path.join(workdir, cvimodel), in_name, out_names, samples
            )
        except StepFailed as e:
            notes.append(f"the fidelity run failed at {e.step}: {first_error_line(e.out)}")
            fidelity = None
    finally:
        shutil.rmtree(stub_dir, ignore_errors=True)

    caches = sorted(glob.glob(os.path.join(workdir, "*.layer_group_cache.json")))
    lg_cache = None
    if caches:
        with open(caches[-1]) as f:
            lg_cache = json.load(f)
    finals = sorted(glob.glob(os.path.join(workdir, "*_final.mlir")))
    final_text = ""
    if finals:
        with open(finals[-1]) as f:
            final_text = f.read()
    version, extra_versions = tool_versions()
    reply = build_reply(
        info_txt=info_txt,
        lg_cache=lg_cache,
        lg_cache_name=os.path.basename(caches[-1]) if caches else "",
        final_mlir=final_text,
        deploy_out=deploy_out,
        fidelity=fidelity,
        compare_all=compare_all,
        version=version,
        extra_versions=extra_versions,
        nodes=onnx_nodes(onnx_path),
    )
    reply["notes"] = notes + reply["notes"]
    reply["log"] = "".join(runner.logs)
    reply["timing"] = runner.timing
    reply["commands"] = [entry.split("\n", 1)[0][2:] for entry in runner.logs]
    reply["request_options"] = {"processor": processor, "tolerance": tolerance}
    for root, dirs, files in os.walk(workdir):
        dirs[:] = [d for d in dirs if d not in (CALIB_DIR, FIDELITY_DIR, "__pycache__")]
        for fn in files:
            reply["artifacts"].append(os.path.relpath(os.path.join(root, fn), workdir))
    reply["artifacts"].sort()
    return reply


def write_json(path: str, obj: dict[str, Any]) -> None:
    tmp = path + ".tmp"
    with open(tmp, "w") as f:
        json.dump(obj, f, indent=1)
    os.replace(tmp, path)


def main(argv: list[str]) -> int:
    if len(argv) != 2:
        sys.stderr.write("usage: _worker.py REQUEST.json\n")
        return 2
    with open(argv[1]) as f:
        req = json.load(f)
    reply_path = req.get("reply") or os.path.join(req.get("workdir", "."), "reply.json")
    try:
        if req.get("contract") != CONTRACT:
            reply = failure(
                f"unsupported contract {req.get('contract')!r} (this worker speaks {CONTRACT})",
                "reinstall npubench so that its plug-in and worker match",
            )
        elif req.get("action") == "version":
            reply = do_version(req)
        elif req.get("action") == "compile":
            reply = do_compile(req)
        else:
            reply = failure(f"unknown action {req.get('action')!r}", "use compile or version")
    except Exception as e:  # the worker itself broke: still reply
        reply = failure(
            f"worker error: {type(e).__name__}: {e}",
            "a bug in npubench's tpu-mlir worker or an unexpected tool output",
            traceback.format_exc()[-4000:],
        )
    timing = reply.setdefault("timing", {})
    if isinstance(timing, dict):
        timing["worker_total_s"] = round(time.monotonic() - T_START, 3)
    try:
        write_json(reply_path, reply)
    except Exception:
        traceback.print_exc()
        return 1
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv))
