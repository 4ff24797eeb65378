"""Finding and loading board files."""

from __future__ import annotations

import os
import tomllib
from functools import cache
from importlib import resources
from pathlib import Path

from pydantic import ValidationError

from npubench.errors import TargetError, closest_names
from npubench.targets.schema import Board

BOARDS_PATH_ENV = "NPUBENCH_BOARDS_PATH"


def _board_dirs() -> list[Path]:
    dirs = [Path(str(resources.files("npubench.targets") / "boards"))]
    extra = os.environ.get(BOARDS_PATH_ENV, "")
    dirs += [Path(p) for p in extra.split(os.pathsep) if p]
    return dirs


def _format_validation_error(path: Path, err: ValidationError) -> str:
    lines = []
    for e in err.errors():
        where = ".".join(str(p) for p in e["loc"]) or "(board)"
        lines.append(f"{where}: {e['msg']}")
    return f"board file {path} is invalid:\n  " + "\n  ".join(lines)


def load_board_file(path: Path) -> Board:
    """Load and validate one board file; errors name the file and the field."""
    try:
        data = tomllib.loads(path.read_text(encoding="utf-8"))
    except (OSError, UnicodeDecodeError) as e:
        raise TargetError(f"cannot read board file {path}: {e}") from e
    except tomllib.TOMLDecodeError as e:
        raise TargetError(
            f"board file {path} is not valid TOML: {e}", "fix the syntax at the position named"
        ) from e
    try:
        board = Board.model_validate(data)
    except ValidationError as e:
        raise TargetError(
            _format_validation_error(path, e),
            "every figure needs a non-negative value and a declared source",
        ) from e
    if board.name != path.stem:
        raise TargetError(
            f"board file {path}: name {board.name!r} differs from the file name",
            f"rename the file to {board.name}.toml or fix `name`",
        )
    return board


@cache
def _load_all(dirs: tuple[Path, ...]) -> dict[str, Board]:
    boards: dict[str, Board] = {}
    for d in dirs:
        if not d.is_dir():
            continue
        for path in sorted(d.glob("*.toml")):
            board = load_board_file(path)
            boards[board.name] = board  # later folders override built-in boards
    return boards


def all_targets() -> dict[str, Board]:
    """Every known board, by name."""
    return dict(_load_all(tuple(_board_dirs())))


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
