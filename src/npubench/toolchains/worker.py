"""The host side of the worker contract: one JSON request in, one JSON reply out.

May import ``npubench.errors``, ``npubench.processes`` and ``npubench.toolchains.base``. A tool
that cannot live in npubench's environment runs in its own (``environments``) through a worker
script npubench ships beside its plug-in (``_worker.py``, which imports only the standard
library, numpy and the vendor tool). The contract, version ``CONTRACT_VERSION``:

``<env python> _worker.py REQUEST.json`` where the request is ``{"contract", "toolchain",
"action": "compile"|"version", "model": {"onnx", "pt2", "tflite_int8", "input_shape",
"calibration_npy", "evaluation_npy"}, "board": {...}, "options": {...}, "workdir", "reply"}``.
The worker writes ``reply`` (never stdout: vendor tools print there from native code):
``{"contract", "ok": true, "tool": {"name", "version", "extra_versions"}, "layers", "cost",
"memory", "fidelity", "artifacts", "log", "notes", "timing"}`` or ``{"contract", "ok": false,
"error", "hint", "log_tail"}``, and exits 0 whenever it wrote a reply.
"""

from __future__ import annotations

import json
import os
import subprocess
import time
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from npubench import processes
from npubench.errors import CompilerError
from npubench.toolchains.base import (
    CONTRACT_VERSION,
    CostReport,
    LayerReport,
    MemoryRegion,
    ToolFidelity,
)

REQUEST_FILE = "request.json"
REPLY_FILE = "reply.json"
LOG_FILE = "worker.log"


def tail(text: str, lines: int = 40) -> str:
    kept = [line for line in text.splitlines() if line.strip()]
    return "\n".join(kept[-lines:])


def _clean_env(python: Path) -> dict[str, str]:
    """The worker's environment: its own venv first on PATH, none of npubench's Python paths."""
    env = {
        k: v
        for k, v in os.environ.items()
        if k not in ("PYTHONPATH", "PYTHONHOME", "VIRTUAL_ENV", "PYTHONSTARTUP")
    }
    env["PATH"] = f"{python.parent}{os.pathsep}{env.get('PATH', '')}"
    env["VIRTUAL_ENV"] = str(python.parent.parent)
    env.setdefault("OMP_NUM_THREADS", str(os.cpu_count() or 1))
    env["PYTHONUNBUFFERED"] = "1"
    return env


@dataclass
class WorkerRun:
    reply: dict[str, Any]
    seconds: float  # process start to reply
    log_path: Path


def run_worker(
    python: Path,
    script: Path,
    request: dict[str, Any],
    workdir: Path,
    *,
    tool: str,
    timeout_s: float = 1800,
    extra_env: dict[str, str] | None = None,
) -> WorkerRun:
    """Run ``script`` with ``python`` on ``request``; a failed reply raises ``CompilerError``."""
    workdir.mkdir(parents=True, exist_ok=True)
    reply_path = workdir / REPLY_FILE
    body = {
        "contract": CONTRACT_VERSION,
        **request,
        "workdir": str(workdir),
        "reply": str(reply_path),
    }
    request_path = workdir / REQUEST_FILE
    request_path.write_text(json.dumps(body, indent=2))
    log_path = workdir / LOG_FILE
    started = time.perf_counter()
    env = {**_clean_env(python), **(extra_env or {})}
    try:
        with open(log_path, "w") as log:
            done = processes.run(
                [str(python), str(script), str(request_path)],
                cwd=workdir,
                env=env,
                stdout=log,
                stderr=subprocess.STDOUT,
                timeout=timeout_s,
            )
    except subprocess.TimeoutExpired as e:
        raise CompilerError(
            f"{tool} did not finish within {timeout_s:.0f} s (stopped)",
            f"a smaller model, or see the log {log_path}",
        ) from e
    except OSError as e:
        raise CompilerError(f"cannot start {tool}'s worker ({python}): {e}") from e
    seconds = time.perf_counter() - started
    log_text = log_path.read_text(errors="replace")
    if not reply_path.exists():
        raise CompilerError(
            f"{tool} ended (exit status {done.returncode}) without a reply:\n{tail(log_text)}",
            f"the full log is {log_path}",
        )
    try:
        reply = json.loads(reply_path.read_text())
    except ValueError as e:
        raise CompilerError(
            f"{tool}'s worker wrote an unreadable reply ({e}):\n{tail(log_text)}",
            f"the full log is {log_path}",
        ) from e
    if not isinstance(reply, dict) or reply.get("contract") != CONTRACT_VERSION:
        got = reply.get("contract") if isinstance(reply, dict) else None
        raise CompilerError(
            f"{tool}'s worker speaks contract {got!r}, npubench speaks {CONTRACT_VERSION}",
            "reinstall npubench so that its plug-in and worker match",
        )
    if not reply.get("ok"):
        log_tail = str(reply.get("log_tail") or tail(log_text))
        raise CompilerError(
            f"{tool}: {reply.get('error') or 'failed without a message'}\n{log_tail}",
            str(reply.get("hint") or f"the full log is {log_path}"),
        )
    return WorkerRun(reply, seconds, log_path)


def layers_from_reply(reply: dict[str, Any]) -> list[LayerReport]:
    out = []
    for i, row in enumerate(reply.get("layers") or []):
        placement = row.get("placement")
        if placement not in ("npu", "cpu", "unsupported"):
            raise CompilerError(f"worker layer {i} has placement {placement!r}")
        out.append(
            LayerReport(
                index=int(row.get("index", i)),
                name=str(row.get("name", "")),
                op=str(row.get("op", "")),
                placement=placement,
                reason=str(row.get("reason") or ""),
                cycles=None if row.get("cycles") is None else float(row["cycles"]),
                macs=None if row.get("macs") is None else int(row["macs"]),
                extra=dict(row.get("extra") or {}),
            )
        )
    return out


def cost_from_reply(reply: dict[str, Any], default_what: str) -> CostReport | None:
    cost = reply.get("cost")
    if not cost:
        return None

    def num(key: str) -> float | None:
        return None if cost.get(key) is None else float(cost[key])

    return CostReport(
        what=str(cost.get("what") or default_what),
        cycles_total=num("cycles_total"),
        cycles_npu=num("cycles_npu"),
        clock_hz=num("clock_hz"),
        latency_us=num("latency_us"),
    )


def memory_from_reply(reply: dict[str, Any]) -> list[MemoryRegion]:
    return [
        MemoryRegion(
            region=str(m["region"]),
            used_bytes=int(m["used_bytes"]),
            capacity_bytes=None if m.get("capacity_bytes") is None else int(m["capacity_bytes"]),
            board_memory=m.get("board_memory"),
            what=str(m.get("what") or ""),
            summary=bool(m.get("summary")),
        )
        for m in reply.get("memory") or []
    ]


def fidelity_from_reply(reply: dict[str, Any], what: str) -> ToolFidelity | None:
    f = reply.get("fidelity")
    if not f:
        return None
    return ToolFidelity(
        what=str(f.get("what") or what),
        sqnr_db=None if f.get("sqnr_db") is None else float(f["sqnr_db"]),
        max_abs_error=None if f.get("max_abs_error") is None else float(f["max_abs_error"]),
        samples=int(f.get("samples") or 0),
        per_layer=list(f.get("per_layer") or []),
    )
