"""Espressif esp-ppq: ESP-DL's own quantizer and ``.espdl`` exporter (ESP32-S3, ESP32-P4).

esp-ppq pins onnx and onnxsim against npubench's, so it lives in the managed environment
``esp-ppq`` (``environments.toml``) and runs through ``_worker.py`` (worker contract, see
``npubench.toolchains.worker``). It takes npubench's float ONNX and the same calibration samples
npubench's own quantizer used, quantizes to 8 bits for the board's ``target`` (``esp32s3`` or
``esp32p4``, from ``[toolchains.esp-ppq]``), and exports the ``.espdl`` model ESP-DL loads.

What the report holds: every exported op with placement "cpu" (the chips have no NPU: each op is
an ESP-DL kernel on the CPU) or "unsupported" when esp-ppq left it in float; the ``.espdl`` size
against the board's flash; a worker estimate of the live activations (no board memory: ESP-DL
plans memory on the device); esp-ppq's per-layer noise:signal tables and the output SQNR of its
simulation of the quantized graph against the float model. No cost: esp-ppq gives no cycles,
latency or clock, so a latency on these boards comes from npubench's CPU-kernel model.

May import ``npubench.errors``, ``npubench.targets`` and ``npubench.toolchains`` (base, inputs,
worker, environments). Never imports esp-ppq: only the worker does, in its own environment.
"""

from __future__ import annotations

import tempfile
from pathlib import Path
from typing import Any, Literal

from pydantic import Field

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
from npubench.toolchains.worker import (
    fidelity_from_reply,
    layers_from_reply,
    run_worker,
    tail,
)

__all__ = ["TOOLCHAIN", "EspPpq", "EspPpqBoardConfig", "EspPpqOptions", "report_from_reply"]

NAME = "esp-ppq"
ENVIRONMENT = "esp-ppq"
WORKER = Path(__file__).with_name("_worker.py")
WORKER_TIMEOUT_S = 1800
FIDELITY_WHAT = (
    "esp-ppq's simulation of the quantized graph vs the float model (output SQNR, max abs "
    "error) and its per-layer noise:signal power tables"
)
NO_COST_NOTE = (
    "no cost figures: esp-ppq (ESP-DL's quantizer) gives no cycles, latency or clock for the "
    "model; a latency on this board comes from npubench's CPU-kernel model"
)
CPU_NOTE = "the chip has no NPU: every op runs as an ESP-DL kernel on the CPU (placement 'cpu')"


class EspPpqBoardConfig(StrictModel):
    """A board's ``[toolchains.esp-ppq]`` table."""

    target: Literal["esp32s3", "esp32p4"]  # esp-ppq's ``target``: the ESP-DL kernels it matches


class EspPpqOptions(StrictModel):
    """Options of one esp-ppq run."""

    num_of_bits: Literal[8] = 8  # int8, like every other toolchain npubench compares
    calib_steps: int | None = Field(default=None, ge=1)  # None: every calibration sample


def _flash(board: Board) -> Memory | None:
    found = board.memories_with_role("flash")
    return max(found, key=lambda m: m.capacity_bytes) if found else None


def _memory(reply: dict[str, Any], board: Board) -> tuple[list[MemoryRegion], dict[str, int]]:
    """The ``.espdl`` in the board's flash, the activation estimate unplaced; the rest as extra."""
    flash = _flash(board)
    regions: list[MemoryRegion] = []
    other: dict[str, int] = {}
    for m in reply.get("memory") or []:
        used, what = int(m["used_bytes"]), str(m.get("what") or "")
        if m["region"] == "espdl":
            regions.append(
                MemoryRegion(
                    region=".espdl model",
                    used_bytes=used,
                    capacity_bytes=flash.capacity_bytes if flash else None,
                    board_memory=flash.name if flash else None,
                    what=what,
                )
            )
        elif m["region"] == "activations":
            regions.append(MemoryRegion("activations (estimate)", used, None, None, what))
        else:
            other[f"{m['region']}_bytes"] = used
    return regions, other


def _layers(reply: dict[str, Any], board: Board) -> list[LayerReport]:
    layers = layers_from_reply(reply)
    for lay in layers:
        if lay.placement == "cpu" and not lay.reason:
            lay.reason = f"ESP-DL kernel on the {board.cpu.core}"
    return layers


def report_from_reply(
    reply: dict[str, Any],
    board: Board,
    config: EspPpqBoardConfig,
    options: EspPpqOptions,
) -> CompileReport:
    """A ``CompileReport`` from the worker's reply (a fresh run or a recorded one)."""
    tool = reply.get("tool") or {}
    memory, sizes = _memory(reply, board)
    fidelity = fidelity_from_reply(reply, FIDELITY_WHAT)
    timing = reply.get("timing") or {}
    work = [timing[k] for k in ("quantize_s", "evaluate_s") if timing.get(k) is not None]
    notes = [CPU_NOTE, NO_COST_NOTE, *[str(n) for n in reply.get("notes") or []]]
    return CompileReport(
        toolchain=NAME,
        tool=str(tool.get("name") or NAME),
        tool_version=str(tool.get("version") or ""),
        plugin_version=EspPpq.plugin_version,
        target=board.name,
        frontend="onnx",
        options=options.model_dump(),
        layers=_layers(reply, board),
        memory=memory,
        cost=None,
        fidelity=fidelity,
        log_tail=tail(str(reply.get("log") or "")),
        notes=notes,
        extra_versions={str(k): str(v) for k, v in (tool.get("extra_versions") or {}).items()},
        extra={
            "esp_target": config.target,
            "num_of_bits": reply.get("num_of_bits", options.num_of_bits),
            "calib_steps": reply.get("calib_steps"),
            "espdl": reply.get("espdl"),
            "argmax_agreement": (reply.get("fidelity") or {}).get("argmax_agreement"),
            **sizes,
            "timing_s": timing,
        },
        seconds_tool=sum(work) if work else None,
    )


class EspPpq(Toolchain):
    name = NAME
    display_name = "Espressif esp-ppq (ESP-DL quantizer)"
    tool = "esp-ppq"
    consumes = "onnx"
    frontend = "onnx"
    gives = ("placement", "memory", "fidelity")
    homepage = "https://github.com/espressif/esp-ppq"
    environment = ENVIRONMENT
    BoardConfig = EspPpqBoardConfig
    Options = EspPpqOptions

    def detect(self) -> ToolchainInfo:
        env = get_environment(ENVIRONMENT)
        status = env.status()
        return ToolchainInfo(
            name=self.name,
            display_name=self.display_name,
            tool=self.tool,
            version=status.version if status.healthy else None,
            available=status.healthy,
            environment=str(env.path),
            install=env.install_command,
            detail=status.problem or f"managed environment {env.path}",
        )

    def cache_inputs(
        self, model: CompileInput, board: Board, config: StrictModel, clock_mhz: float | None
    ) -> list[Any]:
        # The clock changes nothing esp-ppq computes; the board gives core and flash capacity.
        return [board.model_dump(mode="json"), config.model_dump(mode="json")]

    def compile(
        self,
        model: CompileInput,
        board: Board,
        config: StrictModel,
        options: StrictModel,
        clock_mhz: float | None,
        workdir: Path,
    ) -> CompileReport:
        assert isinstance(config, EspPpqBoardConfig) and isinstance(options, EspPpqOptions)
        onnx = model.require_onnx()
        env = get_environment(ENVIRONMENT)
        # The samples are identified by the cache key (model.key): they need not be kept.
        with tempfile.TemporaryDirectory(prefix="npubench-esp-ppq-") as scratch:
            calibration, evaluation = model.write_samples(Path(scratch))
            request = {
                "toolchain": NAME,
                "action": "compile",
                "model": {
                    "onnx": str(onnx),
                    "pt2": None,
                    "tflite_int8": None,
                    "input_shape": list(model.source_input_shape),
                    "calibration_npy": str(calibration),
                    "evaluation_npy": str(evaluation),
                },
                "board": {"target": config.target},
                "options": options.model_dump(),
            }
            done = run_worker(
                env.python, WORKER, request, workdir, tool=self.tool, timeout_s=WORKER_TIMEOUT_S
            )
        return report_from_reply(done.reply, board, config, options)


TOOLCHAIN = EspPpq()
