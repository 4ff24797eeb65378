"""What calibration fits: parameter groups with physical meaning, bounds and weak priors.

May import ``npubench.targets`` and the ``predict`` modules. A group selects the cases it
explains, names its parameters (each with a unit, bounds that keep it physical, and the
prior value a weak penalty pulls it toward when the data say little), and predicts a case
under candidate values with the stage models ``npubench predict`` runs.

- ``CpuKernels``: the kernels deployed firmware runs on a CPU (CMSIS-NN / X-CUBE-AI / ESP-NN
  class), for CPU boards and CPU-fallback layers everywhere. A factor per op class, shared by
  every core (the same library does the same work), a per-operator runtime overhead in CPU
  cycles, and a factor per core only for cores with data. Held out, a core keeps factor 1.
- ``NpuBoard``: one NPU board no toolchain ran for: a scale on the family's utilisations (so
  that no utilisation exceeds 1), a scale on the bandwidth of the memory the NPU streams weights
  from (a quarter to four times the board file's figure, when it states one), a per-layer
  overhead in NPU cycles (command set-up: at most 20,000 cycles, tens of µs), and a time per
  inference that scales with no clock (a wake-up or a fixed-rate transfer: at most 200 µs, so
  that no constant can stand in for the work of small models).
- ``CompiledBoard``: a board whose toolchain ran (Ethos-U with Vela): the memory system the
  toolchain is given (the weights memory's bandwidth, from the grid the pipeline compiled) and
  the runtime's invoke overhead in CPU cycles, so that the toolchain itself predicts what was
  measured rather than a linear correction of its output.
"""

from __future__ import annotations

import dataclasses
import math
from abc import ABC, abstractmethod
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

from npubench.predict.calibration.cases import Case
from npubench.predict.cpu_cost import DeployedKernels, load_deployed_kernels
from npubench.predict.parameters import Param, ParamSet, load_params
from npubench.predict.uncertainty import Spread
from npubench.targets.cpi import normalise_core

UTIL_CLASSES = ("conv", "depthwise", "fully_connected", "pool")
LN3 = math.log(3.0)


@dataclass(frozen=True)
class FitParam:
    """One free parameter: what it means, where it starts, its bounds and its prior."""

    name: str
    meaning: str  # one sentence, with its unit
    initial: float
    low: float
    high: float
    log: bool = True  # fitted as log(value) (multiplicative quantities)
    prior: float | None = None  # the value a weak penalty pulls toward (None: none)
    prior_sigma: float = LN3  # in log units for log parameters, else in value units
    per_source: str | None = None  # the source (board) this parameter exists for

    def encode(self, value: float) -> float:
        return math.log(value) if self.log else value

    def decode(self, x: float) -> float:
        return math.exp(x) if self.log else x

    @property
    def bounds(self) -> tuple[float, float]:
        return self.encode(self.low), self.encode(self.high)


def _with(params: ParamSet, values: dict[str, float], source: str = "fit") -> ParamSet:
    merged = dict(params.params)
    for name, value in values.items():
        merged[name] = Param(value, source, "fit")
    return dataclasses.replace(params, params=merged)


class Group(ABC):
    """A set of parameters fitted together on the cases they explain."""

    name: str
    scope: str  # "cpu" (shared kernels) or a board name

    @abstractmethod
    def select(self, cases: Sequence[Case]) -> list[Case]: ...

    @abstractmethod
    def parameters(self, cases: Sequence[Case]) -> list[FitParam]: ...

    @abstractmethod
    def predict(self, case: Case, values: dict[str, float]) -> float:
        """Predicted inference µs of ``case``; a parameter absent from ``values`` takes its
        uncalibrated (prior) value."""

    def describe(self) -> str:
        return self.name


# --- the CPU kernels deployed firmware runs ---------------------------------------------------


class CpuKernels(Group):
    name = "cpu-deployed-kernels"
    scope = "cpu"
    FITTED_CLASSES = ("conv", "depthwise", "fully_connected")

    def select(self, cases: Sequence[Case]) -> list[Case]:
        return [c for c in cases if not c.board.has_npu]

    def parameters(self, cases: Sequence[Case]) -> list[FitParam]:
        out = [
            FitParam(
                f"class_factor_{cls}",
                f"deployed {cls} kernels' cycles per unit of work over the cost table's "
                "per-core figure (shared by every core)",
                1.0,
                0.1,
                10.0,
                prior=1.0,
            )
            for cls in self.FITTED_CLASSES
        ]
        out.append(
            FitParam(
                "op_overhead_cycles",
                "runtime cycles per operator beside its kernel (dispatch, requantisation set-up)",
                1000.0,
                0.0,
                20000.0,
                log=False,
                prior=1000.0,
                prior_sigma=5000.0,
            )
        )
        boards = {c.board.name: c.board for c in cases}
        cores: dict[str, str] = {}
        for board in boards.values():
            cores.setdefault(normalise_core(board.cpu.core), board.name)
        for core, board_name in sorted(cores.items()):
            out.append(
                FitParam(
                    f"core_factor_{core}",
                    f"{core}'s cycles relative to the cost table's figures (memory system, "
                    "library)",
                    1.0,
                    0.25,
                    4.0,
                    prior=1.0,
                    prior_sigma=math.log(2.0),
                    per_source=board_name,
                )
            )
            # The same library does not speed every op class up alike on every core (Helium
            # accelerates convolutions far more than depthwise ones): a per-core, per-class
            # factor with a tight prior, so that it moves only where the core's data say so.
            for cls in self.FITTED_CLASSES:
                out.append(
                    FitParam(
                        f"core_class_factor_{core}:{cls}",
                        f"{core}'s {cls} kernels relative to the shared class factor",
                        1.0,
                        1 / 3,
                        3.0,
                        prior=1.0,
                        prior_sigma=math.log(1.5),
                        per_source=board_name,
                    )
                )
        return out

    def kernels(self, values: dict[str, float]) -> DeployedKernels:
        base = load_deployed_kernels(fitted=False)
        classes = dict(base.class_factors)
        for cls in self.FITTED_CLASSES:
            classes[cls] = values.get(f"class_factor_{cls}", 1.0)
        cores = {
            name.removeprefix("core_factor_"): v
            for name, v in values.items()
            if name.startswith("core_factor_")
        }
        core_classes: dict[str, dict[str, float]] = {}
        for name, v in values.items():
            if name.startswith("core_class_factor_"):
                core, _, cls = name.removeprefix("core_class_factor_").partition(":")
                core_classes.setdefault(core, {})[cls] = v
        return dataclasses.replace(
            base,
            class_factors=classes,
            core_factors=cores,
            core_class_factors=core_classes,
            op_overhead_cycles=values.get("op_overhead_cycles", base.op_overhead_cycles),
        )

    def predict(self, case: Case, values: dict[str, float]) -> float:
        return case.predict_us(load_params(case.board, fitted=False), self.kernels(values))


# --- one NPU board no toolchain ran for --------------------------------------------------------


class NpuBoard(Group):
    def __init__(self, board: str, kernels: DeployedKernels | None = None) -> None:
        self.scope = board
        self.name = f"npu-{board}"
        self.kernels = kernels  # the CPU kernels fitted first, for CPU-fallback layers

    def select(self, cases: Sequence[Case]) -> list[Case]:
        return [c for c in cases if c.board.name == self.scope and not c.compiled]

    def _base(self, cases: Sequence[Case]) -> ParamSet:
        return load_params(cases[0].board, fitted=False)

    def parameters(self, cases: Sequence[Case]) -> list[FitParam]:
        base = self._base(cases)
        top = max(base.value(f"util_{c}", 1.0) for c in UTIL_CLASSES)
        board = cases[0].board
        streams = False
        if board.npu is not None:
            from npubench.predict.latency import npu_memories

            weights = npu_memories(board).weights
            streams = bool(
                weights is not None
                and weights.bandwidth_bytes_per_cycle is not None
                and base.value("weights_streamed", 1.0)
            )
        extra = (
            [
                FitParam(
                    "weights_bandwidth_scale",
                    "scale on the bandwidth of the memory the NPU streams weights from, over the "
                    "board file's figure",
                    1.0,
                    0.25,
                    4.0,
                    prior=1.0,
                    prior_sigma=math.log(2.0),
                    per_source=self.scope,
                )
            ]
            if streams
            else []
        )
        return [
            *extra,
            FitParam(
                "util_scale",
                "scale on the family's assumed utilisations (conv, depthwise, fully connected, "
                "pool); bounded so that none exceeds 1",
                1.0,
                0.01 / top,
                1.0 / top,
                prior=1.0,
                per_source=self.scope,
            ),
            FitParam(
                "layer_overhead_cycles",
                "NPU cycles per layer beside its compute (command and DMA set-up)",
                500.0,
                0.0,
                20000.0,
                log=False,
                prior=base.value("layer_overhead_cycles", 500.0),
                prior_sigma=5000.0,
                per_source=self.scope,
            ),
            FitParam(
                "inference_fixed_us",
                "µs per inference that scale with no clock (wake-up, a fixed-rate transfer)",
                10.0,
                0.0,
                200.0,
                log=False,
                prior=0.0,
                prior_sigma=100.0,
                per_source=self.scope,
            ),
        ]

    def params_for(self, base: ParamSet, values: dict[str, float]) -> ParamSet:
        out: dict[str, float] = {}
        scale = values.get("util_scale")
        if scale is not None:
            for cls in UTIL_CLASSES:
                out[f"util_{cls}"] = min(1.0, base.value(f"util_{cls}", 1.0) * scale)
        for name in ("layer_overhead_cycles", "inference_fixed_us", "weights_bandwidth_scale"):
            if name in values:
                out[name] = values[name]
        return _with(base, out)

    def predict(self, case: Case, values: dict[str, float]) -> float:
        params = self.params_for(load_params(case.board, fitted=False), values)
        return case.predict_us(params, self.kernels or load_deployed_kernels(fitted=False))


# --- a board whose toolchain ran (Ethos-U + Vela) ----------------------------------------------


class CompiledBoard(Group):
    def __init__(self, board: str, kernels: DeployedKernels | None = None) -> None:
        self.scope = board
        self.name = f"compiled-{board}"
        self.kernels = kernels

    def select(self, cases: Sequence[Case]) -> list[Case]:
        return [c for c in cases if c.board.name == self.scope and c.compiled]

    def parameters(self, cases: Sequence[Case]) -> list[FitParam]:
        grid = sorted(cases[0].compiled or {})
        middle = cases[0].compiled_prior or grid[len(grid) // 2]
        return [
            FitParam(
                "memory_candidate",
                cases[0].compiled_what or "the memory-system value the toolchain was given",
                middle,
                grid[0],
                grid[-1],
                prior=middle,
                prior_sigma=math.log(2.0),
                per_source=self.scope,
            ),
            FitParam(
                "inference_overhead_cycles",
                "host CPU cycles of the runtime's invoke beside the NPU job (TFLM + driver)",
                2000.0,
                0.0,
                20000.0,
                log=False,
                prior=0.0,
                prior_sigma=5000.0,
                per_source=self.scope,
            ),
        ]

    def predict(self, case: Case, values: dict[str, float]) -> float:
        base = load_params(case.board, fitted=False)
        params = _with(
            base, {"inference_overhead_cycles": values.get("inference_overhead_cycles", 0.0)}
        )
        return case.predict_us(
            params,
            self.kernels or load_deployed_kernels(fitted=False),
            candidate=values.get("memory_candidate"),
        )


def groups_for(cases: Sequence[Case]) -> list[Group]:
    """Every group the cases support: the CPU kernels, and one group per NPU board."""
    groups: list[Group] = []
    if any(not c.board.has_npu for c in cases):
        groups.append(CpuKernels())
    for board in sorted({c.board.name for c in cases if c.board.has_npu}):
        mine = [c for c in cases if c.board.name == board]
        groups.append(CompiledBoard(board) if any(c.compiled for c in mine) else NpuBoard(board))
    return groups


def interval_spread(residuals: Sequence[float], floor: float = 1.05) -> Spread:
    """The ×/÷ factor that holds 90 % of the absolute log residuals (at least ``floor``)."""
    values = sorted(abs(r) for r in residuals)
    if not values:
        return Spread("factor", 3.0, "no held-out residuals: the datasheet spread")
    k = min(len(values) - 1, max(0, math.ceil(0.9 * len(values)) - 1))
    return Spread("factor", max(math.exp(values[k]), floor), f"90% of {len(values)} residuals")


def summary_values(params: list[FitParam], values: dict[str, float]) -> dict[str, Any]:
    return {p.name: values[p.name] for p in params if p.name in values}
