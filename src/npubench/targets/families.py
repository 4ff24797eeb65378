"""NPU family specs: one file per family, one name used everywhere.

May import ``npubench.errors``, ``npubench.sourced`` and ``npubench.data``. A family's name is
what a board's ``npu.family`` says, what the prediction parameters file is called
(``predict/params/<name>.toml``) and what the rules module placing layers is found by
(``predict.rules.<rules>``). Its spec, ``targets/families/<name>.toml``, holds the family's
documented limits (``[limits.<table>]``, each limit ``{value, source, note}``) with their
``[sources]``; ``extends`` takes the tables of another family (GAP9's NE16 extends the GAP
cluster). Adding a family is adding a file here, a rules module and a params file.
"""

from __future__ import annotations

from functools import cache
from importlib import resources
from pathlib import Path
from typing import Any

from pydantic import Field

from npubench.errors import TargetError, closest_names
from npubench.sourced import Sourced, SourcedFile, Strict, load_sourced


class FamilyInfo(Strict):
    name: str = Field(pattern=r"^[a-z0-9][a-z0-9\-]*$")
    display_name: str
    rules: str = Field(pattern=r"^[a-z0-9_]+$")  # module of npubench.predict.rules
    extends: str | None = None
    description: str = ""


class FamilySpec(SourcedFile):
    """One NPU family: identity, rules module and documented limits."""

    family: FamilyInfo
    # A limit is {value, source, note}; a plain string is a label (e.g. a display name).
    limits: dict[str, dict[str, Sourced | str]] = Field(default_factory=dict)

    @property
    def name(self) -> str:
        return self.family.name

    def limit_tables(self) -> dict[str, dict[str, Any]]:
        """``{table: {key: {value, source, note}}}`` as plain data, for the rules."""
        return {
            table: {
                key: entry.model_dump() if isinstance(entry, Sourced) else entry
                for key, entry in entries.items()
            }
            for table, entries in self.limits.items()
        }


def families_dir() -> Path:
    return Path(str(resources.files("npubench.targets") / "families"))


@cache
def _load_all() -> dict[str, FamilySpec]:
    specs: dict[str, FamilySpec] = {}
    for path in sorted(families_dir().glob("*.toml")):
        spec = load_sourced(FamilySpec, path, TargetError)
        if spec.name != path.stem:
            raise TargetError(
                f"family spec {path}: name {spec.name!r} differs from the file name",
                f"rename the file to {spec.name}.toml or fix [family].name",
            )
        specs[spec.name] = spec
    for spec in specs.values():
        if spec.family.extends is not None and spec.family.extends not in specs:
            raise TargetError(
                f"family spec {spec.name}.toml extends unknown family {spec.family.extends!r}",
                f"choose one of {', '.join(sorted(specs))}",
            )
    return specs


def family_names() -> list[str]:
    return sorted(_load_all())


def get_family(name: str) -> FamilySpec:
    """The spec of family ``name``, with the tables of the family it extends merged in."""
    specs = _load_all()
    if name not in specs:
        near = closest_names(name, list(specs))
        raise TargetError(
            f"unknown NPU family {name!r}",
            f"did you mean {', '.join(near)}?" if near else f"use one of {', '.join(specs)}",
        )
    return _merged(name)


@cache
def _merged(name: str) -> FamilySpec:
    spec = _load_all()[name]
    if spec.family.extends is None:
        return spec
    parent = _merged(spec.family.extends)
    limits = {**parent.limits}
    for table, entries in spec.limits.items():
        limits[table] = {**limits.get(table, {}), **entries}
    return FamilySpec(family=spec.family, sources={**parent.sources, **spec.sources}, limits=limits)
