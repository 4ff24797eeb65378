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

import dataclasses
import math
from dataclasses import dataclass, field

from npubench import STAGES
from npubench.analysis.graph_types import GraphAnalysis, LayerInfo
from npubench.predict import cpu_cost
from npubench.predict.parameters import ParamSet, PredictError, load_params
from npubench.predict.rules.base import has_npu, largest, placement_by_index, runs_on_cpu
from npubench.predict.uncertainty import Spread, chain, sum_bounds
from npubench.schema import LayerPlacement
from npubench.targets.schema import Board, Memory

POSTPROCESS_KINDS = ("softmax", "sigmoid", "yolo", "none")


# --- clocks ----------------------------------------------------------------------------------


@dataclass(frozen=True)
class Clocks:
    """The clocks one prediction runs at. ``ratio`` = requested / board default."""

    cpu_mhz: float
    npu_mhz: float | None
    requested_mhz: float
    ratio: float


def resolve_clocks(
    board: Board, clock_mhz: float | None, cpu_clock_mhz: float | None = None
) -> Clocks:
    """CPU and NPU clocks for a requested clock of the board's main domain (NPU if any).

    Other domains keep their default ratio to it (e.g. MAX78000: CNN = system clock / 2),
    unless ``cpu_clock_mhz`` sets the CPU's own (a board measured in a mode where the two are
    set apart, e.g. the STM32N6 in overdrive: NPU 1 GHz, CPU 800 MHz).
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
    cpu = board.cpu.clock_mhz.value * ratio if cpu_clock_mhz is None else float(cpu_clock_mhz)
    npu = board.npu.clock_mhz.value * ratio if board.npu else None
    if cpu <= 0 or not math.isfinite(cpu):
        raise PredictError(f"CPU clock {cpu} MHz is not a positive number", "pass e.g. 100")
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


def _scaled(value: float | None, factor: float) -> float | None:
    return None if value is None else value * factor


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
        weight_bytes_per_us=_scaled(
            bytes_per_us(mems.weights, clocks) if streamed else None,
            params.value("weights_bandwidth_scale", 1.0),
        ),
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


@dataclass
class InferenceEstimate:
    """The inference stage and what it is made of."""

    stage: StageEstimate
    npu_us: float
    cpu_us: float
    layer_us: list[tuple[int, str, str, float]]  # (index, name, placement, µs)
    mode: str  # "compiled", "analytical" or "cpu"
    cpu_bases: dict[str, int]  # CPU layers per cost basis
    notes: list[str] = field(default_factory=list)


def _cpu_layer(
    layer: LayerInfo,
    core: str,
    clocks: Clocks,
    cpu_kernels: str,
    kernels: cpu_cost.DeployedKernels | None = None,
) -> tuple[float, float, float, str]:
    c = cpu_cost.layer_cycles(layer, core, basis=cpu_kernels, kernels=kernels)
    mhz = clocks.cpu_mhz
    return c.cycles / mhz, c.low_cycles / mhz, c.high_cycles / mhz, c.basis


def domain_widening(params: ParamSet, macs: float) -> tuple[float, str | None]:
    """The extra ×/÷ factor on the interval of a model outside the MACs range the board was
    calibrated on, and the note that says so ((1.0, None) inside it, or uncalibrated).

    Outside its data a fit is only as good as its physics: the interval becomes at least the
    spread the family shows on a board nobody calibrated (``inference_unseen``, from
    leave-one-source-out), and grows by 10 % per e-fold of distance beyond the range.
    """
    if not (params.has("domain_macs_min") and params.has("domain_macs_max")) or macs <= 0:
        return 1.0, None
    lo, hi = params.value("domain_macs_min"), params.value("domain_macs_max")
    if lo <= macs <= hi:
        return 1.0, None
    outside = lo / macs if macs < lo else macs / hi
    seen = params.spread("inference").as_factor()
    unseen = (
        params.spread("inference_unseen").as_factor()
        if "inference_unseen" in params.spreads
        else seen
    )
    factor = max(unseen / seen, 1.0) * (1.0 + 0.1 * math.log(outside))
    note = (
        f"outside the calibration domain: {macs / 1e6:.3g} M MACs, calibrated on "
        f"{lo / 1e6:.3g}-{hi / 1e6:.3g} M MACs; interval widened x{factor:.2f}"
    )
    return factor, note


def predict_inference(
    analysis: GraphAnalysis,
    board: Board,
    params: ParamSet,
    clocks: Clocks,
    placement: list[LayerPlacement],
    compiled_cycles: float | None,
    cpu_kernels: str = "deployed",
    kernels: cpu_cost.DeployedKernels | None = None,
) -> InferenceEstimate:
    """The inference stage: the NPU part (the toolchain's cycles, or the analytical model) plus
    the runtime's own overhead, plus the layers that run on the CPU.

    NPU part = ``inference_overhead_cycles`` (host CPU cycles of the runtime call: they scale
    with the CPU clock) + ``inference_fixed_us`` (time that does not scale with any clock, e.g.
    a wake-up or a transfer on a fixed-rate bus) + ``inference_scale`` x the NPU time (1 unless
    a board's measurements fitted it; Ethos-U boards fit the memory system Vela is given
    instead).
    """
    where = placement_by_index(placement)
    core, parallel, fallback_clocks = board.cpu.core, 1, clocks
    if board.npu is not None and board.npu.fallback_core and clocks.npu_mhz:
        # The chip's own cores beside the NPU take its fallback layers, at the NPU's clock.
        core, parallel = board.npu.fallback_core, board.npu.fallback_cores
        fallback_clocks = dataclasses.replace(clocks, cpu_mhz=clocks.npu_mhz)
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
            us, lo, hi, basis = _cpu_layer(layer, core, fallback_clocks, cpu_kernels, kernels)
            us, lo, hi = us / parallel, lo / parallel, hi / parallel
            cpu_us, cpu_lo, cpu_hi = cpu_us + us, cpu_lo + lo, cpu_hi + hi
            cpu_bases[basis] = cpu_bases.get(basis, 0) + 1
            place = where.get(layer.index, "cpu") if npu_board else "cpu"
        layer_us.append((layer.index, layer.name, place, us))

    notes: list[str] = []
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
        overhead_us = params.value("inference_overhead_cycles", 0.0) / clocks.cpu_mhz
        fixed_us = params.value("inference_fixed_us", 0.0)
        npu_us = overhead_us + fixed_us + params.value("inference_scale", 1.0) * raw_us
        npu_lo, npu_hi = spread.bounds(npu_us)
    widen, note = domain_widening(params, float(analysis.total_macs))
    if note:
        notes.append(note)
        npu_lo, npu_hi = npu_lo / widen, npu_hi * widen
        cpu_lo, cpu_hi = cpu_lo / widen, cpu_hi * widen
    value = npu_us + cpu_us
    how = {
        "compiled": "the toolchain's cycles at the NPU clock",
        "analytical": "analytical NPU model",
        "cpu": "CPU kernels",
    }[mode]
    if npu_board and cpu_us > 0:
        how += " + CPU-fallback layers"
    stage = StageEstimate(value, npu_lo + cpu_lo, npu_hi + cpu_hi, how)
    return InferenceEstimate(stage, npu_us, cpu_us, layer_us, mode, cpu_bases, notes)


def predict_latency(
    analysis: GraphAnalysis,
    board: Board,
    *,
    clocks: Clocks,
    placement: list[LayerPlacement],
    compiled_cycles: float | None = None,
    postprocess: str | None = None,
    params: ParamSet | None = None,
    cpu_kernels: str = "deployed",
) -> LatencyPrediction:
    """All five stages for ``analysis`` on ``board`` with the given placement."""
    params = params or load_params(board)
    where = placement_by_index(placement)
    npu_layers = [lay for lay in analysis.layers if not runs_on_cpu(board, where, lay.index)]
    npu_weight_bytes = sum(lay.weight_bytes for lay in npu_layers)
    inference = predict_inference(
        analysis, board, params, clocks, placement, compiled_cycles, cpu_kernels
    )
    in_bytes = math.prod(analysis.input_shape) * dtype_bytes(analysis.input_dtype)
    out_bytes = math.prod(analysis.output_shape) * dtype_bytes(analysis.output_dtype)
    kind = postprocess or default_postprocess(analysis)
    stages = {
        "init": predict_init(analysis, board, params, clocks, npu_weight_bytes, len(npu_layers)),
        "input_io": predict_io(in_bytes, board, params, clocks, "input"),
        "inference": inference.stage,
        "output_io": predict_io(out_bytes, board, params, clocks, "output"),
        "postprocess": predict_postprocess(analysis, board, params, clocks, kind),
    }
    notes = [f"postprocess: {kind}", *inference.notes]
    return LatencyPrediction(
        stages,
        clocks,
        inference.mode,
        inference.npu_us,
        inference.cpu_us,
        inference.layer_us,
        notes,
        inference.cpu_bases,
    )
