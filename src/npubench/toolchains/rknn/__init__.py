"""Rockchip rknn-toolkit2: the RKNPU compiler and simulator, as the ``rknn`` plug-in.

rknn-toolkit2 2.5.0 pins torch<=2.4 and numpy<2, so it lives in the managed environment
"rknn" (``environments.toml``) and runs there through ``_worker.py`` (the JSON worker contract
of ``npubench.toolchains.worker``). It consumes the float ONNX npubench exported and quantizes
it itself (w8a8, per channel) on the same calibration samples npubench used, for the board's
``[toolchains.rknn] target_platform`` (rv1103, rv1106, rk3566, ...). The reply becomes a
``CompileReport``:

- placement per layer from the native compiler's "Network Layer Information Table" (NPU or
  CPU, rknn's own op names, shapes, cycles DDR/NPU/Total, RW KB); the graph's Input/Output
  pseudo-operators stay as CPU rows but are not counted as operators (``ops``);
- cycles: the sum over NPU layers of the compiler's Total cycles. rknn states no clock for
  them, so ``clock_hz`` is the board file's NPU clock and a note says so;
- memory: "Total Internal Memory Size" (activations) and "Total Weight Memory Size"
  (constants), each mapped onto the board memory the NPU uses for it (``npu.arena_memory``,
  ``npu.weights_memory``: DDR on every Rockchip board), against that memory's size;
- fidelity: rknn's simulator against onnxruntime's float run (SQNR, max abs error) and rknn's
  per-layer accuracy analysis.

May import ``npubench.errors``, ``npubench.cache``, ``npubench.targets`` and the
``npubench.toolchains`` infrastructure (base, inputs, environments, worker); never the vendor
package, which exists only inside its environment.
"""

from __future__ import annotations

import re
from pathlib import Path
from typing import Any, Literal

from pydantic import Field

from npubench.cache import file_sha256
from npubench.errors import CompilerError, UsageError
from npubench.targets.schema import Board, Memory
from npubench.toolchains.base import (
    CompileReport,
    MemoryRegion,
    StrictModel,
    Toolchain,
    ToolchainInfo,
)
from npubench.toolchains.environments import get_environment
from npubench.toolchains.inputs import CompileInput
from npubench.toolchains.worker import (
    cost_from_reply,
    fidelity_from_reply,
    layers_from_reply,
    memory_from_reply,
    run_worker,
    tail,
)

__all__ = ["TOOLCHAIN", "Rknn", "RknnBoardConfig", "RknnOptions", "report_from_reply"]

ENV_NAME = "rknn"
TOOL = "rknn-toolkit2"
WORKER = Path(__file__).with_name("_worker.py")
WORKER_TIMEOUT_S = 1800
SAMPLES_DIR = "samples"
COST_WHAT = "rknn-toolkit2's static per-layer cycle estimate, summed over NPU layers"
FIDELITY_WHAT = "rknn simulator vs onnxruntime float32 on the source ONNX"
# The platforms rknn-toolkit2 2.5.0 accepts (RKNN.config docstring, recorded in
# tests/data/rknn/version/reply.json).
TargetPlatform = Literal[
    "rk2118",
    "rk3562",
    "rk3566",
    "rk3568",
    "rk3576",
    "rk3588",
    "rv1103",
    "rv1103b",
    "rv1106",
    "rv1106b",
    "rv1126b",
]
# The compiler's memory totals and which board memory of the NPU each one lives in.
_REGION_MEMORY = {"internal": "arena_memory", "weight": "weights_memory"}
_ANSI = re.compile(r"\x1b\[[0-9;]*[A-Za-z]")


class RknnBoardConfig(StrictModel):
    """The board file's ``[toolchains.rknn]`` table."""

    target_platform: TargetPlatform  # rknn's name for the SoC, e.g. "rv1106"


class RknnOptions(StrictModel):
    """Options of one rknn-toolkit2 compile."""

    optimization_level: int = Field(default=3, ge=0, le=3)  # RKNN.config(optimization_level)
    per_layer_fidelity: bool = True  # run rknn's accuracy_analysis() on the first sample


def _npu_clock_hz(board: Board, clock_mhz: float | None) -> float:
    """The NPU clock of this run: the requested main clock (the NPU's, on these boards), else
    the board file's ``npu.clock_mhz``; never above ``npu.max_clock_mhz``."""
    assert board.npu is not None
    mhz = board.npu.clock_mhz.value if clock_mhz is None else float(clock_mhz)
    if not 0 < mhz <= board.npu.max_clock_mhz.value * (1 + 1e-9):
        raise UsageError(
            f"{board.name}: the NPU cannot run at {mhz:g} MHz "
            f"(maximum {board.npu.max_clock_mhz.value:g} MHz)",
            f"choose a clock up to {board.npu.max_clock_mhz.value:g} MHz",
        )
    return mhz * 1e6


def _board_memory(board: Board, region: str) -> Memory | None:
    """The board memory a compiler region lives in (the NPU's arena/weights memory, else the
    board's largest external RAM); None for a region rknn names that npubench does not know."""
    attr = _REGION_MEMORY.get(region)
    if attr is None:
        return None
    name = getattr(board.npu, attr, None) if board.npu else None
    if name:
        return board.memory(name)
    found = board.memories_with_role("external_ram")
    return max(found, key=lambda m: m.capacity_bytes) if found else None


def memory_regions(board: Board, reply: dict[str, Any]) -> list[MemoryRegion]:
    """The compiler's memory totals against the board memory each lives in."""
    out = []
    for m in memory_from_reply(reply):
        mem = _board_memory(board, m.region)
        if mem is not None:
            m.board_memory = mem.name
            m.capacity_bytes = mem.capacity_bytes
            m.what += (
                f"; in {mem.name} ({mem.role}), shared with Linux, the runtime and the other "
                "region: the capacity is the whole memory"
            )
        out.append(m)
    return out


def report_from_reply(
    reply: dict[str, Any],
    board: Board,
    config: RknnBoardConfig,
    options: RknnOptions,
    clock_mhz: float | None = None,
) -> CompileReport:
    """The ``CompileReport`` of one ok worker reply (a live one or a recorded one)."""
    tool = reply.get("tool") or {}
    layers = layers_from_reply(reply)
    notes = [str(n) for n in reply.get("notes") or []]
    cost = cost_from_reply(reply, COST_WHAT)
    if cost is not None:
        cost.clock_hz = _npu_clock_hz(board, clock_mhz)
        cost.what += (
            f"; clock_hz is the board file's NPU clock ({cost.clock_hz / 1e6:g} MHz), not a "
            "figure of the tool"
        )
        notes.append(
            "rknn-toolkit2 states no clock for its cycle estimates: the board file's NPU clock "
            f"({cost.clock_hz / 1e6:g} MHz, {board.name}) is used for clock_hz and the time"
        )
    pseudo = [lay for lay in layers if lay.extra.get("io_pseudo_op")]
    ops = {
        "npu": sum(1 for lay in layers if lay.placement == "npu"),
        "cpu": sum(
            1 for lay in layers if lay.placement == "cpu" and not lay.extra.get("io_pseudo_op")
        ),
    }
    if pseudo:
        notes.append(
            f"{len(pseudo)} graph input/output pseudo-operator rows (target CPU in rknn's "
            "table) are listed but not counted as CPU operators"
        )
    log = reply.get("log_tail") or tail(_ANSI.sub("", str(reply.get("log") or "")))
    timing = reply.get("timing") or {}
    rknn_cost = reply.get("cost") or {}
    return CompileReport(
        toolchain=Rknn.name,
        tool=TOOL,
        tool_version=str(tool.get("version") or ""),
        plugin_version=Rknn.plugin_version,
        target=board.name,
        frontend="onnx",
        options=options.model_dump(),
        layers=layers,
        memory=memory_regions(board, reply),
        cost=cost,
        fidelity=fidelity_from_reply(reply, FIDELITY_WHAT),
        ops=ops,
        log_tail=log,
        notes=notes,
        extra_versions={str(k): str(v) for k, v in (tool.get("extra_versions") or {}).items() if v},
        extra={
            "target_platform": config.target_platform,
            "cycles_ddr": rknn_cost.get("cycles_ddr"),
            "rknn_config": reply.get("config") or {},
            "timing": timing,
        },
        seconds_tool=timing.get("worker_total_s"),
    )


class Rknn(Toolchain):
    name = "rknn"
    display_name = "Rockchip RKNN-Toolkit2"
    tool = TOOL
    plugin_version = 1
    consumes = "onnx"
    frontend = "onnx"
    gives = ("placement", "cycles", "memory", "fidelity")
    homepage = "https://github.com/airockchip/rknn-toolkit2"
    environment = ENV_NAME
    BoardConfig = RknnBoardConfig
    Options = RknnOptions

    def detect(self) -> ToolchainInfo:
        env = get_environment(ENV_NAME)
        status = env.status()
        available = status.healthy and status.version is not None
        return ToolchainInfo(
            name=self.name,
            display_name=self.display_name,
            tool=self.tool,
            version=status.version if available else None,
            available=available,
            environment=str(env.path),
            install=env.install_command,
            detail=str(env.python) if available else status.problem,
        )

    def check_board(self, board: Board, config: StrictModel) -> list[str]:
        if board.npu is None:
            return ["an [npu] table is needed: its clock is the clock of rknn's cycles"]
        return []

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
        assert isinstance(config, RknnBoardConfig) and isinstance(options, RknnOptions)
        onnx = model.require_onnx()
        shape = list(model.source_input_shape)
        if len(shape) != 4:
            raise CompilerError(
                f"{model.name} has input shape {shape}; the rknn plug-in feeds one 4-D NCHW input",
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
            "board": {"name": board.name, "target_platform": config.target_platform},
            "options": options.model_dump(),
        }
        env = get_environment(ENV_NAME)
        run = run_worker(
            env.python, WORKER, request, workdir, tool=self.tool, timeout_s=WORKER_TIMEOUT_S
        )
        return report_from_reply(run.reply, board, config, options, clock_mhz)


TOOLCHAIN = Rknn()
