"""Output paths checked before any work starts: a command that will write a file or a folder
says at once, naming the path and the forms it accepts, when it could not.

May import only ``npubench.errors``. Every command that writes where the user says
(``results --export``, ``bench --report``, ``trace analyze --plot``, ``report --out``,
``--html``, ``--figures``) calls ``check_output_path`` first, so that an hour of benchmarking
never ends in "cannot write report.htm". What is refused (``UsageError``, exit status 2):

- a file path with an extension the command does not write (``results --export r.xlsx``);
- a file path that is an existing folder, or a folder path that is an existing file;
- a path below a file (``out.csv/report``), or a folder that cannot be created or written.

Missing folders are created (``create=True``, the default) or named in the error.
"""

from __future__ import annotations

import os
from collections.abc import Sequence
from pathlib import Path

from npubench.errors import UsageError

__all__ = ["check_output_path"]


def _accepted(suffixes: Sequence[str]) -> str:
    return ", ".join(suffixes)


def _blocking_file(path: Path) -> Path | None:
    """The first ancestor of ``path`` that exists as something other than a folder."""
    for parent in reversed(path.parents):
        if parent.exists() and not parent.is_dir():
            return parent
    return None


def _ensure_folder(folder: Path, kind: str, what: str, create: bool) -> None:
    if folder.is_dir():
        return
    blocker = _blocking_file(folder) if not folder.exists() else folder
    if blocker is not None:
        raise UsageError(
            f"{kind} {what}: {blocker} is a file, not a folder",
            "choose a path whose folders are folders",
        )
    if not create:
        raise UsageError(
            f"{kind} {what}: the folder {folder} does not exist",
            "create it first, or choose an existing folder",
        )
    try:
        folder.mkdir(parents=True, exist_ok=True)
    except OSError as e:
        raise UsageError(
            f"{kind} {what}: cannot create the folder {folder}: {e.strerror or e}",
            "choose a writable location",
        ) from e


def check_output_path(
    path: Path | str,
    suffixes: Sequence[str] = (),
    kind: str = "output",
    *,
    create: bool = True,
) -> Path:
    """Check (and prepare) where a command will write; returns the path.

    ``suffixes`` are the file extensions accepted (``(".csv", ".json")``, compared case-blind);
    empty means ``path`` is a folder to write into. ``kind`` names the option in messages
    (``"--export"``). Missing folders are created when ``create`` is true, else refused. Raises
    ``UsageError`` naming the path and the accepted forms.
    """
    path = Path(path).expanduser()
    what = str(path)
    if str(path) in ("", "."):
        path = Path.cwd()
    if not suffixes:
        if path.exists() and not path.is_dir():
            raise UsageError(
                f"{kind} {what} is a file, but a folder is expected",
                f"give a folder path for {kind} (it is created if missing)",
            )
        _ensure_folder(path, kind, what, create)
        if not os.access(path, os.W_OK | os.X_OK):
            raise UsageError(
                f"{kind} {what}: the folder is not writable", "choose a writable folder"
            )
        return path
    accepted = tuple(s.lower() for s in suffixes)
    if path.is_dir():
        raise UsageError(
            f"{kind} {what} is a folder, but a file is expected",
            f"give a file name ending in {_accepted(accepted)}",
        )
    if path.suffix.lower() not in accepted:
        found = path.suffix or "no extension"
        raise UsageError(
            f"{kind} {what}: unknown extension ({found})",
            f"name the file with one of {_accepted(accepted)}",
        )
    folder = path.parent if str(path.parent) else Path.cwd()
    _ensure_folder(folder, kind, what, create)
    if path.exists() and not os.access(path, os.W_OK):
        raise UsageError(f"{kind} {what}: the file is not writable", "choose another file")
    if not os.access(folder, os.W_OK | os.X_OK):
        raise UsageError(
            f"{kind} {what}: the folder {folder} is not writable", "choose a writable folder"
        )
    return path
