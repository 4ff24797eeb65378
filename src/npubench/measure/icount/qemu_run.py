"""Run a counting image under ``qemu-system-arm`` with the instruction-count plugin.

Returns the raw marker snapshots and what the firmware printed over semihosting. No interrupts,
one vCPU, no ``-icount`` timing: the instruction stream, and so the count, is the same on every
run. May import: npubench.errors, pyelftools and sibling icount modules.
"""

from __future__ import annotations

import shutil
import subprocess
import tempfile
from dataclasses import dataclass
from pathlib import Path

from elftools.elf.elffile import ELFFile
from elftools.elf.sections import SymbolTableSection

from npubench import processes
from npubench.errors import MeasurementError
from npubench.measure.icount.boards import IcountCore
from npubench.measure.icount.build import APT_HINT, qemu_option_path
from npubench.measure.icount.instrument import MARK_FUNCTION

QEMU = "qemu-system-arm"


@dataclass(frozen=True)
class RawRun:
    total: int  # every instruction the image retired, start-up and printing included
    marks: list[int]  # instructions retired before each marker call, in call order
    output: bytes  # the output tensor the firmware printed
    result: int  # its postprocess result
    status: int  # OR of the stage return codes (0 = all succeeded)


def symbol_address(elf: Path, name: str) -> int:
    """Address of a function symbol (Thumb bit cleared)."""
    with open(elf, "rb") as f:
        symtab = ELFFile(f).get_section_by_name(".symtab")
        if not isinstance(symtab, SymbolTableSection):
            raise MeasurementError(f"{elf} has no symbol table", hint="build it without -s")
        for sym in symtab.get_symbol_by_name(name) or []:
            return int(sym["st_value"]) & ~1
    raise MeasurementError(f"{elf} has no symbol {name}", hint="rebuild the counting image")


def _parse_counts(text: str) -> tuple[int, int, list[int]]:
    total, lost, marks = -1, 0, []
    for line in text.splitlines():
        key, _, value = line.partition(" ")
        if key == "total":
            total = int(value)
        elif key == "lost":
            lost = int(value)
        elif key == "mark":
            marks.append(int(value))
    return total, lost, marks


def _parse_output(stdout: str) -> tuple[bytes, int, int]:
    for line in stdout.splitlines():
        if line.startswith("OUT "):
            parts = line.split()
            if len(parts) == 4:
                return bytes.fromhex(parts[1]), _signed32(int(parts[2], 16)), int(parts[3], 16)
    raise MeasurementError(
        f"the counting image printed no OUT line (console: {stdout.strip()[-300:]!r})",
        hint="the firmware faulted or semihosting is off; run the ELF by hand under QEMU",
    )


def _signed32(v: int) -> int:
    return v - (1 << 32) if v >= 1 << 31 else v


def run_counting(elf: Path, core: IcountCore, plugin: Path, timeout_s: float = 600.0) -> RawRun:
    """Run ``elf`` once on ``core``'s board with the plugin and return its counts and output."""
    if shutil.which(QEMU) is None:
        raise MeasurementError(f"{QEMU} not found", hint=APT_HINT)
    mark = symbol_address(elf, MARK_FUNCTION)
    with tempfile.TemporaryDirectory(prefix="npb-icount-") as tmp:
        counts = Path(tmp) / "counts.txt"
        console = Path(tmp) / "semihosting.txt"
        cmd = [
            QEMU,
            "-M",
            core.machine,
            "-display",
            "none",
            "-monitor",
            "none",
            "-serial",
            "null",
            "-chardev",
            f"file,id=semi,path={qemu_option_path(console)}",
            "-semihosting-config",
            "enable=on,target=native,chardev=semi",
            "-kernel",
            str(elf),
            "-plugin",
            f"{qemu_option_path(plugin)},mark={mark:#x},out={qemu_option_path(counts)}",
        ]
        try:
            proc = processes.run(cmd, text=True, timeout=timeout_s)
        except subprocess.TimeoutExpired as e:
            raise MeasurementError(
                f"{core.machine} did not finish within {timeout_s:.0f} s",
                hint="the image may have faulted (it then spins); check the model runs on the host",
            ) from e
        if proc.returncode != 0 or not counts.exists():
            raise MeasurementError(
                f"{QEMU} -M {core.machine} failed (exit {proc.returncode}): "
                f"{proc.stderr.strip()[-500:]}",
                hint="QEMU must be built with TCG plugin support (Debian's 7.2 is)",
            )
        total, lost, marks = _parse_counts(counts.read_text())
        printed = console.read_text() if console.exists() else ""
    if total < 0 or lost:
        raise MeasurementError(
            f"the plugin's count file is incomplete (total={total}, lost marks={lost})",
            hint="too many marker calls for the plugin's buffer; this is an npubench bug",
        )
    output, result, status = _parse_output(printed)
    return RawRun(total, marks, output, result, status)
