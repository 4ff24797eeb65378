"""Driving any toolchain plug-in: options checked, the tool detected, the report cached.

May import ``npubench.errors``, ``npubench.cache``, ``npubench.sourced``, ``npubench.targets``
and the other ``npubench.toolchains`` modules. ``compile_with`` is the one way the pipeline,
the sweeps and ``npubench compile`` run a toolchain:

1. the options (``Options``) and the board's ``[toolchains.<name>]`` table (``BoardConfig``)
   are validated before any work, each error naming the option or the board field;
2. ``detect()`` says whether the tool is here; if not, ``ToolchainMissing`` names the command
   that installs it (exit status 3);
3. the report is cached by content: the model's hashes in the form the tool consumes, the
   board facts that matter (``cache_inputs``), the options, the tool's and the plug-in's
   versions. The tool runs in a fresh folder that becomes the cache entry only when the report
   is complete, so nothing half-written is ever reused or stored. A failure keeps the tool's
   log in ``<cache>/toolchain-failures/`` and names it.
"""

from __future__ import annotations

import json
import shutil
import time
import traceback
from collections.abc import Mapping
from pathlib import Path
from typing import Any

from pydantic import ValidationError

from npubench.cache import cache_key, cache_root, cached_dir, file_sha256
from npubench.errors import CompilerError, NpubenchError, TargetError, ToolchainMissing, UsageError
from npubench.sourced import format_validation_error
from npubench.targets.schema import Board
from npubench.toolchains.base import Artifact, CompileReport, StrictModel, Toolchain
from npubench.toolchains.inputs import CompileInput

REPORT_FILE = "report.json"
WORK_DIR = "work"
# Files larger than this are listed without a content hash (a hash of gigabytes costs time).
HASH_LIMIT_BYTES = 256 << 20


def parse_options(toolchain: Toolchain, options: Mapping[str, Any] | StrictModel) -> StrictModel:
    """The plug-in's options model from a mapping; unknown or bad options are usage errors."""
    if isinstance(options, toolchain.Options):
        return options
    given = dict(options.model_dump() if isinstance(options, StrictModel) else options)
    try:
        return toolchain.Options.model_validate(given)
    except ValidationError as e:
        accepted = ", ".join(toolchain.Options.model_fields) or "none"
        raise UsageError(
            format_validation_error(f"options for {toolchain.name}", e),
            f"{toolchain.name} accepts: {accepted}",
        ) from e


def board_config(toolchain: Toolchain, board: Board) -> StrictModel:
    """The board's ``[toolchains.<name>]`` table, validated by the plug-in."""
    if toolchain.name not in board.toolchain_names():
        named = ", ".join(board.toolchain_names()) or "none"
        raise UsageError(
            f"{toolchain.display_name} does not target {board.name} (its board file names the "
            f"toolchains: {named})",
            f"choose a target whose board file has [toolchains.{toolchain.name}] "
            "(`npubench toolchains list` shows each toolchain's targets)",
        )
    table = board.toolchain_table(toolchain.name)
    try:
        config = toolchain.BoardConfig.model_validate(table)
    except ValidationError as e:
        raise TargetError(
            format_validation_error(f"board {board.name}: [toolchains.{toolchain.name}]", e),
            "fix the table in the board file (docs/targets.md lists each toolchain's keys)",
        ) from e
    problems = toolchain.check_board(board, config)
    if problems:
        raise TargetError(
            f"board {board.name} cannot be compiled by {toolchain.name}: " + "; ".join(problems),
            "fix the board file",
        )
    return config


def require_available(toolchain: Toolchain) -> str:
    """The tool's version; ``ToolchainMissing`` with the install command when absent."""
    info = toolchain.detect()
    if not info.available or info.version is None:
        raise ToolchainMissing(
            f"{toolchain.display_name} ({toolchain.tool}) is not installed here"
            + (f": {info.detail}" if info.detail else ""),
            f"install it: {info.install}" if info.install else None,
        )
    return info.version


def _artifacts(folder: Path) -> list[Artifact]:
    out = []
    for path in sorted(p for p in folder.rglob("*") if p.is_file()):
        size = path.stat().st_size
        digest = file_sha256(path) if size <= HASH_LIMIT_BYTES else "not hashed (too large)"
        out.append(Artifact(str(path.relative_to(folder)), digest, size))
    return out


def _keep_failure_log(key: str, workdir: Path) -> Path | None:
    """Copy the logs of a failed run where the user can read them; None if there are none."""
    logs = [p for p in workdir.rglob("*") if p.is_file() and p.suffix in (".log", ".txt")]
    if not logs:
        return None
    dest = cache_root() / "toolchain-failures" / key[:16]
    dest.mkdir(parents=True, exist_ok=True)
    for p in logs:
        shutil.copyfile(p, dest / p.name)
    return dest


def compile_with(
    toolchain: Toolchain,
    model: CompileInput,
    board: Board,
    options: Mapping[str, Any] | StrictModel | None = None,
    clock_mhz: float | None = None,
) -> CompileReport:
    """Compile ``model`` for ``board`` with ``toolchain`` (see the module docstring)."""
    opts = parse_options(toolchain, options or {})
    config = board_config(toolchain, board)
    version = require_available(toolchain)
    key = cache_key(
        "toolchain",
        toolchain.name,
        toolchain.plugin_version,
        version,
        model.key(toolchain.consumes),
        toolchain.cache_inputs(model, board, config, clock_mhz),
        opts.model_dump(mode="json"),
    )
    started = time.perf_counter()

    def build(folder: Path) -> None:
        work = folder / WORK_DIR
        work.mkdir()
        try:
            report = toolchain.compile(model, board, config, opts, clock_mhz, work)
        except NpubenchError as e:
            kept = _keep_failure_log(key, work)
            if kept is not None and e.hint and str(kept) not in e.hint:
                e.hint = f"{e.hint} (the tool's logs: {kept})"
            elif kept is not None:
                e.hint = f"the tool's logs: {kept}"
            raise
        except Exception as e:  # a bug in the plug-in: say so, do not store anything
            kept = _keep_failure_log(key, work)
            raise CompilerError(
                f"the {toolchain.name} plug-in failed: {type(e).__name__}: {e}",
                "this is a bug in npubench's plug-in; please report it with "
                + (f"the logs in {kept}" if kept else "the model")
                + "\n"
                + traceback.format_exc(limit=3),
            ) from e
        report.artifacts = _artifacts(work)
        report.seconds_total = time.perf_counter() - started
        (folder / REPORT_FILE).write_text(json.dumps(report.to_json(), indent=1, default=str))

    folder, cached = cached_dir("toolchain", key, build)
    try:
        report = CompileReport.from_json(json.loads((folder / REPORT_FILE).read_text()))
    except (OSError, ValueError, TypeError) as e:
        shutil.rmtree(folder, ignore_errors=True)  # a damaged entry: rebuilt on the next call
        raise CompilerError(
            f"the cached {toolchain.name} report in {folder} is unreadable ({e}); it was removed",
            "run the same command again",
        ) from e
    report.artifact_dir = str(folder / WORK_DIR)
    report.cached = cached
    return report
