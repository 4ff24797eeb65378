"""Per-stage latency models (init, input_io, inference, output_io, postprocess) per NPU family.

One roofline-style model serves every family; what differs is data in ``predict/params``:

- NPU layers: ``cycles = max(compute, memory) + layer_overhead`` with
  ``compute = MACs / (macs_per_cycle x utilisation x channel/kernel efficiency)`` (element-wise
  ops: elements / elements_per_cycle) and ``memory = weight bytes / weight-memory bandwidth
  (when weights stream during inference) + activation bytes / data-memory bandwidth + latencies``,
  bandwidths converted to NPU cycles through each memory's clock domain.
- CPU-fallback layers: ``cpu_cost`` (cycles per MAC / element per (core, op class)).
- with a toolchain's ``CompileReport`` ("compiled" mode): NPU cycles are the tool's (Vela's,
  rknn's, ...) at the board clock.
- inference = ``inference_fixed_cycles`` (CPU, runtime call) + ``inference_scale`` x NPU time +
  CPU-layer time; calibrated boards fit ``inference_fixed_cycles`` and ``inference_scale``.
- init = fixed + per layer + (for chips that load weights at start-up, e.g. the MAX78000 CNN
  weight memory) weight bytes / source-memory bandwidth x an overhead factor.
- input_io / output_io = fixed + bytes x cycles/byte on the host CPU.
- postprocess = per-element host cost of the model's post-processing (softmax, sigmoid, YOLO).

Parameters resolve ``common`` -> ``<family>`` -> ``<board>`` (later files override); every file
is read once per process. May import errors, schema, targets, analysis, predict.cpu_cost,
predict.uncertainty and predict.fit (its shared board and placement helpers).
"""

from __future__ import annotations

import math
from dataclasses import dataclass, field
from functools import cache
from importlib import resources
from importlib.resources.abc import Traversable
from typing import Any

from npubench import STAGES
from npubench.analysis.graph_types import GraphAnalysis, LayerInfo
from npubench.data import read_packaged_toml
from npubench.errors import NpubenchError
from npubench.predict import cpu_cost
from npubench.predict.rules.base import has_npu, largest, placement_by_index, runs_on_cpu
from npubench.predict.uncertainty import Spread, chain, sum_bounds
from npubench.schema import LayerPlacement
from npubench.targets.schema import Board, Memory

POSTPROCESS_KINDS = ("softmax", "sigmoid", "yolo", "none")


class PredictError(NpubenchError):
    """A prediction cannot be made: bad parameters file, impossible clock, unknown option."""


# --- parameters ------------------------------------------------------------------------------


@dataclass(frozen=True)
class Param:
    """One free parameter with its provenance (source key and kind, fit details)."""

    value: float
    source: str
    source_kind: str
    provenance: dict[str, Any] = field(default_factory=dict)


@dataclass(frozen=True)
class ParamSet:
    """The parameters one board's predictions use, merged from its files."""

    board: str
    family: str
    params: dict[str, Param]
    spreads: dict[str, Spread]
    power: dict[str, Param]
    calibrated: bool
    basis: str
    files: tuple[str, ...]
    vela_cycles: dict[str, dict[str, Any]]

    def value(self, name: str, default: float | None = None) -> float:
        if name in self.params:
            return self.params[name].value
        if default is None:
            raise PredictError(
                f"prediction parameter {name!r} is missing for {self.board} ({self.family})",
                f"add it to src/npubench/predict/params/{self.family}.toml or common.toml",
            )
        return default

    def has(self, name: str) -> bool:
        return name in self.params

    def spread(self, name: str) -> Spread:
        if name not in self.spreads:
            raise PredictError(
                f"no uncertainty {name!r} for {self.board} ({self.family})",
                "add it under [uncertainty] in the family's params file",
            )
        return self.spreads[name]


def params_dir() -> Traversable:
    return resources.files("npubench.predict") / "params"


def read_params_file(name: str) -> dict[str, Any] | None:
    """One parsed ``params/<name>.toml`` (None when there is none), read once per process."""
    return read_packaged_toml("npubench.predict", f"params/{name}.toml", PredictError, True)


def parse_params_data(
    data: dict[str, Any], name: str
) -> tuple[dict[str, Param], dict[str, Spread], dict[str, Param], dict[str, Any]]:
    """Params, spreads, power levels and meta of one params file, sources checked."""
    sources: dict[str, dict[str, Any]] = data.get("sources", {})

    def kind_of(where: str, entry: dict[str, Any]) -> str:
        src = entry.get("source")
        if src not in sources:
            raise PredictError(
                f"params file {name}.toml: {where} cites undeclared source {src!r}",
                "declare it under [sources]",
            )
        return str(sources[src].get("kind", ""))

    params: dict[str, Param] = {}
    for key, entry in data.get("params", {}).items():
        kind = kind_of(f"[params].{key}", entry)
        extra = {k: v for k, v in entry.items() if k not in ("value", "source")}
        params[key] = Param(float(entry["value"]), entry["source"], kind, extra)
    spreads: dict[str, Spread] = {}
    for key, entry in data.get("uncertainty", {}).items():
        kind_of(f"[uncertainty].{key}", entry)
        spreads[key] = Spread(entry["kind"], float(entry["value"]), entry["source"])
    power: dict[str, Param] = {}
    for key, entry in data.get("power", {}).items():
        kind = kind_of(f"[power].{key}", entry)
        extra = {k: v for k, v in entry.items() if k not in ("value", "source")}
        power[key] = Param(float(entry["value"]), entry["source"], kind, extra)
    return params, spreads, power, data.get("meta", {})


def build_param_set(
    board_name: str, family: str, files: list[tuple[str, dict[str, Any] | None]]
) -> ParamSet:
    """Merge parsed params files in order (later override earlier) into one ``ParamSet``.

    ``files`` = [(name, data or None)]; only the board's own file (``name == board_name``) can
    mark the set as calibrated.
    """
    params: dict[str, Param] = {}
    spreads: dict[str, Spread] = {}
    power: dict[str, Param] = {}
    vela_cycles: dict[str, dict[str, Any]] = {}
    used: list[str] = []
    calibrated = False
    basis = "datasheet figures only"
    family_meta: dict[str, Any] = {}
    for name, data in files:
        if data is None:
            if name != board_name:
                raise PredictError(
                    f"params file {name}.toml is missing",
                    "reinstall npubench (package data) or add the family's params file",
                )
            continue
        p, s, pw, meta = parse_params_data(data, name)
        params.update(p)
        spreads.update(s)
        power.update(pw)
        vela_cycles.update(data.get("vela_cycles", {}))
        used.append(f"{name}.toml")
        if name == board_name and meta.get("calibrated"):
            calibrated = True
            basis = str(meta.get("basis", "calibrated on measurements"))
        elif meta.get("scope") == "family":
            family_meta = meta
    if not calibrated and family_meta.get("basis_note"):
        basis += f" ({family_meta['basis_note']})"
    return ParamSet(
        board=board_name,
        family=family,
        params=params,
        spreads=spreads,
        power=power,
        calibrated=calibrated,
        basis=basis,
        files=tuple(used),
        vela_cycles=vela_cycles,
    )


@cache
def _load_params(board_name: str, family: str) -> ParamSet:
    names = ("common", family, board_name)
    return build_param_set(board_name, family, [(n, read_params_file(n)) for n in names])


def load_params(board: Board) -> ParamSet:
    """The merged parameters for ``board`` (cached per board name and family)."""
    return _load_params(board.name, board.family)


# --- clocks ----------------------------------------------------------------------------------


@dataclass(frozen=True)
class Clocks:
    """The clocks one prediction runs at. ``ratio`` = requested / board default."""

    cpu_mhz: float
    npu_mhz: float | None
    requested_mhz: float
    ratio: float


def resolve_clocks(board: Board, clock_mhz: float | None) -> Clocks:
    """CPU and NPU clocks for a requested clock of the board's main domain (NPU if any).

    Other domains keep their default ratio to it (e.g. MAX78000: CNN = system clock / 2).
    """
    default = board.default_clock_mhz
    if clock_mhz is None:
        clock_mhz = default
    if clock_mhz <= 0 or not math.isfinite(clock_mhz):
        raise PredictError(f"clock {clock_mhz} MHz is not a positive number", "pass e.g. 100")
    if board.allowed_clocks_mhz and clock_mhz not in board.allowed_clocks_mhz:
        raise PredictError(
            f"{board.name} does not offer {clock_mhz:g} MHz",
            f"choose one of {', '.join(f'{c:g}' for c in board.allowed_clocks_mhz)} MHz",
        )
    ratio = clock_mhz / default
    cpu = board.cpu.clock_mhz.value * ratio
    npu = board.npu.clock_mhz.value * ratio if board.npu else None
    if cpu > board.cpu.max_clock_mhz.value * (1 + 1e-9):
        raise PredictError(
            f"{board.name}: {clock_mhz:g} MHz puts the CPU at {cpu:g} MHz, above its "
            f"{board.cpu.max_clock_mhz.value:g} MHz maximum",
            f"choose a clock up to {clock_mhz * board.cpu.max_clock_mhz.value / cpu:g} MHz",
        )
    if board.npu and npu is not None and npu > board.npu.max_clock_mhz.value * (1 + 1e-9):
        raise PredictError(
            f"{board.name}: the NPU cannot run at {npu:g} MHz "
            f"(maximum {board.npu.max_clock_mhz.value:g} MHz)",
            f"choose a clock up to {clock_mhz * board.npu.max_clock_mhz.value / npu:g} MHz",
        )
    return Clocks(cpu_mhz=cpu, npu_mhz=npu, requested_mhz=clock_mhz, ratio=ratio)


# --- memories --------------------------------------------------------------------------------


def memory_mhz(mem: Memory, clocks: Clocks) -> float:
    if mem.clock_domain == "memory" and mem.clock_mhz is not None:
        return mem.clock_mhz.value
    if mem.clock_domain == "npu" and clocks.npu_mhz:
        return clocks.npu_mhz
    return clocks.cpu_mhz


def bytes_per_us(mem: Memory | None, clocks: Clocks) -> float | None:
    """Bandwidth of a memory in bytes/µs at the given clocks (None: not limited/unknown)."""
    if mem is None or mem.bandwidth_bytes_per_cycle is None:
        return None
    bw = mem.bandwidth_bytes_per_cycle.value
    return bw * memory_mhz(mem, clocks) if bw > 0 else None


def latency_us(mem: Memory | None, clocks: Clocks) -> float:
    if mem is None or mem.latency_cycles is None:
        return 0.0
    return mem.latency_cycles.value / memory_mhz(mem, clocks)


@dataclass(frozen=True)
class NpuMemories:
    weights: Memory | None  # where the NPU reads weights from during inference
    data: Memory | None  # where activations live
    weight_source: Memory | None  # where the CPU loads weights from at init (chips that do)


def npu_memories(board: Board) -> NpuMemories:
    npu = board.npu
    if npu is not None and npu.weights_memory and npu.arena_memory:
        return NpuMemories(board.memory(npu.weights_memory), board.memory(npu.arena_memory), None)
    resident = largest(board, "npu_weights")
    data = largest(board, "npu_data", "sram", "tcm", "external_ram")
    rom = largest(board, "flash", "external_ram", "sram")
    return NpuMemories(resident or rom, data, rom if resident else None)


# --- layer models ----------------------------------------------------------------------------


def _granule_efficiency(n: int, granule: float) -> float:
    """Share of ``granule``-wide hardware lanes doing useful work for ``n`` channels/taps."""
    if granule <= 1 or n <= 0:
        return 1.0
    g = int(granule)
    return n / (math.ceil(n / g) * g)


@dataclass(frozen=True)
class NpuRates:
    """Everything the NPU layer model needs, resolved once per prediction (speed: NAS loops)."""

    macs_per_cycle: float
    npu_mhz: float
    util: dict[str, float]
    in_granule: float
    out_granule: float
    kernel_granule: float
    elementwise_per_cycle: float
    overhead_us: float
    weight_bytes_per_us: float | None  # None: weights do not stream (or no bandwidth figure)
    weight_latency_us: float
    data_bytes_per_us: float | None
    data_latency_us: float


def npu_rates(board: Board, params: ParamSet, clocks: Clocks, mems: NpuMemories) -> NpuRates:
    assert board.npu is not None and clocks.npu_mhz is not None
    streamed = bool(params.value("weights_streamed", 1.0))
    return NpuRates(
        macs_per_cycle=board.npu.macs_per_cycle.value * board.npu.cores,
        npu_mhz=clocks.npu_mhz,
        util={c: params.value(f"util_{c}", 1.0) for c in cpu_cost.PER_MAC_CLASSES},
        in_granule=params.value("input_channel_granule", 1.0),
        out_granule=params.value("output_channel_granule", 1.0),
        kernel_granule=params.value("kernel_granule", 1.0),
        elementwise_per_cycle=params.value("elementwise_elements_per_cycle"),
        overhead_us=params.value("layer_overhead_cycles", 0.0) / clocks.npu_mhz,
        weight_bytes_per_us=bytes_per_us(mems.weights, clocks) if streamed else None,
        weight_latency_us=latency_us(mems.weights, clocks) if streamed else 0.0,
        data_bytes_per_us=bytes_per_us(mems.data, clocks),
        data_latency_us=latency_us(mems.data, clocks),
    )


def layer_us_at(layer: LayerInfo, r: NpuRates) -> float:
    """Analytical time of one NPU layer in µs (roofline + per-layer overhead)."""
    if layer.op in cpu_cost.FREE_OPS:
        return 0.0
    cls = cpu_cost.op_class(layer.op)
    if cls in cpu_cost.PER_MAC_CLASSES and layer.macs > 0:
        eff = r.util[cls]
        if cls != "pool":
            in_c = layer.input_shapes[0][-1] if layer.input_shapes else 1
            eff *= _granule_efficiency(in_c, r.in_granule)
            eff *= _granule_efficiency(layer.output_shape[-1], r.out_granule)
            taps = layer.kernel[0] * layer.kernel[1] if layer.kernel else 1
            eff *= _granule_efficiency(taps, r.kernel_granule)
        compute_cycles = layer.macs / (r.macs_per_cycle * eff)
    else:
        compute_cycles = math.prod(layer.output_shape) / r.elementwise_per_cycle
    memory_us = r.data_latency_us
    if r.data_bytes_per_us:
        memory_us += layer.activation_bytes / r.data_bytes_per_us
    if layer.weight_bytes and r.weight_bytes_per_us is not None:
        memory_us += layer.weight_bytes / r.weight_bytes_per_us + r.weight_latency_us
    return max(compute_cycles / r.npu_mhz, memory_us) + r.overhead_us


def npu_layer_us(
    layer: LayerInfo,
    board: Board,
    params: ParamSet,
    clocks: Clocks,
    mems: NpuMemories,
) -> float:
    """Analytical time of one NPU layer in µs at the NPU clock (roofline + overhead)."""
    return layer_us_at(layer, npu_rates(board, params, clocks, mems))


def analytical_npu_cycles(
    analysis: GraphAnalysis, board: Board, params: ParamSet, clocks: Clocks
) -> float:
    """NPU cycles of all layers of ``analysis`` (all taken as NPU layers), analytical model."""
    rates = npu_rates(board, params, clocks, npu_memories(board))
    return sum(layer_us_at(lay, rates) for lay in analysis.layers) * rates.npu_mhz


# --- stage estimates -------------------------------------------------------------------------


@dataclass
class StageEstimate:
    value_us: float
    low_us: float
    high_us: float
    how: str

    def bounds(self) -> tuple[float, float]:
        return self.low_us, self.high_us


@dataclass
class LatencyPrediction:
    """Five stage estimates plus what the inference stage was made of."""

    stages: dict[str, StageEstimate]
    clocks: Clocks
    mode: str  # "compiled" (Vela cycles), "analytical" or "cpu"
    npu_us: float
    cpu_us: float
    layer_us: list[tuple[int, str, str, float]]  # (index, name, placement, µs)
    notes: list[str] = field(default_factory=list)
    cpu_cost_basis: dict[str, int] = field(default_factory=dict)  # CPU layers per cost basis

    @property
    def total_us(self) -> float:
        return sum(self.stages[s].value_us for s in STAGES)

    def total_bounds(self) -> tuple[float, float]:
        return sum_bounds(self.stages[s].bounds() for s in STAGES)


def _est(value: float, spread: Spread, how: str) -> StageEstimate:
    lo, hi = spread.bounds(value)
    return StageEstimate(value, lo, hi, how)


def dtype_bytes(dtype: str) -> int:
    return {"int8": 1, "uint8": 1, "int16": 2, "float16": 2, "int32": 4, "float32": 4}.get(dtype, 1)


def default_postprocess(analysis: GraphAnalysis) -> str:
    """Softmax for a 2-D (batch, classes) output; nothing otherwise (pass the kind to override)."""
    return "softmax" if len(analysis.output_shape) == 2 else "none"


def _host_cost(core: str, params: ParamSet, param_name: str, table_key: str) -> float:
    if params.has(param_name):
        return params.value(param_name)
    return cpu_cost.load_cpu_cost().entry(core, table_key).value


def predict_init(
    analysis: GraphAnalysis,
    board: Board,
    params: ParamSet,
    clocks: Clocks,
    npu_weight_bytes: int,
    npu_layers: int,
) -> StageEstimate:
    cycles = params.value("init_cycles") + params.value("init_cycles_per_layer", 0.0) * npu_layers
    how = "fixed set-up"
    value = cycles / clocks.cpu_mhz
    spread = params.spread("init")
    lo, hi = spread.bounds(value)
    if params.value("weights_loaded_at_init", 0.0) and npu_weight_bytes:
        source = npu_memories(board).weight_source
        bw = bytes_per_us(source, clocks) or 4.0 * clocks.cpu_mhz
        load = npu_weight_bytes / bw * params.value("weight_load_overhead", 1.0)
        wlo, whi = params.spread("weight_load").bounds(load)
        value, lo, hi = value + load, lo + wlo, hi + whi
        how += f" + {npu_weight_bytes} B of weights into NPU weight memory"
    return StageEstimate(value, lo, hi, how)


def predict_io(
    n_bytes: int, board: Board, params: ParamSet, clocks: Clocks, which: str
) -> StageEstimate:
    """input_io / output_io: fixed + bytes x cycles/byte on the host CPU."""
    core = board.cpu.core
    per_byte = _host_cost(core, params, f"{which}_cycles_per_byte", f"{which}_copy")
    cycles = params.value(f"{which}_fixed_cycles", 0.0) + n_bytes * per_byte
    return _est(
        cycles / clocks.cpu_mhz,
        params.spread(f"{which}_io"),
        f"{n_bytes} B x {per_byte:g} cycles/B on {core}",
    )


def predict_postprocess(
    analysis: GraphAnalysis, board: Board, params: ParamSet, clocks: Clocks, kind: str
) -> StageEstimate:
    if kind not in POSTPROCESS_KINDS:
        raise PredictError(
            f"unknown postprocess kind {kind!r}", f"use one of {', '.join(POSTPROCESS_KINDS)}"
        )
    if kind == "none":
        return StageEstimate(0.0, 0.0, 0.0, "no post-processing")
    elements = math.prod(analysis.output_shape[1:]) if len(analysis.output_shape) > 1 else 1
    core = board.cpu.core
    per_elem = _host_cost(core, params, f"{kind}_cycles_per_element", kind)
    cycles = params.value("postprocess_fixed_cycles", 0.0) + elements * per_elem
    name = f"postprocess_{kind}"
    spread = params.spread(name) if name in params.spreads else params.spread("postprocess")
    return _est(
        cycles / clocks.cpu_mhz, spread, f"{kind}: {elements} elements x {per_elem:g} cycles"
    )


def _cpu_layer(layer: LayerInfo, core: str, clocks: Clocks) -> tuple[float, float, float, str]:
    c = cpu_cost.layer_cycles(layer, core)
    mhz = clocks.cpu_mhz
    return c.cycles / mhz, c.low_cycles / mhz, c.high_cycles / mhz, c.basis


def predict_inference(
    analysis: GraphAnalysis,
    board: Board,
    params: ParamSet,
    clocks: Clocks,
    placement: list[LayerPlacement],
    compiled_cycles: float | None,
) -> tuple[StageEstimate, float, float, list[tuple[int, str, str, float]], str, dict[str, int]]:
    """The inference stage: NPU part (Vela or analytical) + CPU-fallback layers.

    Returns (estimate, npu µs, cpu µs, per-layer µs, mode, CPU layers per cost basis).
    """
    where = placement_by_index(placement)
    core = board.cpu.core
    layer_us: list[tuple[int, str, str, float]] = []
    cpu_us = cpu_lo = cpu_hi = 0.0
    cpu_bases: dict[str, int] = {}
    npu_raw_us = 0.0
    npu_board = has_npu(board)
    rates = npu_rates(board, params, clocks, npu_memories(board)) if npu_board else None
    for layer in analysis.layers:
        if rates is not None and not runs_on_cpu(board, where, layer.index):
            us = layer_us_at(layer, rates)
            npu_raw_us += us
            place = "npu"
        else:
            us, lo, hi, basis = _cpu_layer(layer, core, clocks)
            cpu_us, cpu_lo, cpu_hi = cpu_us + us, cpu_lo + lo, cpu_hi + hi
            cpu_bases[basis] = cpu_bases.get(basis, 0) + 1
            place = where.get(layer.index, "cpu") if npu_board else "cpu"
        layer_us.append((layer.index, layer.name, place, us))

    mode = "cpu" if not npu_board else "analytical"
    npu_us = npu_lo = npu_hi = 0.0
    if npu_board and (npu_raw_us > 0 or compiled_cycles is not None):
        assert clocks.npu_mhz is not None
        spread = params.spread("inference")
        if compiled_cycles is not None:
            mode = "compiled"
            raw_us = compiled_cycles / clocks.npu_mhz
        else:
            raw_us = npu_raw_us
            if "analytical" in params.spreads:
                spread = chain(spread, params.spread("analytical"))
        fixed_us = params.value("inference_fixed_cycles", 0.0) / clocks.cpu_mhz
        npu_us = fixed_us + params.value("inference_scale", 1.0) * raw_us
        npu_lo, npu_hi = spread.bounds(npu_us)
        if params.has("inference_alt_scale") and params.has("inference_fit_min_us"):
            # Outside the range of the calibration data, the fixed+scale fit and a pure-scale
            # fit diverge; the interval covers both (see calibrate.py).
            lo_range = params.value("inference_fit_min_us")
            hi_range = params.value("inference_fit_max_us")
            if not lo_range <= raw_us <= hi_range:
                alt = params.value("inference_alt_scale") * raw_us
                npu_lo = min(npu_lo, spread.bounds(alt)[0])
                npu_hi = max(npu_hi, spread.bounds(alt)[1])
    value = npu_us + cpu_us
    how = {
        "compiled": "the toolchain's cycles at the NPU clock",
        "analytical": "analytical NPU model",
        "cpu": "CPU kernel cost table",
    }[mode]
    if npu_board and cpu_us > 0:
        how += " + CPU-fallback layers"
    est = StageEstimate(value, npu_lo + cpu_lo, npu_hi + cpu_hi, how)
    return est, npu_us, cpu_us, layer_us, mode, cpu_bases


def predict_latency(
    analysis: GraphAnalysis,
    board: Board,
    *,
    clocks: Clocks,
    placement: list[LayerPlacement],
    compiled_cycles: float | None = None,
    postprocess: str | None = None,
    params: ParamSet | None = None,
) -> LatencyPrediction:
    """All five stages for ``analysis`` on ``board`` with the given placement."""
    params = params or load_params(board)
    where = placement_by_index(placement)
    npu_layers = [lay for lay in analysis.layers if not runs_on_cpu(board, where, lay.index)]
    npu_weight_bytes = sum(lay.weight_bytes for lay in npu_layers)
    inference, npu_us, cpu_us, layer_us, mode, cpu_bases = predict_inference(
        analysis, board, params, clocks, placement, compiled_cycles
    )
    in_bytes = math.prod(analysis.input_shape) * dtype_bytes(analysis.input_dtype)
    out_bytes = math.prod(analysis.output_shape) * dtype_bytes(analysis.output_dtype)
    kind = postprocess or default_postprocess(analysis)
    stages = {
        "init": predict_init(analysis, board, params, clocks, npu_weight_bytes, len(npu_layers)),
        "input_io": predict_io(in_bytes, board, params, clocks, "input"),
        "inference": inference,
        "output_io": predict_io(out_bytes, board, params, clocks, "output"),
        "postprocess": predict_postprocess(analysis, board, params, clocks, kind),
    }
    notes = [f"postprocess: {kind}"]
    return LatencyPrediction(stages, clocks, mode, npu_us, cpu_us, layer_us, notes, cpu_bases)
