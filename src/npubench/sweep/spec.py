"""Sweep files: parse a TOML sweep (or the same from CLI flags); validate it before anything runs.

May import ``npubench.errors``, ``npubench.cache``, ``npubench.pipeline`` (model groups,
optimise modes), ``npubench.targets`` and ``npubench.models.zoo`` (names only). A sweep file::

    name = "study"
    models = ["study"]                 # zoo:<name>, groups (study, mlperf-tiny, zoo), files
    targets = ["all"]                  # names, "ethos-u" or "all"
    kinds = ["compile", "predict"]     # compile only where a compiler exists
    [options]
    optimise = ["Size", "Performance"]
    clock_mhz = [100]                  # or "default" (each board's own clock)
    calibration = ["synthetic"]        # or .npy paths, relative to the sweep file
    [measure]                          # only for kind "measure"
    ports = { max78000 = "/dev/ttyACM0" }
    repeat = 10

Every problem is reported at once, each with the line of the file it is on and, for a name
that is not known, the closest valid names.
"""

from __future__ import annotations

import math
import re
import tomllib
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, ClassVar

from npubench.cache import cache_key
from npubench.errors import UsageError, closest_names

CELL_KINDS: tuple[str, ...] = ("compile", "predict", "measure")
TOP_KEYS: tuple[str, ...] = ("name", "models", "targets", "kinds", "options", "measure")
OPTION_KEYS: tuple[str, ...] = (
    "optimise",
    "clock_mhz",
    "calibration",
    "input_shape",
    "seed",
    "tflm_checks",
)
MEASURE_KEYS: tuple[str, ...] = ("ports", "repeat", "warmup", "baud", "power")
TARGET_GROUPS: tuple[str, ...] = ("all", "ethos-u")
MODEL_SUFFIXES: tuple[str, ...] = (".onnx", ".tflite")
MAX_CLOCK_MHZ = 10_000.0
"""No microcontroller or NPU runs above 10 GHz: a larger clock is a typo (or ``inf``)."""
MAX_REPEAT = 100_000
"""Timed repetitions and warm-ups per measure cell at most (the harness's NPB_MAX_WARMUP)."""


class SweepSpecError(UsageError):
    """A sweep file or sweep flags that do not validate (a usage error, exit status 2)."""


@dataclass(frozen=True)
class SweepSpec:
    """A validated sweep: every list non-empty, every name known, every path absolute."""

    name: str
    models: tuple[str, ...]
    targets: tuple[str, ...]
    kinds: tuple[str, ...] = ("compile", "predict")
    optimise: tuple[str, ...] = ("Performance",)
    clock_mhz: tuple[float | None, ...] = (None,)
    calibration: tuple[str, ...] = ("synthetic",)
    input_shape: tuple[int, ...] | None = None
    seed: int = 0
    tflm_checks: bool = True
    ports: dict[str, str] = field(default_factory=dict)
    repeat: int = 10
    warmup: int = 3
    bauds: dict[str, int] = field(default_factory=dict)  # per board; others: the default
    power: dict[str, str] = field(default_factory=dict)  # per board: ppk2, joulescope, csv:F
    source: Path | None = None

    def as_dict(self) -> dict[str, Any]:
        """Everything that defines what the sweep computes (not where it came from)."""
        return {
            "name": self.name,
            "models": list(self.models),
            "targets": list(self.targets),
            "kinds": list(self.kinds),
            "optimise": list(self.optimise),
            "clock_mhz": list(self.clock_mhz),
            "calibration": list(self.calibration),
            "input_shape": list(self.input_shape) if self.input_shape else None,
            "seed": self.seed,
            "tflm_checks": self.tflm_checks,
            "repeat": self.repeat,
            "warmup": self.warmup,
            "power": dict(sorted(self.power.items())),
        }

    @property
    def group_id(self) -> str:
        """The store group of this sweep: its name plus a hash of what it computes.

        Ports are left out: moving a board to another USB port does not make a new sweep.
        """
        slug = re.sub(r"[^A-Za-z0-9_.-]+", "-", self.name).strip("-") or "sweep"
        return f"sweep:{slug}:{cache_key('sweep-spec', self.as_dict())[:16]}"


# --- locating keys and values in the TOML text ---------------------------------------------

_TABLE_RE = re.compile(r"^\s*\[\s*([A-Za-z0-9_.\-\"]+)\s*\]")
_KEY_RE = re.compile(r"^\s*\"?([A-Za-z0-9_\-]+)\"?\s*=")


class _Locator:
    """Finds the line of a key (and of one value of it) in a TOML text, for error messages."""

    def __init__(self, text: str, path: Path | None) -> None:
        self.lines = text.splitlines()
        self.path = path

    def _key_line(self, table: str, key: str) -> int | None:
        current = ""
        for number, line in enumerate(self.lines, start=1):
            if m := _TABLE_RE.match(line):
                current = m.group(1).strip('"')
                continue
            if current == table and (m := _KEY_RE.match(line)) and m.group(1) == key:
                return number
        return None

    def line(self, table: str, key: str, value: Any = None) -> int | None:
        start = self._key_line(table, key)
        if start is None or value is None:
            return start
        needles = [f'"{value}"', f"'{value}'"] if isinstance(value, str) else [str(value)]
        for offset, line in enumerate(self.lines[start - 1 :]):
            if offset and (_KEY_RE.match(line) or _TABLE_RE.match(line)):
                break
            code = line.split("#", 1)[0] if isinstance(value, str) else line
            if any(n in code for n in needles):
                return start + offset
        return start

    def where(self, table: str, key: str, value: Any = None) -> str:
        name = self.path.name if self.path else "sweep"
        number = self.line(table, key, value)
        return f"{name}:{number}" if number else name


class _FlagLocator:
    """Names the CLI flag instead of a line when the sweep comes from flags."""

    FLAGS: ClassVar[dict[str, str]] = {
        "models": "--model",
        "targets": "--target",
        "kinds": "--kind",
    }

    def where(self, table: str, key: str, value: Any = None) -> str:
        return self.FLAGS.get(key, f"--{key.replace('_', '-')}")


Where = Callable[[str, str, Any], str]


# --- validation ------------------------------------------------------------------------------


def _did_you_mean(name: str, choices: Sequence[str]) -> str:
    near = closest_names(name, list(choices))
    return f" (did you mean {', '.join(near)}?)" if near else ""


class _Checker:
    def __init__(self, where: Where, base_dir: Path) -> None:
        self.where = where
        self.base_dir = base_dir
        self.problems: list[str] = []

    def fail(self, table: str, key: str, value: Any, message: str) -> None:
        self.problems.append(f"{self.where(table, key, value)}: {message}")

    def string_list(self, table: str, data: dict[str, Any], key: str) -> list[str] | None:
        raw = data.get(key)
        if raw is None:
            return None
        items = raw if isinstance(raw, list) else [raw]
        label = f"{table}.{key}" if table else key
        bad = [v for v in items if not isinstance(v, str)]
        if bad:
            self.fail(table, key, None, f"{label} must be strings, got {bad[0]!r}")
            return None
        if not items:
            self.fail(table, key, None, f"{label} is empty")
            return None
        return list(dict.fromkeys(items))  # order kept, duplicates dropped

    def unknown_keys(self, table: str, data: dict[str, Any], allowed: Sequence[str]) -> None:
        for key in data:
            if key not in allowed:
                label = f"[{table}] key" if table else "key"
                self.fail(
                    table,
                    key,
                    None,
                    f"unknown {label} {key!r}{_did_you_mean(key, allowed)}; "
                    f"known: {', '.join(allowed)}",
                )


def _check_models(c: _Checker, models: list[str]) -> list[str]:
    from npubench.pipeline import MODEL_GROUPS

    try:
        from npubench.models.zoo import ZOO

        zoo_names = sorted(ZOO)
    except ImportError:  # the zoo needs torch; file models still work without it
        zoo_names = []
    choices = [f"zoo:{n}" for n in zoo_names] + sorted(MODEL_GROUPS)
    out: list[str] = []
    for spec in models:
        bare = spec.removeprefix("zoo:")
        if bare in MODEL_GROUPS or (spec.startswith("zoo:") and bare in zoo_names):
            out.append(spec)
            continue
        if spec.startswith("zoo:"):
            c.fail("", "models", spec, f"unknown zoo model {spec!r}{_did_you_mean(spec, choices)}")
            continue
        file_part, sep, class_name = spec.rpartition(":")
        is_module = bool(sep) and file_part.endswith(".py") and bool(class_name)
        path = Path(file_part if is_module else spec).expanduser()
        path = path if path.is_absolute() else c.base_dir / path
        if not is_module and path.suffix.lower() not in MODEL_SUFFIXES:
            c.fail(
                "",
                "models",
                spec,
                f"unknown model {spec!r}{_did_you_mean(spec, choices)}; give zoo:<name>, a "
                "group, a .onnx or .tflite file, or file.py:ClassName",
            )
        elif not path.is_file():
            c.fail("", "models", spec, f"model file {path} does not exist")
        else:
            out.append(f"{path}:{class_name}" if is_module else str(path))
    return out


def _check_targets(c: _Checker, targets: list[str]) -> list[str]:
    from npubench.targets import target_names

    known = target_names()
    out: list[str] = []
    for name in targets:
        if name in TARGET_GROUPS or name in known:
            out.append(name)
        else:
            choices = [*known, *TARGET_GROUPS]
            c.fail("", "targets", name, f"unknown target {name!r}{_did_you_mean(name, choices)}")
    return out


def _check_kinds(c: _Checker, kinds: list[str]) -> list[str]:
    for kind in kinds:
        if kind not in CELL_KINDS:
            c.fail(
                "",
                "kinds",
                kind,
                f"unknown kind {kind!r}{_did_you_mean(kind, CELL_KINDS)}; "
                f"use {', '.join(CELL_KINDS)}",
            )
    return [k for k in kinds if k in CELL_KINDS]


def _check_options(c: _Checker, options: dict[str, Any]) -> dict[str, Any]:
    from npubench.pipeline import OPTIMISE_MODES

    out: dict[str, Any] = {}
    c.unknown_keys("options", options, OPTION_KEYS)
    if (modes := c.string_list("options", options, "optimise")) is not None:
        for mode in modes:
            if mode not in OPTIMISE_MODES:
                c.fail(
                    "options",
                    "optimise",
                    mode,
                    f"unknown optimise mode {mode!r}{_did_you_mean(mode, OPTIMISE_MODES)}",
                )
        out["optimise"] = tuple(m for m in modes if m in OPTIMISE_MODES)
    if "clock_mhz" in options:
        raw = options["clock_mhz"]
        clocks: list[float | None] = []
        for v in raw if isinstance(raw, list) else [raw]:
            if v == "default":
                clocks.append(None)
            elif (
                isinstance(v, int | float)
                and not isinstance(v, bool)
                and math.isfinite(v)
                and 0 < v <= MAX_CLOCK_MHZ
            ):
                clocks.append(float(v))
            else:
                c.fail(
                    "options",
                    "clock_mhz",
                    v,
                    'options.clock_mhz must be positive numbers or "default" (finite MHz, at '
                    f"most {MAX_CLOCK_MHZ:g}), got {v!r}",
                )
        if not clocks and not c.problems:
            c.fail("options", "clock_mhz", None, "options.clock_mhz is empty")
        out["clock_mhz"] = tuple(dict.fromkeys(clocks))
    if (calibs := c.string_list("options", options, "calibration")) is not None:
        resolved: list[str] = []
        for calib in calibs:
            if calib == "synthetic":
                resolved.append(calib)
                continue
            path = Path(calib).expanduser()
            path = path if path.is_absolute() else c.base_dir / path
            if path.suffix.lower() != ".npy":
                c.fail(
                    "options",
                    "calibration",
                    calib,
                    f'calibration {calib!r}: use "synthetic" or a .npy file',
                )
            elif not path.is_file():
                c.fail("options", "calibration", calib, f"calibration file {path} does not exist")
            else:
                resolved.append(str(path))
        out["calibration"] = tuple(resolved)
    if "input_shape" in options:
        shape = options["input_shape"]
        if not (
            isinstance(shape, list)
            and shape
            and all(isinstance(d, int) and not isinstance(d, bool) and d > 0 for d in shape)
        ):
            c.fail(
                "options",
                "input_shape",
                None,
                f"options.input_shape must be positive integers like [1, 3, 32, 32], got {shape!r}",
            )
        else:
            out["input_shape"] = tuple(shape)
    if "seed" in options:
        if isinstance(options["seed"], int) and not isinstance(options["seed"], bool):
            out["seed"] = options["seed"]
        else:
            c.fail(
                "options", "seed", None, f"options.seed must be an integer, got {options['seed']!r}"
            )
    if "tflm_checks" in options:
        if isinstance(options["tflm_checks"], bool):
            out["tflm_checks"] = options["tflm_checks"]
        else:
            c.fail(
                "options",
                "tflm_checks",
                None,
                f"options.tflm_checks must be true or false, got {options['tflm_checks']!r}",
            )
    return out


def _check_measure(c: _Checker, measure: dict[str, Any]) -> dict[str, Any]:
    from npubench.targets import target_names

    out: dict[str, Any] = {}
    c.unknown_keys("measure", measure, MEASURE_KEYS)
    ports = measure.get("ports", {})
    if not isinstance(ports, dict) or not all(isinstance(v, str) for v in ports.values()):
        c.fail(
            "measure",
            "ports",
            None,
            'measure.ports must map boards to ports, e.g. { max78000 = "/dev/ttyACM0" }',
        )
    else:
        known = target_names()
        for board in ports:
            if board not in known:
                c.fail(
                    "measure",
                    "ports",
                    board,
                    f"unknown board {board!r} in measure.ports{_did_you_mean(board, known)}",
                )
        out["ports"] = dict(ports)
    for key, kind_of in (("baud", int), ("power", str)):
        value = measure.get(key, {})
        if not isinstance(value, dict) or not all(
            isinstance(v, kind_of) and not isinstance(v, bool) for v in value.values()
        ):
            example = "{ hx-we2 = 921600 }" if key == "baud" else '{ hx-we2 = "ppk2" }'
            c.fail("measure", key, None, f"measure.{key} must map boards to values, e.g. {example}")
            continue
        for board in value:
            if board not in target_names():
                c.fail(
                    "measure",
                    key,
                    board,
                    f"unknown board {board!r} in measure.{key}"
                    f"{_did_you_mean(board, target_names())}",
                )
        if value:
            out["bauds" if key == "baud" else "power"] = dict(value)
    for key in ("repeat", "warmup"):
        if key in measure:
            v = measure[key]
            low = 1 if key == "repeat" else 0
            if isinstance(v, int) and not isinstance(v, bool) and low <= v <= MAX_REPEAT:
                out[key] = v
            else:
                c.fail(
                    "measure",
                    key,
                    None,
                    f"measure.{key} must be an integer from {low} to {MAX_REPEAT}, got {v!r}",
                )
    return out


def _validate(data: dict[str, Any], where: Where, base_dir: Path, source: Path | None) -> SweepSpec:
    c = _Checker(where, base_dir)
    c.unknown_keys("", data, TOP_KEYS)
    name = data.get("name", source.stem if source else "sweep")
    if not isinstance(name, str) or not name.strip():
        c.fail("", "name", None, f"name must be a non-empty string, got {name!r}")
        name = "sweep"
    for table in ("options", "measure"):
        if table in data and not isinstance(data[table], dict):
            c.fail("", table, None, f"{table} must be a table ([{table}])")
            data = {k: v for k, v in data.items() if k != table}
    models = c.string_list("", data, "models")
    targets = c.string_list("", data, "targets")
    if models is None and "models" not in data:
        c.fail("", "models", None, 'no models: add models = ["zoo:autoenc", ...]')
    if targets is None and "targets" not in data:
        c.fail("", "targets", None, 'no targets: add targets = ["ethos-u"] (or names, or "all")')
    kinds = c.string_list("", data, "kinds") or ["compile", "predict"]
    fields: dict[str, Any] = {
        "models": tuple(_check_models(c, models or [])),
        "targets": tuple(_check_targets(c, targets or [])),
        "kinds": tuple(_check_kinds(c, kinds)),
        **_check_options(c, data.get("options", {})),
        **_check_measure(c, data.get("measure", {})),
    }
    if c.problems:
        where_from = f"sweep file {source}" if source else "the sweep flags"
        raise SweepSpecError(
            f"{where_from} is invalid:\n  " + "\n  ".join(c.problems),
            "fix the lines named above; `npubench targets` and `npubench zoo` list valid names",
        )
    return SweepSpec(name=name.strip(), source=source, **fields)


# --- entry points ------------------------------------------------------------------------------


def parse_spec(text: str, path: Path | None = None) -> SweepSpec:
    """Validate a sweep from TOML text; relative paths are relative to ``path``'s folder."""
    label = str(path) if path else "sweep"
    try:
        data = tomllib.loads(text)
    except tomllib.TOMLDecodeError as e:
        raise SweepSpecError(
            f"{label} is not valid TOML: {e}", "fix the syntax at the line and column named"
        ) from e
    base_dir = path.resolve().parent if path else Path.cwd()
    return _validate(data, _Locator(text, path).where, base_dir, path)


def load_spec(path: Path | str) -> SweepSpec:
    """Read and validate a sweep file."""
    path = Path(path)
    try:
        text = path.read_text(encoding="utf-8")
    except FileNotFoundError:
        raise SweepSpecError(
            f"sweep file {path} does not exist", "give the path of a .toml sweep file"
        ) from None
    except (OSError, UnicodeDecodeError) as e:
        raise SweepSpecError(f"cannot read sweep file {path}: {e}") from e
    return parse_spec(text, path)


def spec_from_flags(
    models: Sequence[str],
    targets: Sequence[str],
    kinds: Sequence[str] = ("compile", "predict"),
    optimise: Sequence[str] = ("Performance",),
    clock_mhz: Sequence[float] | None = None,
    calibration: Sequence[str] = ("synthetic",),
    name: str = "sweep",
    **options: Any,
) -> SweepSpec:
    """The same sweep from CLI flags; problems name the flag instead of a line."""
    data: dict[str, Any] = {
        "name": name,
        "models": list(models),
        "targets": list(targets),
        "kinds": list(kinds),
        "options": {
            "optimise": list(optimise),
            "calibration": [str(c) for c in calibration],
            **({"clock_mhz": list(clock_mhz)} if clock_mhz else {}),
            **{k: v for k, v in options.items() if v is not None},
        },
    }
    return _validate(data, _FlagLocator().where, Path.cwd(), None)
