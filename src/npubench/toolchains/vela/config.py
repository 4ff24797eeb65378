"""npubench's own Vela system configuration (.ini) for an Ethos-U board, from its board data.

May import ``npubench.errors``, ``npubench.targets`` and ``npubench.toolchains.base``. The board
file's ``[toolchains.vela]`` table (``VelaBoardConfig``) names the accelerator, the memory mode
and what sits behind each AXI port; the memories themselves (sizes, bandwidths, latencies, burst
lengths, clock domains) and which one holds the weights and the arena (``npu.weights_memory``,
``npu.arena_memory``) are the board's own data. Vela (5.2.0) reads, per AXI port memory area
(``Sram``, ``Dram``, ``OnChipFlash``, ``OffChipFlash``): ``<area>_clock_scale`` (bandwidth as a
fraction of one AXI port transfer per NPU cycle), ``<area>_burst_length`` (bytes),
``<area>_read_latency`` and ``<area>_write_latency`` (NPU cycles); and per memory mode:
``const_mem_area``, ``arena_mem_area``, ``cache_mem_area`` (``Axi0``/``Axi1``) and
``arena_cache_size`` (bytes). See ``ethosu/vela/architecture_features.py``
(``_get_vela_config``)."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Literal

from pydantic import Field, ValidationError

from npubench.errors import CompilerError, TargetError
from npubench.sourced import format_validation_error
from npubench.targets.schema import Board, Memory
from npubench.toolchains.base import StrictModel

AxiPort = Literal["Sram", "OffChipFlash", "Dram"]


class VelaBoardConfig(StrictModel):
    """The board file's ``[toolchains.vela]`` table."""

    accelerator: str = Field(pattern=r"^ethos-u(55|65|85)-\d+$")  # ethos-u55-64, ...
    memory_mode: Literal["Sram_Only", "Shared_Sram", "Dedicated_Sram"]
    axi0_port: AxiPort
    axi1_port: AxiPort
    arena_cache_bytes: int | None = Field(default=None, gt=0)  # Dedicated_Sram only


def vela_config(board: Board) -> VelaBoardConfig:
    """The board's Vela table, validated; errors name the board and the field."""
    require_ethos_board(board)
    try:
        return VelaBoardConfig.model_validate(board.toolchain_table("vela"))
    except ValidationError as e:
        raise TargetError(
            format_validation_error(f"board {board.name}: [toolchains.vela]", e),
            "fix the table in the board file (see docs/targets.md)",
        ) from e


def const_memory(board: Board) -> str:
    """The memory holding the compiled model's constants (``npu.weights_memory``)."""
    assert board.npu is not None and board.npu.weights_memory is not None
    return board.npu.weights_memory


def arena_memory(board: Board) -> str:
    assert board.npu is not None and board.npu.arena_memory is not None
    return board.npu.arena_memory


# Bytes one AXI port moves per NPU cycle (Vela's ``axi_port_bytes_per_cycle``): the unit of
# ``<area>_clock_scale``.
AXI_PORT_BYTES = {"ethos-u55": 8.0, "ethos-u65": 16.0, "ethos-u85": 16.0}

# The board schema has no burst length, so Vela's own vela.ini values are used (SRAM 32 bytes for
# U55/U65, 64 for U85; flash and DRAM 128 bytes).
_BURST_BYTES = {"Sram": 32, "OffChipFlash": 128, "Dram": 128}
_BURST_BYTES_U85_SRAM = 64

# Vela's memory modes (config_files/Arm/vela.ini): which AXI port holds constants, the arena and
# the arena cache.
_MODE_PORTS = {
    "Sram_Only": ("Axi0", "Axi0", "Axi0"),
    "Shared_Sram": ("Axi1", "Axi0", "Axi0"),
    "Dedicated_Sram": ("Axi1", "Axi1", "Axi0"),
}

# Vela's built-in defaults per accelerator family (what it picks when given no --system-config /
# --memory-mode), used for ``system_config="vela-default"``.
VELA_DEFAULT_CONFIGS = {
    "ethos-u55": ("Ethos_U55_High_End_Embedded", "Shared_Sram"),
    "ethos-u65": ("Ethos_U65_Client_Server", "Dedicated_Sram_384KB"),
    "ethos-u85": ("Ethos_U85_SYS_DRAM_Mid", "Dedicated_Sram_384KB"),
}


@dataclass(frozen=True)
class VelaSystem:
    """What to pass to Vela: the .ini text (None for Vela's own file) and the section names."""

    ini_text: str | None
    system_config: str
    memory_mode: str
    accelerator: str
    clock_hz: float | None  # None: Vela's own core_clock (vela-default)


def accelerator_family(accelerator: str) -> str:
    """'ethos-u55-64' -> 'ethos-u55'."""
    family = accelerator.rsplit("-", 1)[0]
    if family not in AXI_PORT_BYTES:
        raise CompilerError(
            f"unknown Ethos-U accelerator {accelerator!r}",
            "use one of ethos-u55-32/64/128/256, ethos-u65-256/512, ethos-u85-128...2048",
        )
    return family


def require_ethos_board(board: Board) -> None:
    """Raise CompilerError unless the board has an Ethos-U NPU, a [toolchains.vela] table and
    names its weights and arena memories."""
    if (
        board.npu is None
        or board.npu.family != "ethos-u"
        or "vela" not in board.toolchains
        or board.npu.weights_memory is None
        or board.npu.arena_memory is None
    ):
        family = board.npu.family if board.npu else "no NPU"
        raise CompilerError(
            f"target {board.name!r} is not an Ethos-U target ({family}): "
            "Vela cannot compile for it",
            "choose an ethos-u target (e.g. hx-we2, alif-e7-hp, corstone-300, ethos-u55-64)",
        )


def _section_name(text: str) -> str:
    return text.replace("-", "_").replace(".", "p")


def system_config_name(board: Board, clock_mhz: float) -> str:
    """The [System_Config.<name>] npubench writes for a board at a clock."""
    return f"npubench_{_section_name(board.name)}_{_section_name(f'{clock_mhz:g}')}MHz"


def memory_mode_name(board: Board) -> str:
    return f"npubench_{vela_config(board).memory_mode}"


def _cache_memory(board: Board) -> Memory:
    """The SRAM that serves as Vela's arena cache in Dedicated_Sram mode."""
    for role in ("npu_data", "sram"):
        for m in board.memories_with_role(role):
            if m.name != arena_memory(board):
                return m
    raise CompilerError(
        f"board {board.name!r} uses Dedicated_Sram but has no SRAM besides the arena memory",
        "add a memory with role 'sram' or 'npu_data' for the NPU's arena cache",
    )


def port_memories(board: Board) -> tuple[Memory, Memory]:
    """The board memories behind AXI port 0 and AXI port 1 in the board's memory mode."""
    if vela_config(board).memory_mode == "Dedicated_Sram":
        return _cache_memory(board), board.memory(arena_memory(board))
    return board.memory(arena_memory(board)), board.memory(const_memory(board))


def _domain_clock_mhz(memory: Memory, cpu_mhz: float, npu_mhz: float) -> float:
    if memory.clock_domain == "memory":
        assert memory.clock_mhz is not None  # the schema enforces it
        return memory.clock_mhz.value
    return cpu_mhz if memory.clock_domain == "cpu" else npu_mhz


def _port_lines(
    board: Board, area: str, memory: Memory, cpu_mhz: float, npu_mhz: float, family: str
) -> list[str]:
    if memory.bandwidth_bytes_per_cycle is None or memory.latency_cycles is None:
        raise CompilerError(
            f"board {board.name!r}: memory {memory.name!r} (AXI {area}) has no "
            "bandwidth_bytes_per_cycle or latency_cycles, which Vela needs",
            f"add both figures to memories.{memory.name} in the board file",
        )
    # Bandwidth and latency are given in the memory's own clock domain; Vela wants them per NPU
    # cycle, so a memory on a fixed clock gets relatively faster when the NPU is slowed down.
    ratio = _domain_clock_mhz(memory, cpu_mhz, npu_mhz) / npu_mhz
    bytes_per_npu_cycle = memory.bandwidth_bytes_per_cycle.value * ratio
    latency = max(0, round(memory.latency_cycles.value / ratio))
    axi_bytes = AXI_PORT_BYTES[family]
    if memory.burst_bytes is not None:
        burst = round(memory.burst_bytes.value)
    elif (area, family) == ("Sram", "ethos-u85"):
        burst = _BURST_BYTES_U85_SRAM
    else:
        burst = _BURST_BYTES[area]
    # Flash is read-only for the NPU: vela.ini gives it no write latency.
    write_latency = 0 if memory.role == "flash" else latency
    return [
        f"; {area} = board memory {memory.name!r} ({memory.role}, "
        f"{memory.bandwidth_bytes_per_cycle.value:g} B/cycle at {ratio * npu_mhz:g} MHz)",
        f"{area}_clock_scale={bytes_per_npu_cycle / axi_bytes:.6g}",
        f"{area}_burst_length={burst}",
        f"{area}_read_latency={latency}",
        f"{area}_write_latency={write_latency}",
    ]


def arena_cache_bytes(board: Board) -> int:
    """The arena size limit npubench gives Vela: the arena SRAM, or the cache in Dedicated_Sram."""
    v = vela_config(board)
    if v.memory_mode == "Dedicated_Sram":
        if v.arena_cache_bytes is not None:
            return v.arena_cache_bytes
        return int(_cache_memory(board).size_bytes.value)
    return int(board.memory(arena_memory(board)).size_bytes.value)


def system_config_ini(board: Board, clock_mhz: float | None = None) -> str:
    """npubench's Vela configuration file for ``board`` at ``clock_mhz`` (default: board clock).

    A clock given here applies to both the CPU and the NPU (the study's equal-clock rule), so
    memories in the "cpu" and "npu" clock domains keep their per-cycle figures, and memories with
    their own clock are rescaled to NPU cycles.
    """
    require_ethos_board(board)
    assert board.npu is not None
    npu_mhz = float(clock_mhz) if clock_mhz is not None else board.npu.clock_mhz.value
    if npu_mhz <= 0:
        raise CompilerError(f"clock {npu_mhz:g} MHz is not positive", "give a clock in MHz > 0")
    if npu_mhz > board.npu.max_clock_mhz.value:
        raise CompilerError(
            f"clock {npu_mhz:g} MHz exceeds {board.name}'s NPU maximum "
            f"({board.npu.max_clock_mhz.value:g} MHz)",
            f"choose a clock up to {board.npu.max_clock_mhz.value:g} MHz",
        )
    cpu_mhz = npu_mhz if clock_mhz is not None else board.cpu.clock_mhz.value
    v = vela_config(board)
    family = accelerator_family(v.accelerator)
    mem0, mem1 = port_memories(board)
    lines = [
        f"; npubench system configuration for {board.name} ({board.display_name})",
        f"; generated from the board file; NPU and CPU at {npu_mhz:g} / {cpu_mhz:g} MHz",
        f"[System_Config.{system_config_name(board, npu_mhz)}]",
        f"core_clock={npu_mhz:g}e6",
        f"axi0_port={v.axi0_port}",
        f"axi1_port={v.axi1_port}",
        *_port_lines(board, v.axi0_port, mem0, cpu_mhz, npu_mhz, family),
    ]
    if v.axi1_port != v.axi0_port:
        lines += _port_lines(board, v.axi1_port, mem1, cpu_mhz, npu_mhz, family)
    const_port, arena_port, cache_port = _MODE_PORTS[v.memory_mode]
    lines += [
        "",
        f"; memory mode {v.memory_mode}: constants in {const_memory(board)!r}, "
        f"arena in {arena_memory(board)!r}",
        f"[Memory_Mode.{memory_mode_name(board)}]",
        f"const_mem_area={const_port}",
        f"arena_mem_area={arena_port}",
        f"cache_mem_area={cache_port}",
        # Vela's arena size limit: a hard limit on the cache in Dedicated_Sram, and the memory
        # target of the Performance scheduler in the SRAM modes.
        f"arena_cache_size={arena_cache_bytes(board)}",
        "",
    ]
    return "\n".join(lines)


def board_system(board: Board, clock_mhz: float | None, system_config: str) -> VelaSystem:
    """The configuration to compile with: npubench's ("board") or Vela's own ("vela-default")."""
    require_ethos_board(board)
    assert board.npu is not None
    accelerator = vela_config(board).accelerator
    if system_config == "vela-default":
        if clock_mhz is not None:
            raise CompilerError(
                "a clock cannot be given with system_config='vela-default'",
                "Vela's built-in system configs fix their own core clock; drop clock_mhz",
            )
        sysname, mode = VELA_DEFAULT_CONFIGS[accelerator_family(accelerator)]
        return VelaSystem(None, sysname, mode, accelerator, None)
    if system_config != "board":
        raise CompilerError(
            f"unknown system_config {system_config!r}",
            "use 'board' (npubench's config from the board file) or 'vela-default'",
        )
    npu_mhz = float(clock_mhz) if clock_mhz is not None else board.npu.clock_mhz.value
    return VelaSystem(
        system_config_ini(board, clock_mhz),
        system_config_name(board, npu_mhz),
        memory_mode_name(board),
        accelerator,
        npu_mhz * 1e6,
    )
