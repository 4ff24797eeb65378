"""Child processes (converters, compilers, emulators, toolchain workers) that never outlive us.

May import nothing from npubench. Every tool npubench starts runs in a process group of its own
(``start_new_session``), so that the tool's own children (onnx2tf starts ``onnxsim``, a
toolchain worker starts its compiler) belong to it too. When npubench is interrupted, times a
tool out or fails while one runs, the whole group is terminated, then killed: a Ctrl-C leaves
no converter running for half a minute after the prompt came back.
"""

from __future__ import annotations

import contextlib
import os
import signal
import subprocess
import time
from collections.abc import Mapping, Sequence
from pathlib import Path
from typing import Any

_live: dict[int, subprocess.Popen[Any]] = {}
_GRACE_S = 2.0


def _signal_group(pgid: int, sig: int) -> bool:
    try:
        os.killpg(pgid, sig)
    except (ProcessLookupError, PermissionError):
        return False
    return True


def _group_alive(pgid: int) -> bool:
    return _signal_group(pgid, 0)


def kill_group(proc: subprocess.Popen[Any]) -> None:
    """Terminate ``proc``'s process group, then kill what is left after a short grace."""
    pgid = proc.pid
    if not _signal_group(pgid, signal.SIGTERM):
        return
    deadline = time.monotonic() + _GRACE_S
    while time.monotonic() < deadline:
        if proc.poll() is not None and not _group_alive(pgid):
            return
        time.sleep(0.05)
    _signal_group(pgid, signal.SIGKILL)
    with contextlib.suppress(subprocess.TimeoutExpired):
        proc.wait(timeout=_GRACE_S)


def popen(cmd: Sequence[str | os.PathLike[str]], **kwargs: Any) -> subprocess.Popen[Any]:
    """``subprocess.Popen`` in a new process group, registered until ``release``."""
    proc = subprocess.Popen(list(map(str, cmd)), start_new_session=True, **kwargs)
    _live[proc.pid] = proc
    return proc


def release(proc: subprocess.Popen[Any]) -> None:
    """Stop tracking ``proc`` (after it ended or was stopped by its owner)."""
    _live.pop(proc.pid, None)


def run(
    cmd: Sequence[str | os.PathLike[str]],
    *,
    input: str | bytes | None = None,
    timeout: float | None = None,
    text: bool = False,
    cwd: str | Path | None = None,
    env: Mapping[str, str] | None = None,
    stdout: Any = subprocess.PIPE,
    stderr: Any = subprocess.PIPE,
) -> subprocess.CompletedProcess[Any]:
    """Like ``subprocess.run(capture_output=True)``, but the whole process group is stopped on
    a timeout (``subprocess.TimeoutExpired`` is raised after) or on any exception, Ctrl-C
    included. Leftover processes of the group are stopped when the tool itself has ended."""
    proc = popen(
        cmd,
        stdin=subprocess.PIPE if input is not None else subprocess.DEVNULL,
        stdout=stdout,
        stderr=stderr,
        text=text,
        cwd=cwd,
        env=dict(env) if env is not None else None,
    )
    try:
        out, err = proc.communicate(input, timeout=timeout)
    except subprocess.TimeoutExpired:
        kill_group(proc)
        out, err = proc.communicate()
        raise subprocess.TimeoutExpired(proc.args, timeout or 0, output=out, stderr=err) from None
    except BaseException:
        kill_group(proc)
        raise
    finally:
        release(proc)
    if _group_alive(proc.pid):  # a daemon the tool left behind
        kill_group(proc)
    return subprocess.CompletedProcess(proc.args, proc.returncode, out, err)


def terminate_all() -> int:
    """Stop every tracked process group (on interrupt); returns how many were running."""
    procs = list(_live.values())
    for proc in procs:
        kill_group(proc)
        release(proc)
    return len(procs)
