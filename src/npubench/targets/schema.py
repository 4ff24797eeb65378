"""Schema of a board file, validated on load.

Every number is a ``Figure``: a finite, non-negative value with the key of the source it comes
from, and that key must be declared in the board's ``[sources]`` table (``npubench.sourced``:
datasheet, reference manual, paper, measurement, or "assumption" with a reason, each with a
locator and a pinned URL or revision). A missing, negative, infinite or contradictory figure is
rejected with the file and the field named.

What a board says about its toolchains lives in ``[toolchains.<name>]`` tables that each
toolchain plug-in validates itself (``npubench.toolchains``); its firmware SDK facts in
``[firmware]`` and, for emulated boards, its QEMU machine in ``[emulator]``. May import
``npubench.sourced`` and ``npubench.errors``.
"""

from __future__ import annotations

from typing import Any, Literal

from pydantic import BaseModel, Field, model_validator

from npubench.sourced import Figure, Source, SourcedFile, Strict, cited_keys

__all__ = [
    "Board",
    "Cpu",
    "Emulator",
    "Figure",
    "Firmware",
    "Memory",
    "MemoryRole",
    "Npu",
    "Power",
    "Source",
]

CPU_FAMILY = "cpu"  # the family of a board without an NPU (targets/families/cpu.toml)
MemoryRole = Literal["sram", "npu_weights", "npu_data", "flash", "external_ram", "tcm"]
# Figures that cannot be zero: a zero clock, size, rate or bandwidth would divide by zero or
# make a prediction faster than any hardware.
_NONZERO_SUFFIXES = (
    "clock_mhz",
    "size_bytes",
    "macs_per_cycle",
    "bandwidth_bytes_per_cycle",
    "peak_gops",
)


class Cpu(Strict):
    core: str  # e.g. "cortex-m55", "cortex-m4", "riscv32-rv32imc", "xtensa-lx7"
    max_clock_mhz: Figure
    clock_mhz: Figure  # the clock npubench uses by default (the study's 100 MHz where allowed)
    cores: int = Field(default=1, ge=1)


class Npu(Strict):
    family: str  # a family spec in targets/families/<family>.toml
    name: str  # e.g. "ethos-u55-64"
    max_clock_mhz: Figure
    clock_mhz: Figure
    macs_per_cycle: Figure  # int8 MACs per NPU cycle at full utilisation
    cores: int = Field(default=1, ge=1)  # e.g. 8 for a GAP8 cluster
    processors: int | None = Field(default=None, ge=1)  # e.g. 64 for the MAX78000 CNN
    max_layers: Figure | None = None  # a hardware layer-count limit (MAX78000: 32)
    max_channels: Figure | None = None  # channels per layer the NPU accepts
    max_input_hw: Figure | None = None  # largest input height/width per layer
    peak_gops: Figure | None = None  # vendor's peak int8 GOPS (1 MAC = 2 ops)
    # Layers the NPU itself cannot run go to the host CPU, unless the chip has its own cores for
    # them beside the NPU (GAP9: its 9-core cluster runs what NE16 does not), clocked with it.
    fallback_core: str | None = None
    fallback_cores: int = Field(default=1, ge=1)
    weights_memory: str | None = None  # the memory the NPU reads weights from (a Memory.name)
    arena_memory: str | None = None  # the memory holding the tensor arena (a Memory.name)


class Memory(Strict):
    name: str  # unique within a board, e.g. "sram", "flash", "cnn_weights"
    role: MemoryRole
    size_bytes: Figure
    bandwidth_bytes_per_cycle: Figure | None = None  # at the clock of ``clock_domain``
    latency_cycles: Figure | None = None
    burst_bytes: Figure | None = None  # the burst length the NPU's DMA uses on this memory
    clock_domain: Literal["cpu", "npu", "memory"] = "cpu"
    clock_mhz: Figure | None = None  # only when clock_domain == "memory"
    instances: int = Field(default=1, ge=1)  # identical banks (size_bytes is per instance)
    shared_by: int = Field(default=1, ge=1)  # processors sharing one instance

    @property
    def capacity_bytes(self) -> int:
        return int(self.size_bytes.value) * self.instances


class Power(Strict):
    """Board-level power figures (mW) at the default clock."""

    active_cpu_mw: Figure
    active_npu_mw: Figure | None = None  # CPU + NPU both busy
    idle_mw: Figure
    sleep_mw: Figure | None = None
    level: Literal["chip", "board"] = "board"  # where the figures were taken
    voltage_v: Figure | None = None


class Firmware(Strict):
    """How the generated firmware project talks to this board (``npubench measure``)."""

    sdk: str  # a module of npubench.measure.firmware.sdks: msdk, himax_we2, ...
    timebase: str  # the timer the harness reads, and whether it is cycle-accurate
    host_link: str  # the serial link the protocol runs over
    marker_pin: str  # the GPIO the harness toggles per stage (check the schematic)
    baud: int = Field(default=115200, gt=0)
    port_example: str = "/dev/ttyACM0"
    supply: str = "3.3 V"


class Emulator(Strict):
    """An emulated board: the QEMU machine and the harness port that runs on it."""

    qemu_machine: str  # e.g. "mps2-an386"
    make_target: str  # the harness Makefile target
    clock_hz: int = Field(gt=0)  # the emulated SysTick/timer clock the port assumes


class Board(SourcedFile):
    """One target: a board, an emulated board, or a bare accelerator configuration."""

    name: str = Field(pattern=r"^[a-z0-9][a-z0-9.\-]*$")
    display_name: str
    vendor: str
    kind: Literal["board", "accelerator", "emulator"] = "board"
    description: str = ""
    # The default toolchain plug-in ("vela", "rknn", "ai8x-synthesis", ...); None for a chip whose
    # vendor tool npubench has no adapter for (``vendor_tool`` says which): predicted only.
    toolchain: str | None = None
    vendor_tool: str = ""
    toolchains: dict[str, dict[str, Any]] = Field(default_factory=dict)  # per-plug-in tables
    cpu: Cpu
    npu: Npu | None = None
    memories: list[Memory]
    power: Power | None = None
    firmware: Firmware | None = None
    emulator: Emulator | None = None
    allowed_clocks_mhz: list[float] | None = None  # chips that only offer fixed clock steps

    @model_validator(mode="after")
    def _consistent(self) -> Board:
        problems: list[str] = []
        if self.cpu.clock_mhz.value > self.cpu.max_clock_mhz.value:
            problems.append(
                f"cpu.clock_mhz ({self.cpu.clock_mhz.value:g}) exceeds cpu.max_clock_mhz "
                f"({self.cpu.max_clock_mhz.value:g})"
            )
        if self.npu and self.npu.clock_mhz.value > self.npu.max_clock_mhz.value:
            problems.append(
                f"npu.clock_mhz ({self.npu.clock_mhz.value:g}) exceeds npu.max_clock_mhz "
                f"({self.npu.max_clock_mhz.value:g})"
            )
        for path, figure in self.figures():
            if figure.value == 0 and path.endswith(_NONZERO_SUFFIXES):
                problems.append(f"{path} is zero")
        names = [m.name for m in self.memories]
        if len(set(names)) != len(names):
            problems.append(f"memories: duplicate names in {names}")
        for m in self.memories:
            if (m.clock_domain == "memory") != (m.clock_mhz is not None):
                problems.append(
                    f"memories.{m.name}: clock_mhz is required exactly when clock_domain = 'memory'"
                )
        if self.npu and self.npu.family == CPU_FAMILY:
            problems.append(f"npu.family {CPU_FAMILY!r}: a board without an NPU omits [npu]")
        if self.npu:
            for field_name in ("weights_memory", "arena_memory"):
                ref = getattr(self.npu, field_name)
                if ref is not None and ref not in names:
                    problems.append(f"npu.{field_name}: memory {ref!r} is not among {names}")
        if self.power:
            if self.power.idle_mw.value > self.power.active_cpu_mw.value:
                problems.append("power.idle_mw exceeds power.active_cpu_mw")
            if self.power.sleep_mw and self.power.sleep_mw.value > self.power.idle_mw.value:
                problems.append("power.sleep_mw exceeds power.idle_mw")
        if self.allowed_clocks_mhz is not None and any(
            not (0 < c < float("inf")) for c in self.allowed_clocks_mhz
        ):
            problems.append("allowed_clocks_mhz: every clock must be a finite positive number")
        if problems:
            raise ValueError("; ".join(problems))
        return self

    def figures(self) -> list[tuple[str, Figure]]:
        """Every Figure in the board with its dotted path."""
        found: list[tuple[str, Figure]] = []

        def walk(obj: object, path: str) -> None:
            if isinstance(obj, Figure):
                found.append((path, obj))
            elif isinstance(obj, BaseModel):
                for key in type(obj).model_fields:
                    walk(getattr(obj, key), f"{path}.{key}" if path else key)
            elif isinstance(obj, list):
                for item in obj:
                    walk(item, f"{path}.{getattr(item, 'name', '?')}")

        walk(self, "")
        return found

    def cited(self) -> list[tuple[str, str]]:
        """(field, source key) of every figure: what ``targets show`` lists with its source."""
        return [(p, k) for p, k in cited_keys(self) if not p.startswith("sources")]

    def memory(self, name: str) -> Memory:
        for m in self.memories:
            if m.name == name:
                return m
        raise KeyError(name)

    def memories_with_role(self, role: str) -> list[Memory]:
        return [m for m in self.memories if m.role == role]

    def toolchain_names(self) -> list[str]:
        """The default toolchain first, then the others the board configures."""
        first = [self.toolchain] if self.toolchain else []
        return first + [n for n in self.toolchains if n != self.toolchain]

    def toolchain_table(self, name: str) -> dict[str, Any]:
        return dict(self.toolchains.get(name, {}))

    @property
    def default_clock_mhz(self) -> float:
        return (self.npu.clock_mhz if self.npu else self.cpu.clock_mhz).value

    @property
    def has_npu(self) -> bool:
        return self.npu is not None

    @property
    def family(self) -> str:
        """The NPU family, or "cpu" for a board without an NPU."""
        return self.npu.family if self.npu else "cpu"
