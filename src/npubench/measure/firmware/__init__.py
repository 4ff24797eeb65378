"""Firmware projects that run the npubench measurement harness on real boards.

``generate_project(board, prepared_model, out_dir)`` writes a project for the SDK the board
file's ``[firmware]`` table names (one module per SDK in ``sdks``: MSDK, Himax WE2 SDK,
MCUXpresso, GAP SDK, STM32CubeH7/N6, ESP-IDF, Milk-V Duo Linux) with the harness core, an SDK
port, the embedded model, build files and a README. See ``projects``.

May import what ``projects`` imports.
"""

from typing import Any

from npubench.measure.firmware.common import FirmwareError, ProjectManifest
from npubench.measure.firmware.projects import (
    ProjectTarget,
    board_sdks,
    family_for,
    generate_project,
)
from npubench.measure.firmware.sdks import Sdk, get_sdk, sdk_names

__all__ = [
    "BOARD_FAMILY",
    "FirmwareError",
    "ProjectManifest",
    "ProjectTarget",
    "Sdk",
    "board_sdks",
    "family_for",
    "generate_project",
    "get_sdk",
    "sdk_names",
]


def __getattr__(name: str) -> Any:
    # BOARD_FAMILY (board -> project family) reads the catalogue: computed when asked for.
    if name == "BOARD_FAMILY":
        return board_sdks()
    raise AttributeError(f"module {__name__!r} has no attribute {name!r}")
