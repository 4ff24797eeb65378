"""Firmware projects that run the npubench harness on a board, for the SDK its board file names.

``generate_project(board, prepared_model, out_dir)`` writes a complete project: the harness core
(copied unchanged), a port for the SDK (UART link, cycle-counter time base, stage-marker GPIO),
the model in the form that SDK runs (npubench's generated C, a C array of the int8 or
Vela-compiled ``.tflite`` for TFLM, or the place where the vendor tool's output goes), build
files, a README (build, flash, marker pin, power wiring) and ``npb_project.json``.

Which SDK, and the board's timebase, host link, marker pin, baud rate, port and supply, come
from the board file's ``[firmware]`` table; what the SDK itself needs comes from its module in
``measure.firmware.sdks`` (msdk, himax_we2, mcuxpresso, gap_sdk, stm32h7, stm32n6, esp_idf,
duo_linux). A board without ``[firmware]`` has no project generator.

May import the foundation modules, ``targets``, ``analysis``, ``compilers``, ``toolchains`` and
the sibling ``measure.firmware`` modules.
"""

from __future__ import annotations

import shutil
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from npubench import __version__
from npubench.measure.firmware.common import (
    FirmwareError,
    ProjectManifest,
    copy_harness,
    write_template,
)
from npubench.measure.firmware.sdks import Job, ModelInfo, Sdk, board_file, get_sdk
from npubench.targets import Board
from npubench.targets.schema import Firmware


@dataclass(frozen=True)
class ProjectTarget:
    """A board and the SDK its ``[firmware]`` table names: what a project is generated for."""

    board: Board
    firmware: Firmware
    sdk: Sdk

    @property
    def name(self) -> str:
        """The project family (the SDK's template folder): ``himax-we2``, ``gap-sdk``, ..."""
        return self.sdk.name

    @property
    def model_kind(self) -> str:
        return self.sdk.model_kind

    @property
    def mcpu(self) -> str | None:
        return self.sdk.mcpu(self.board)

    def flash_command(self, model: ModelInfo) -> str:
        return (
            self.sdk.flash_command.replace("@@BOARDNAME@@", self.board.name)
            .replace("@@PORT@@", self.firmware.port_example)
            .replace("@@BAUD@@", str(self.firmware.baud))
            .replace("@@CVIMODEL@@", f"{model.name}.cvimodel")
            .replace("@@GPIO@@", "N")
        )


def board_sdks() -> dict[str, str]:
    """Every catalogued board with a ``[firmware]`` table -> its project family."""
    from npubench.targets import all_targets

    return {
        name: get_sdk(board.firmware.sdk).name
        for name, board in sorted(all_targets().items())
        if board.firmware is not None
    }


def __getattr__(name: str) -> Any:
    # BOARD_FAMILY reads the catalogue: computed when asked for, not when this module loads.
    if name == "BOARD_FAMILY":
        return board_sdks()
    raise AttributeError(f"module {__name__!r} has no attribute {name!r}")


def family_for(board: Board | str) -> ProjectTarget:
    """``board`` with the SDK its ``[firmware]`` table names; a FirmwareError if it has none."""
    if isinstance(board, str):
        from npubench.targets import get_target

        board = get_target(board)
    if board.firmware is None:
        with_one = ", ".join(board_sdks())
        raise FirmwareError(
            f"no firmware project generator for {board.name}: {board_file(board)} has no "
            "[firmware] table",
            hint=f"add a [firmware] table (sdk, timebase, host_link, marker_pin, ...) to that "
            f"file; boards with one: {with_one}; emulated boards (qemu-*) are built and run "
            "directly by `npubench measure`",
        )
    try:
        sdk = get_sdk(board.firmware.sdk)
    except FirmwareError as e:
        raise FirmwareError(f"{board_file(board)}: [firmware]: {e.message}", hint=e.hint) from None
    return ProjectTarget(board, board.firmware, sdk)


def generate_project(
    board: Board | str,
    prepared_model: Any,
    out_dir: Path | str,
    *,
    vendor_artifact: Path | None = None,
    arena_bytes: int | None = None,
) -> Path:
    """Writes the firmware project for ``board`` running ``prepared_model`` into ``out_dir``.

    ``prepared_model`` is a ``PreparedModel`` (int8_tflite, sha256, name, input/output shape).
    ``vendor_artifact`` is a vendor tool's output to embed instead of asking for it (a
    Vela/Neutron-converted .tflite, a .cvimodel, or a folder with cnn.c/cnn.h/weights.h or
    network.c). Returns ``out_dir``.
    """
    if isinstance(board, str):
        from npubench.targets import get_target

        board = get_target(board)
    target = family_for(board)
    sdk, fw = target.sdk, target.firmware
    model = ModelInfo.of(prepared_model)
    out = Path(out_dir)
    if out.exists() and any(out.iterdir()):
        if not (out / "npb_project.json").is_file():
            raise FirmwareError(
                f"{out} exists and is not an npubench firmware project",
                hint="give an empty or new folder",
            )
        shutil.rmtree(out)  # regenerate a previous project from scratch
    out.mkdir(parents=True, exist_ok=True)
    harness = copy_harness(out)
    parts = sdk.write(Job(board, fw, model, out, vendor_artifact, arena_bytes))
    flash = target.flash_command(model)
    manifest = ProjectManifest(
        board=board.name,
        family=sdk.name,
        sdk=sdk.title,
        model=model.name,
        model_sha256=model.sha256,
        model_hash16=model.hash16,
        model_kind=sdk.model_kind,
        cpu=board.cpu.core,
        build_command=sdk.build_command,
        flash_command=flash,
        marker_pin=fw.marker_pin,
        baud=fw.baud,
        build_files=parts.build_files,
        harness_files=harness,
        port_files=parts.port_files,
        model_files=parts.model_files,
        vendor_files=parts.vendor_files,
        model_array=parts.model_array,
        mcpu=target.mcpu,
        notes=parts.notes,
    )
    readme = {
        "MODEL": model.name,
        "BOARD": board.name,
        "BOARD_DISPLAY": board.display_name,
        "NPUBENCH_VERSION": __version__,
        "MODEL_SPEC_HINT": f"<the spec that prepared {model.name}>",
        "SDK": sdk.title,
        "SDK_SHORT": sdk.short,
        "SDK_REQUIREMENTS": sdk.requirements,
        "MODEL_DESC": parts.values.get("MODEL_DESC", f"`{model.name}` ({sdk.model_kind})"),
        "MODEL_HASH16": model.hash16,
        "TIMEBASE": fw.timebase,
        "HOST_LINK": fw.host_link,
        "MARKER_PIN": manifest.marker_pin,
        "MODEL_FILES_DESC": parts.values["MODEL_FILES_DESC"],
        "VENDOR_STEPS": parts.values.get("VENDOR_STEPS", ""),
        "BUILD_COMMAND": sdk.build_command,
        "FLASH_COMMAND": flash,
        "PORT_EXAMPLE": fw.port_example,
        "BAUD_FLAG": "" if fw.baud == 115200 else f" --baud {fw.baud}",
        "SUPPLY": fw.supply,
        "NOTES": "\n".join(f"- {n}" for n in parts.notes),
    }
    write_template("common", "README.md", out, "README.md", readme)
    manifest.write(out)
    return out
