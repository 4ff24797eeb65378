"""One calibration case: a reference row with everything needed to predict it.

May import ``npubench.analysis``, ``npubench.targets`` and the ``predict`` modules. The pipeline
builds a ``Case`` per usable reference row (``pipeline.calibrate``): the board, the model's
layer table (from npubench's int8 path where the model was quantized, else from its float graph:
``analysis_basis`` says which), where each layer runs, and, on boards whose toolchain ran, the
toolchain's NPU cycles for each candidate memory system (``compiled``: candidate value ->
cycles). A case predicts its inference time with the same stage model ``npubench predict`` uses,
under candidate parameters.
"""

from __future__ import annotations

import itertools
import math
from dataclasses import dataclass, field

from npubench.analysis.graph_types import GraphAnalysis
from npubench.predict.cpu_cost import DeployedKernels
from npubench.predict.latency import Clocks, StageEstimate, predict_inference, resolve_clocks
from npubench.predict.parameters import ParamSet
from npubench.predict.reference import ReferenceRow
from npubench.schema import LayerPlacement
from npubench.targets.schema import Board


@dataclass
class Case:
    row: ReferenceRow
    board: Board
    analysis: GraphAnalysis
    placement: list[LayerPlacement]
    analysis_basis: str  # "int8" (npubench's quantized model) or "analytical" (float graph)
    compiled: dict[float, float] | None = None  # memory-system candidate -> toolchain cycles
    compiled_what: str = ""  # what the candidate value is, e.g. "flash bytes per cycle"
    compiled_prior: float | None = None  # the candidate the board file states (its datasheet)
    notes: list[str] = field(default_factory=list)

    @property
    def measured_us(self) -> float:
        return self.row.stages_us["inference"]

    @property
    def clocks(self) -> Clocks:
        return resolve_clocks(self.board, self.row.clock_mhz, self.row.cpu_clock_mhz)

    def compiled_cycles(self, candidate: float | None) -> float | None:
        """The toolchain's cycles at a memory-system candidate, interpolated log-log between
        the compiled grid points (None when no toolchain ran for this case)."""
        if not self.compiled:
            return None
        grid = sorted(self.compiled)
        if candidate is None:
            candidate = grid[len(grid) // 2]
        if candidate <= grid[0]:
            return self.compiled[grid[0]]
        if candidate >= grid[-1]:
            return self.compiled[grid[-1]]
        for lo, hi in itertools.pairwise(grid):
            if lo <= candidate <= hi:
                t = (math.log(candidate) - math.log(lo)) / (math.log(hi) - math.log(lo))
                a, b = math.log(self.compiled[lo]), math.log(self.compiled[hi])
                return math.exp(a + t * (b - a))
        raise AssertionError("unreachable")

    def predict_estimate(
        self,
        params: ParamSet,
        kernels: DeployedKernels | None = None,
        candidate: float | None = None,
    ) -> StageEstimate:
        """The predicted inference stage (value and interval) under ``params``."""
        estimate = predict_inference(
            self.analysis,
            self.board,
            params,
            self.clocks,
            self.placement,
            self.compiled_cycles(candidate),
            "deployed",
            kernels,
        )
        return estimate.stage

    def predict_us(
        self,
        params: ParamSet,
        kernels: DeployedKernels | None = None,
        candidate: float | None = None,
    ) -> float:
        """Predicted inference time (µs) under ``params`` (and the CPU kernel factors)."""
        return self.predict_estimate(params, kernels, candidate).value_us
