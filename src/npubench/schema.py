"""The result records every stage produces and the store keeps.

May import only ``npubench`` (for STAGES) and ``npubench.errors``. These dataclasses are the
contract between stages and the JSON that ``--json`` prints (documented in the README), so
field names change only with ``SCHEMA_VERSION``.
"""

from __future__ import annotations

import dataclasses
import math
from dataclasses import dataclass, field
from typing import Any, Literal

from npubench import STAGES

SCHEMA_VERSION = 2
"""Version of the result JSON. 1: up to npubench 8304f45; 2: adds ``samples`` (the raw timings
of a measured result). ``BenchResult.from_json`` reads every version listed in
``JSON_MIGRATIONS`` and refuses a newer one."""


def _v1_to_v2(data: dict[str, Any]) -> dict[str, Any]:
    """Version 1 had no ``samples``: a v1 result has no raw timings (None)."""
    data.setdefault("samples", None)
    return data


JSON_MIGRATIONS: dict[int, Any] = {1: _v1_to_v2}
"""``{v: step}``: ``step(data)`` turns the JSON of version ``v`` into version ``v + 1``."""


class ResultSchemaError(ValueError):
    """A result's JSON cannot be read: a newer or unknown schema version, or a malformed field."""


def migrate_result_json(data: dict[str, Any]) -> dict[str, Any]:
    """A result's JSON (any version from 1 on) brought to ``SCHEMA_VERSION``; a copy.

    A missing ``schema_version`` is read as 1 (the first published form).
    """
    data = dict(data)
    raw = data.get("schema_version", 1)
    if isinstance(raw, bool) or not isinstance(raw, int):
        raise ResultSchemaError(f"schema_version {raw!r} is not an integer")
    version = raw
    if version > SCHEMA_VERSION:
        raise ResultSchemaError(
            f"result schema {version} is newer than this npubench's ({SCHEMA_VERSION}): "
            "upgrade npubench to read it"
        )
    if version < 1:
        raise ResultSchemaError(f"schema_version {version} does not exist")
    while version < SCHEMA_VERSION:
        data = JSON_MIGRATIONS[version](data)
        version += 1
    data["schema_version"] = version
    return data


Kind = Literal["compiled", "predicted", "measured"]
KINDS: tuple[str, ...] = ("compiled", "predicted", "measured")
Status = Literal["ok", "does_not_fit", "failed", "incomplete"]


def empty_stages() -> dict[str, float | None]:
    """Five stages plus ``total``, all unknown."""
    return {**{stage: None for stage in STAGES}, "total": None}


def stage_total(stages: dict[str, float | None]) -> float | None:
    """Sum of the five stages, or None while any stage is unknown."""
    values = [stages.get(stage) for stage in STAGES]
    if any(v is None for v in values):
        return None
    return float(sum(v for v in values if v is not None))


@dataclass
class Fidelity:
    """What int8 quantization cost, measured on samples not used for calibration."""

    sqnr_db: float | None = None
    top1_agreement: float | None = None
    max_abs_error: float | None = None
    samples: int = 0
    calibration: str = "synthetic"  # "synthetic" or the .npy file's content hash


@dataclass
class LayerPlacement:
    """Where one layer of the model runs on a target, and why."""

    index: int
    name: str
    op: str
    placement: Literal["npu", "cpu", "unsupported"]
    reason: str = ""
    cycles: float | None = None
    macs: int | None = None


@dataclass
class MemoryUse:
    """Use of one memory of a target against its capacity."""

    used_bytes: int
    capacity_bytes: int | None

    @property
    def fits(self) -> bool:
        return self.capacity_bytes is None or self.used_bytes <= self.capacity_bytes


@dataclass
class MeasuredSamples:
    """The raw timings behind a measured result, kept as pyperf and asv keep theirs.

    ``stages``: every timed repetition's time per stage in microseconds, in repetition order
    (the repetitions received: a lost one leaves no entry); ``warmups``: the same for the
    warm-up runs where the firmware reports them (the harness protocol, proto=1, sends no
    lines for warm-ups: their lists stay empty and ``warmup_count`` says how many ran).
    ``firmware_sha256`` is the image's hash when the host built it (None for a board flashed
    by hand); ``tick_source`` names the timer the stages were read from and ``cycle_accurate``
    whether it counts CPU cycles.
    """

    stages: dict[str, list[float]]
    warmups: dict[str, list[float]]
    repetitions: int
    warmup_count: int
    firmware_sha256: str | None
    clock_mhz: float | None
    tick_source: str
    cycle_accurate: bool


@dataclass
class BenchResult:
    """One figure set for one model on one target: compiled, predicted or measured.

    ``latency_us`` always has the five stage keys and ``total``; a stage not known is None.
    """

    model: str
    target: str
    kind: Kind
    status: Status = "ok"
    message: str = ""
    latency_us: dict[str, float | None] = field(default_factory=empty_stages)
    latency_us_low: float | None = None
    latency_us_high: float | None = None
    memory: dict[str, int | None] = field(
        default_factory=lambda: {"sram_bytes": None, "flash_bytes": None}
    )
    fit: dict[str, MemoryUse] = field(default_factory=dict)
    ops: dict[str, int] = field(default_factory=lambda: {"npu": 0, "cpu": 0})
    placement: list[LayerPlacement] = field(default_factory=list)
    compiler: dict[str, Any] = field(
        default_factory=lambda: {"name": None, "version": None, "cycles": None}
    )
    fidelity: Fidelity = field(default_factory=Fidelity)
    power_mw: dict[str, float | None] = field(default_factory=dict)
    energy_uj: dict[str, float | None] = field(default_factory=dict)
    clock_mhz: float | None = None
    options: dict[str, Any] = field(default_factory=dict)
    provenance: dict[str, Any] = field(default_factory=dict)
    details: dict[str, Any] = field(default_factory=dict)
    samples: MeasuredSamples | None = None  # measured results: every repetition's timings

    @property
    def fits(self) -> bool:
        return self.status != "does_not_fit" and all(m.fits for m in self.fit.values())

    def to_json(self) -> dict[str, Any]:
        """The documented JSON form (README: "JSON schema")."""
        data = dataclasses.asdict(self)
        if data["fidelity"]["sqnr_db"] == math.inf:
            # Identical outputs: standard JSON has no Infinity; max_abs_error == 0 says it.
            data["fidelity"]["sqnr_db"] = None
        data["schema_version"] = SCHEMA_VERSION
        data["samples"] = None if self.samples is None else dataclasses.asdict(self.samples)
        data["fits"] = self.fits
        data["fit"] = {
            name: {"used_bytes": m.used_bytes, "capacity_bytes": m.capacity_bytes, "fits": m.fits}
            for name, m in self.fit.items()
        }
        return data

    @classmethod
    def from_json(cls, data: dict[str, Any]) -> BenchResult:
        """A result from its JSON of any version (migrated first, ``migrate_result_json``).

        Raises ``ResultSchemaError`` (a ``ValueError``) for a newer schema or a malformed field.
        """
        if not isinstance(data, dict):
            raise ResultSchemaError(f"a result is a JSON object, not {type(data).__name__}")
        try:
            return cls._from_current_json(migrate_result_json(data))
        except ResultSchemaError:
            raise
        except (TypeError, ValueError, KeyError, AttributeError) as e:
            raise ResultSchemaError(f"malformed result JSON: {type(e).__name__}: {e}") from e

    @classmethod
    def _from_current_json(cls, data: dict[str, Any]) -> BenchResult:
        data.pop("schema_version", None)
        data.pop("fits", None)
        data["fit"] = {
            name: MemoryUse(used_bytes=m["used_bytes"], capacity_bytes=m["capacity_bytes"])
            for name, m in data.get("fit", {}).items()
        }
        data["placement"] = [LayerPlacement(**p) for p in data.get("placement", [])]
        data["fidelity"] = Fidelity(**data.get("fidelity", {}))
        samples = data.get("samples")
        data["samples"] = None if samples is None else MeasuredSamples(**samples)
        known = {f.name for f in dataclasses.fields(cls)}
        return cls(**{k: v for k, v in data.items() if k in known})
