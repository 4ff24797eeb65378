"""ExecuTorch's Arm Ethos-U backend: the second Ethos-U front end (PyTorch -> PT2E -> TOSA -> Vela).

May import ``npubench.errors``, ``npubench.targets``, ``npubench.toolchains.base``,
``.environments``, ``.inputs``, ``.worker`` and the Vela plug-in's pure helpers
(``npubench.toolchains.vela.config``, ``.parse`` and ``memory_regions``); never torch or
ExecuTorch, which live in the managed environment "executorch" and run in ``_worker.py``.

The float PyTorch model (``torch.export``) and npubench's calibration samples go to the worker,
which quantizes with ExecuTorch's ``EthosUQuantizer`` and lowers with ``EthosUPartitioner``.
ExecuTorch's own Vela (5.1.0, not npubench's 5.2.0) compiles every delegated partition with the
system configuration npubench writes for the board (``vela.config.system_config_ini``: the same
memories, bandwidths, latencies and clock the ``vela`` plug-in uses), so the two front ends are
compared on one system. Vela's summary and per-layer CSVs of each partition are parsed here with
the Vela plug-in's parsers; nodes ExecuTorch did not delegate are layers on the CPU with the
partitioner's own reason. Vela times the NPU command streams only.
"""

from __future__ import annotations

import re
from dataclasses import replace
from pathlib import Path
from typing import Any, Literal

from npubench.errors import CompilerError, NpubenchError
from npubench.targets.schema import Board
from npubench.toolchains.base import (
    CompileReport,
    CostReport,
    LayerReport,
    MemoryRegion,
    StrictModel,
    Toolchain,
    ToolchainInfo,
)
from npubench.toolchains.environments import get_environment
from npubench.toolchains.inputs import CompileInput
from npubench.toolchains.vela import memory_regions
from npubench.toolchains.vela.config import (
    arena_memory,
    board_system,
    system_config_ini,
    vela_config,
)
from npubench.toolchains.vela.parse import (
    VelaConsole,
    VelaSummary,
    parse_console,
    parse_per_layer_csv,
    parse_summary_csv,
)
from npubench.toolchains.worker import fidelity_from_reply, run_worker, tail

__all__ = ["TOOLCHAIN", "EthosUOptions", "ExecuTorchEthosU", "parse_partition_report"]

NAME = "executorch-ethos-u"
ENVIRONMENT = "executorch"
WORKER = Path(__file__).with_name("_worker.py")
TIMEOUT_S = 3600
QDQ_REASON = (
    "int8 (de)quantization at the edge of an Ethos-U delegate: ExecuTorch's quantized kernel "
    "on the CPU (not timed by Vela)"
)
PORTABLE_REASON = (
    "not delegated by EthosUPartitioner: ExecuTorch's portable kernel on the CPU (not timed "
    "by Vela)"
)


class EthosUOptions(StrictModel):
    """Options of one ExecuTorch Ethos-U compile (``optimise`` is Vela's, as for ``vela``)."""

    optimise: Literal["Performance", "Size"] = "Performance"


def parse_partition_report(text: str) -> dict[str, str]:
    """Why ExecuTorch's partitioner rejected each node: ``partition_report.txt`` (a tabulate
    "fancy_grid" table of node name, target, torch function and reason, cells wrapped) ->
    {node name: reason}."""
    out: dict[str, str] = {}
    rows: list[list[list[str]]] = []
    current: list[list[str]] = []
    in_body = False
    for line in text.splitlines():
        if line.startswith("╞"):
            in_body = True
            continue
        if not in_body:
            continue
        if line.startswith(("├", "╘")):
            if current:
                rows.append(current)
            current = []
            continue
        if line.startswith("│"):
            cells = [c.strip() for c in line.strip().strip("│").split("│")]
            if len(cells) == 4:
                current.append(cells)
    for row in rows:
        name = "".join(cells[0] for cells in row)
        reason = " ".join(cells[3] for cells in row if cells[3])
        out[name] = re.sub(r"\s+", " ", reason).strip()
    return out


def _merged_summary(summaries: list[VelaSummary]) -> VelaSummary:
    """One summary for the memory of several delegates: the SRAM arena of the largest (they
    run one after another and ExecuTorch sizes one scratch pool for the largest, as its
    ``get_ethosu_scratch_from_pte.py`` does), the constant areas of all of them."""
    first = summaries[0]
    used = {
        area: (
            max(s.memory_used_bytes[area] for s in summaries)
            if area == "sram"
            else sum(s.memory_used_bytes[area] for s in summaries)
        )
        for area in first.memory_used_bytes
    }
    return replace(
        first,
        cycles_npu=sum(s.cycles_npu for s in summaries),
        cycles_total=sum(s.cycles_total for s in summaries),
        inference_time_s=sum(s.inference_time_s for s in summaries),
        memory_used_bytes=used,
        original_weights_bytes=sum(s.original_weights_bytes for s in summaries),
        encoded_weights_bytes=sum(s.encoded_weights_bytes for s in summaries),
        nn_macs=sum(s.nn_macs for s in summaries),
        passes=sum(s.passes for s in summaries),
    )


def _read(folder: Path, rel: str | None) -> str | None:
    if not rel:
        return None
    path = folder / rel
    return path.read_text(errors="replace") if path.is_file() else None


def report_from_reply(
    board: Board,
    reply: dict[str, Any],
    folder: Path,
    options: EthosUOptions,
    seconds_tool: float | None = None,
) -> CompileReport:
    """A ``CompileReport`` from the worker's reply and the files it names under ``folder`` (a
    compile's work folder, or recorded outputs)."""
    parts = list(reply.get("partitions") or [])
    rejected = parse_partition_report(_read(folder, reply.get("partition_report")) or "")
    summaries: list[VelaSummary | None] = []
    per_part: list[list[LayerReport]] = []
    for i, part in enumerate(parts):
        summary_text = _read(folder, part.get("summary_csv"))
        if summary_text is None:
            raise CompilerError(
                f"ExecuTorch's Vela wrote no summary CSV for partition {i} in {folder}",
                "run the compile again; the worker log is in the work folder",
            )
        summaries.append(parse_summary_csv(summary_text))
        console_text = _read(folder, part.get("console"))
        console = parse_console(console_text) if console_text else VelaConsole()
        per_layer = _read(folder, part.get("per_layer_csv"))
        per_part.append(parse_per_layer_csv(per_layer, console) if per_layer else [])

    layers: list[LayerReport] = []
    used_parts: list[int] = []
    for entry in reply.get("graph") or []:
        if entry.get("kind") == "delegate":
            p = entry.get("partition")
            if p is None or not 0 <= p < len(parts):
                continue  # the worker's notes say which delegate could not be itemised
            used_parts.append(p)
            for lay in per_part[p]:
                where = {**lay.extra, "partition": p, "delegate": entry.get("name")}
                layers.append(replace(lay, index=len(layers), extra=where))
            continue
        name, op = str(entry.get("name", "")), str(entry.get("op", ""))
        if name in rejected:
            reason = f"rejected by EthosUPartitioner: {rejected[name]} (runs on the CPU)"
        elif op.startswith("quantized_decomposed."):
            reason = QDQ_REASON
        else:
            reason = PORTABLE_REASON
        layers.append(
            LayerReport(
                index=len(layers),
                name=name,
                op=op,
                placement="cpu",
                reason=reason,
                extra={k: entry[k] for k in ("output_shape", "dtype") if entry.get(k) is not None},
            )
        )

    timed = [s for i, s in enumerate(summaries) if s is not None and i in used_parts]
    notes = [
        "ExecuTorch path: PT2E int8 (EthosUQuantizer, symmetric per-channel, calibrated on "
        "npubench's samples) -> TOSA -> ExecuTorch's own Vela "
        f"{reply.get('tool', {}).get('extra_versions', {}).get('ethos-u-vela', '?')} "
        "with npubench's system configuration for the board",
        f"{len(parts)} delegated partition(s); Vela re-run on each TOSA file ExecuTorch kept, "
        "with ExecuTorch's own flags (its command stream checked against the delegate's)",
        *[str(n) for n in reply.get("notes") or []],
    ]
    transposes = sum(1 for lay in layers if lay.placement == "npu" and lay.op == "Transpose")
    if transposes:
        notes.append(
            f"{transposes} NCHW<->NHWC Transpose operator(s) run on the NPU: ExecuTorch feeds "
            "the model in PyTorch's NCHW layout (the TFLite path's model is NHWC)"
        )
    cost = None
    memory: list[MemoryRegion] = []
    extra: dict[str, Any] = {
        "partitions": len(parts),
        "pte_bytes": reply.get("pte_bytes"),
        "executorch_planned_bytes": sum((reply.get("non_const_buffer_sizes") or [0])[1:]),
        "vela_flags": list(reply.get("vela_flags") or []),
        "rejected_nodes": rejected,
    }
    if timed:
        merged = _merged_summary(timed)
        clocks = {s.core_clock_hz for s in timed}
        if len(clocks) > 1:
            notes.append(f"partitions report different core clocks {sorted(clocks)}")
        cost = CostReport(
            what="ExecuTorch's Vela performance estimate of the delegated NPU command streams, "
            "summed over the partitions (CPU nodes not timed)",
            cycles_total=merged.cycles_total,
            cycles_npu=merged.cycles_npu,
            clock_hz=merged.core_clock_hz,
            latency_us=merged.inference_time_s * 1e6,
        )
        memory = memory_regions(board, merged, int(reply.get("pte_bytes") or 0))
        planned = int(extra["executorch_planned_bytes"])
        if planned:
            memory = _add_planned(board, memory, planned)
            notes.append(
                f"ExecuTorch's planned buffers ({planned} B: graph input/output and tensors "
                "outside the delegates) are counted in the arena memory "
                f"{arena_memory(board)!r}; the application may place them elsewhere"
            )
        extra.update(
            {
                "encoded_weights_bytes": merged.encoded_weights_bytes,
                "original_weights_bytes": merged.original_weights_bytes,
                "nn_macs": merged.nn_macs,
                "accelerator": merged.accelerator,
                "system_config": merged.system_config,
                "memory_mode": merged.memory_mode,
                "sram_used_bytes": merged.memory_used_bytes["sram"],
                "vela_memory_used_bytes": merged.memory_used_bytes,
                "cycles_per_partition": [s.cycles_total for s in timed],
            }
        )
    tool = reply.get("tool") or {}
    timing = reply.get("timing") or {}
    return CompileReport(
        toolchain=NAME,
        tool="executorch",
        tool_version=str(tool.get("version") or ""),
        plugin_version=ExecuTorchEthosU.plugin_version,
        target=board.name,
        frontend="pytorch",
        options=options.model_dump(),
        layers=layers,
        memory=memory,
        cost=cost,
        fidelity=fidelity_from_reply(reply, "PT2E int8 graph vs the float model"),
        extra_versions={str(k): str(v) for k, v in (tool.get("extra_versions") or {}).items()},
        log_tail=tail(str(reply.get("log") or "")),
        notes=notes,
        extra=extra,
        seconds_tool=seconds_tool if seconds_tool is not None else timing.get("tool_s"),
    )


def _add_planned(board: Board, memory: list[MemoryRegion], planned: int) -> list[MemoryRegion]:
    """ExecuTorch's planned buffers added to the arena memory's region."""
    name = arena_memory(board)
    what = "ExecuTorch planned buffers"
    for i, m in enumerate(memory):
        if m.board_memory == name:
            memory[i] = replace(m, used_bytes=m.used_bytes + planned, what=f"{m.what} + {what}")
            return memory
    cap = board.memory(name).capacity_bytes
    return [*memory, MemoryRegion(name, planned, cap, name, what)]


class ExecuTorchEthosU(Toolchain):
    name = NAME
    display_name = "ExecuTorch Arm Ethos-U backend"
    tool = "executorch"
    consumes = "pytorch"
    frontend = "executorch"
    gives = ("placement", "cycles", "memory")
    homepage = "https://pypi.org/project/executorch/"
    environment = ENVIRONMENT
    Options = EthosUOptions

    def detect(self) -> ToolchainInfo:
        env = get_environment(ENVIRONMENT)
        status = env.status()
        versions = status.versions or {}
        detail = status.problem or (
            f"executorch {status.version}, its ethos-u-vela {versions.get('ethos-u-vela', '?')}"
        )
        return ToolchainInfo(
            name=self.name,
            display_name=self.display_name,
            tool=self.tool,
            version=status.version if status.healthy else None,
            available=status.healthy and status.version is not None,
            environment=str(env.path),
            install=env.install_command,
            detail=detail,
        )

    def check_board(self, board: Board, config: StrictModel) -> list[str]:
        try:
            vela_config(board)  # the system configuration comes from [toolchains.vela]
        except NpubenchError as e:
            return [e.message]
        return []

    def cache_inputs(
        self, model: CompileInput, board: Board, config: StrictModel, clock_mhz: float | None
    ) -> list[Any]:
        return [
            board.model_dump(mode="json"),
            config.model_dump(mode="json"),
            clock_mhz,
            system_config_ini(board, clock_mhz),
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
        assert isinstance(options, EthosUOptions)
        system = board_system(board, clock_mhz, "board")
        assert system.ini_text is not None
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
            "board": {
                "name": board.name,
                "accelerator": system.accelerator,
                "system_config": system.system_config,
                "memory_mode": system.memory_mode,
                "config_ini_text": system.ini_text,
            },
            "options": options.model_dump(),
        }
        env = get_environment(ENVIRONMENT)
        run = run_worker(
            env.python,
            WORKER,
            request,
            workdir,
            tool="ExecuTorch (Ethos-U)",
            timeout_s=TIMEOUT_S,
        )
        report = report_from_reply(board, run.reply, workdir, options)
        if report.cost is None:
            report.notes.append(
                f"ExecuTorch delegated nothing to {system.accelerator}: every node stays on the "
                "CPU and Vela compiled nothing (the partitioner's reasons are in the layers)"
            )
        return report


TOOLCHAIN = ExecuTorchEthosU()
