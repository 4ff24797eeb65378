"""Sophgo TPU-MLIR: the CV18xx (CVITEK) TPU compiler and simulator, as the ``tpu-mlir`` plug-in.

TPU-MLIR 1.30 is a Python 3.10 wheel that pins numpy 1.24 and onnx 1.14, and its wheel bundles a
glibc that has to be moved aside on newer hosts, so npubench does not install it: the user makes
a Python 3.10 venv for it (``INSTALL``) and names that interpreter in ``$NPUBENCH_TPU_MLIR_PYTHON``.
``_worker.py`` (the JSON worker contract of ``npubench.toolchains.worker``) runs with it and drives
TPU-MLIR's command-line tools (model_transform, run_calibration, model_deploy, model_tool,
model_runner) as subprocesses. It consumes the float ONNX npubench exported and quantizes it
itself (INT8, symmetric) on the same calibration samples npubench used, for the board's
``[toolchains.tpu-mlir] processor`` (``cv180x`` for the CV1800B). The reply becomes a
``CompileReport``:

- placement per layer from the compiled ``*_final.mlir``: TPU ops on the NPU, the ops of CPU
  subfunctions (``tpu.GenericCpu``: the input quantization, ArgMax, TopK, GridSample, CumSum...)
  on the CPU, each with the ONNX node it computes where its name says so;
- cycles: the sum of ``group_cost`` over the layer groups of ``*.layer_group_cache.json``,
  TPU-MLIR's CV18xx cycle-calculator estimate in TPU cycles. Layers outside any local-memory
  group count 0 there, so the figure is partial (a lower bound); ``what`` and a note say so.
  TPU-MLIR states no clock, so ``clock_hz`` is the board file's NPU clock and a note says so;
- memory: the cvimodel's regions from ``model_tool --info`` (weight, cmdbuf, private_gmem,
  shared_gmem, io_mem and their sum, "Need ION Memory Size"), all in the board's DRAM, where the
  CVI runtime allocates them from its ION carve-out;
- fidelity: the CV18xx simulator (``model_runner`` on the cvimodel) against onnxruntime's float
  run of the source ONNX on npubench's evaluation samples; per layer, model_deploy's own
  similarity checks (every tensor with ``compare_all``).

May import ``npubench.errors``, ``npubench.cache``, ``npubench.targets`` and the
``npubench.toolchains`` infrastructure (base, inputs, worker); never tpu_mlir, which exists only
in the user's Python 3.10.
"""

from __future__ import annotations

import os
import re
from dataclasses import dataclass
from pathlib import Path
from typing import Annotated, Any, Literal

from pydantic import Field

from npubench.cache import file_sha256
from npubench.errors import CompilerError, UsageError
from npubench.targets.schema import Board, Memory
from npubench.toolchains.base import (
    CompileReport,
    CostReport,
    MemoryRegion,
    StrictModel,
    Toolchain,
    ToolchainInfo,
)
from npubench.toolchains.inputs import CompileInput
from npubench.toolchains.worker import (
    cost_from_reply,
    fidelity_from_reply,
    layers_from_reply,
    memory_from_reply,
    run_worker,
    tail,
)

__all__ = [
    "ENV_VAR",
    "INSTALL",
    "TOOLCHAIN",
    "Installation",
    "TpuMlir",
    "TpuMlirBoardConfig",
    "TpuMlirOptions",
    "find_installation",
    "report_from_reply",
]

ENV_VAR = "NPUBENCH_TPU_MLIR_PYTHON"
TOOL = "tpu-mlir"
TESTED_VERSION = "1.30.2"
WORKER = Path(__file__).with_name("_worker.py")
WORKER_TIMEOUT_S = 3600
SAMPLES_DIR = "samples"
BUNDLED_GLIBC = ("libc.so.6", "libm.so.6", "libpthread.so.0")
MOVED_ASIDE_DIR = "moved_aside_glibc"
HOMEPAGE = "https://github.com/sophgo/tpu-mlir"
INSTALL = (
    "make a Python 3.10 venv for TPU-MLIR (it needs CPython 3.10; Debian 12 ships none, pyenv "
    "has it) and install it and the ONNX pins its [onnx] extra names: `python3.10 -m venv "
    "~/tpu-mlir && ~/tpu-mlir/bin/pip install tpu-mlir==1.30.2 && ~/tpu-mlir/bin/pip install "
    "onnx==1.14.1 onnxruntime==1.16.3 onnxsim==0.4.17 psutil opencv-python-headless==4.8.0.76` "
    "(the second step replaces the yanked opencv 4.8.0.74 tpu-mlir pins; pip warns, harmlessly); "
    "move the glibc its wheel bundles aside, or every tool fails with \"version `GLIBC_2.36' not "
    'found": `cd ~/tpu-mlir/lib/python3.10/site-packages/tpu_mlir/lib/third_party && mkdir -p '
    f"{MOVED_ASIDE_DIR} && mv {' '.join(BUNDLED_GLIBC)} {MOVED_ASIDE_DIR}/`; then `export "
    f"{ENV_VAR}=~/tpu-mlir/bin/python` (about 8 min and 2 GB)"
)
COST_WHAT = "TPU-MLIR's layer-group cycle estimate for the CV18xx TPU"
FIDELITY_WHAT = "CV18xx simulator (model_runner) vs onnxruntime float32 on the source ONNX"
# The CV18xx processors whose compiler output is a .cvimodel (TPU-MLIR's CV18xx backend); the
# worker reads cvimodel files, so the BM/SG chips (bmodel) are not accepted. Only cv180x has been
# run by npubench (CV1800B).
Processor = Literal["cv180x", "cv181x", "cv182x", "cv183x"]
Similarity = Annotated[float, Field(ge=0.0, le=1.0)]
_VERSION_RE = re.compile(r"^Version:\s*(\S+)\s*$", re.M)


class TpuMlirBoardConfig(StrictModel):
    """The board file's ``[toolchains.tpu-mlir]`` table."""

    processor: Processor  # model_deploy --processor, e.g. "cv180x" for the CV1800B


class TpuMlirOptions(StrictModel):
    """Options of one TPU-MLIR compile.

    ``model_deploy`` checks the int8 model against the float one on one test input and fails the
    compile when a tensor's (cosine, euclidean) similarity is below ``tolerance``. With
    ``compare_all`` it checks every intermediate tensor, which gives the per-layer fidelity rows
    but also fails on a model whose outputs are fine; ``compare_all=false`` checks the outputs
    only. The default tolerance (0.85, 0.45) is looser than model_deploy's own INT8 default
    (0.90, 0.80) for that reason.
    """

    compare_all: bool = True  # model_deploy --compare_all
    tolerance: tuple[Similarity, Similarity] = (0.85, 0.45)  # --tolerance cosine,euclidean


@dataclass(frozen=True)
class Installation:
    """What ``$NPUBENCH_TPU_MLIR_PYTHON`` points at, found without running it."""

    python: Path | None  # the interpreter (None: the variable is not set)
    venv: Path | None  # its environment (the folder above bin/)
    version: str | None  # tpu_mlir's version from its dist-info METADATA
    third_party: Path | None  # site-packages/tpu_mlir/lib/third_party
    bundled_glibc: tuple[str, ...]  # the bundled glibc files still in third_party
    problem: str  # why it cannot be used ("" when it can)

    @property
    def usable(self) -> bool:
        return not self.problem and self.version is not None

    @property
    def move_aside_command(self) -> str:
        assert self.third_party is not None
        aside = self.third_party / MOVED_ASIDE_DIR
        files = " ".join(str(self.third_party / f) for f in self.bundled_glibc)
        return f"mkdir -p {aside} && mv {files} {aside}/"


def _metadata_version(path: Path) -> str | None:
    try:
        found = _VERSION_RE.search(path.read_text(errors="replace"))
    except OSError:
        return None
    return found.group(1) if found else None


def find_installation(value: str | None = None) -> Installation:
    """Look at ``$NPUBENCH_TPU_MLIR_PYTHON`` (or ``value``): the interpreter exists, its venv's
    site-packages holds tpu_mlir (version from the dist-info METADATA; nothing is imported or
    run), and the bundled glibc has been moved aside."""
    raw = os.environ.get(ENV_VAR) if value is None else value
    if not raw:
        return Installation(None, None, None, None, (), f"${ENV_VAR} is not set")
    python = Path(os.path.abspath(Path(raw).expanduser()))  # not resolved: venv/bin/python
    if python.is_dir() and (python / "bin" / "python").exists():
        python = python / "bin" / "python"
    if not python.is_file() or not os.access(python, os.X_OK):
        return Installation(
            python, None, None, None, (), f"${ENV_VAR}={raw} is not an executable file"
        )
    venv = python.parent.parent
    metas = sorted(venv.glob("lib*/python3*/site-packages/tpu_mlir-*.dist-info/METADATA"))
    if not metas:
        return Installation(
            python,
            venv,
            None,
            None,
            (),
            f"no tpu_mlir-*.dist-info under {venv}/lib/python3.*/site-packages "
            f"(is {python} the python of the venv tpu-mlir was installed into?)",
        )
    meta = metas[-1]
    version = _metadata_version(meta)
    site = meta.parent.parent
    if site.parent.name != "python3.10":
        return Installation(
            python,
            venv,
            version,
            None,
            (),
            f"tpu-mlir is installed for {site.parent.name}, it needs python3.10",
        )
    third_party = site / "tpu_mlir" / "lib" / "third_party"
    present = tuple(f for f in BUNDLED_GLIBC if (third_party / f).exists())
    problem = ""
    if version is None:
        problem = f"{meta} names no version"
    elif present:
        problem = (
            f"tpu-mlir's bundled glibc ({', '.join(present)}) is still in {third_party}: it "
            'breaks the system libexpat ("version `GLIBC_2.36\' not found")'
        )
    return Installation(python, venv, version, third_party, present, problem)


def _npu_clock_hz(board: Board, clock_mhz: float | None) -> float:
    """The NPU clock of this run: the requested clock, else the board file's ``npu.clock_mhz``;
    never above ``npu.max_clock_mhz``."""
    assert board.npu is not None
    mhz = board.npu.clock_mhz.value if clock_mhz is None else float(clock_mhz)
    if not 0 < mhz <= board.npu.max_clock_mhz.value * (1 + 1e-9):
        raise UsageError(
            f"{board.name}: the NPU cannot run at {mhz:g} MHz "
            f"(maximum {board.npu.max_clock_mhz.value:g} MHz)",
            f"choose a clock up to {board.npu.max_clock_mhz.value:g} MHz",
        )
    return mhz * 1e6


def _clock_source(board: Board) -> str:
    assert board.npu is not None
    key = board.npu.clock_mhz.source
    source = board.sources.get(key)
    kind = f" ({source.kind})" if source is not None else ""
    return f"source '{key}'{kind}"


def _dram(board: Board) -> Memory | None:
    """The memory the cvimodel lives in: the NPU's arena memory, else the largest external RAM."""
    if board.npu is not None and board.npu.arena_memory:
        return board.memory(board.npu.arena_memory)
    found = board.memories_with_role("external_ram")
    return max(found, key=lambda m: m.capacity_bytes) if found else None


def memory_regions(board: Board, reply: dict[str, Any]) -> list[MemoryRegion]:
    """The cvimodel's regions in the board's DRAM. ``ion_total`` (the sum of the others) gets the
    DRAM's capacity but no ``board_memory``, so that the DRAM's use is not counted twice."""
    dram = _dram(board)
    out = []
    for m in memory_from_reply(reply):
        if dram is None:
            out.append(m)
            continue
        m.capacity_bytes = dram.capacity_bytes
        if m.region == "ion_total":
            m.what += (
                f"; in {dram.name} like the regions it sums (no board_memory here so that "
                f"{dram.name} is not counted twice)"
            )
        else:
            m.board_memory = dram.name
            m.what += f"; in {dram.name}"
        m.what += (
            f". The capacity is the whole {dram.name} ({dram.role}, shared with Linux): the CVI "
            "runtime allocates from its ION carve-out of it, whose size the board's device tree "
            "sets and the board file does not give"
        )
        out.append(m)
    return out


def _cost(
    reply: dict[str, Any], board: Board, clock_mhz: float | None, notes: list[str]
) -> CostReport | None:
    cost = cost_from_reply(reply, COST_WHAT)
    if cost is None:
        return None
    if cost.cycles_total is None:  # all of it is NPU work: the CPU routines are not costed
        cost.cycles_total = cost.cycles_npu
    cost.clock_hz = _npu_clock_hz(board, clock_mhz)
    cost.what += (
        f"; clock_hz is the board file's NPU clock ({cost.clock_hz / 1e6:g} MHz, "
        f"{_clock_source(board)}), not a figure of the tool"
    )
    raw = reply.get("cost") or {}
    notes.append(
        f"cycles are partial: TPU-MLIR's layer-group search costs only the "
        f"{raw.get('n_grouped_layers', '?')} layers in local-memory groups; the "
        f"{raw.get('n_global_layers', '?')} layers outside any group count 0, so the cycles "
        "and the time are a lower bound, not a latency"
    )
    notes.append(
        "TPU-MLIR states no clock for its CV18xx cycles: the board file's NPU clock "
        f"({cost.clock_hz / 1e6:g} MHz, {board.name}, {_clock_source(board)}) is used for "
        "clock_hz and the time"
    )
    return cost


def report_from_reply(
    reply: dict[str, Any],
    board: Board,
    config: TpuMlirBoardConfig,
    options: TpuMlirOptions,
    clock_mhz: float | None = None,
) -> CompileReport:
    """The ``CompileReport`` of one ok worker reply (a live one or a recorded one)."""
    tool = reply.get("tool") or {}
    notes = [str(n) for n in reply.get("notes") or []]
    cost = _cost(reply, board, clock_mhz, notes)
    fidelity = fidelity_from_reply(reply, FIDELITY_WHAT)
    raw_fidelity = reply.get("fidelity") or {}
    raw_cost = reply.get("cost") or {}
    info = reply.get("model_info") or {}
    timing = reply.get("timing") or {}
    return CompileReport(
        toolchain=TpuMlir.name,
        tool=TOOL,
        tool_version=str(tool.get("version") or ""),
        plugin_version=TpuMlir.plugin_version,
        target=board.name,
        frontend="onnx",
        options=options.model_dump(mode="json"),
        layers=layers_from_reply(reply),
        memory=memory_regions(board, reply),
        cost=cost,
        fidelity=fidelity,
        log_tail=tail(str(reply.get("log") or "")),
        notes=notes,
        extra_versions={str(k): str(v) for k, v in (tool.get("extra_versions") or {}).items() if v},
        extra={
            "processor": config.processor,
            "flops": info.get("flops"),
            "ion_mb": info.get("ion_mb"),
            "top1_agreement": raw_fidelity.get("top1_agreement"),
            "fidelity_per_output": raw_fidelity.get("per_output") or [],
            "deploy_checks": raw_fidelity.get("deploy_checks") or [],
            "layer_groups": raw_cost.get("groups") or [],
            "cvimodel_routines": info.get("routines") or [],
            "commands": reply.get("commands") or [],
            "timing": timing,
        },
        seconds_tool=timing.get("worker_total_s"),
    )


class TpuMlir(Toolchain):
    name = "tpu-mlir"
    display_name = "Sophgo TPU-MLIR"
    tool = TOOL
    plugin_version = 1
    consumes = "onnx"
    frontend = "onnx"
    gives = ("placement", "cycles", "memory", "fidelity")
    homepage = HOMEPAGE
    environment = None  # the user's own Python 3.10 ($NPUBENCH_TPU_MLIR_PYTHON)
    BoardConfig = TpuMlirBoardConfig
    Options = TpuMlirOptions

    def detect(self) -> ToolchainInfo:
        found = find_installation()
        install = INSTALL
        if found.bundled_glibc and found.third_party is not None:
            install = found.move_aside_command
        detail = found.problem or str(found.python)
        if found.usable and found.version != TESTED_VERSION:
            detail += f" (npubench's plug-in was made with tpu-mlir {TESTED_VERSION})"
        return ToolchainInfo(
            name=self.name,
            display_name=self.display_name,
            tool=self.tool,
            version=found.version if found.usable else None,
            available=found.usable,
            environment=str(found.venv) if found.venv else f"${ENV_VAR} (not set)",
            install=install,
            detail=detail,
        )

    def check_board(self, board: Board, config: StrictModel) -> list[str]:
        problems = []
        if board.npu is None:
            problems.append("an [npu] table is needed: its clock is the clock of the cycles")
        if _dram(board) is None:
            problems.append("a memory of role external_ram (the DRAM the cvimodel lives in)")
        return problems

    def cache_inputs(
        self, model: CompileInput, board: Board, config: StrictModel, clock_mhz: float | None
    ) -> list[Any]:
        return [*super().cache_inputs(model, board, config, clock_mhz), file_sha256(WORKER)]

    def compile(
        self,
        model: CompileInput,
        board: Board,
        config: StrictModel,
        options: StrictModel,
        clock_mhz: float | None,
        workdir: Path,
    ) -> CompileReport:
        assert isinstance(config, TpuMlirBoardConfig) and isinstance(options, TpuMlirOptions)
        found = find_installation()
        if found.python is None or not found.usable:
            raise CompilerError(f"{TOOL} cannot run: {found.problem}", INSTALL)
        onnx = model.require_onnx()
        shape = list(model.source_input_shape)
        if len(shape) != 4:
            raise CompilerError(
                f"{model.name} has input shape {shape}; the tpu-mlir plug-in feeds one 4-D NCHW "
                "input",
                "give a model with one image-like input (N, C, H, W)",
            )
        _npu_clock_hz(board, clock_mhz)  # a bad clock fails before the tool starts
        calibration, evaluation = model.write_samples(workdir / SAMPLES_DIR)
        request = {
            "toolchain": self.name,
            "action": "compile",
            "model": {
                "onnx": str(onnx),
                "pt2": None,
                "tflite_int8": None,
                "input_shape": shape,
                "calibration_npy": str(calibration),
                "evaluation_npy": str(evaluation),
            },
            "board": {"name": board.name, "processor": config.processor},
            "options": options.model_dump(mode="json"),
        }
        run = run_worker(
            found.python, WORKER, request, workdir, tool=self.tool, timeout_s=WORKER_TIMEOUT_S
        )
        return report_from_reply(run.reply, board, config, options, clock_mhz)


TOOLCHAIN = TpuMlir()
