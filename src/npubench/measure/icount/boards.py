"""The emulated cores instruction counting runs on: QEMU machine, -mcpu, linker script.

May import: npubench.errors only.
"""

from __future__ import annotations

from dataclasses import dataclass
from importlib import resources
from pathlib import Path

from npubench.errors import MeasurementError, closest_names

# Same code-generation flags as the measurement harness's QEMU builds (harness/Makefile), so the
# counted instructions are the ones `npubench measure` times. -mfloat-abi=soft also keeps the
# M55 build scalar: MVE needs the FP register file, and GCC 12 does not auto-vectorise these
# kernels with MVE at -O2 even with -mfloat-abi=hard (checked on ic_resnet8: no MVE opcodes).
COMMON_CFLAGS: tuple[str, ...] = (
    "-mthumb",
    "-mfloat-abi=soft",
    "-O2",
    "-g",
    "-ffunction-sections",
    "-fdata-sections",
    "-ffreestanding",
    "-std=c99",
    "-Wall",
    "-Wextra",
    "-Werror",
)
LDFLAGS: tuple[str, ...] = (
    "-nostartfiles",
    "--specs=nano.specs",
    "--specs=nosys.specs",
    "-Wl,--gc-sections",
)


@dataclass(frozen=True)
class IcountCore:
    """One core: the QEMU board that emulates it and how to build for it."""

    core: str  # npubench core name (targets' [cpu].core without a trailing "f")
    machine: str  # qemu-system-arm -M
    mcpu: str  # arm-none-eabi-gcc -mcpu
    linker_script: str  # file in firmware/

    @property
    def cflags(self) -> tuple[str, ...]:
        return (f"-mcpu={self.mcpu}", *COMMON_CFLAGS)


CORES: dict[str, IcountCore] = {
    c.core: c
    for c in (
        IcountCore("cortex-m4", "mps2-an386", "cortex-m4", "icount_an386.ld"),
        IcountCore("cortex-m7", "mps2-an500", "cortex-m7", "icount_an500.ld"),
        IcountCore("cortex-m33", "mps2-an505", "cortex-m33", "icount_an505.ld"),
        IcountCore("cortex-m55", "mps3-an547", "cortex-m55", "icount_an547.ld"),
    )
}


def normalise_core(core: str) -> str:
    """``cortex-m4f`` -> ``cortex-m4`` (the FPU does not change integer kernels)."""
    core = core.strip().lower()
    return core if core in CORES else core.removesuffix("f")


def get_core(core: str) -> IcountCore:
    name = normalise_core(core)
    if name not in CORES:
        near = closest_names(name, list(CORES))
        raise MeasurementError(
            f"no emulated board counts instructions for core {core!r}",
            hint=f"use one of {', '.join(CORES)}" + (f" (did you mean {near[0]}?)" if near else ""),
        )
    return CORES[name]


def firmware_dir() -> Path:
    """The folder with the driver, the linker scripts (package data)."""
    return Path(str(resources.files("npubench.measure.icount") / "firmware"))


def plugin_dir() -> Path:
    return Path(str(resources.files("npubench.measure.icount") / "plugin"))


def harness_dir() -> Path:
    """The measurement harness (its model API, weak stage defaults and Cortex-M start-up)."""
    return Path(str(resources.files("npubench.measure") / "harness"))
