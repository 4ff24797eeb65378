"""Fitted parameters as TOML params files, with what they were fitted on (tomli-w).

May import the ``predict`` modules. A board's file (``<board>.toml``) and the CPU kernels'
(``cpu_deployed.toml``) take the shape ``predict.parameters`` reads: ``[meta]`` (calibrated,
basis, date, data fingerprints), ``[sources]``, ``[params]`` (value, source, fitted_on, date),
``[uncertainty]`` (the cross-validated interval factors), ``[power]``, and, for boards whose
toolchain was given a fitted memory system, ``[memory_overrides.<memory>]``.
"""

from __future__ import annotations

import datetime as _dt
import math
import os
import tempfile
from pathlib import Path
from typing import Any

import tomli_w


def _round(value: float) -> float:
    """Seven significant digits: enough to reproduce a fit, short enough to read."""
    if value == 0 or not math.isfinite(value):
        return float(value)
    return round(value, 6 - math.floor(math.log10(abs(value))))


def entry(value: float, source: str, fitted_on: str, **extra: Any) -> dict[str, Any]:
    out: dict[str, Any] = {
        "value": _round(float(value)),
        "source": source,
        "fitted_on": fitted_on,
        "date": _dt.date.today().isoformat(),
    }
    out.update({k: v for k, v in extra.items() if v is not None})
    return out


def spread_entry(factor: float, source: str, how: str) -> dict[str, Any]:
    return {"kind": "factor", "value": _round(max(factor, 1.0)), "source": source, "how": how}


def write_params(path: Path, data: dict[str, Any]) -> Path:
    """Write atomically (a temporary file renamed into place): never a half-written file."""
    path.parent.mkdir(parents=True, exist_ok=True)
    header = (
        "# Fitted by `npubench calibrate`: do not edit by hand; run it again.\n"
        "# Every value says what it was fitted on; [uncertainty] holds cross-validated factors.\n"
    )
    fd, tmp = tempfile.mkstemp(prefix=f".{path.name}.", dir=path.parent)
    try:
        with os.fdopen(fd, "w", encoding="utf-8") as f:
            f.write(header + tomli_w.dumps(data))
        os.replace(tmp, path)
    finally:
        if os.path.exists(tmp):
            os.unlink(tmp)
    return path
