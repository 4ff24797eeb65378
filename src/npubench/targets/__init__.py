"""The target catalogue: every board described as data, one TOML file per board.

May import ``npubench.errors`` only. Board files live in ``targets/boards/`` (and in any folder
named by ``NPUBENCH_BOARDS_PATH``); ``schema`` validates them on load, ``catalogue`` finds them.
Adding a board is adding a file.
"""

from npubench.targets.catalogue import all_targets, get_target, target_names
from npubench.targets.schema import Board

__all__ = ["Board", "all_targets", "get_target", "target_names"]
