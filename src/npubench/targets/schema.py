"""Schema of a board file, validated on load.

Every number is a ``Figure``: a value with the key of the source it comes from, and that key
must be declared in the board's ``[sources]`` table (datasheet, reference manual, paper,
measurement, or "assumption" with a reason). A missing, negative or contradictory figure is
rejected with the file and the field named.
"""

from __future__ import annotations

from typing import Literal

from pydantic import BaseModel, ConfigDict, Field, model_validator

NpuFamily = Literal[
    "ethos-u",  # Arm Ethos-U55/U65/U85, compiled by Vela
    "max78000-cnn",  # ADI MAX78000/MAX78002 CNN accelerator
    "neutron",  # NXP eIQ Neutron
    "gap-cluster",  # GreenWaves GAP8/GAP9 RISC-V cluster
    "ne16",  # GreenWaves GAP9 NE16
    "cvitek-tpu",  # Sophgo/CVITEK TPU
    "neural-art",  # ST Neural-ART
    "mvp",  # Silicon Labs MVP matrix accelerator
    "cpu",  # no NPU: a plain MCU CPU baseline
]

MemoryRole = Literal["sram", "npu_weights", "npu_data", "flash", "external_ram", "tcm"]


class _Strict(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)


class Figure(_Strict):
    """A number from a named source."""

    value: float = Field(ge=0)
    source: str = Field(min_length=1)
    note: str = ""


class Source(_Strict):
    """Where figures come from."""

    kind: Literal[
        "datasheet",
        "reference-manual",
        "paper",
        "measurement",
        "vendor-tool",
        "assumption",
        "product-page",
        "application-note",
    ]
    title: str = Field(min_length=1)
    url: str = ""


class Cpu(_Strict):
    core: str  # e.g. "cortex-m55", "cortex-m4", "riscv32-rv32imc", "xtensa-lx7"
    max_clock_mhz: Figure
    clock_mhz: Figure  # the clock npubench uses by default (the study's 100 MHz where allowed)
    cores: int = Field(default=1, ge=1)


class Npu(_Strict):
    family: NpuFamily
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


class Memory(_Strict):
    name: str  # unique within a board, e.g. "sram", "flash", "cnn_weights"
    role: MemoryRole
    size_bytes: Figure
    bandwidth_bytes_per_cycle: Figure | None = None  # at the clock of ``clock_domain``
    latency_cycles: Figure | None = None
    clock_domain: Literal["cpu", "npu", "memory"] = "cpu"
    clock_mhz: Figure | None = None  # only when clock_domain == "memory"
    instances: int = Field(default=1, ge=1)  # identical banks (size_bytes is per instance)
    shared_by: int = Field(default=1, ge=1)  # processors sharing one instance

    @property
    def capacity_bytes(self) -> int:
        return int(self.size_bytes.value) * self.instances


class Power(_Strict):
    """Board-level power figures (mW) at the default clock."""

    active_cpu_mw: Figure
    active_npu_mw: Figure | None = None  # CPU + NPU both busy
    idle_mw: Figure
    sleep_mw: Figure | None = None
    level: Literal["chip", "board"] = "board"  # where the figures were taken
    voltage_v: Figure | None = None


class VelaConfig(_Strict):
    """How npubench drives Vela for an Ethos-U board (its own system configuration)."""

    accelerator: str  # ethos-u55-64, ...
    memory_mode: Literal["Sram_Only", "Shared_Sram", "Dedicated_Sram"]
    axi0_port: Literal["Sram", "OffChipFlash", "Dram"]
    axi1_port: Literal["Sram", "OffChipFlash", "Dram"]
    const_memory: str  # name of the memory holding weights (a Memory.name)
    arena_memory: str  # name of the memory holding the tensor arena (a Memory.name)
    arena_cache_bytes: Figure | None = None  # Dedicated_Sram only


class Board(_Strict):
    """One target: a board, an emulated board, or a bare accelerator configuration."""

    name: str = Field(pattern=r"^[a-z0-9][a-z0-9.\-]*$")
    display_name: str
    vendor: str
    kind: Literal["board", "accelerator", "emulator"] = "board"
    description: str = ""
    toolchain: str  # "vela", "ai8x-synthesis", "neutron-converter", "nntool", ...
    sources: dict[str, Source]
    cpu: Cpu
    npu: Npu | None = None
    memories: list[Memory]
    power: Power | None = None
    vela: VelaConfig | None = None
    allowed_clocks_mhz: list[float] | None = None  # chips that only offer fixed clock steps

    @model_validator(mode="after")
    def _consistent(self) -> Board:
        problems: list[str] = []
        for path, figure in self.figures():
            if figure.source not in self.sources:
                problems.append(
                    f"{path}: source {figure.source!r} is not declared in [sources] "
                    f"(declared: {', '.join(sorted(self.sources)) or 'none'})"
                )
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
            if figure.value == 0 and path.endswith(("clock_mhz", "size_bytes", "macs_per_cycle")):
                problems.append(f"{path} is zero")
        names = [m.name for m in self.memories]
        if len(set(names)) != len(names):
            problems.append(f"memories: duplicate names in {names}")
        for m in self.memories:
            if (m.clock_domain == "memory") != (m.clock_mhz is not None):
                problems.append(
                    f"memories.{m.name}: clock_mhz is required exactly when clock_domain = 'memory'"
                )
        if self.power:
            if self.power.idle_mw.value > self.power.active_cpu_mw.value:
                problems.append("power.idle_mw exceeds power.active_cpu_mw")
            if self.power.sleep_mw and self.power.sleep_mw.value > self.power.idle_mw.value:
                problems.append("power.sleep_mw exceeds power.idle_mw")
        if self.npu and self.npu.family == "ethos-u" and self.vela is None:
            problems.append("an ethos-u board needs a [vela] table")
        if self.vela:
            for ref in (self.vela.const_memory, self.vela.arena_memory):
                if ref not in names:
                    problems.append(f"vela: memory {ref!r} is not among memories {names}")
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

    def memory(self, name: str) -> Memory:
        for m in self.memories:
            if m.name == name:
                return m
        raise KeyError(name)

    def memories_with_role(self, role: str) -> list[Memory]:
        return [m for m in self.memories if m.role == role]

    @property
    def default_clock_mhz(self) -> float:
        return (self.npu.clock_mhz if self.npu else self.cpu.clock_mhz).value
