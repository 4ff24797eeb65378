"""Firmware projects that run the npubench measurement harness on real boards.

``generate_project(board, prepared_model, out_dir)`` writes a project for the board family's SDK
(MSDK, Himax WE2 SDK, MCUXpresso, GAP SDK, STM32CubeH7/N6, ESP-IDF, Milk-V Duo Linux) with the
harness core, an SDK port, the embedded model, build files and a README. See ``projects``.

May import what ``projects`` imports (an orchestration module).
"""

from npubench.measure.firmware.common import FirmwareError, ProjectManifest
from npubench.measure.firmware.projects import (
    BOARD_FAMILY,
    FAMILIES,
    family_for,
    generate_project,
)

__all__ = [
    "BOARD_FAMILY",
    "FAMILIES",
    "FirmwareError",
    "ProjectManifest",
    "family_for",
    "generate_project",
]
