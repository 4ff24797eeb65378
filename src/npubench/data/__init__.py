"""Data shipped with npubench: the reference measurements (see reference/README.md), and the
one way every stage reads its packaged TOML data files.

May import nothing from npubench but ``errors``.
"""

from __future__ import annotations

import os
import tomllib
from importlib import resources
from pathlib import Path
from typing import Any

from npubench.errors import NpubenchError

REFERENCE_ENV = "NPUBENCH_REFERENCE_DIR"


def reference_dir() -> Path:
    """The folder of reference measurements: ``$NPUBENCH_REFERENCE_DIR`` or the shipped copy."""
    env = os.environ.get(REFERENCE_ENV)
    return Path(env) if env else Path(str(resources.files("npubench.data") / "reference"))


def reference_file(name: str) -> Path:
    path = reference_dir() / name
    if not path.is_file():
        raise NpubenchError(
            f"reference file {path} is missing",
            f"restore it, or point ${REFERENCE_ENV} at a folder holding {name}",
        )
    return path


def read_packaged_toml(
    package: str,
    relative: str,
    error: type[NpubenchError] = NpubenchError,
    missing_ok: bool = False,
) -> dict[str, Any] | None:
    """Parse ``relative`` inside ``package`` (package data). A missing file is None when
    ``missing_ok``, else an ``error``; invalid TOML is always an ``error`` naming the file."""
    path = resources.files(package).joinpath(*relative.split("/"))
    name = relative.rsplit("/", 1)[-1]
    try:
        text = path.read_text(encoding="utf-8")
    except FileNotFoundError as e:
        if missing_ok:
            return None
        raise error(f"{relative} is missing", "reinstall npubench (package data)") from e
    try:
        return tomllib.loads(text)
    except tomllib.TOMLDecodeError as e:
        raise error(f"{name} is not valid TOML: {e}", "fix the syntax at the position named") from e
