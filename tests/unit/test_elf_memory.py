"""elf_memory on small Cortex-M images linked here with known object sizes.

Two layouts: read-only data in its own section (the counting images' linker scripts) and
merged into .text (the measurement harness's scripts). Needs arm-none-eabi-gcc (skipped
without it); each image builds in well under a second.
"""

from __future__ import annotations

import shutil
import subprocess
from pathlib import Path

import pytest

from npubench.errors import MeasurementError
from npubench.measure.icount.elf_memory import elf_memory

CC = "arm-none-eabi-gcc"
pytestmark = pytest.mark.skipif(shutil.which(CC) is None, reason=f"{CC} not installed")

SOURCE = """
#include <stdint.h>
const int8_t npb_model_t3[1000] = {1};
const int8_t npb_model_t7[24] = {2};
const int32_t npb_model_op0_mult[16] = {3};
static int8_t npb_model_arena[4096];
int32_t counter = 5;
int8_t *arena_ptr(void) { return npb_model_arena; }
int sum(int n) {
    int s = counter;
    for (int i = 0; i < n; ++i)
        s += npb_model_t3[i] + npb_model_t7[i % 24] + npb_model_op0_mult[i % 16];
    return s;
}
void Reset_Handler(void) { (void)sum(10); (void)arena_ptr(); for (;;) {} }
"""

SEPARATE = """
MEMORY { CODE (rx) : ORIGIN = 0x0, LENGTH = 1M  RAM (rwx) : ORIGIN = 0x20000000, LENGTH = 1M }
ENTRY(Reset_Handler)
SECTIONS {
  .text : { *(.text*) } > CODE
  .rodata : { *(.rodata*) } > CODE
  .data : { *(.data*) } > RAM AT > CODE
  .bss (NOLOAD) : { *(.bss*) *(COMMON) } > RAM
}
"""

MERGED = SEPARATE.replace(
    ".text : { *(.text*) } > CODE\n  .rodata : { *(.rodata*) } > CODE",
    ".text : { *(.text*) *(.rodata*) } > CODE",
)


def _link(tmp_path: Path, script: str) -> Path:
    (tmp_path / "m.c").write_text(SOURCE)
    (tmp_path / "m.ld").write_text(script)
    elf = tmp_path / "m.elf"
    subprocess.run(
        [CC, "-mcpu=cortex-m4", "-mthumb", "-O2", "-std=c99", "-nostdlib", "-ffunction-sections",
         "-fdata-sections", "-T", str(tmp_path / "m.ld"), str(tmp_path / "m.c"), "-o", str(elf)],
        check=True,
        capture_output=True,
    )  # fmt: skip
    return elf


@pytest.mark.parametrize("layout", ["separate", "merged"])
def test_sections_and_symbols(tmp_path: Path, layout: str) -> None:
    mem = elf_memory(_link(tmp_path, SEPARATE if layout == "separate" else MERGED))
    assert mem.weights_bytes == 1000 + 24
    assert mem.op_params_bytes == 16 * 4
    assert mem.arena_bytes == 4096
    assert mem.rodata_bytes >= 1000 + 24 + 64
    assert mem.data_bytes == 4  # counter
    assert mem.bss_bytes >= 4096
    assert 0 < mem.code_bytes < 1000  # three tiny functions, no constant tables
    assert mem.ram_bytes == mem.data_bytes + mem.bss_bytes
    assert mem.flash_bytes == mem.code_bytes + mem.rodata_bytes + mem.data_bytes


def test_both_layouts_agree(tmp_path: Path) -> None:
    (tmp_path / "a").mkdir()
    (tmp_path / "b").mkdir()
    a = elf_memory(_link(tmp_path / "a", SEPARATE))
    b = elf_memory(_link(tmp_path / "b", MERGED))
    assert (a.code_bytes, a.rodata_bytes, a.weights_bytes, a.arena_bytes) == (
        b.code_bytes,
        b.rodata_bytes,
        b.weights_bytes,
        b.arena_bytes,
    )


def test_not_an_elf(tmp_path: Path) -> None:
    bad = tmp_path / "x.elf"
    bad.write_bytes(b"not an elf")
    with pytest.raises(MeasurementError, match="cannot read"):
        elf_memory(bad)
