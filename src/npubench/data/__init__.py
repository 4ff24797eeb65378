"""Data shipped with npubench: the reference measurements (see reference/README.md).

May import nothing from npubench but ``errors``.
"""

from __future__ import annotations

import os
from importlib import resources
from pathlib import Path

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
