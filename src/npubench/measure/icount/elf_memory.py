"""Memory a linked Cortex-M image needs: code, constants (weights), RAM and the arena.

Sizes come from the ELF's allocated sections and symbols (pyelftools), so they are what the
linker placed, not an estimate. Read-only data that a linker script merged into ``.text`` (the
harness's own scripts do) is told apart from code by its data-object symbols. May import:
npubench.errors and pyelftools.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from pathlib import Path

from elftools.common.exceptions import ELFError
from elftools.elf.constants import SH_FLAGS
from elftools.elf.elffile import ELFFile
from elftools.elf.sections import SymbolTableSection

from npubench.errors import MeasurementError


@dataclass(frozen=True)
class ElfMemory:
    """Bytes per kind of content of one linked image."""

    code_bytes: int  # instructions (and literal pools) in executable sections
    rodata_bytes: int  # read-only data, weights included
    weights_bytes: int  # the model's constant tensors (<prefix>_t<N>)
    op_params_bytes: int  # per-operator parameters and requantisation tables (<prefix>_op<N>_*)
    data_bytes: int  # initialised RAM (.data), also stored in flash
    bss_bytes: int  # zeroed RAM, the arena included
    arena_bytes: int  # the activation arena symbol (<prefix>_arena)

    @property
    def flash_bytes(self) -> int:
        """What the image stores in non-volatile memory."""
        return self.code_bytes + self.rodata_bytes + self.data_bytes

    @property
    def ram_bytes(self) -> int:
        """Static RAM (stack and heap not included)."""
        return self.data_bytes + self.bss_bytes


def _objects(elf: ELFFile) -> list[tuple[str, int, int, int]]:
    """(name, section index, address, size) of every sized data-object symbol."""
    symtab = elf.get_section_by_name(".symtab")
    if not isinstance(symtab, SymbolTableSection):
        raise MeasurementError(
            "the image has no symbol table", hint="link without -s (strip) to size it"
        )
    out = []
    for sym in symtab.iter_symbols():
        if sym["st_info"]["type"] == "STT_OBJECT" and sym["st_size"] > 0:
            shndx = sym["st_shndx"]
            if isinstance(shndx, int):
                out.append((sym.name, shndx, int(sym["st_value"]), int(sym["st_size"])))
    return out


def elf_memory(elf_path: Path, prefix: str = "npb_model") -> ElfMemory:
    """Size the code, constants, RAM and arena of ``elf_path`` (arena: ``<prefix>_arena``)."""
    try:
        with open(elf_path, "rb") as f:
            elf = ELFFile(f)
            return _measure(elf, prefix)
    except (OSError, ELFError) as e:
        raise MeasurementError(
            f"cannot read {elf_path} as an ELF image: {e}", hint="pass a linked .elf file"
        ) from e


def _measure(elf: ELFFile, prefix: str) -> ElfMemory:
    exec_size = rodata = data = bss = 0
    exec_sections: set[int] = set()
    for index, sec in enumerate(elf.iter_sections()):
        flags = sec["sh_flags"]
        if not flags & SH_FLAGS.SHF_ALLOC or sec["sh_size"] == 0:
            continue
        size = int(sec["sh_size"])
        if flags & SH_FLAGS.SHF_EXECINSTR:
            exec_size += size
            exec_sections.add(index)
        elif flags & SH_FLAGS.SHF_WRITE:
            if sec["sh_type"] == "SHT_NOBITS":
                bss += size
            else:
                data += size
        else:
            rodata += size
    weights_re = re.compile(rf"^{re.escape(prefix)}_t\d+$")
    params_re = re.compile(rf"^{re.escape(prefix)}_op\d+_")
    weights = params = arena = data_in_code = 0
    for name, shndx, _, size in _objects(elf):
        if shndx in exec_sections:
            data_in_code += size
        if weights_re.match(name):
            weights += size
        elif params_re.match(name):
            params += size
        elif name == f"{prefix}_arena":
            arena = size
    return ElfMemory(
        code_bytes=exec_size - data_in_code,
        rodata_bytes=rodata + data_in_code,
        weights_bytes=weights,
        op_params_bytes=params,
        data_bytes=data,
        bss_bytes=bss,
        arena_bytes=arena,
    )
