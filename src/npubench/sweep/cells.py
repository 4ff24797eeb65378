"""Expanding a validated sweep into its cells, each with a stable key for resume.

May import ``npubench.cache``, ``npubench.errors``, ``npubench.pipeline`` (model and target
expansion, ``BenchOptions``), ``npubench.models.source`` (content hashes) and
``npubench.sweep.spec``.

A cell is one kind of figure (compile, predict, measure) for one model on one target with one
set of options. Its key hashes the model spec, the model's content hash, the calibration
data's content hash, the target, the kind and the options that matter to that kind, so a
cell changes key exactly when what it would compute changes. Cells that need the same int8
model share one ``PrepareTask``: the model is quantized and analysed once per sweep.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path

from npubench.cache import cache_key, file_sha256
from npubench.pipeline import (
    BenchOptions,
    expand_models,
    expand_targets,
    has_compiler,
    takes_optimise_modes,
)
from npubench.sweep.spec import SweepSpec

CELL_KEY_VERSION = 1
RESULT_KINDS: dict[str, str] = {
    "compile": "compiled",
    "predict": "predicted",
    "measure": "measured",
}


@dataclass(frozen=True)
class PrepareTask:
    """Quantize and analyse one model once, for every cell that uses it."""

    key: str
    model_spec: str
    model_name: str
    calibration: str  # "synthetic" or an absolute .npy path
    input_shape: tuple[int, ...] | None = None
    seed: int = 0
    tflm_checks: bool = True

    def bench_options(
        self, optimise: str | None = None, clock_mhz: float | None = None
    ) -> BenchOptions:
        return BenchOptions(
            optimise=optimise or "Performance",
            clock_mhz=clock_mhz,
            calibration=None if self.calibration == "synthetic" else Path(self.calibration),
            input_shape=self.input_shape,
            seed=self.seed,
            tflm_checks=self.tflm_checks,
        )


@dataclass(frozen=True)
class Cell:
    """One figure set to compute: ``kind`` of ``model_spec`` on ``target`` with options."""

    key: str
    kind: str  # "compile" | "predict" | "measure"
    model_spec: str
    model_name: str
    model_sha256: str
    target: str
    prepare: PrepareTask
    optimise: str | None  # None where the kind does not use a compiler setting
    clock_mhz: float | None  # None: the board's default clock
    port: str | None = None  # measure cells: the board's serial port, if the sweep names one
    repeat: int = 10
    warmup: int = 3
    baud: int | None = None  # None: the runner's default
    power: str | None = None  # measure cells: ppk2, joulescope or csv:FILE

    @property
    def label(self) -> str:
        extra = [
            v for v in (self.optimise, f"{self.clock_mhz:g}MHz" if self.clock_mhz else None) if v
        ]
        return f"{self.kind} {self.model_name} on {self.target}" + (
            f" ({', '.join(extra)})" if extra else ""
        )

    @property
    def result_kind(self) -> str:
        return RESULT_KINDS[self.kind]

    @property
    def resource(self) -> str | None:
        """The cluster resource a cell needs: measure cells need their board attached."""
        return f"board:{self.target}" if self.kind == "measure" else None

    def bench_options(self) -> BenchOptions:
        return self.prepare.bench_options(self.optimise, self.clock_mhz)


@dataclass
class Matrix:
    """A sweep expanded: the prepare tasks, the cells, and combinations that do not apply."""

    spec: SweepSpec
    group_id: str
    prepares: dict[str, PrepareTask]
    cells: list[Cell]
    not_applicable: list[str] = field(default_factory=list)

    def cells_of(self, prepare_key: str) -> list[Cell]:
        return [c for c in self.cells if c.prepare.key == prepare_key]


def _calibration_id(calibration: str) -> str:
    return calibration if calibration == "synthetic" else f"npy:{file_sha256(Path(calibration))}"


def _resolve_model(spec: SweepSpec, model: str) -> tuple[str, str]:
    """(name, content hash) of a model spec; raises ModelError for a model that cannot load."""
    from npubench.models.source import resolve_source

    source = resolve_source(model, input_shape=spec.input_shape)
    return source.name, source.sha256


def expand(spec: SweepSpec) -> Matrix:
    """Every cell of the sweep, in a stable order (model, calibration, target, kind, options)."""
    boards = expand_targets(list(spec.targets))
    prepares: dict[str, PrepareTask] = {}
    cells: dict[str, Cell] = {}
    not_applicable: list[str] = []
    for model in expand_models(list(spec.models)):
        name, sha = _resolve_model(spec, model)
        for calibration in spec.calibration:
            calib_id = _calibration_id(calibration)
            prep_key = cache_key(
                "sweep-prepare",
                model,
                sha,
                calib_id,
                spec.input_shape,
                spec.seed,
                spec.tflm_checks,
            )
            prepare = prepares.setdefault(
                prep_key,
                PrepareTask(
                    prep_key,
                    model,
                    name,
                    calibration,
                    spec.input_shape,
                    spec.seed,
                    spec.tflm_checks,
                ),
            )
            for board in boards:
                for kind in spec.kinds:
                    if kind == "compile" and not has_compiler(board):
                        not_applicable.append(
                            f"compile {name} on {board.name}: "
                            + (
                                f"{board.toolchain} is not installed here "
                                "(`npubench toolchains list`)"
                                if board.toolchain
                                else f"no npubench adapter for {board.vendor_tool or 'its tool'}"
                            )
                        )
                        continue
                    # Only toolchains with an optimisation mode (Vela) multiply cells by it.
                    modes = spec.optimise if takes_optimise_modes(board) else (None,)
                    for optimise in modes:
                        for clock in spec.clock_mhz:
                            key = cache_key(
                                "sweep-cell",
                                CELL_KEY_VERSION,
                                model,
                                sha,
                                calib_id,
                                spec.input_shape,
                                spec.seed,
                                spec.tflm_checks,
                                board.name,
                                kind,
                                optimise,
                                clock,
                                [spec.repeat, spec.warmup, spec.power.get(board.name)]
                                if kind == "measure"
                                else None,
                            )
                            cells.setdefault(
                                key,
                                Cell(
                                    key=key,
                                    kind=kind,
                                    model_spec=model,
                                    model_name=name,
                                    model_sha256=sha,
                                    target=board.name,
                                    prepare=prepare,
                                    optimise=optimise,
                                    clock_mhz=clock,
                                    port=spec.ports.get(board.name) if kind == "measure" else None,
                                    repeat=spec.repeat,
                                    warmup=spec.warmup,
                                    baud=spec.bauds.get(board.name) if kind == "measure" else None,
                                    power=spec.power.get(board.name) if kind == "measure" else None,
                                ),
                            )
    return Matrix(spec, spec.group_id, prepares, list(cells.values()), sorted(set(not_applicable)))
