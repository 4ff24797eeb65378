"""Vendor toolchains as plug-ins: one interface, each compiler or quantizer in its own module.

May import ``npubench.errors``, ``npubench.cache``, ``npubench.processes``, ``npubench.targets``,
``npubench.analysis`` (the TFLite reader) and ``npubench.models`` (the forms a prepared model
takes). Nothing above (predict, measure, store, report, sweep, pipeline) is imported here.

A plug-in is a module ``npubench.toolchains.<name with _>`` defining ``TOOLCHAIN`` (a
``base.Toolchain``); board files name it in ``toolchain`` and configure it in
``[toolchains.<name>]``. Third-party plug-ins register under the ``npubench.toolchains`` entry
point group with the same shape. ``run.compile_with`` drives any of them: validation, caching,
errors; ``environments`` manages the virtual environments of tools whose pins conflict with
npubench's own, and ``worker`` speaks the JSON contract with the script that runs inside one.
Importing this package, or listing plug-ins, starts no tool and imports no vendor package.
"""

from __future__ import annotations

import importlib
import pkgutil
from functools import cache
from importlib import metadata

from npubench.errors import UsageError, closest_names
from npubench.targets.schema import Board
from npubench.toolchains.base import CompileReport, Toolchain, ToolchainInfo

__all__ = [
    "CompileReport",
    "Toolchain",
    "ToolchainInfo",
    "all_toolchains",
    "get_toolchain",
    "toolchain_names",
    "toolchains_for",
]

ENTRY_POINT_GROUP = "npubench.toolchains"
# Modules of this package that are infrastructure, not plug-ins.
_INFRASTRUCTURE = frozenset({"base", "inputs", "run", "environments", "worker", "results"})


class UnknownToolchain(UsageError):
    """A toolchain name no plug-in answers to."""


def _module_name(name: str) -> str:
    return f"{__name__}.{name.replace('-', '_')}"


@cache
def _entry_points() -> dict[str, str]:
    return {ep.name: ep.value for ep in metadata.entry_points(group=ENTRY_POINT_GROUP)}


@cache
def toolchain_names() -> tuple[str, ...]:
    """Every plug-in's name: the modules of this package, then registered entry points."""
    names = [
        m.name.replace("_", "-")
        for m in pkgutil.iter_modules(__path__)
        if not m.name.startswith("_") and m.name not in _INFRASTRUCTURE
    ]
    return tuple(sorted(set(names) | set(_entry_points())))


@cache
def get_toolchain(name: str) -> Toolchain:
    """The plug-in called ``name`` (imported on first use; the vendor tool is not)."""
    if name in _entry_points():
        obj = metadata.EntryPoint(name, _entry_points()[name], ENTRY_POINT_GROUP).load()
        plugin = obj() if isinstance(obj, type) else obj
    elif name in toolchain_names():
        plugin = importlib.import_module(_module_name(name)).TOOLCHAIN
    else:
        near = closest_names(name, list(toolchain_names()))
        raise UnknownToolchain(
            f"unknown toolchain {name!r}",
            f"did you mean {', '.join(near)}?" if near else "see `npubench toolchains list`",
        )
    if not isinstance(plugin, Toolchain) or plugin.name != name:
        raise UnknownToolchain(
            f"plug-in module for {name!r} does not define a Toolchain named {name!r}",
            f"fix TOOLCHAIN in {_module_name(name)}",
        )
    return plugin


def all_toolchains() -> list[Toolchain]:
    return [get_toolchain(n) for n in toolchain_names()]


def toolchains_for(board: Board) -> list[Toolchain]:
    """The toolchains a board names: its default ``toolchain`` first, then its other tables."""
    return [get_toolchain(n) for n in board.toolchain_names()]
