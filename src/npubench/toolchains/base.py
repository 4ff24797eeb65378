"""The toolchain plug-in contract: what every vendor compiler or quantizer adapter promises.

May import ``npubench.errors``, ``npubench.targets`` and pydantic (no other stage). A plug-in is
one module under ``npubench.toolchains`` (``<name with _>.py`` or a package of that name) that
defines ``TOOLCHAIN``, an instance of a ``Toolchain`` subclass:

- ``detect()`` says, cheaply and without importing the tool into npubench's process, whether
  the tool is installed here, its version, where it lives and how to install it;
- ``BoardConfig`` (pydantic) validates the board file's ``[toolchains.<name>]`` table and
  ``Options`` the per-run options (``--optimise`` ...): each toolchain its own, before any work;
- ``compile(model, board, config, options, workdir)`` runs the real tool and returns a
  ``CompileReport``, the neutral record the pipeline, sweeps, predictor, store and report
  consume: per-layer placement with the tool's reasons, the tool's own cost figures and the
  clock they refer to, memory per region against capacity, artifacts with content hashes, the
  tool's log. Deterministic for the same inputs; ``npubench.toolchains.run`` caches it by the
  inputs' hashes, the tool's version and the plug-in's version.

Failures are ``CompilerError`` (the tool rejected the model: the first layer and why, with the
tail of its log) or ``ToolchainMissing`` (not installed: the command that installs it).
"""

from __future__ import annotations

import dataclasses
from abc import ABC, abstractmethod
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING, Any, ClassVar, Literal

from pydantic import BaseModel, ConfigDict

from npubench.targets.schema import Board

if TYPE_CHECKING:
    from npubench.toolchains.inputs import CompileInput

Placement = Literal["npu", "cpu", "unsupported"]
# What model form a toolchain consumes: the int8 TFLite npubench quantized, the float ONNX it
# exported, or the float PyTorch model (torch.export) for front ends that quantize themselves.
ModelForm = Literal["tflite-int8", "onnx", "pytorch"]


class StrictModel(BaseModel):
    """Base of board-config and option models: unknown keys are errors, values are frozen."""

    model_config = ConfigDict(extra="forbid", frozen=True)


class NoBoardConfig(StrictModel):
    """A toolchain that needs nothing from the board file beyond the board itself."""


class NoOptions(StrictModel):
    """A toolchain with no per-run options."""


@dataclass
class LayerReport:
    """One layer as the tool placed it; ``cycles`` in the tool's own unit (see ``CostReport``)."""

    index: int
    name: str
    op: str
    placement: Placement
    reason: str = ""
    cycles: float | None = None
    macs: int | None = None
    extra: dict[str, Any] = field(default_factory=dict)


@dataclass
class CostReport:
    """The tool's own cost estimate for one inference, and the clock its cycles refer to."""

    what: str  # in the tool's terms, e.g. "Vela's estimate of the NPU command stream"
    cycles_total: float | None = None
    cycles_npu: float | None = None
    clock_hz: float | None = None  # None: the tool states no clock for its cycles
    latency_us: float | None = None  # the tool's own time figure, when it gives one

    @property
    def time_us(self) -> float | None:
        """The tool's time for one inference: its own figure, else its cycles at its clock."""
        if self.latency_us is not None:
            return self.latency_us
        if self.cycles_total is not None and self.clock_hz:
            return self.cycles_total / self.clock_hz * 1e6
        return None


@dataclass
class MemoryRegion:
    """Use of one memory region as the tool reports it, against the board's capacity."""

    region: str  # the tool's name for it: "sram", "weight memory", "Total Internal Memory"
    used_bytes: int
    capacity_bytes: int | None = None
    board_memory: str | None = None  # the board memory it lives in, when known
    what: str = ""  # "tensor arena", "weights", "model image", ...
    summary: bool = False  # a total of other regions (tpu-mlir's ION size): never summed again

    @property
    def fits(self) -> bool:
        return self.capacity_bytes is None or self.used_bytes <= self.capacity_bytes


@dataclass
class Artifact:
    """A file the tool wrote, relative to the report's ``artifact_dir``, with its content hash."""

    path: str
    sha256: str
    bytes: int


@dataclass
class ToolFidelity:
    """Quantization fidelity as the tool itself measured it (simulator, per-layer error)."""

    what: str
    sqnr_db: float | None = None
    max_abs_error: float | None = None
    samples: int = 0
    per_layer: list[dict[str, Any]] = field(default_factory=list)


CONTRACT_VERSION = 1
"""Version of ``CompileReport.to_json`` and of the worker JSON contract (``worker.py``)."""


@dataclass
class CompileReport:
    """What one toolchain says about one model on one board: the neutral record."""

    toolchain: str  # the plug-in: "vela", "rknn", "executorch-ethos-u", ...
    tool: str  # the vendor tool it drove: "ethos-u-vela", "rknn-toolkit2", ...
    tool_version: str
    plugin_version: int
    target: str
    frontend: ModelForm
    options: dict[str, Any] = field(default_factory=dict)
    layers: list[LayerReport] = field(default_factory=list)
    memory: list[MemoryRegion] = field(default_factory=list)
    cost: CostReport | None = None
    fidelity: ToolFidelity | None = None
    ops: dict[str, int] | None = None  # the tool's own operator count, where it differs from rows
    artifacts: list[Artifact] = field(default_factory=list)
    artifact_dir: str = ""
    log_tail: str = ""
    notes: list[str] = field(default_factory=list)
    extra_versions: dict[str, str] = field(default_factory=dict)  # e.g. executorch's own Vela
    extra: dict[str, Any] = field(default_factory=dict)  # tool-specific figures
    seconds_tool: float | None = None  # the tool's own work
    seconds_total: float | None = None  # npubench's call, process start of the tool to report
    cached: bool = False

    def shared_overflow(self) -> list[tuple[str, int, int]]:
        """(board memory, bytes used by all its regions, capacity) where several regions on one
        board memory together exceed it although each fits alone (e.g. rknn's internal and
        weight memory both in DDR)."""
        out = []
        for name in {m.board_memory for m in self.memory if m.board_memory}:
            regions = [m for m in self.memory if m.board_memory == name and not m.summary]
            capacity = regions[0].capacity_bytes
            used = sum(m.used_bytes for m in regions)
            if len(regions) > 1 and capacity is not None and used > capacity:
                out.append((str(name), used, capacity))
        return sorted(out)

    @property
    def fits(self) -> bool:
        """Every region within capacity (regions sharing a board memory summed), and every
        layer placed somewhere."""
        return (
            all(m.fits for m in self.memory)
            and not self.shared_overflow()
            and not any(lay.placement == "unsupported" for lay in self.layers)
        )

    def op_counts(self) -> dict[str, int]:
        """Operators on the NPU and on the CPU: the tool's own count, else its layer rows."""
        if self.ops is not None:
            return {"npu": self.ops.get("npu", 0), "cpu": self.ops.get("cpu", 0)}
        out = {"npu": 0, "cpu": 0}
        for lay in self.layers:
            if lay.placement in out:
                out[lay.placement] += 1
        return out

    @property
    def verdict(self) -> str:
        """'fits', or the first problem in the tool's own terms (memory or layer)."""
        for lay in self.layers:
            if lay.placement == "unsupported":
                why = f": {lay.reason}" if lay.reason else ""
                return (
                    f"does not fit: {self.tool} rejects layer {lay.index} '{lay.name}' "
                    f"({lay.op}){why}"
                )
        over = [m for m in self.memory if not m.fits]
        if not over:
            shared = self.shared_overflow()
            if not shared:
                return "fits"
            name, used, capacity = shared[0]
            return (
                f"does not fit: {self.tool}'s regions in {name} need {used / 1024:.1f} KiB of "
                f"{capacity / 1024:.1f} KiB together"
            )
        m = over[0]
        more = f" (and {len(over) - 1} more region(s))" if len(over) > 1 else ""
        where = f" ({m.board_memory})" if m.board_memory and m.board_memory != m.region else ""
        return (
            f"does not fit: {self.tool} needs {m.used_bytes / 1024:.1f} KiB of "
            f"{(m.capacity_bytes or 0) / 1024:.1f} KiB in {m.region}{where}{more}"
        )

    def memory_in(self, board_memory: str) -> int:
        """Bytes the report places in one board memory."""
        return sum(
            m.used_bytes for m in self.memory if m.board_memory == board_memory and not m.summary
        )

    def to_json(self) -> dict[str, Any]:
        data = dataclasses.asdict(self)
        data["contract"] = CONTRACT_VERSION
        data["fits"] = self.fits
        data["verdict"] = self.verdict
        return data

    @classmethod
    def from_json(cls, data: dict[str, Any]) -> CompileReport:
        data = dict(data)
        for derived in ("contract", "fits", "verdict"):
            data.pop(derived, None)
        data["layers"] = [LayerReport(**x) for x in data.get("layers", [])]
        data["memory"] = [MemoryRegion(**x) for x in data.get("memory", [])]
        data["artifacts"] = [Artifact(**x) for x in data.get("artifacts", [])]
        if data.get("cost") is not None:
            data["cost"] = CostReport(**data["cost"])
        if data.get("fidelity") is not None:
            data["fidelity"] = ToolFidelity(**data["fidelity"])
        known = {f.name for f in dataclasses.fields(cls)}
        return cls(**{k: v for k, v in data.items() if k in known})


@dataclass(frozen=True)
class ToolchainInfo:
    """What ``detect()`` found: cheap to compute, printed by ``npubench toolchains list``."""

    name: str
    display_name: str
    tool: str
    version: str | None
    available: bool
    environment: str  # "npubench" (this venv), a managed venv path, or where the tool was found
    install: str | None = None  # the command (or the place) that installs it, when absent
    detail: str = ""  # why it is not available, or what was found

    def to_json(self, targets: list[str]) -> dict[str, Any]:
        return {
            "name": self.name,
            "display_name": self.display_name,
            "tool": self.tool,
            "version": self.version,
            "available": self.available,
            "targets": targets,
            "environment": self.environment,
            "install": None if self.available else self.install,
            "detail": self.detail,
        }


class Toolchain(ABC):
    """Base of every plug-in. Subclasses set the class attributes and implement two methods."""

    name: ClassVar[str]  # the key board files use in ``toolchain`` and ``[toolchains.<name>]``
    display_name: ClassVar[str]
    tool: ClassVar[str]  # the vendor package or program it drives
    plugin_version: ClassVar[int] = 1  # bump when the plug-in's output for the same tool changes
    consumes: ClassVar[ModelForm]
    frontend: ClassVar[str]  # "tflite", "executorch", "onnx": the front end users pick
    gives: ClassVar[tuple[str, ...]]  # of "placement", "cycles", "latency", "memory", "fidelity"
    homepage: ClassVar[str] = ""  # where a user gets the tool
    environment: ClassVar[str | None] = None  # a managed environment's name (environments.toml)
    BoardConfig: ClassVar[type[StrictModel]] = NoBoardConfig
    Options: ClassVar[type[StrictModel]] = NoOptions

    @abstractmethod
    def detect(self) -> ToolchainInfo:
        """Whether the tool is installed here, its version, and how to install it."""

    @abstractmethod
    def compile(
        self,
        model: CompileInput,
        board: Board,
        config: StrictModel,
        options: StrictModel,
        clock_mhz: float | None,
        workdir: Path,
    ) -> CompileReport:
        """Run the real tool on ``model`` for ``board``; write every artifact under ``workdir``.

        ``clock_mhz`` is the board's main clock for this run (None: the board's default); a
        tool whose estimate depends on it (Vela's system config) uses it, others ignore it.
        ``artifact_dir``, ``artifacts``, ``cached`` and ``seconds_total`` are filled in by the
        caller (``npubench.toolchains.run``)."""

    def check_board(self, board: Board, config: StrictModel) -> list[str]:
        """Problems between the board's ``[toolchains.<name>]`` table and the board itself."""
        return []

    def cache_inputs(
        self, model: CompileInput, board: Board, config: StrictModel, clock_mhz: float | None
    ) -> list[Any]:
        """What besides the model, options and versions determines the output (board, clock)."""
        return [board.model_dump(mode="json"), config.model_dump(mode="json"), clock_mhz]

    def info_line(self) -> str:
        return f"{self.display_name} ({self.tool})"
