"""Finding and loading board files.

Built-in boards live in ``targets/boards/``; folders named in ``$NPUBENCH_BOARDS_PATH`` add
boards, and a board there with a built-in board's name replaces it, which is said on stderr
once and recorded: ``board_origin(name)`` gives the file, its content hash and whether it
shadows a built-in board, and every result's provenance carries it.
"""

from __future__ import annotations

import hashlib
import os
import sys
import tomllib
from dataclasses import dataclass
from functools import cache
from importlib import resources
from pathlib import Path

from npubench.errors import TargetError, closest_names
from npubench.sourced import parse_sourced
from npubench.targets.families import family_names
from npubench.targets.schema import Board

BOARDS_PATH_ENV = "NPUBENCH_BOARDS_PATH"
MAX_BOARD_FILE_BYTES = 1 << 20  # a board file is a few KiB; refuse to parse megabytes


@dataclass(frozen=True)
class BoardOrigin:
    """Where a board came from: its file, the file's content hash, what it replaced."""

    path: str
    sha256: str
    builtin: bool
    shadows: str | None = None  # the built-in file this one replaces

    def to_json(self) -> dict[str, object]:
        return {
            "path": self.path,
            "sha256": self.sha256,
            "builtin": self.builtin,
            "shadows": self.shadows,
        }


def builtin_dir() -> Path:
    return Path(str(resources.files("npubench.targets") / "boards"))


def _board_dirs() -> list[Path]:
    dirs = [builtin_dir()]
    extra = os.environ.get(BOARDS_PATH_ENV, "")
    dirs += [Path(p) for p in extra.split(os.pathsep) if p]
    return dirs


def _read(path: Path) -> bytes:
    try:
        size = path.stat().st_size
        if size > MAX_BOARD_FILE_BYTES:
            raise TargetError(
                f"board file {path} is {size} bytes; a board file is a few KiB of TOML",
                "check the path; move other files out of the boards folder",
            )
        return path.read_bytes()
    except OSError as e:
        raise TargetError(f"cannot read board file {path}: {e}") from e


def load_board_file(path: Path) -> Board:
    """Load and validate one board file; errors name the file and the field."""
    raw = _read(path)
    try:
        data = tomllib.loads(raw.decode("utf-8"))
    except UnicodeDecodeError as e:
        raise TargetError(f"board file {path} is not UTF-8 text: {e}") from e
    except tomllib.TOMLDecodeError as e:
        raise TargetError(
            f"board file {path} is not valid TOML: {e}", "fix the syntax at the position named"
        ) from e
    board = parse_sourced(Board, data, f"board file {path}", TargetError)
    if board.name != path.stem:
        raise TargetError(
            f"board file {path}: name {board.name!r} differs from the file name",
            f"rename the file to {board.name}.toml or fix `name`",
        )
    if board.npu is not None and board.npu.family not in family_names():
        near = closest_names(board.npu.family, family_names())
        raise TargetError(
            f"board file {path}: npu.family {board.npu.family!r} is not a known NPU family",
            f"did you mean {', '.join(near)}?"
            if near
            else f"use one of {', '.join(family_names())} (targets/families/)",
        )
    return board


@cache
def _load_all(dirs: tuple[Path, ...]) -> tuple[dict[str, Board], dict[str, BoardOrigin]]:
    boards: dict[str, Board] = {}
    origins: dict[str, BoardOrigin] = {}
    builtin = dirs[0] if dirs else None
    for d in dirs:
        if not d.is_dir():
            continue
        for path in sorted(d.glob("*.toml")):
            board = load_board_file(path)
            sha = hashlib.sha256(path.read_bytes()).hexdigest()
            shadows = None
            previous = origins.get(board.name)
            if previous is not None:
                shadows = previous.path
                print(
                    f"npubench: board {board.name!r} from {path} replaces {previous.path} "
                    f"(${BOARDS_PATH_ENV})",
                    file=sys.stderr,
                )
            boards[board.name] = board
            origins[board.name] = BoardOrigin(str(path), sha, d == builtin, shadows)
    return boards, origins


def all_targets() -> dict[str, Board]:
    """Every known board, by name."""
    return dict(_load_all(tuple(_board_dirs()))[0])


def board_origin(name: str) -> BoardOrigin:
    """The file a board was loaded from (see the module docstring)."""
    get_target(name)
    return _load_all(tuple(_board_dirs()))[1][name]


def target_names() -> list[str]:
    return sorted(all_targets())


def get_target(name: str) -> Board:
    """One board by name; an unknown name gets the closest known names as a hint."""
    boards = all_targets()
    if name in boards:
        return boards[name]
    near = closest_names(name, list(boards))
    hint = f"did you mean {', '.join(near)}?" if near else "run `npubench targets` for the list"
    raise TargetError(f"unknown target {name!r}", hint)
