"""The host stages of a board measured stage by stage: set-up, input and output copies, decode.

May import the ``predict`` modules and ``npubench.analysis``. Each stage is a small linear model
in host CPU cycles with non-negative terms (a time cannot fall with work), fitted by scipy's
bounded linear least squares:

- init = a constant (set-up of the runtime and the NPU driver);
- input_io / output_io = fixed + bytes x cycles per byte;
- postprocess = elements x cycles per element, per kind of decode timed (YOLO, softmax).

Where only one size was measured, the per-byte term and the constant cannot both be told apart;
the fit then keeps the constant at its prior (0) and says so.
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from dataclasses import dataclass, field

import numpy as np
from scipy.optimize import lsq_linear

from npubench.predict.calibration.cases import Case
from npubench.predict.latency import default_postprocess, dtype_bytes

HOST_STAGES = ("init", "input_io", "output_io", "postprocess")


@dataclass
class HostFit:
    board: str
    params: dict[str, float]  # cycles: init_cycles, input_fixed_cycles, input_cycles_per_byte...
    residuals: dict[str, dict[str, float]]  # stage -> row id -> log(pred / measured)
    notes: list[str] = field(default_factory=list)


def _nonneg_line(x: Sequence[float], y: Sequence[float]) -> tuple[float, float, str]:
    """y = a + b x with a, b >= 0 by bounded least squares; (a, b, note)."""
    xs = np.asarray(x, float)
    ys = np.asarray(y, float)
    if len(set(xs.tolist())) < 2:
        slope = float(np.mean(ys / xs)) if np.all(xs > 0) else 0.0
        return 0.0, slope, "one size measured: no constant term fitted"
    design = np.column_stack([np.ones_like(xs), xs])
    result = lsq_linear(design, ys, bounds=(0.0, np.inf))
    return float(result.x[0]), float(result.x[1]), ""


def fit_host(board: str, cases: Sequence[Case], postprocess_of: dict[str, str]) -> HostFit | None:
    """Fit the host stages of ``board`` from its cases that timed them (None: none did)."""
    mine = [c for c in cases if c.board.name == board and len(c.row.stages_us) > 1]
    if not mine:
        return None
    clocks = mine[0].clocks
    mhz = clocks.cpu_mhz
    params: dict[str, float] = {}
    residuals: dict[str, dict[str, float]] = {}
    notes: list[str] = []

    init = [(c, c.row.stages_us["init"]) for c in mine if "init" in c.row.stages_us]
    if init:
        params["init_cycles"] = float(np.mean([v for _, v in init])) * mhz
        params["init_cycles_per_layer"] = 0.0
        residuals["init"] = {c.row.id: math.log(params["init_cycles"] / mhz / v) for c, v in init}

    for which in ("input", "output"):
        stage = f"{which}_io"
        pts = [(c, c.row.stages_us[stage]) for c in mine if stage in c.row.stages_us]
        if not pts:
            continue
        shape = (
            (lambda c: c.analysis.input_shape)
            if which == "input"
            else (lambda c: c.analysis.output_shape)
        )
        dtype = (
            (lambda c: c.analysis.input_dtype)
            if which == "input"
            else (lambda c: c.analysis.output_dtype)
        )
        x = [float(math.prod(shape(c)) * dtype_bytes(dtype(c))) for c, _ in pts]
        y = [v * mhz for _, v in pts]
        fixed, per_byte, note = _nonneg_line(x, y)
        if note:
            notes.append(f"{stage}: {note}")
        params[f"{which}_fixed_cycles"] = fixed
        params[f"{which}_cycles_per_byte"] = per_byte
        residuals[stage] = {
            c.row.id: math.log((fixed + per_byte * xi) / mhz / v)
            for (c, v), xi in zip(pts, x, strict=True)
        }

    post = [(c, c.row.stages_us["postprocess"]) for c in mine if "postprocess" in c.row.stages_us]
    if post:
        params["postprocess_fixed_cycles"] = 0.0
        kinds = {
            postprocess_of.get(c.row.model) or default_postprocess(c.analysis) for c, _ in post
        }
        residuals["postprocess"] = {}
        for kind in sorted(kinds):
            pts = [
                (c, v)
                for c, v in post
                if (postprocess_of.get(c.row.model) or default_postprocess(c.analysis)) == kind
            ]
            elements = [float(math.prod(c.analysis.output_shape[1:])) for c, _ in pts]
            per = float(np.mean([v * mhz / e for (_, v), e in zip(pts, elements, strict=True)]))
            params[f"{kind}_cycles_per_element"] = per
            for (c, v), e in zip(pts, elements, strict=True):
                residuals["postprocess"][c.row.id] = math.log(per * e / mhz / v)
    untimed = [c.row.id for c in mine if "postprocess" not in c.row.stages_us]
    if untimed:
        notes.append(
            f"post-processing not timed for {', '.join(untimed)}: its cost stays the cost "
            "table's assumption"
        )
    return HostFit(board, params, residuals, notes)
