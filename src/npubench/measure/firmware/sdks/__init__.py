"""The SDKs firmware projects are generated for: one module per SDK, each defining ``SDK``.

A board names its SDK in its board file (``[firmware].sdk = "himax_we2"``, the module's name)
along with what differs per board: the timebase, the host link, the marker pin, the baud rate,
the port and the supply. A module here holds what is the SDK's: its name and requirements, its
build and flash commands, the form the model takes in it, and the writer that lays out the
project (``Sdk``). No module lists boards: adding a board is adding a board file, adding an
SDK is adding a module.

May import the foundation modules, ``targets``, ``analysis``, ``compilers``, ``toolchains`` and
the sibling ``measure.firmware`` modules.
"""

from __future__ import annotations

import importlib
import math
import pkgutil
import re
from collections.abc import Callable
from dataclasses import dataclass, field
from functools import cache
from pathlib import Path
from typing import Any

from npubench.errors import NpubenchError
from npubench.measure.firmware.common import FirmwareError, VendorFile, firmware_model_name
from npubench.targets import Board
from npubench.targets.schema import Firmware


@dataclass(frozen=True)
class ModelInfo:
    """What a generator needs to know about the prepared int8 model."""

    name: str
    tflite: Path
    sha256: str
    input_shape: tuple[int, ...]
    output_shape: tuple[int, ...]

    @classmethod
    def of(cls, prepared: Any) -> ModelInfo:
        return cls(
            name=str(prepared.name),
            tflite=Path(prepared.int8_tflite),
            sha256=str(prepared.sha256),
            input_shape=tuple(int(d) for d in prepared.input_shape),
            output_shape=tuple(int(d) for d in prepared.output_shape),
        )

    @property
    def input_bytes(self) -> int:
        return math.prod(self.input_shape)

    @property
    def output_bytes(self) -> int:
        return math.prod(self.output_shape)

    @property
    def hash16(self) -> str:
        return self.sha256[:16].lower()

    @property
    def fw_name(self) -> str:
        return firmware_model_name(self.name)


@dataclass
class Parts:
    """What one SDK's writer wrote, for the manifest and the README."""

    build_files: list[str] = field(default_factory=list)
    port_files: list[str] = field(default_factory=list)
    model_files: list[str] = field(default_factory=list)
    vendor_files: list[VendorFile] = field(default_factory=list)
    model_array: dict[str, object] | None = None
    values: dict[str, str] = field(default_factory=dict)
    notes: list[str] = field(default_factory=list)


@dataclass(frozen=True)
class Job:
    """One project to write: the board, its ``[firmware]`` table, the model, the output folder,
    and what the caller gave instead of the defaults."""

    board: Board
    firmware: Firmware
    model: ModelInfo
    out: Path
    vendor_artifact: Path | None = None
    arena_bytes: int | None = None


Writer = Callable[[Job], Parts]


@dataclass(frozen=True)
class Sdk:
    """One SDK's facts. ``flash_command`` may hold ``@@BOARDNAME@@``, ``@@PORT@@``, ``@@BAUD@@``
    and ``@@CVIMODEL@@``, filled in per project from the board and its ``[firmware]`` table."""

    name: str  # the project family: its template folder and the manifest's "family"
    title: str  # the manifest's "sdk" and the README's
    short: str  # how the README names it in a sentence
    requirements: str  # what must be installed to build
    model_kind: str  # "cgen" | "tflite-array" | "vendor"
    build_command: str
    flash_command: str
    write: Writer
    arm_gcc: bool = False  # built with arm-none-eabi-gcc for the board's Cortex-M core

    def mcpu(self, board: Board) -> str | None:
        """arm-none-eabi-gcc's ``-mcpu`` for ``board`` (None for a non-Arm SDK)."""
        if not self.arm_gcc:
            return None
        return re.sub(r"^(cortex-m\d+)f$", r"\1", board.cpu.core)  # cortex-m4f: -mcpu=cortex-m4


def sdk_names() -> list[str]:
    """The SDK modules of this package: what ``[firmware].sdk`` may name."""
    return sorted(m.name for m in pkgutil.iter_modules(__path__) if not m.name.startswith("_"))


@cache
def get_sdk(name: str) -> Sdk:
    """The ``SDK`` of module ``name``; an unknown name is a FirmwareError listing the SDKs."""
    if name not in sdk_names():
        raise FirmwareError(
            f"no firmware SDK {name!r}",
            hint=f"[firmware].sdk must be one of {', '.join(sdk_names())} (the modules of "
            "npubench.measure.firmware.sdks)",
        )
    sdk = importlib.import_module(f"{__name__}.{name}").SDK
    assert isinstance(sdk, Sdk)
    return sdk


def marker_fields(job: Job, pattern: str, example: str, hint: str | None = None) -> re.Match[str]:
    """``[firmware].marker_pin`` parsed by the SDK port's pin syntax, or a FirmwareError naming
    the board file, the table and the syntax expected."""
    match = re.fullmatch(pattern, job.firmware.marker_pin.strip())
    if match is None:
        raise FirmwareError(
            f"{board_file(job.board)}: [firmware].marker_pin = {job.firmware.marker_pin!r} is "
            f"not a pin name the {job.firmware.sdk} port can drive",
            hint=hint or f"write it as the SDK names pins, e.g. {example!r}",
        )
    return match


def board_file(board: Board) -> str:
    """The file a board was loaded from, for messages (its name if it has no file)."""
    from npubench.targets.catalogue import board_origin

    try:
        return board_origin(board.name).path
    except NpubenchError:  # a Board built in code, not loaded from the catalogue
        return f"the board file of {board.name}"
