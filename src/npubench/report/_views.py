"""Renderer-independent views of results: what each report figure shows, as plain data.

The HTML report (plotly) and the paper figures (matplotlib) draw the same figures; this module
decides once which numbers go into each, so the two cannot drift apart. It only groups, sorts,
labels and sums what results already carry (reports never compute figures of their own).

May import ``npubench``, ``npubench.errors``, ``npubench.schema`` and (lazily, to tell emulators
from boards) ``npubench.targets``.
"""

from __future__ import annotations

import json
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
        "compiled": "compiled: the vendor compiler's estimate (Vela)",
        "predicted": "predicted: npubench's performance model",
        "measured": "measured: timed on the board",
    }[kind]


@cache
def _board_kind(target: str) -> str | None:
    from npubench.errors import NpubenchError

    try:
        from npubench.targets import get_target

        return get_target(target).kind
    except NpubenchError:
        return None


def is_emulator(r: BenchResult) -> bool:
    """True for figures from an emulator, whose timings are not cycle-accurate."""
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
