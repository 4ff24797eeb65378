"""Running the CLI from tests: in-process (fast) and through the installed console script.

``run_cli`` calls ``npubench.cli.main.run``, which returns the status ``main`` would exit with,
so a test sees exactly what the shell sees. ``run_console_script`` starts the real
``npubench`` executable next to this Python, for the exit-status contract and signals.
"""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import pytest

from npubench.cli.main import run


def run_cli(argv: list[str], capsys: pytest.CaptureFixture[str]) -> tuple[int, str, str]:
    code = run(argv)
    out, err = capsys.readouterr()
    return code, out, err


def console_script() -> Path:
    """The installed ``npubench`` entry point of this environment."""
    script = Path(sys.executable).parent / "npubench"
    if not script.exists():
        pytest.fail(f"the npubench console script is not installed next to {sys.executable}")
    return script


def run_console_script(
    argv: list[str],
    env: dict[str, str] | None = None,
    timeout: float = 300,
    cwd: Path | None = None,
) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [str(console_script()), *argv],
        capture_output=True,
        text=True,
        timeout=timeout,
        env={**os.environ, **(env or {})},
        cwd=cwd,
    )
