"""Power per stage and energy per inference from a board's power figures (or calibrated levels).

Levels: init, input_io, output_io and postprocess run on the CPU (``active_cpu_mw``); the NPU part
of inference at ``active_npu_mw`` (CPU + NPU busy; ``active_cpu_mw`` when the board gives none)
and its CPU-fallback layers at ``active_cpu_mw``; idle at ``idle_mw``. A calibrated board's
params file may override the levels (``[power]``, e.g. measured from a trace).

At a clock other than the board's default, the active part above idle is scaled linearly with
the clock (dynamic power ∝ f at fixed voltage; an assumption, stated in the notes).

Energy per stage = power x time (mW x µs = nJ; reported in µJ); total = sum of stages;
net = total - idle power x total time (what the inference costs above leaving the board idle).
Spreads: levels from a measurement ±(their spread in the trace or 5%), datasheet/paper figures
±20% (board-level vs datasheet conditions), assumptions x/÷2.

May import errors, targets, predict.latency, predict.uncertainty.
"""

from __future__ import annotations

from dataclasses import dataclass, field

from npubench import STAGES
from npubench.predict.latency import LatencyPrediction
from npubench.predict.parameters import Param, ParamSet
from npubench.predict.uncertainty import Spread, product_bounds
from npubench.targets.schema import Board, Figure

MEASURED_SPREAD = 0.05
DATASHEET_SPREAD = 0.20
ASSUMPTION_FACTOR = 2.0


@dataclass(frozen=True)
class Level:
    """One power level (mW) with its interval and where it comes from."""

    mw: float
    low: float
    high: float
    source: str


@dataclass(frozen=True)
class PowerLevels:
    active_cpu: Level
    active_npu: Level
    idle: Level
    notes: tuple[str, ...] = ()


def _spread_for(kind: str, provenance: dict[str, object] | None = None) -> Spread:
    if kind == "measurement":
        rel = float((provenance or {}).get("spread_relative", MEASURED_SPREAD))
        return Spread("relative", max(rel, 0.005), "measurement")
    if kind == "assumption":
        return Spread("factor", ASSUMPTION_FACTOR, "assumption")
    return Spread("relative", DATASHEET_SPREAD, kind)


def _level(value: float, spread: Spread, source: str) -> Level:
    lo, hi = spread.bounds(value)
    return Level(value, lo, hi, source)


def _from_param(p: Param) -> Level:
    return _level(p.value, _spread_for(p.source_kind, p.provenance), p.source)


def _from_figure(board: Board, fig: Figure) -> Level:
    kind = board.sources[fig.source].kind if fig.source in board.sources else "assumption"
    return _level(fig.value, _spread_for(kind), fig.source)


def _scaled(level: Level, idle: Level, ratio: float) -> Level:
    """Active level at ``ratio`` x the default clock: the part above idle scales with f."""
    if ratio == 1.0:
        return level
    return Level(
        idle.mw + (level.mw - idle.mw) * ratio,
        idle.low + max(level.low - idle.low, 0.0) * ratio,
        idle.high + (level.high - idle.high) * ratio if level.high > idle.high else level.high,
        level.source,
    )


def power_levels(board: Board, params: ParamSet, clock_ratio: float = 1.0) -> PowerLevels | None:
    """The board's power levels (calibrated ones first), or None when it lists no power."""
    notes: list[str] = []
    if {"active_cpu_mw", "idle_mw"} <= params.power.keys():
        cpu = _from_param(params.power["active_cpu_mw"])
        idle = _from_param(params.power["idle_mw"])
        npu_p = params.power.get("active_npu_mw")
        npu = _from_param(npu_p) if npu_p else cpu
        notes.append(f"power levels from params ({params.power['active_cpu_mw'].source})")
    elif board.power is not None:
        cpu = _from_figure(board, board.power.active_cpu_mw)
        idle = _from_figure(board, board.power.idle_mw)
        fig = board.power.active_npu_mw
        npu = _from_figure(board, fig) if fig else cpu
        if fig is None and board.npu is not None:
            notes.append("no NPU-active power figure: inference taken at CPU-active power")
        notes.append(f"power levels from the board file ({board.power.level} level)")
    else:
        return None
    if clock_ratio != 1.0:
        cpu, npu = _scaled(cpu, idle, clock_ratio), _scaled(npu, idle, clock_ratio)
        notes.append(
            f"active power above idle scaled by {clock_ratio:g} with the clock (assumption)"
        )
    return PowerLevels(cpu, npu, idle, tuple(notes))


@dataclass
class EnergyPrediction:
    """Power per stage (mW), energy per stage (µJ), their intervals, total and net."""

    power_mw: dict[str, float]
    power_interval: dict[str, tuple[float, float]]
    energy_uj: dict[str, float]
    energy_interval: dict[str, tuple[float, float]]
    notes: list[str] = field(default_factory=list)


def _mix(a: Level, wa: float, b: Level, wb: float) -> Level:
    """Time-weighted level of two parts of one stage (weights: their durations)."""
    total = wa + wb
    if total <= 0:
        return a
    return Level(
        (a.mw * wa + b.mw * wb) / total,
        (a.low * wa + b.low * wb) / total,
        (a.high * wa + b.high * wb) / total,
        a.source,
    )


def predict_energy(latency: LatencyPrediction, levels: PowerLevels) -> EnergyPrediction:
    """Per-stage power and energy, total and net energy, each with an interval."""
    stage_level: dict[str, Level] = {s: levels.active_cpu for s in STAGES}
    stage_level["inference"] = _mix(
        levels.active_npu, latency.npu_us, levels.active_cpu, latency.cpu_us
    )
    power: dict[str, float] = {}
    power_iv: dict[str, tuple[float, float]] = {}
    energy: dict[str, float] = {}
    energy_iv: dict[str, tuple[float, float]] = {}
    total_us = 0.0
    for stage in STAGES:
        est = latency.stages[stage]
        lvl = stage_level[stage]
        power[stage] = lvl.mw
        power_iv[stage] = (lvl.low, lvl.high)
        energy[stage] = lvl.mw * est.value_us / 1000.0
        lo, hi = product_bounds((lvl.low, lvl.high), (est.low_us, est.high_us))
        energy_iv[stage] = (lo / 1000.0, hi / 1000.0)
        total_us += est.value_us
    energy["total"] = sum(energy[s] for s in STAGES)
    energy_iv["total"] = (
        sum(energy_iv[s][0] for s in STAGES),
        sum(energy_iv[s][1] for s in STAGES),
    )
    idle = levels.idle
    energy["net"] = energy["total"] - idle.mw * total_us / 1000.0
    # Net bounds: each stage's (P - idle) x t at the ends of both intervals, never below zero.
    net_lo = net_hi = 0.0
    for stage in STAGES:
        est, lvl = latency.stages[stage], stage_level[stage]
        net_lo += max(lvl.low - idle.high, 0.0) * est.low_us / 1000.0
        net_hi += max(lvl.high - idle.low, 0.0) * est.high_us / 1000.0
    energy_iv["net"] = (min(net_lo, energy["net"]), max(net_hi, energy["net"]))
    power["average"] = energy["total"] / total_us * 1000.0 if total_us > 0 else idle.mw
    power["idle"] = idle.mw
    power_iv["idle"] = (idle.low, idle.high)
    power_iv["average"] = (
        min(lvl.low for lvl in stage_level.values()),
        max(lvl.high for lvl in stage_level.values()),
    )
    return EnergyPrediction(power, power_iv, energy, energy_iv, list(levels.notes))
