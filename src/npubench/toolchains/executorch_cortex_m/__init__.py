"""ExecuTorch's Cortex-M backend: PyTorch -> PT2E int8 -> CMSIS-NN operators, for Cortex-M CPUs.

May import ``npubench.errors``, ``npubench.targets``, ``npubench.toolchains.base``,
``.environments``, ``.inputs`` and ``.worker``; never torch or ExecuTorch, which live in the
managed environment "executorch" and run in ``_worker.py``.

The float PyTorch model (``torch.export``) and npubench's calibration samples go to the worker,
which quantizes with ``CortexMQuantizer`` and lowers with ``CortexMPassManager`` for the board's
core (``core`` in ``[toolchains.executorch-cortex-m]``, else ``cpu.core`` mapped onto the names
ExecuTorch accepts). What ExecuTorch decides, and this plug-in reports: which operator runs as
which kernel (CMSIS-NN, ExecuTorch's own Cortex-M kernels, or its portable ones), the CMSIS-NN
scratch buffer each operator needs on that core (they differ between the scalar, DSP and MVE
builds of CMSIS-NN), and the memory plan of the ``.pte`` against the board's RAM and flash.
Every operator runs on the CPU; ExecuTorch gives no cycle estimate, so there is no cost.
"""

from __future__ import annotations

import re
from pathlib import Path
from typing import Any, Literal, get_args

from npubench.targets.schema import Board, Memory
from npubench.toolchains.base import (
    CompileReport,
    LayerReport,
    MemoryRegion,
    StrictModel,
    Toolchain,
    ToolchainInfo,
)
from npubench.toolchains.environments import get_environment
from npubench.toolchains.inputs import CompileInput
from npubench.toolchains.worker import fidelity_from_reply, run_worker, tail

__all__ = ["TOOLCHAIN", "CortexMConfig", "ExecuTorchCortexM", "core_for", "report_from_reply"]

NAME = "executorch-cortex-m"
ENVIRONMENT = "executorch"
WORKER = Path(__file__).with_name("_worker.py")
TIMEOUT_S = 3600
# The cores ExecuTorch's CortexMTargetConfig.from_target_string accepts.
Core = Literal[
    "cortex-m0",
    "cortex-m0plus",
    "cortex-m3",
    "cortex-m4",
    "cortex-m7",
    "cortex-m23",
    "cortex-m33",
    "cortex-m35p",
    "cortex-m55",
    "cortex-m85",
]
CORES: tuple[str, ...] = get_args(Core)
_RAM_ROLES = ("sram", "tcm", "external_ram")
_ROM_ROLES = ("flash", "external_ram", "sram")


class CortexMConfig(StrictModel):
    """The board file's ``[toolchains.executorch-cortex-m]`` table."""

    # The target_config ExecuTorch compiles for; default: the board's cpu.core.
    core: Core | None = None


def core_for(board: Board, config: CortexMConfig) -> str | None:
    """The ExecuTorch target name for the board: the table's ``core``, else ``cpu.core`` with
    its suffixes dropped ("cortex-m4f" -> "cortex-m4"); None when it names no Cortex-M."""
    if config.core is not None:
        return config.core
    m = re.match(r"^cortex-m(0plus|0\+|35p|\d+)", board.cpu.core.lower())
    if m is None:
        return None
    core = "cortex-m" + m.group(1).replace("0+", "0plus")
    return core if core in CORES else None


def _largest(board: Board, roles: tuple[str, ...]) -> Memory | None:
    for role in roles:
        found = board.memories_with_role(role)
        if found:
            return max(found, key=lambda m: m.capacity_bytes)
    return None


def _reason(kernel: str, op: str, core: str, backend: str) -> str:
    short = op.removeprefix("cortex_m.").removesuffix(".default")
    if kernel == "cmsis-nn":
        return f"CMSIS-NN {short} ({backend} kernels on the {core})"
    if kernel == "cortex-m":
        return f"ExecuTorch Cortex-M kernel {short} on the {core}"
    return f"ExecuTorch portable kernel {op} (not lowered to CMSIS-NN)"


def report_from_reply(board: Board, reply: dict[str, Any]) -> CompileReport:
    """A ``CompileReport`` from the worker's reply (a compile's, or recorded)."""
    core = str(reply.get("target") or "")
    backend = str(reply.get("cmsis_nn_backend") or "")
    layers: list[LayerReport] = []
    scratch: dict[str, int] = {}
    for row in reply.get("ops") or []:
        kernel, op = str(row.get("kernel")), str(row.get("op"))
        nbytes = sum(int(b) for b in row.get("scratch_bytes") or [])
        if nbytes:
            scratch[str(row.get("name"))] = nbytes
        layers.append(
            LayerReport(
                index=len(layers),
                name=str(row.get("name")),
                op=op,
                placement="cpu",
                reason=_reason(kernel, op, core, backend),
                macs=None if row.get("macs") is None else int(row["macs"]),
                extra={
                    "kernel": kernel,
                    "cmsis_nn_scratch_bytes": nbytes or None,
                    "output_shape": row.get("output_shape"),
                    "dtype": row.get("dtype"),
                },
            )
        )
    planned = sum((reply.get("non_const_buffer_sizes") or [0])[1:])
    planned_no_io = sum((reply.get("non_const_buffer_sizes_no_io") or [0])[1:])
    pte_bytes = int(reply.get("pte_bytes") or 0)
    largest = max(scratch.values(), default=0)
    memory = []
    ram, rom = _largest(board, _RAM_ROLES), _largest(board, _ROM_ROLES)
    if ram is not None:
        memory.append(
            MemoryRegion(
                "planned buffers",
                planned,
                ram.capacity_bytes,
                ram.name,
                "ExecuTorch's memory plan of the .pte: activations, the graph's input and "
                f"output, and the CMSIS-NN scratch buffers (largest {largest} B on the {core})",
            )
        )
    if rom is not None:
        memory.append(
            MemoryRegion(
                "model", pte_bytes, rom.capacity_bytes, rom.name, ".pte (weights and program)"
            )
        )
    portable = [lay.op for lay in layers if lay.extra["kernel"] == "portable"]
    notes = [
        f"ExecuTorch Cortex-M path for the {core} ({backend} build of CMSIS-NN): PT2E int8 "
        "(CortexMQuantizer, calibrated on npubench's samples), input traced channels_last",
        "no cycle estimate on this path; the .pte runs on an ExecuTorch runtime built with the "
        "cortex_m operators and CMSIS-NN (not part of the pip package)",
        f"planned buffers without the graph's input and output: {planned_no_io} B",
        *[str(n) for n in reply.get("notes") or []],
    ]
    if portable:
        notes.append(f"not lowered to CMSIS-NN (portable kernels): {', '.join(portable)}")
    tool = reply.get("tool") or {}
    return CompileReport(
        toolchain=NAME,
        tool="executorch",
        tool_version=str(tool.get("version") or ""),
        plugin_version=ExecuTorchCortexM.plugin_version,
        target=board.name,
        frontend="pytorch",
        layers=layers,
        memory=memory,
        fidelity=fidelity_from_reply(reply, "lowered Cortex-M graph vs the float model"),
        extra_versions={str(k): str(v) for k, v in (tool.get("extra_versions") or {}).items()},
        log_tail=tail(str(reply.get("log") or "")),
        notes=notes,
        extra={
            "core": core,
            "cmsis_nn_backend": backend,
            "planned_bytes": planned,
            "planned_bytes_no_io": planned_no_io,
            "cmsis_nn_scratch_max_bytes": largest,
            "cmsis_nn_scratch_total_bytes": sum(scratch.values()),
            "cmsis_nn_scratch_bytes": scratch,
            "constants_bytes": reply.get("constants_bytes"),
            "pte_bytes": pte_bytes,
            "kernels": {
                k: sum(1 for lay in layers if lay.extra["kernel"] == k)
                for k in ("cmsis-nn", "cortex-m", "portable")
            },
        },
        seconds_tool=(reply.get("timing") or {}).get("tool_s"),
    )


class ExecuTorchCortexM(Toolchain):
    name = NAME
    display_name = "ExecuTorch Cortex-M backend (CMSIS-NN)"
    tool = "executorch"
    consumes = "pytorch"
    frontend = "executorch"
    gives = ("placement", "memory")
    homepage = "https://pypi.org/project/executorch/"
    environment = ENVIRONMENT
    BoardConfig = CortexMConfig

    def detect(self) -> ToolchainInfo:
        env = get_environment(ENVIRONMENT)
        status = env.status()
        return ToolchainInfo(
            name=self.name,
            display_name=self.display_name,
            tool=self.tool,
            version=status.version if status.healthy else None,
            available=status.healthy and status.version is not None,
            environment=str(env.path),
            install=env.install_command,
            detail=status.problem or f"executorch {status.version} (Cortex-M backend)",
        )

    def check_board(self, board: Board, config: StrictModel) -> list[str]:
        assert isinstance(config, CortexMConfig)
        if core_for(board, config) is None:
            return [
                f"cpu.core {board.cpu.core!r} is not a Cortex-M core ExecuTorch targets; set "
                f"core to one of {', '.join(CORES)}"
            ]
        return []

    def cache_inputs(
        self, model: CompileInput, board: Board, config: StrictModel, clock_mhz: float | None
    ) -> list[Any]:
        assert isinstance(config, CortexMConfig)
        # The clock changes nothing ExecuTorch decides.
        return [
            board.model_dump(mode="json"),
            config.model_dump(mode="json"),
            core_for(board, config),
        ]

    def compile(
        self,
        model: CompileInput,
        board: Board,
        config: StrictModel,
        options: StrictModel,
        clock_mhz: float | None,
        workdir: Path,
    ) -> CompileReport:
        assert isinstance(config, CortexMConfig)
        pt2 = model.write_pt2(workdir / "model.pt2")
        calibration, evaluation = model.write_samples(workdir / "samples")
        request = {
            "toolchain": self.name,
            "action": "compile",
            "model": {
                "onnx": None,
                "pt2": str(pt2),
                "tflite_int8": None,
                "input_shape": list(model.source_input_shape),
                "calibration_npy": str(calibration),
                "evaluation_npy": str(evaluation),
            },
            "board": {"name": board.name, "core": core_for(board, config)},
            "options": {},
        }
        env = get_environment(ENVIRONMENT)
        run = run_worker(
            env.python, WORKER, request, workdir, tool="ExecuTorch (Cortex-M)", timeout_s=TIMEOUT_S
        )
        return report_from_reply(board, run.reply)


TOOLCHAIN = ExecuTorchCortexM()
