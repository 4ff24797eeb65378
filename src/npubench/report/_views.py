"""Renderer-independent views of results: what each report figure shows, as plain data.

The HTML report (plotly) and the paper figures (matplotlib) draw the same figures; this module
decides once which numbers go into each, so the two cannot drift apart. It only groups, sorts,
labels and sums what results already carry (reports never compute figures of their own).

May import ``npubench``, ``npubench.errors``, ``npubench.schema`` and (lazily, to tell emulators
from boards) ``npubench.targets``.
"""

from __future__ import annotations

import dataclasses
import json
import math
import re
from collections.abc import Iterable, Sequence
from dataclasses import dataclass, field
from functools import cache
from typing import Any

from npubench import STAGES
from npubench.schema import KINDS, BenchResult

STAGE_LABELS: dict[str, str] = {
    "init": "init",
    "input_io": "input I/O",
    "inference": "inference",
    "output_io": "output I/O",
    "postprocess": "post-processing",
}
# Okabe-Ito colours: distinguishable with the common colour-vision deficiencies and in greyscale.
STAGE_COLOURS: dict[str, str] = {
    "init": "#E69F00",
    "input_io": "#56B4E9",
    "inference": "#0072B2",
    "output_io": "#009E73",
    "postprocess": "#CC79A7",
}
KIND_COLOURS: dict[str, str] = {
    "compiled": "#999999",
    "predicted": "#E69F00",
    "measured": "#0072B2",
}
KIND_DASHES: dict[str, str] = {"compiled": "dot", "predicted": "dash", "measured": "solid"}
TARGET_PALETTE: tuple[str, ...] = (
    "#0072B2",
    "#D55E00",
    "#009E73",
    "#CC79A7",
    "#E69F00",
    "#56B4E9",
    "#000000",
    "#F0E442",
    "#7F3C8D",
    "#11A579",
)
FITS_COLOUR = "#0072B2"
DOES_NOT_FIT_COLOUR = "#D55E00"
NPU_COLOUR = "#0072B2"
CPU_COLOUR = "#E69F00"

STATUS_LABELS: dict[str, str] = {
    "ok": "ok",
    "does_not_fit": "does not fit",
    "failed": "failed",
    "incomplete": "incomplete",
}


def kind_origin(kind: str) -> str:
    """Where a figure of this kind comes from, in words."""
    return {
        "compiled": "compiled: the vendor toolchain's own estimate (e.g. Vela's cycles)",
        "predicted": "predicted: npubench's performance model",
        "measured": "measured: timed on the board",
    }[kind]


@cache
def board(target: str) -> Any:
    """The catalogue's board for ``target``, or None for a board npubench does not know."""
    from npubench.errors import NpubenchError

    try:
        from npubench.targets import get_target

        return get_target(target)
    except NpubenchError:
        return None


def _board_kind(target: str) -> str | None:
    b = board(target)
    return None if b is None else str(b.kind)


def is_emulator(r: BenchResult) -> bool:
    """True for timings taken on an emulator, which are not cycle-accurate.

    Only a *measured* result is an emulator timing: a compiled result of an emulated board
    (corstone-300's Vela estimate) is the toolchain's figure for the modelled hardware, and a
    prediction is npubench's; neither was timed on the emulator.
    """
    if r.kind != "measured":
        return False
    if r.provenance.get("cycle_accurate") is False:
        return True
    return _board_kind(r.target) == "emulator"


def slug(text: str) -> str:
    """A file- and id-safe form of a model or target name."""
    return re.sub(r"[^A-Za-z0-9_.-]+", "-", text).strip("-") or "x"


def known_total(r: BenchResult) -> tuple[float | None, bool]:
    """The total latency (µs) and whether it is complete (False: sum of the known stages)."""
    total = r.latency_us.get("total")
    if total is not None:
        return float(total), True
    known = [v for s in STAGES if (v := r.latency_us.get(s)) is not None]
    return (float(sum(known)), False) if known else (None, False)


def _options_key(r: BenchResult) -> str:
    return json.dumps(r.options, sort_keys=True, default=str)


def _variant_labels(results: Sequence[BenchResult]) -> dict[int, str]:
    """A short label per result telling apart results of one (model, target, kind).

    Only the options that differ inside the group are named (e.g. ``Size`` vs ``Performance``,
    ``@200 MHz``); exact repeats are numbered so no two bars share a category.
    """
    groups: dict[tuple[str, str, str], list[BenchResult]] = {}
    for r in results:
        groups.setdefault((r.model, r.target, r.kind), []).append(r)
    labels: dict[int, str] = {}
    for members in groups.values():
        if len(members) == 1:
            labels[id(members[0])] = ""
            continue
        optimise = {str(r.options.get("optimise")) for r in members}
        clocks = {r.clock_mhz for r in members}
        seen: dict[str, int] = {}
        for r in members:
            parts = []
            if len(optimise) > 1:
                parts.append(str(r.options.get("optimise")))
            if len(clocks) > 1 and r.clock_mhz is not None:
                parts.append(f"@{r.clock_mhz:g} MHz")
            base = " ".join(parts)
            seen[base] = seen.get(base, 0) + 1
            if seen[base] > 1:
                base = f"{base} #{seen[base]}".strip()
            labels[id(r)] = base
    return labels


@dataclass(frozen=True)
class Entry:
    """One result with the labels every figure uses for it."""

    result: BenchResult
    variant: str  # "" unless several results share model, target and kind

    @property
    def target(self) -> str:
        return self.result.target

    @property
    def kind(self) -> str:
        return self.result.kind

    @property
    def target_label(self) -> str:
        """The target as category labels show it: emulators are marked as such."""
        return f"{self.target} (emulator)" if is_emulator(self.result) else self.target

    @property
    def kind_label(self) -> str:
        """Second-level category: the kind, and the variant where there is one."""
        return f"{self.kind} · {self.variant}" if self.variant else self.kind

    @property
    def label(self) -> str:
        """One-line category: target, kind and variant."""
        return f"{self.target_label} · {self.kind_label}"


def entries(results: Iterable[BenchResult]) -> list[Entry]:
    """Results as entries, sorted by model, target, kind (compiled, predicted, measured)."""
    ordered = sorted(
        results,
        key=lambda r: (r.model, r.target, KINDS.index(r.kind), _options_key(r)),
    )
    labels = _variant_labels(ordered)
    return [Entry(r, labels[id(r)]) for r in ordered]


def by_model(results: Iterable[BenchResult]) -> dict[str, list[Entry]]:
    out: dict[str, list[Entry]] = {}
    for e in entries(results):
        out.setdefault(e.result.model, []).append(e)
    return out


# -- stage breakdown -----------------------------------------------------------------------


@dataclass(frozen=True)
class StageBar:
    entry: Entry
    stages_us: dict[str, float | None]
    total_us: float | None
    total_complete: bool
    low_us: float | None
    high_us: float | None
    status: str
    note: str  # "does not fit", "failed", "incomplete" or ""


def stage_bars(model_entries: Sequence[Entry]) -> list[StageBar]:
    bars = []
    for e in model_entries:
        r = e.result
        total, complete = known_total(r)
        bars.append(
            StageBar(
                entry=e,
                stages_us={s: r.latency_us.get(s) for s in STAGES},
                total_us=total,
                total_complete=complete,
                low_us=r.latency_us_low,
                high_us=r.latency_us_high,
                status=r.status,
                note="" if r.status == "ok" else STATUS_LABELS[r.status],
            )
        )
    return bars


# -- power and energy ----------------------------------------------------------------------


@dataclass(frozen=True)
class EnergyBar:
    entry: Entry
    energy_uj: float | None
    net_energy_uj: float | None
    average_power_mw: float | None


def energy_bars(model_entries: Sequence[Entry]) -> list[EnergyBar]:
    """Results that carry any power or energy figure (compiled ones carry none)."""
    bars = []
    for e in model_entries:
        r = e.result
        bar = EnergyBar(
            entry=e,
            energy_uj=r.energy_uj.get("total"),
            net_energy_uj=r.energy_uj.get("net"),
            average_power_mw=r.power_mw.get("average"),
        )
        if any(v is not None for v in (bar.energy_uj, bar.net_energy_uj, bar.average_power_mw)):
            bars.append(bar)
    return bars


# -- memory and operator split -------------------------------------------------------------


@dataclass(frozen=True)
class MemoryRow:
    label: str  # "hx-we2 · sram" (with the kind where kinds disagree)
    target: str
    memory: str
    used_bytes: int
    capacity_bytes: int | None

    @property
    def fits(self) -> bool:
        return self.capacity_bytes is None or self.used_bytes <= self.capacity_bytes

    @property
    def percent(self) -> float | None:
        if not self.capacity_bytes:
            return None
        return 100.0 * self.used_bytes / self.capacity_bytes


def _distinct_per_target(model_entries: Sequence[Entry], value: Any) -> list[tuple[Entry, bool]]:
    """One entry per distinct ``value(entry)`` per target; the flag says whether kinds differ.

    Memory use and the operator split come from the compiler, so compiled, predicted and
    measured results of one target usually agree: they are then shown once.
    """
    out: list[tuple[Entry, bool]] = []
    targets = dict.fromkeys(e.target for e in model_entries)
    for target in targets:
        seen: list[Any] = []
        picked: list[Entry] = []
        for e in model_entries:
            if e.target != target:
                continue
            v = value(e)
            if v is None or v in seen:
                continue
            seen.append(v)
            picked.append(e)
        out += [(e, len(picked) > 1) for e in picked]
    return out


def memory_rows(model_entries: Sequence[Entry]) -> list[MemoryRow]:
    def fit_value(e: Entry) -> Any:
        fit = e.result.fit
        if not fit:
            return None
        return tuple(sorted((k, m.used_bytes, m.capacity_bytes) for k, m in fit.items()))

    rows = []
    for e, kinds_differ in _distinct_per_target(model_entries, fit_value):
        prefix = f"{e.target} ({e.kind_label})" if kinds_differ else e.target
        for name, m in e.result.fit.items():
            rows.append(
                MemoryRow(
                    label=f"{prefix} · {name}",
                    target=e.target,
                    memory=name,
                    used_bytes=m.used_bytes,
                    capacity_bytes=m.capacity_bytes,
                )
            )
    return rows


@dataclass(frozen=True)
class OpRow:
    label: str
    npu: int
    cpu: int


def op_rows(model_entries: Sequence[Entry]) -> list[OpRow]:
    def ops_value(e: Entry) -> Any:
        npu, cpu = int(e.result.ops.get("npu", 0)), int(e.result.ops.get("cpu", 0))
        return None if npu + cpu == 0 else (npu, cpu)

    rows = []
    for e, kinds_differ in _distinct_per_target(model_entries, ops_value):
        label = f"{e.target} ({e.kind_label})" if kinds_differ else e.target
        rows.append(OpRow(label, int(e.result.ops.get("npu", 0)), int(e.result.ops.get("cpu", 0))))
    return rows


# -- latency against MACs ------------------------------------------------------------------


@dataclass(frozen=True)
class ScalingPoint:
    model: str
    macs: float
    inference_us: float | None
    total_us: float | None


@dataclass
class ScalingSeries:
    target: str
    kind: str
    variant: str
    points: list[ScalingPoint] = field(default_factory=list)

    @property
    def label(self) -> str:
        v = f" {self.variant}" if self.variant else ""
        return f"{self.target} ({self.kind}{v})"


def scaling_series(results: Iterable[BenchResult]) -> list[ScalingSeries]:
    """One series per target, kind and variant: latency of each model against its MACs.

    Where a target has several builds of a model (``--optimise Size`` and ``Performance``) the
    Performance build (npubench's default) is drawn, so each target keeps one line per kind; a
    target run at several clocks gets one line per clock. An exact repeat is drawn once.
    """
    usable = []
    for e in entries(results):
        r = e.result
        macs = r.details.get("macs") or r.compiler.get("nn_macs")
        if not macs or r.status in ("failed", "does_not_fit"):
            continue
        if r.latency_us.get("inference") is None and r.latency_us.get("total") is None:
            continue
        usable.append((r, float(macs)))
    builds: dict[tuple[str, str, str, float | None], set[str]] = {}
    clocks: dict[tuple[str, str], set[float | None]] = {}
    for r, _ in usable:
        builds.setdefault((r.model, r.target, r.kind, r.clock_mhz), set()).add(
            str(r.options.get("optimise"))
        )
        clocks.setdefault((r.target, r.kind), set()).add(r.clock_mhz)
    series: dict[tuple[str, str, str], ScalingSeries] = {}
    for r, macs in usable:
        optimise = str(r.options.get("optimise"))
        modes = builds[(r.model, r.target, r.kind, r.clock_mhz)]
        if len(modes) > 1 and optimise != ("Performance" if "Performance" in modes else min(modes)):
            continue
        several_clocks = len(clocks[(r.target, r.kind)]) > 1 and r.clock_mhz is not None
        variant = f"@{r.clock_mhz:g} MHz" if several_clocks else ""
        s = series.setdefault((r.target, r.kind, variant), ScalingSeries(r.target, r.kind, variant))
        if any(p.model == r.model for p in s.points):
            continue
        s.points.append(
            ScalingPoint(r.model, macs, r.latency_us.get("inference"), r.latency_us.get("total"))
        )
    for s in series.values():
        s.points.sort(key=lambda p: p.macs)
    return sorted(series.values(), key=lambda s: (s.target, KINDS.index(s.kind), s.variant))


# -- predicted against measured ------------------------------------------------------------


@dataclass(frozen=True)
class PredictionPair:
    model: str
    target: str
    variant: str
    predicted: BenchResult
    measured: BenchResult

    @property
    def label(self) -> str:
        v = f" {self.variant}" if self.variant else ""
        return f"{self.model} · {self.target}{v}"

    def two_line_label(self, newline: str = "\n") -> str:
        v = f" {self.variant}" if self.variant else ""
        return f"{self.model}{newline}{self.target}{v}"

    def error_pct(self, stage: str) -> float | None:
        """(predicted − measured) / measured in %, or None where either is unknown or zero."""
        p, m = self.predicted.latency_us.get(stage), self.measured.latency_us.get(stage)
        if p is None or m is None or m == 0:
            return None
        return 100.0 * (p - m) / m


def _pair_key(r: BenchResult) -> tuple[str, str, str, float | None]:
    return (r.model, r.target, str(r.options.get("optimise")), r.clock_mhz)


def prediction_pairs(results: Iterable[BenchResult]) -> list[PredictionPair]:
    """Predicted and measured results of the same model, target, optimise mode and clock."""
    predicted: dict[tuple[str, str, str, float | None], BenchResult] = {}
    measured: dict[tuple[str, str, str, float | None], BenchResult] = {}
    for r in results:
        if r.status != "ok":
            continue
        if r.kind == "predicted":
            predicted[_pair_key(r)] = r
        elif r.kind == "measured":
            measured[_pair_key(r)] = r
    common = predicted.keys() & measured.keys()
    cells: dict[tuple[str, str], list[tuple[str, float | None]]] = {}
    for key in common:
        cells.setdefault(key[:2], []).append(key[2:])
    pairs = []
    for key in sorted(common, key=str):
        model, target, optimise, clock = key
        siblings = cells[(model, target)]
        parts = []
        if len({o for o, _ in siblings}) > 1:
            parts.append(optimise)
        if len({c for _, c in siblings}) > 1 and clock is not None:
            parts.append(f"@{clock:g} MHz")
        pairs.append(PredictionPair(model, target, " ".join(parts), predicted[key], measured[key]))
    return pairs


# -- fidelity and provenance ---------------------------------------------------------------


@dataclass(frozen=True)
class FidelityRow:
    model: str
    sqnr_db: float | None
    top1_agreement: float | None
    max_abs_error: float | None
    samples: int
    calibration: str


def fidelity_rows(results: Iterable[BenchResult]) -> list[FidelityRow]:
    """One row per model and calibration set (fidelity belongs to the int8 model, not the
    target, so every target of a model repeats it)."""
    rows: dict[tuple[str, str], FidelityRow] = {}
    for e in entries(results):
        f = e.result.fidelity
        if f.sqnr_db is None and f.top1_agreement is None:
            continue
        key = (e.result.model, f.calibration)
        rows.setdefault(
            key,
            FidelityRow(
                e.result.model,
                f.sqnr_db,
                f.top1_agreement,
                f.max_abs_error,
                f.samples,
                f.calibration,
            ),
        )
    return list(rows.values())


def short_hash(value: Any, n: int = 12) -> str:
    return str(value)[:n] if value else "–"


def provenance_rows(results: Iterable[BenchResult]) -> list[dict[str, str]]:
    """Who computed each result with what: versions, options, hashes, host, time."""
    rows = []
    for e in entries(results):
        r = e.result
        p = r.provenance
        toolchains = p.get("toolchains") or {}
        versions = ", ".join(f"{k} {v}" for k, v in sorted(toolchains.items()) if v)
        if r.compiler.get("name") and r.compiler.get("version"):
            versions = f"{r.compiler['name']} {r.compiler['version']} (used); " + versions
        host = p.get("host") or {}
        host_text = (
            ", ".join(str(host[k]) for k in ("hostname", "platform", "python") if host.get(k))
            if isinstance(host, dict)
            else str(host)
        )
        options = ", ".join(f"{k}={v}" for k, v in sorted(r.options.items()) if v is not None)
        hashes = "; ".join(
            f"{name} {short_hash(p[key])}"
            for name, key in (
                ("model", "model_sha256"),
                ("source", "source_sha256"),
                ("firmware", "firmware_sha256"),
            )
            if p.get(key)
        )
        rows.append(
            {
                "model": r.model,
                "target": r.target,
                "kind": e.kind_label,
                "npubench": str(p.get("npubench_version") or "–"),
                "toolchains": versions or "–",
                "options": options or "–",
                "hashes": hashes or "–",
                "calibration": str(r.fidelity.calibration or "–"),
                "host": host_text or "–",
                "time (UTC)": str(p.get("time_utc") or "–"),
            }
        )
    return rows


@dataclass(frozen=True)
class TargetOrigin:
    target: str
    kinds: tuple[str, ...]
    emulator: bool


def target_origins(results: Iterable[BenchResult]) -> list[TargetOrigin]:
    """Which kinds of figure each target has, and whether it is an emulator."""
    kinds: dict[str, set[str]] = {}
    emulator: dict[str, bool] = {}
    for r in results:
        kinds.setdefault(r.target, set()).add(r.kind)
        emulator[r.target] = emulator.get(r.target, False) or is_emulator(r)
    return [
        TargetOrigin(t, tuple(k for k in KINDS if k in kinds[t]), emulator[t])
        for t in sorted(kinds)
    ]


# -- the basis of each figure --------------------------------------------------------------

# Short codes, as the terminal's basis column prints them.
BASIS_CODES: tuple[str, ...] = ("meas", "emu", "comp", "cal", "cal-fam", "ds", "asm", "pred")
BASIS_COLOURS: dict[str, str] = {
    "meas": "#0072B2",
    "emu": "#7F3C8D",
    "comp": "#666666",
    "cal": "#009E73",
    "cal-fam": "#2B8CBE",
    "ds": "#B36F00",
    "asm": "#D55E00",
    "pred": "#B36F00",
}
BASIS_SYMBOLS: dict[str, str] = {  # plotly marker symbols; figures.py maps them to matplotlib's
    "meas": "circle",
    "emu": "diamond",
    "comp": "square",
    "cal": "triangle-up",
    "cal-fam": "triangle-down",
    "ds": "x",
    "asm": "cross",
    "pred": "star",
}
BASIS_MEANING: dict[str, str] = {
    "meas": "measured: timed on the board",
    "emu": "timed on an emulator: not cycle-accurate, never ranked against boards",
    "comp": "compiled: the toolchain's own estimate (inference stage only)",
    "cal": "calibrated prediction: fitted on this board's or core's own measurements; ± is the "
    "leave-one-model-out median error",
    "cal-fam": "family-calibrated prediction: fitted on other boards of the family",
    "ds": "datasheet prediction: the board file's figures and the family's assumptions",
    "asm": "assumption: hand-set cost figures",
    "pred": "prediction whose basis was not recorded (stored by an older npubench)",
}
TOOL_NAMES: dict[str, str] = {
    "vela": "Vela",
    "rknn": "RKNN-Toolkit2",
    "stedgeai": "ST Edge AI",
    "tflm": "TFLM",
    "ai8x-synthesis": "ai8x-synthesis",
    "esp-ppq": "esp-ppq",
    "tpu-mlir": "TPU-MLIR",
    "neutron-converter": "Neutron converter",
    "nntool": "NNTool",
    "executorch-ethos-u": "ExecuTorch Ethos-U",
    "executorch-cortex-m": "ExecuTorch Cortex-M",
}


def tool_name(r: BenchResult) -> str:
    """The toolchain behind a result's compiled figures, as people call it ("Vela")."""
    name = r.compiler.get("name")
    if name:
        return TOOL_NAMES.get(str(name), str(name))
    return str(r.compiler.get("tool") or "toolchain")


@dataclass(frozen=True)
class Basis:
    """What a figure rests on: the badge every figure of the report carries."""

    code: str  # one of BASIS_CODES
    label: str  # the badge: "measured", "compiled (Vela)", "calibrated prediction ±8%", ...
    detail: str  # one sentence: where the figure comes from
    error_pct: float | None = None  # cross-validated median error (calibrated predictions)


def _ratio_pct(ratio: Any) -> float | None:
    """A ratio error (exp |log(pred/meas)|, 1.08) as a percentage (8.0)."""
    try:
        value = float(ratio)
    except (TypeError, ValueError):
        return None
    return 100.0 * (value - 1.0) if math.isfinite(value) and value >= 1.0 else None


@cache
def _basis_cached(key: str) -> Basis:
    data = json.loads(key)
    kind, tool, what, basis_kind, sentence, mode, cv, calibrated, emulated = data
    if kind == "measured":
        if emulated:
            return Basis("emu", "emulator timing", "timed on an emulator: not cycle-accurate")
        return Basis("meas", "measured", "timed on the board")
    if kind == "compiled":
        return Basis("comp", f"compiled ({tool})", str(what or f"{tool}'s own estimate"))
    on = f"; NPU cycles from {tool}" if mode == "compiled" and tool else ""
    if basis_kind == "calibrated" or (basis_kind is None and calibrated):
        median = _ratio_pct(cv.get("lomo_median", cv.get("loso_median")))
        worst = _ratio_pct(cv.get("lomo_worst", cv.get("loso_worst")))
        if median is None:
            return Basis("cal", "calibrated prediction", (sentence or "calibrated") + on)
        extra = f"; leave-one-model-out error median {median:.0f}%"
        if worst is not None:
            extra += f", worst {worst:.0f}%"
        return Basis("cal", f"calibrated prediction ±{median:.0f}%", sentence + extra + on, median)
    if basis_kind == "calibrated-family":
        return Basis("cal-fam", "family-calibrated prediction", sentence + on)
    if basis_kind == "datasheet":
        return Basis("ds", "datasheet prediction", (sentence or "board file figures") + on)
    if basis_kind == "assumption":
        return Basis("asm", "assumption", (sentence or "hand-set cost figures") + on)
    return Basis("pred", "prediction", "prediction (its basis was not recorded)" + on)


def basis(r: BenchResult) -> Basis:
    """The basis of a result's figures (measured, compiled by a tool, a kind of prediction)."""
    cv = r.details.get("cross_validated") if r.kind == "predicted" else None
    key = json.dumps(
        [
            r.kind,
            tool_name(r) if r.compiler.get("name") or r.compiler.get("tool") else "",
            r.compiler.get("cost_what") if r.kind == "compiled" else None,
            r.details.get("basis_kind") if r.kind == "predicted" else None,
            str(r.details.get("basis") or "") if r.kind == "predicted" else "",
            r.details.get("mode") if r.kind == "predicted" else None,
            cv if isinstance(cv, dict) else {},
            bool(r.details.get("calibrated")) if r.kind == "predicted" else False,
            is_emulator(r),
        ],
        sort_keys=True,
        default=str,
    )
    return _basis_cached(key)


def log_axis(values: Iterable[float | None], span: float = 10.0) -> bool:
    """Log axes when the positive values span more than ``span`` times (10x by default)."""
    positive = [float(x) for x in values if x is not None and math.isfinite(x) and x > 0]
    return bool(positive) and max(positive) / min(positive) > span


def fit_verdict(r: BenchResult) -> str:
    """'fits (sram 9%)', 'does not fit: ...', 'failed: ...': the memory verdict of a result."""
    if r.status == "does_not_fit":
        return "does not fit" + (f": {r.message}" if r.message else "")
    if r.status == "failed":
        return "failed" + (f": {r.message}" if r.message else "")
    known = [(name, m) for name, m in r.fit.items() if m.capacity_bytes]
    if not known:
        return "fit not checked"
    name, m = max(known, key=lambda item: item[1].used_bytes / (item[1].capacity_bytes or 1))
    pct = 100.0 * m.used_bytes / (m.capacity_bytes or 1)
    return f"{'fits' if r.fits else 'does not fit'} ({name} {pct:.0f}%)"


# -- the headline: which board? -------------------------------------------------------------

_LATENCY_PREFERENCE = ("meas", "cal", "cal-fam", "ds", "asm", "pred", "comp")
_ACHIEVED_PREFERENCE = ("meas", "comp", "cal", "cal-fam", "ds", "asm", "pred")


@dataclass(frozen=True)
class Ranked:
    """One board's figure in a ranking, with its basis and interval."""

    target: str
    result: BenchResult
    basis: Basis
    value: float  # µs (latency) or µJ (energy)
    low: float | None
    high: float | None
    complete: bool  # False: the sum of the known stages only (a compiled result: inference)
    variant: str  # the options of the picked result where the board has several
    verdict: str
    rank: int = 0

    @property
    def interval_text(self) -> str:
        return "" if self.low is None or self.high is None else f"{self.low}–{self.high}"


@dataclass(frozen=True)
class Unranked:
    target: str
    basis: Basis | None
    reason: str  # "does not fit: ...", "failed: ...", "no end-to-end figure"


@dataclass(frozen=True)
class Headline:
    model: str
    macs: float | None
    latency: list[Ranked]
    energy: list[Ranked]
    unranked: list[Unranked]
    emulated: list[Ranked]  # emulator timings: shown apart, never ranked against boards
    sentence: str


def _variant_text(r: BenchResult, siblings: Sequence[BenchResult]) -> str:
    parts = []
    if len({str(s.options.get("optimise")) for s in siblings}) > 1 and r.options.get("optimise"):
        parts.append(str(r.options.get("optimise")))
    if len({s.clock_mhz for s in siblings}) > 1 and r.clock_mhz is not None:
        parts.append(f"@{r.clock_mhz:g} MHz")
    return " ".join(parts)


def _energy_interval(r: BenchResult) -> tuple[float | None, float | None]:
    interval = (r.details.get("energy_uj_intervals") or {}).get("total")
    if isinstance(interval, list | tuple) and len(interval) == 2:
        return float(interval[0]), float(interval[1])
    return None, None


def ms_text(us: float | None, digits: int = 3) -> str:
    """A latency in ms with ``digits`` significant digits ('4.10 ms'), or '–'."""
    if us is None or not math.isfinite(us):
        return "–"
    if 0 < abs(us) < 10:
        return f"{us:.{digits}g} µs"
    ms = us / 1000.0
    text = f"{ms:.{digits}g}"
    if "e" in text:
        text = f"{ms:.{max(0, digits - 1)}f}"
    return f"{text} ms"


def range_text(values_us: Sequence[float], digits: int = 2) -> str:
    """'3.4 ms' or '3.7–4.2 ms': the range of some latencies."""
    lo, hi = min(values_us), max(values_us)
    a, b = ms_text(lo, digits), ms_text(hi, digits)
    if a == b:
        return a
    if a.endswith(" ms") and b.endswith(" ms"):
        return f"{a[:-3]}–{b}"
    return f"{a}–{b}"


_DOMINANCE_SHARE = 0.5


def _stage_story(row: Ranked) -> str | None:
    """What dominates one board's end-to-end latency, when it is not the inference itself."""
    r = row.result
    stages = {s: r.latency_us.get(s) for s in STAGES}
    if not row.complete or any(x is None for x in stages.values()):
        return None
    total = row.value
    init = stages["init"] or 0.0
    io = (stages["input_io"] or 0.0) + (stages["output_io"] or 0.0)
    inference = stages["inference"] or 0.0
    post = stages["postprocess"] or 0.0
    if total > 0 and init / total >= _DOMINANCE_SHARE:
        return f"init dominates on {row.target} ({ms_text(init, 2)} of {ms_text(total, 2)})"
    if io > inference:
        return (
            f"memory I/O exceeds inference on {row.target} ({ms_text(io, 2)} against "
            f"{ms_text(inference, 2)})"
        )
    if post > inference:
        return (
            f"post-processing exceeds inference on {row.target} ({ms_text(post, 2)} against "
            f"{ms_text(inference, 2)})"
        )
    return None


def _gap_story(first: Ranked, second: Ranked) -> str:
    gap = second.value - first.value
    text = f"{first.target} leads {second.target} by {ms_text(gap, 2)}"
    a, b = first.result.latency_us, second.result.latency_us
    if first.complete and second.complete and gap > 0:
        diffs = {
            s: (b.get(s) or 0.0) - (a.get(s) or 0.0)
            for s in STAGES
            if a.get(s) is not None and b.get(s) is not None
        }
        if diffs:
            stage, diff = max(diffs.items(), key=lambda item: item[1])
            if diff > 0:
                share = min(100.0, 100.0 * diff / gap)
                text += f", {share:.0f}% of it {STAGE_LABELS[stage]}"
    if (
        first.high is not None
        and second.low is not None
        and first.high >= second.low
        and first.basis.code != "meas"
    ):
        text += " (their intervals overlap: the order is not certain)"
    return text


def _sentence(model: str, latency: Sequence[Ranked], unranked: Sequence[Unranked]) -> str:
    if not latency:
        if unranked:
            return f"No board runs {model}: " + "; ".join(
                f"{u.target} {u.reason}" for u in unranked[:3]
            )
        return f"No latency figure for {model}."
    if len(latency) == 1:
        only = latency[0]
        head = f"Only {only.target} has a latency for {model} ({ms_text(only.value)})"
        story = _stage_story(only)
        return head + (f"; {story}" if story else "") + "."
    parts = [_gap_story(latency[0], latency[1])]
    stories = [s for row in latency if (s := _stage_story(row))]
    init_bound = [row for row in latency if (_stage_story(row) or "").startswith("init")]
    complete = [row for row in latency if row.complete]
    if complete and len(init_bound) == len(complete) and len(complete) > 1:
        inits = [row.result.latency_us.get("init") or 0.0 for row in complete]
        totals = [row.value for row in complete]
        parts.append(
            f"init dominates on every board ({range_text(inits)} of {range_text(totals)}), so "
            "the NPU's speed barely moves the order"
        )
    else:
        parts += stories[:2]
    if not any(row.complete for row in latency):
        parts.append("ranked on the toolchain's inference estimate alone (no end-to-end figure)")
    return "; ".join(parts) + "."


def headlines(results: Iterable[BenchResult]) -> list[Headline]:
    """Per model: boards ranked by end-to-end latency and by energy, with basis and verdict.

    Each board is represented by its best-founded figure: a complete end-to-end total before a
    partial one (a compiled result knows the inference stage only), then measured, calibrated,
    family-calibrated, datasheet and assumption-based predictions, then the toolchain's own
    estimate; among equals (Size and Performance builds, several clocks) the fastest. Emulator
    timings are listed apart and never ranked against boards.
    """
    groups: dict[str, dict[str, list[BenchResult]]] = {}
    for r in results:
        groups.setdefault(r.model, {}).setdefault(r.target, []).append(r)
    out = []
    for model in sorted(groups):
        latency: list[Ranked] = []
        energy: list[Ranked] = []
        emulated: list[Ranked] = []
        unranked: list[Unranked] = []
        macs = None
        for target in sorted(groups[model]):
            rs = groups[model][target]
            macs = macs or next(
                (float(m) for r in rs if (m := r.details.get("macs") or r.compiler.get("nn_macs"))),
                None,
            )
            fit_source = next(
                (
                    r
                    for r in rs
                    if r.status == "ok" and any(m.capacity_bytes for m in r.fit.values())
                ),
                None,
            )
            ok = [r for r in rs if r.status == "ok" and known_total(r)[0] is not None]
            boards = [r for r in ok if not is_emulator(r)]
            emus = [r for r in ok if is_emulator(r)]
            for pool, sink in ((boards, latency), (emus, emulated)):
                if not pool:
                    continue

                def key(r: BenchResult) -> tuple[int, int, float]:
                    total, complete = known_total(r)
                    code = basis(r).code
                    pref = _LATENCY_PREFERENCE.index(code) if code in _LATENCY_PREFERENCE else 0
                    return (0 if complete else 1, pref, total or 0.0)

                pick = min(pool, key=key)
                total, complete = known_total(pick)
                verdict = fit_verdict(fit_source if fit_source is not None else pick)
                sink.append(
                    Ranked(
                        target=target,
                        result=pick,
                        basis=basis(pick),
                        value=float(total or 0.0),
                        low=pick.latency_us_low if complete else None,
                        high=pick.latency_us_high if complete else None,
                        complete=complete,
                        variant=_variant_text(pick, pool),
                        verdict=verdict,
                    )
                )
            with_energy = [r for r in boards if r.energy_uj.get("total") is not None]
            if with_energy:

                def ekey(r: BenchResult) -> tuple[int, float]:
                    code = basis(r).code
                    pref = _LATENCY_PREFERENCE.index(code) if code in _LATENCY_PREFERENCE else 0
                    return (pref, float(r.energy_uj["total"] or 0.0))

                pick = min(with_energy, key=ekey)
                low, high = _energy_interval(pick)
                energy.append(
                    Ranked(
                        target=target,
                        result=pick,
                        basis=basis(pick),
                        value=float(pick.energy_uj["total"] or 0.0),
                        low=low,
                        high=high,
                        complete=True,
                        variant=_variant_text(pick, with_energy),
                        verdict=fit_verdict(fit_source if fit_source is not None else pick),
                    )
                )
            if not boards and not emus:
                worst = min(
                    rs,
                    key=lambda r: ("does_not_fit", "failed", "incomplete", "ok").index(r.status),
                )
                reason = (
                    fit_verdict(worst)
                    if worst.status != "ok"
                    else (STATUS_LABELS[worst.status] + ": no latency figure")
                )
                if worst.status == "incomplete":
                    reason = "incomplete" + (f": {worst.message}" if worst.message else "")
                unranked.append(Unranked(target, basis(worst), reason))
        latency.sort(key=lambda x: (0 if x.complete else 1, x.value))
        energy.sort(key=lambda x: x.value)
        emulated.sort(key=lambda x: x.value)
        latency = [dataclasses.replace(x, rank=i + 1) for i, x in enumerate(latency)]
        energy = [dataclasses.replace(x, rank=i + 1) for i, x in enumerate(energy)]
        out.append(
            Headline(
                model=model,
                macs=macs,
                latency=latency,
                energy=energy,
                unranked=unranked,
                emulated=emulated,
                sentence=_sentence(model, latency, unranked),
            )
        )
    return out


# -- spec sheets against silicon ------------------------------------------------------------


@dataclass(frozen=True)
class Peak:
    """A board's datasheet peak in MACs per second at the clock its results ran at."""

    target: str
    clock_mhz: float | None
    macs_per_s: float | None  # None: no NPU peak (a CPU board) or an unknown board
    how: str  # "64 MACs/cycle × 100 MHz (ethos-u55-64)", "no NPU peak (CPU board)"


def npu_clock_mhz(r: BenchResult) -> float | None:
    """The NPU clock a result's figures are for (the CPU's on a board without an NPU)."""
    if r.kind == "compiled" and r.compiler.get("clock_hz"):
        return float(r.compiler["clock_hz"]) / 1e6
    clocks = r.details.get("clocks_mhz") or {}
    if isinstance(clocks, dict) and clocks.get("npu"):
        return float(clocks["npu"])
    if r.clock_mhz:
        return float(r.clock_mhz)
    b = board(r.target)
    if b is not None and b.npu is not None:
        return float(b.npu.clock_mhz.value)
    return None


@cache
def peak(target: str, clock_mhz: float | None) -> Peak:
    """The datasheet peak: npu.macs_per_cycle × NPU clock, or the vendor's peak_gops / 2."""
    b = board(target)
    if b is None:
        return Peak(target, clock_mhz, None, "board not in the catalogue: no peak")
    if b.npu is None:
        per_cycle = getattr(b.cpu, "macs_per_cycle", None)
        if per_cycle is None:
            return Peak(target, clock_mhz, None, "no NPU peak (CPU board)")
        clock = clock_mhz or float(b.cpu.clock_mhz.value)
        value = float(getattr(per_cycle, "value", per_cycle))
        return Peak(
            target, clock, value * clock * 1e6, f"{value:g} MACs/cycle × {clock:g} MHz (CPU core)"
        )
    npu = b.npu
    clock = clock_mhz or float(npu.clock_mhz.value)
    if npu.peak_gops is not None:
        at = float(npu.max_clock_mhz.value)
        gops = float(npu.peak_gops.value)
        value = gops / 2 * 1e9 * clock / at
        how = f"vendor peak {gops:g} GOPS / 2 at {at:g} MHz, scaled to {clock:g} MHz ({npu.name})"
        return Peak(target, clock, value, how)
    per_cycle = float(npu.macs_per_cycle.value)
    return Peak(
        target,
        clock,
        per_cycle * clock * 1e6,
        f"{per_cycle:g} MACs/cycle × {clock:g} MHz ({npu.name})",
    )


@dataclass(frozen=True)
class Achieved:
    """MACs per second a model achieved on a board, against the board's datasheet peak."""

    model: str
    target: str
    macs: float
    basis: Basis
    inference_us: float
    peak: Peak
    total_us: float | None  # end-to-end, from the headline's figure
    total_basis: Basis | None

    @property
    def macs_per_s(self) -> float:
        return self.macs / (self.inference_us / 1e6)

    @property
    def end_to_end_macs_per_s(self) -> float | None:
        return None if not self.total_us else self.macs / (self.total_us / 1e6)

    @property
    def utilisation(self) -> float | None:
        """Achieved over peak on the inference stage (1.0 = the datasheet peak)."""
        return None if not self.peak.macs_per_s else self.macs_per_s / self.peak.macs_per_s


@dataclass
class SpecBoard:
    target: str
    peaks: list[Peak]
    achieved: list[Achieved] = field(default_factory=list)


def spec_silicon(
    results: Iterable[BenchResult], heads: Sequence[Headline] | None = None
) -> list[SpecBoard]:
    """Per board: the datasheet peak against the MACs/s each model achieved on inference.

    The achieved figure is the measured one where there is one, else the toolchain's compiled
    estimate, else npubench's prediction (each badged); emulator timings are left out.
    """
    results = list(results)
    heads = headlines(results) if heads is None else heads
    e2e = {(h.model, row.target): row for h in heads for row in h.latency if row.complete}
    picks: dict[tuple[str, str], BenchResult] = {}
    for r in results:
        macs = r.details.get("macs") or r.compiler.get("nn_macs")
        inference = r.latency_us.get("inference")
        if r.status != "ok" or not macs or not inference or is_emulator(r):
            continue
        key = (r.model, r.target)
        code = basis(r).code
        rank = (_ACHIEVED_PREFERENCE.index(code), float(inference))
        old = picks.get(key)
        if old is None:
            picks[key] = r
            continue
        old_code = basis(old).code
        if rank < (_ACHIEVED_PREFERENCE.index(old_code), float(old.latency_us["inference"] or 0)):
            picks[key] = r
    boards: dict[str, SpecBoard] = {}
    for (model, target), r in sorted(picks.items(), key=lambda item: (item[0][1], item[0][0])):
        p = peak(target, npu_clock_mhz(r))
        sb = boards.setdefault(target, SpecBoard(target, []))
        if p not in sb.peaks:
            sb.peaks.append(p)
        row = e2e.get((model, target))
        sb.achieved.append(
            Achieved(
                model=model,
                target=target,
                macs=float(r.details.get("macs") or r.compiler.get("nn_macs") or 0),
                basis=basis(r),
                inference_us=float(r.latency_us["inference"] or 0.0),
                peak=p,
                total_us=row.value if row else None,
                total_basis=row.basis if row else None,
            )
        )
    return list(boards.values())


# -- stage split as a share -----------------------------------------------------------------

SHARE_GROUPS: dict[str, tuple[str, ...]] = {
    "init": ("init",),
    "memory I/O": ("input_io", "output_io"),
    "inference": ("inference",),
    "post-processing": ("postprocess",),
}
SHARE_COLOURS: dict[str, str] = {
    "init": STAGE_COLOURS["init"],
    "memory I/O": STAGE_COLOURS["input_io"],
    "inference": STAGE_COLOURS["inference"],
    "post-processing": STAGE_COLOURS["postprocess"],
}


@dataclass(frozen=True)
class ShareRow:
    target: str
    basis: Basis
    total_us: float
    parts_us: dict[str, float]

    def share(self, group: str) -> float:
        return 100.0 * self.parts_us[group] / self.total_us if self.total_us else 0.0


def stage_shares(head: Headline) -> list[ShareRow]:
    """The end-to-end figure of each ranked board, split into init, memory I/O, inference and
    post-processing (boards with every stage known; in ranking order)."""
    rows = []
    for row in head.latency:
        lat = row.result.latency_us
        if not row.complete or any(lat.get(s) is None for s in STAGES):
            continue
        parts = {g: float(sum(lat[s] or 0.0 for s in ss)) for g, ss in SHARE_GROUPS.items()}
        rows.append(ShareRow(row.target, row.basis, row.value, parts))
    return rows


# -- ideal scaling --------------------------------------------------------------------------


def ideal_line(points: Sequence[ScalingPoint], attr: str) -> list[tuple[float, float]]:
    """Time ∝ MACs through the largest model's point, over the series' MAC range."""
    known = [p for p in points if getattr(p, attr) is not None]
    if len(known) < 2:
        return []
    anchor = max(known, key=lambda p: p.macs)
    t = float(getattr(anchor, attr))
    lo = min(p.macs for p in known)
    return [(lo, t * lo / anchor.macs), (anchor.macs, t)]


def scaling_slope(points: Sequence[ScalingPoint], attr: str) -> float | None:
    """The log–log slope of latency against MACs (1 = ideal scaling, 0 = a fixed cost)."""
    xy = [
        (math.log(p.macs), math.log(float(getattr(p, attr))))
        for p in points
        if getattr(p, attr) and p.macs > 0
    ]
    if len(xy) < 2 or len({x for x, _ in xy}) < 2:
        return None
    mx = sum(x for x, _ in xy) / len(xy)
    my = sum(y for _, y in xy) / len(xy)
    sxx = sum((x - mx) ** 2 for x, _ in xy)
    return sum((x - mx) * (y - my) for x, y in xy) / sxx if sxx else None


# -- emulator timings -----------------------------------------------------------------------


def emulator_bars(results: Iterable[BenchResult]) -> list[StageBar]:
    """Stage bars of every emulator timing, for their own panel (never mixed with boards)."""
    return stage_bars([e for e in entries(results) if is_emulator(e.result)])


def board_entries(model_entries: Sequence[Entry]) -> list[Entry]:
    """The entries of a model without emulator timings (which have their own panel)."""
    return [e for e in model_entries if not is_emulator(e.result)]


# -- provenance, de-duplicated --------------------------------------------------------------


@dataclass(frozen=True)
class ProvenanceGroup:
    what: str  # "toolchains", "options", "host", "npubench"
    value: str
    applies_to: tuple[str, ...]  # "model · target · kind" of every result it applies to


def _result_label(e: Entry) -> str:
    return f"{e.result.model} · {e.target} · {e.kind_label}"


def provenance_groups(results: Iterable[BenchResult]) -> list[ProvenanceGroup]:
    """Each distinct toolchain string, option set, host and npubench version once, with the
    results it applies to."""
    rows = provenance_rows(results)
    labels = [_result_label(e) for e in entries(results)]
    grouped: dict[tuple[str, str], list[str]] = {}
    for label, row in zip(labels, rows, strict=True):
        for what, key in (
            ("toolchains", "toolchains"),
            ("options", "options"),
            ("host", "host"),
            ("npubench", "npubench"),
        ):
            grouped.setdefault((what, row[key]), []).append(label)
    order = ("toolchains", "options", "host", "npubench")
    return [
        ProvenanceGroup(what, value, tuple(applies))
        for (what, value), applies in sorted(grouped.items(), key=lambda i: order.index(i[0][0]))
    ]


@dataclass(frozen=True)
class ModelProvenance:
    model: str
    hashes: str
    source: str
    calibration: str
    times: str  # earliest–latest time the model's results were made


def model_provenance(results: Iterable[BenchResult]) -> list[ModelProvenance]:
    by: dict[str, list[BenchResult]] = {}
    for r in results:
        by.setdefault(r.model, []).append(r)
    out = []
    for model in sorted(by):
        rs = by[model]
        p = next((r.provenance for r in rs if r.provenance.get("model_sha256")), rs[0].provenance)
        hashes = "; ".join(
            f"{name} {short_hash(p[key])}"
            for name, key in (("model", "model_sha256"), ("source", "source_sha256"))
            if p.get(key)
        )
        times = sorted(str(t) for r in rs if (t := r.provenance.get("time_utc")))
        span = (
            "–" if not times else times[0] if times[0] == times[-1] else f"{times[0]} – {times[-1]}"
        )
        calibrations = sorted({str(r.fidelity.calibration or "–") for r in rs})
        out.append(
            ModelProvenance(
                model,
                hashes or "–",
                str(p.get("source") or "–"),
                ", ".join(short_hash(c, 16) for c in calibrations),
                span,
            )
        )
    return out


# -- predicted against measured, from `npubench validate --json` ----------------------------


@dataclass(frozen=True)
class ValidationPoint:
    board: str
    model: str
    measured_us: float
    predicted_us: float
    low_us: float | None
    high_us: float | None
    lomo_us: float | None
    loso_us: float | None
    basis: str

    @property
    def inside(self) -> bool | None:
        if self.low_us is None or self.high_us is None:
            return None
        return self.low_us <= self.measured_us <= self.high_us

    @property
    def ratio(self) -> float:
        return self.predicted_us / self.measured_us if self.measured_us else float("nan")


def _float(x: Any) -> float | None:
    try:
        value = float(x)
    except (TypeError, ValueError):
        return None
    return value if math.isfinite(value) else None


def validation_points(validation: Any) -> list[ValidationPoint]:
    """The rows of ``npubench validate --json`` (a dict with "rows", or the list of rows)."""
    if validation is None:
        return []
    rows = validation.get("rows", []) if isinstance(validation, dict) else validation
    out = []
    for row in rows if isinstance(rows, list) else []:
        if not isinstance(row, dict):
            continue
        measured, predicted = _float(row.get("measured_us")), _float(row.get("predicted_us"))
        if not measured or predicted is None:
            continue
        out.append(
            ValidationPoint(
                board=str(row.get("board", "?")),
                model=str(row.get("model", "?")).removeprefix("zoo:"),
                measured_us=measured,
                predicted_us=predicted,
                low_us=_float(row.get("low_us")),
                high_us=_float(row.get("high_us")),
                lomo_us=_float(row.get("lomo_us")),
                loso_us=_float(row.get("loso_us")),
                basis=str(row.get("basis") or ""),
            )
        )
    return sorted(out, key=lambda p: (p.board, p.model))


def validation_scopes(validation: Any) -> list[dict[str, Any]]:
    """Per-board summaries of ``npubench validate --json`` (median / worst ratio errors)."""
    if not isinstance(validation, dict):
        return []
    return [b for b in validation.get("boards", []) if isinstance(b, dict)]


# -- the figure plan: every figure once, for every renderer ---------------------------------

FIGURE_KINDS: tuple[str, ...] = (
    "spec",
    "scaling",
    "stages",
    "shares",
    "energy",
    "memory",
    "ops",
    "emulator",
    "pred-vs-meas",
    "pred-error",
    "validation",
    "fidelity",
)


@dataclass(frozen=True)
class FigurePlan:
    """One figure: what it shows (the view), its words, and where it goes.

    The HTML report (plotly), the paper figures (matplotlib) and the Markdown report (a data
    table per figure) draw from the same plan, so a figure is added once here and every
    renderer must draw it (``tests/unit/test_report_views.py`` checks that each has a builder
    for every kind).
    """

    key: str  # unique and id-safe: the HTML element is plot-<key>
    kind: str  # one of FIGURE_KINDS
    section: str  # "spec", "model:<name>", "emulators", "prediction", "validation", "fidelity"
    stem: str  # file name of the paper figure, without suffix
    title: str
    caption: str
    view: Any
    log: bool = False  # latency (or rate) axis on a log scale


_LOG_NOTE = (
    " The latency axis is logarithmic because the values span more than 10×; stacked "
    "segments are then not to scale (hover, or the share figure, for the split)."
)


def _stage_caption(model: str, log: bool) -> str:
    return (
        f"Latency of one inference of {model}, split into the five stages, per board and kind "
        "of figure (compiled = the toolchain's estimate, which has the inference stage only; "
        "predicted = npubench's model; measured = timed on the board). The black tick is the "
        "total (labelled in ms; * = sum of the known stages only); its error bar is the "
        "uncertainty interval where one is known. Boards that do not fit or failed have no "
        "bars and are labelled. Emulator timings are in their own panel."
        + (_LOG_NOTE if log else "")
    )


def figure_plan(results: Sequence[BenchResult], validation: Any = None) -> list[FigurePlan]:
    """Every figure of the report, in page order, with the view each draws."""
    results = list(results)
    plans: list[FigurePlan] = []
    heads = {h.model: h for h in headlines(results)}
    spec = spec_silicon(results, list(heads.values()))
    if spec:
        rates = [a.macs_per_s for b in spec for a in b.achieved]
        rates += [p.macs_per_s for b in spec for p in b.peaks if p.macs_per_s]
        plans.append(
            FigurePlan(
                "spec-silicon",
                "spec",
                "spec",
                "spec_silicon",
                "Datasheet peak against achieved MACs per second",
                "Per board, the datasheet peak (black bar: NPU MACs per cycle × NPU clock, or "
                "the vendor's peak GOPS / 2) against the multiply-accumulates per second each "
                "model achieved on the inference stage (points; the marker shape is the basis: "
                "measured, compiled by the toolchain, or predicted). The gap between a point "
                "and the bar is what the spec sheet promises and the silicon does not deliver. "
                "Boards without an NPU have no peak.",
                spec,
                log_axis(rates),
            )
        )
    series = scaling_series(results)
    if series:
        plans.append(
            FigurePlan(
                "scaling",
                "scaling",
                "spec",
                "scaling",
                "Latency against model size (MACs)",
                "Latency of each model against its multiply-accumulate count, one line per "
                "board and kind (solid = measured, dashed = predicted, dotted = compiled), on "
                "log–log axes. Left: the inference stage; right: the whole inference (all five "
                "stages, where known). The thin grey line of each board is ideal scaling, time "
                "∝ MACs through its largest model; the legend gives the fitted log–log slope "
                "(1 = ideal, 0 = a fixed cost). Lines flatter than ideal are the study's "
                "unexpected scaling: set-up and I/O dominate, so smaller models gain little. "
                "Where a board has Size and Performance builds, the Performance build is drawn.",
                series,
                True,
            )
        )
    for model, model_entries in by_model(results).items():
        name = slug(model)
        section = f"model:{model}"
        bars = stage_bars(board_entries(model_entries))
        if bars:
            log = log_axis(b.total_us for b in bars)
            plans.append(
                FigurePlan(
                    f"stages-{name}",
                    "stages",
                    section,
                    f"stages_{name}",
                    f"{model}: latency per stage",
                    _stage_caption(model, log),
                    bars,
                    log,
                )
            )
        head = heads.get(model)
        shares = stage_shares(head) if head else []
        if shares:
            plans.append(
                FigurePlan(
                    f"shares-{name}",
                    "shares",
                    section,
                    f"shares_{name}",
                    f"{model}: where the time goes (share of end to end)",
                    f"The end-to-end latency of {model} on each ranked board (the headline's "
                    "figure, badged by its basis) split into init, memory I/O (input and output "
                    "copies), inference and post-processing, as a share of the total. A board "
                    "whose inference share is small gains little from a faster NPU.",
                    shares,
                )
            )
        energy = energy_bars(model_entries)
        if energy:
            plans.append(
                FigurePlan(
                    f"energy-{name}",
                    "energy",
                    section,
                    f"energy_{name}",
                    f"{model}: energy and power per inference",
                    f"Energy of one inference of {model} (all five stages), in total and net of "
                    "the board's idle power, and the average power over the inference, per board "
                    "and kind. Compiled results carry no power figures and are not shown.",
                    energy,
                )
            )
        memory = memory_rows(model_entries)
        if memory:
            plans.append(
                FigurePlan(
                    f"memory-{name}",
                    "memory",
                    section,
                    f"memory_{name}",
                    f"{model}: memory use against capacity",
                    f"Memory {model} needs on each board as a share of the memory's capacity; "
                    "the dashed line at 100 % is the capacity. Bars past it (vermilion, labelled "
                    "DOES NOT FIT) mark memories that are too small. Labels give used / capacity "
                    "in KiB.",
                    memory,
                )
            )
        ops = op_rows(model_entries)
        if ops:
            plans.append(
                FigurePlan(
                    f"ops-{name}",
                    "ops",
                    section,
                    f"ops_{name}",
                    f"{model}: operators on the NPU and the CPU",
                    f"Number of operators of {model} each board's toolchain places on the NPU "
                    "and leaves to the CPU (CPU includes operators the NPU does not support).",
                    ops,
                )
            )
    emulated = emulator_bars(results)
    if emulated:
        log = log_axis(b.total_us for b in emulated)
        plans.append(
            FigurePlan(
                "emulator-stages",
                "emulator",
                "emulators",
                "emulator_stages",
                "Emulator timings per stage (not cycle-accurate)",
                "Latency per stage of every model timed on an emulator (QEMU), per emulated "
                "board. An emulator shows that a model runs and what it computes; its timings "
                "are nominal, not the speed of silicon, so they are kept out of the rankings "
                "and the board figures." + (_LOG_NOTE if log else ""),
                emulated,
                log,
            )
        )
    pairs = prediction_pairs(results)
    if pairs:
        values = [
            x
            for p in pairs
            for x in (p.measured.latency_us.get("total"), p.predicted.latency_us.get("total"))
        ]
        plans.append(
            FigurePlan(
                "pred-vs-meas",
                "pred-vs-meas",
                "prediction",
                "pred_vs_meas",
                "Predicted against measured latency",
                "Total latency npubench predicted against the latency measured on the board, "
                "for every model and board with both (same optimise mode and clock). Points on "
                "the solid line are exact; dotted lines are ±20 %. Hover for the error in %; "
                "the table below gives it per stage.",
                pairs,
                log_axis(values),
            )
        )
        plans.append(
            FigurePlan(
                "pred-error",
                "pred-error",
                "prediction",
                "pred_error",
                "Prediction error per stage",
                "Error of each predicted stage against the measured one, (predicted − "
                "measured) / measured in %, per model and board; positive = the prediction is "
                "too slow. Stages not timed on the board have no bar.",
                pairs,
            )
        )
    points = validation_points(validation)
    if points:
        values = [x for p in points for x in (p.measured_us, p.predicted_us)]
        plans.append(
            FigurePlan(
                "validation",
                "validation",
                "validation",
                "validation",
                "Prediction fidelity: predicted against measured (npubench validate)",
                "Every reference measurement npubench validates against: the inference latency "
                "predicted now (filled marker, with its 90 % interval as an error bar) against "
                "the measured one, per board; hollow markers are the out-of-sample predictions "
                "(leave one model out, leave one source out). Points on the solid line are "
                "exact; dotted lines are ±20 %.",
                points,
                log_axis(values),
            )
        )
    fidelity = fidelity_rows(results)
    if fidelity:
        plans.append(
            FigurePlan(
                "fidelity",
                "fidelity",
                "fidelity",
                "fidelity",
                "Quantization fidelity (int8 against float)",
                "What int8 quantization costs each model, on samples not used for calibration: "
                "signal-to-quantization-noise ratio of the outputs (higher is better) and the "
                "share of samples whose top-1 class matches the float model (classifiers only).",
                fidelity,
            )
        )
    return plans


# -- each figure's numbers as a table (the Markdown report prints these) --------------------


def _n(x: float | None, fmt: str = ".3g") -> str:
    return "–" if x is None or not math.isfinite(x) else format(x, fmt)


def _ms_cell(us: float | None) -> str:
    return "–" if us is None else f"{us / 1000:.3f}"


def figure_table(plan: FigurePlan) -> tuple[list[str], list[list[str]]]:
    """The numbers a figure draws, as headers and rows of plain (unescaped) text."""
    view = plan.view
    if plan.kind == "spec":
        rows = []
        for b in view:
            for a in b.achieved:
                util = a.utilisation
                rows.append(
                    [
                        a.target,
                        a.model,
                        _n(a.peak.macs_per_s / 1e9 if a.peak.macs_per_s else None),
                        _n(a.macs_per_s / 1e9),
                        "–" if util is None else f"{100 * util:.0f}%",
                        a.basis.label,
                    ]
                )
        return ["board", "model", "peak GMAC/s", "achieved GMAC/s", "of peak", "basis"], rows
    if plan.kind == "scaling":
        rows = []
        for s in view:
            slope = scaling_slope(s.points, "total_us") or scaling_slope(s.points, "inference_us")
            for p in s.points:
                rows.append(
                    [
                        s.label,
                        p.model,
                        _n(p.macs / 1e6),
                        _ms_cell(p.inference_us),
                        _ms_cell(p.total_us),
                        _n(slope, ".2f"),
                    ]
                )
        return ["series", "model", "MACs (M)", "inference (ms)", "total (ms)", "slope"], rows
    if plan.kind in ("stages", "emulator"):
        headers = ["board", "model" if plan.kind == "emulator" else "kind"]
        headers += [f"{STAGE_LABELS[s]} (ms)" for s in STAGES] + ["total (ms)", "note"]
        rows = [
            [
                b.entry.target_label,
                b.entry.result.model if plan.kind == "emulator" else b.entry.kind_label,
                *[_ms_cell(b.stages_us[s]) for s in STAGES],
                _ms_cell(b.total_us) + ("" if b.total_complete or b.total_us is None else "*"),
                b.note or "",
            ]
            for b in view
        ]
        return headers, rows
    if plan.kind == "shares":
        return ["board", "basis", "total (ms)", *[f"{g} %" for g in SHARE_GROUPS]], [
            [
                r.target,
                r.basis.label,
                _ms_cell(r.total_us),
                *[f"{r.share(g):.0f}" for g in SHARE_GROUPS],
            ]
            for r in view
        ]
    if plan.kind == "energy":
        return ["board", "kind", "energy (µJ)", "net (µJ)", "avg power (mW)"], [
            [
                b.entry.target_label,
                b.entry.kind_label,
                _n(b.energy_uj),
                _n(b.net_energy_uj),
                _n(b.average_power_mw),
            ]
            for b in view
        ]
    if plan.kind == "memory":
        return ["board · memory", "used (KiB)", "capacity (KiB)", "% of capacity"], [
            [
                r.label,
                f"{r.used_bytes / 1024:.1f}",
                "?" if r.capacity_bytes is None else f"{r.capacity_bytes / 1024:.1f}",
                _n(r.percent, ".1f") + ("" if r.fits else " (does not fit)"),
            ]
            for r in view
        ]
    if plan.kind == "ops":
        return ["board", "NPU ops", "CPU ops"], [[r.label, str(r.npu), str(r.cpu)] for r in view]
    if plan.kind in ("pred-vs-meas", "pred-error"):
        return ["model · board", "predicted (ms)", "measured (ms)", "error"], [
            [
                p.label,
                _ms_cell(p.predicted.latency_us.get("total")),
                _ms_cell(p.measured.latency_us.get("total")),
                "–" if (e := p.error_pct("total")) is None else f"{e:+.1f}%",
            ]
            for p in view
        ]
    if plan.kind == "validation":
        return [
            "board",
            "model",
            "measured (ms)",
            "predicted (ms)",
            "interval (ms)",
            "ratio",
            "LOMO (ms)",
            "LOSO (ms)",
        ], [
            [
                p.board,
                p.model,
                _ms_cell(p.measured_us),
                _ms_cell(p.predicted_us),
                "–"
                if p.low_us is None or p.high_us is None
                else f"{_ms_cell(p.low_us)}–{_ms_cell(p.high_us)}",
                _n(p.ratio, ".2f"),
                _ms_cell(p.lomo_us),
                _ms_cell(p.loso_us),
            ]
            for p in view
        ]
    if plan.kind == "fidelity":
        return ["model", "SQNR (dB)", "top-1 agreement", "calibration"], [
            [
                f.model,
                _n(f.sqnr_db, ".1f"),
                "–" if f.top1_agreement is None else f"{100 * f.top1_agreement:.1f}%",
                short_hash(f.calibration, 16),
            ]
            for f in view
        ]
    raise ValueError(f"no table for figure kind {plan.kind!r}")
