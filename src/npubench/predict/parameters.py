"""Prediction parameters: the data the stage models run on, merged per board, with provenance.

May import ``npubench.errors``, ``npubench.data``, ``npubench.targets`` (the board type) and
``predict.uncertainty``. Parameters
resolve ``common`` -> ``<family>`` -> ``<board>`` (later files override earlier ones); each
name is looked up first in the user's fitted parameters (what ``npubench calibrate`` wrote to
``$NPUBENCH_DATA_DIR/params/``, default the user data folder), then in the packaged
``predict/params/``. Every entry carries its source; fitted ones also say what they were fitted
on. Every file is read once per process.
"""

from __future__ import annotations

import math
import os
import tomllib
from dataclasses import dataclass, field
from functools import cache
from importlib import resources
from importlib.resources.abc import Traversable
from pathlib import Path
from typing import TYPE_CHECKING, Any, Literal

from platformdirs import user_data_dir
from pydantic import ConfigDict, Field, field_validator

from npubench.data import read_packaged_toml
from npubench.errors import NpubenchError
from npubench.predict.uncertainty import Spread
from npubench.sourced import Sourced, SourcedFile, parse_sourced

if TYPE_CHECKING:
    from npubench.targets.schema import Board

DATA_DIR_ENV = "NPUBENCH_DATA_DIR"


def user_params_dir() -> Path:
    """Where ``npubench calibrate`` writes fitted parameters (never the installed package)."""
    root = os.environ.get(DATA_DIR_ENV) or user_data_dir("npubench")
    return Path(root) / "params"


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
    memory_overrides: dict[str, dict[str, Param]] = field(default_factory=dict)
    validation: dict[str, Any] = field(default_factory=dict)  # cross-validated error, cases

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


FITTED_SUFFIX = ".fitted"


@cache
def _user_file(root: str, name: str) -> dict[str, Any] | None:
    path = Path(root) / f"{name}.toml"
    if not path.is_file():
        return None
    try:
        data = tomllib.loads(path.read_text(encoding="utf-8"))
    except (OSError, UnicodeDecodeError, tomllib.TOMLDecodeError) as e:
        raise PredictError(
            f"fitted parameters {path} cannot be read: {e}",
            f"delete it or run `npubench calibrate` again (it rewrites {path.parent})",
        ) from e
    data.setdefault("meta", {})["loaded_from"] = str(path)
    return data


def read_params_file(name: str) -> dict[str, Any] | None:
    """One params file, None when it does not exist.

    Hand-written files (``<name>.toml``: sourced assumptions and datasheet figures) are the
    packaged ones. Fitted files (``<name>.fitted.toml``, what ``npubench calibrate`` writes) are
    looked up in the user's params folder first, then in the package.
    """
    if name.endswith(FITTED_SUFFIX):
        user = _user_file(str(user_params_dir()), name)
        if user is not None:
            return user
    data = read_packaged_toml("npubench.predict", f"params/{name}.toml", PredictError, True)
    if data is not None:
        data.setdefault("meta", {}).setdefault("loaded_from", f"predict/params/{name}.toml")
    return data


def packaged_params_file(name: str) -> dict[str, Any] | None:
    """The packaged ``<name>.toml`` alone (what a user's fitted file would override)."""
    return read_packaged_toml("npubench.predict", f"params/{name}.toml", PredictError, True)


class ParamEntry(Sourced):
    """One parameter: a finite number from a declared source (fitted ones say on what)."""

    model_config = ConfigDict(extra="allow", frozen=True)
    value: float

    @field_validator("value")
    @classmethod
    def _finite_value(cls, v: float) -> float:
        if not math.isfinite(v):
            raise ValueError("must be a finite number")
        return v


class SpreadEntry(Sourced):
    model_config = ConfigDict(extra="allow", frozen=True)
    kind: Literal["relative", "factor"]
    value: float = Field(ge=0)


class ParamsFile(SourcedFile):
    """The schema every params file (hand-written or fitted) validates against on load."""

    model_config = ConfigDict(extra="forbid", frozen=True)
    meta: dict[str, Any] = Field(default_factory=dict)
    params: dict[str, ParamEntry] = Field(default_factory=dict)
    uncertainty: dict[str, SpreadEntry] = Field(default_factory=dict)
    power: dict[str, ParamEntry] = Field(default_factory=dict)
    memory_overrides: dict[str, dict[str, ParamEntry]] = Field(default_factory=dict)
    core_factors: dict[str, ParamEntry] = Field(default_factory=dict)
    core_class_factors: dict[str, ParamEntry] = Field(default_factory=dict)
    validation: dict[str, Any] = Field(default_factory=dict)
    vela_cycles: dict[str, dict[str, Any]] = Field(default_factory=dict)


def validate_params_data(data: dict[str, Any], name: str) -> ParamsFile:
    """Validate one params file; errors name the file and the field."""
    return parse_sourced(ParamsFile, data, f"params file {name}.toml", PredictError)


def parse_params_data(
    data: dict[str, Any], name: str
) -> tuple[dict[str, Param], dict[str, Spread], dict[str, Param], dict[str, Any]]:
    """Params, spreads, power levels and meta of one params file, validated (schema, sources)."""
    checked = validate_params_data(data, name)
    sources = {k: v.model_dump() for k, v in checked.sources.items()}

    def kind_of(where: str, entry: dict[str, Any]) -> str:
        return str(sources[entry["source"]].get("kind", ""))

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

    ``files`` = [(name, data or None)]; a missing hand-written family file is an error, a
    missing board or fitted file is not. Only the board's fitted file
    (``<board>.fitted``) can mark the set as calibrated.
    """
    params: dict[str, Param] = {}
    spreads: dict[str, Spread] = {}
    power: dict[str, Param] = {}
    vela_cycles: dict[str, dict[str, Any]] = {}
    used: list[str] = []
    calibrated = False
    basis = "datasheet figures only"
    family_meta: dict[str, Any] = {}
    memory_overrides: dict[str, dict[str, Param]] = {}
    validation: dict[str, Any] = {}
    optional = {board_name, f"{board_name}{FITTED_SUFFIX}"}
    for name, data in files:
        if data is None:
            if name not in optional and not name.endswith(FITTED_SUFFIX):
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
        used.append(str(data.get("meta", {}).get("loaded_from", f"{name}.toml")))
        for memory, figures in data.get("memory_overrides", {}).items():
            memory_overrides[memory] = {
                key: Param(float(e["value"]), str(e.get("source", "fit")), "fit", dict(e))
                for key, e in figures.items()
            }
        if name == f"{board_name}{FITTED_SUFFIX}" and meta.get("calibrated"):
            calibrated = True
            basis = str(meta.get("basis", "calibrated on measurements"))
            validation = dict(data.get("validation", {}))
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
        memory_overrides=memory_overrides,
        validation=validation,
    )


@cache
def _load_params(board_name: str, family: str, fitted: bool = True) -> ParamSet:
    names = ["common", family, board_name]
    if fitted:
        names = [
            "common",
            f"common{FITTED_SUFFIX}",
            family,
            f"{family}{FITTED_SUFFIX}",
            board_name,
            f"{board_name}{FITTED_SUFFIX}",
        ]
    return build_param_set(board_name, family, [(n, read_params_file(n)) for n in names])


def calibrated_board(board: Board) -> Board:
    """The board with the memory figures its calibration fitted (``[memory_overrides]``), for
    the toolchain run a calibrated prediction builds on; the board itself when none were."""
    overrides = load_params(board).memory_overrides
    if not overrides:
        return board
    from npubench.targets.schema import Figure, Source

    memories = []
    for memory in board.memories:
        figures = overrides.get(memory.name, {})
        update = {
            key: Figure(
                value=p.value,
                source="npubench-calibrate",
                note=str(p.provenance.get("fitted_on", "")),
            )
            for key, p in figures.items()
        }
        memories.append(memory.model_copy(update=update) if update else memory)
    sources = {
        **board.sources,
        "npubench-calibrate": Source(
            kind="fit",
            title="fitted by npubench calibrate to the board's measurements (predict/params)",
        ),
    }
    return board.model_copy(update={"memories": memories, "sources": sources})


def load_params(board: Board, fitted: bool = True) -> ParamSet:
    """The merged parameters for ``board`` (cached per board name and family). ``fitted=False``
    leaves out every fitted file: the parameters before calibration, which calibration starts
    from (so that a refit never sees its own previous output)."""
    return _load_params(board.name, board.family, fitted)
