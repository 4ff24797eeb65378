"""One validated schema for every sourced data file npubench ships or reads.

May import nothing from npubench but ``errors``. Boards, NPU family specs (documented limits),
prediction parameters, per-core CPI and instruction counts are all data whose numbers carry a
source. Each file declares ``[sources]`` (``Source``: kind, title, a pinned URL or document
revision, and a locator naming the page, section, table or file inside it), and every figure
cites one of them by key. ``SourcedFile`` checks both on load, and ``load_sourced`` turns a
pydantic error into a message naming the file and the field.
"""

from __future__ import annotations

import math
import re
import tomllib
from pathlib import Path
from typing import Any, Literal, TypeVar

from pydantic import BaseModel, ConfigDict, Field, ValidationError, field_validator, model_validator

from npubench.errors import NpubenchError

SourceKind = Literal[
    "datasheet",
    "reference-manual",
    "paper",
    "measurement",
    "vendor-tool",
    "assumption",
    "product-page",
    "application-note",
    "published",
    "fit",
]
# Kinds that point at a document: they need a locator inside it.
DOCUMENT_KINDS = frozenset(
    {
        "datasheet",
        "reference-manual",
        "paper",
        "vendor-tool",
        "product-page",
        "application-note",
        "published",
    }
)
# URLs on a moving branch say nothing about the revision read.
_MOVING_REF = re.compile(r"/(?:blob|tree|raw)/(?:main|master|develop|dev|HEAD)/")


class Strict(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)


class Source(Strict):
    """Where figures come from."""

    kind: SourceKind
    title: str = Field(min_length=1)
    url: str = ""
    revision: str = ""  # a document revision, tag or commit when the URL cannot pin it
    locator: str = ""  # page, section, table or file inside the document
    note: str = ""

    @property
    def pinned(self) -> bool:
        """Whether the source names one revision: a pinned URL or a stated revision."""
        if self.revision:
            return True
        return bool(self.url) and not _MOVING_REF.search(self.url)

    def cite(self) -> str:
        """One line: title, locator, and the URL or revision."""
        parts = [self.title]
        if self.locator:
            parts.append(self.locator)
        if self.revision:
            parts.append(f"rev. {self.revision}")
        if self.url:
            parts.append(self.url)
        return "; ".join(parts)


class Figure(Strict):
    """A non-negative, finite number from a named source."""

    value: float = Field(ge=0)
    source: str = Field(min_length=1)
    note: str = ""

    @field_validator("value")
    @classmethod
    def _finite(cls, v: float) -> float:
        if not math.isfinite(v):
            raise ValueError("must be a finite number")
        return v


class Sourced(Strict):
    """Any value (a number, a list, a flag) from a named source: limits, op lists."""

    value: Any
    source: str = Field(min_length=1)
    note: str = ""

    @field_validator("value")
    @classmethod
    def _finite(cls, v: Any) -> Any:
        if isinstance(v, float) and not math.isfinite(v):
            raise ValueError("must be a finite number")
        return v


def cited_keys(obj: object, path: str = "") -> list[tuple[str, str]]:
    """(dotted path, source key) of every ``Figure``/``Sourced`` inside ``obj``."""
    found: list[tuple[str, str]] = []
    if isinstance(obj, Figure | Sourced):
        found.append((path, obj.source))
    elif isinstance(obj, BaseModel):
        for key in type(obj).model_fields:
            found += cited_keys(getattr(obj, key), f"{path}.{key}" if path else key)
    elif isinstance(obj, dict):
        for key, value in obj.items():
            found += cited_keys(value, f"{path}.{key}" if path else str(key))
    elif isinstance(obj, list | tuple):
        for i, item in enumerate(obj):
            found += cited_keys(item, f"{path}.{getattr(item, 'name', i)}")
    return found


class SourcedFile(Strict):
    """A data file with ``[sources]``: every cited key must be declared there."""

    sources: dict[str, Source] = Field(default_factory=dict)

    @model_validator(mode="after")
    def _citations_declared(self) -> SourcedFile:
        problems = [
            f"{where}: source {key!r} is not declared in [sources] "
            f"(declared: {', '.join(sorted(self.sources)) or 'none'})"
            for where, key in cited_keys(self)
            if key not in self.sources and not where.startswith("sources")
        ]
        if problems:
            raise ValueError("; ".join(problems))
        return self

    def source_of(self, key: str) -> Source:
        return self.sources[key]


class SourcedDataError(NpubenchError):
    """A data file that is missing, not TOML, or does not validate."""


M = TypeVar("M", bound=BaseModel)


def format_validation_error(where: str, err: ValidationError) -> str:
    lines = []
    for e in err.errors():
        loc = ".".join(str(p) for p in e["loc"]) or "(file)"
        lines.append(f"{loc}: {e['msg']}")
    return f"{where} is invalid:\n  " + "\n  ".join(lines)


def parse_sourced(
    model: type[M], data: dict[str, Any], where: str, error: type[NpubenchError]
) -> M:
    """Validate parsed data against ``model``; the error names ``where`` and each field."""
    try:
        return model.model_validate(data)
    except ValidationError as e:
        raise error(
            format_validation_error(where, e),
            "every figure needs a finite, non-negative value and a source declared in [sources]",
        ) from e


def load_sourced(model: type[M], path: Path, error: type[NpubenchError] = SourcedDataError) -> M:
    """Read and validate one TOML data file."""
    try:
        data = tomllib.loads(path.read_text(encoding="utf-8"))
    except (OSError, UnicodeDecodeError) as e:
        raise error(f"cannot read {path}: {e}") from e
    except tomllib.TOMLDecodeError as e:
        raise error(f"{path} is not valid TOML: {e}", "fix the syntax at the position named") from e
    return parse_sourced(model, data, str(path), error)
