"""The declared layer table: which part of npubench may import which.

May import nothing. The data flow runs upwards: model sources and targets at the bottom, then
toolchains, prediction and measurement, the store and reports, and the pipeline, sweeps, API
and CLI on top. A unit may import the units listed for it (and itself); nothing may import
against the flow. ``tests/unit/test_layers.py`` checks every ``import`` in the package, lazy
ones inside functions included, against this table, and that worker scripts (``_worker.py``,
run inside a toolchain's own environment) import no part of npubench at all.

A unit is a top-level module or package of ``npubench`` (``npubench.predict.latency`` belongs
to ``predict``); ``npubench`` itself (``STAGES``, ``__version__``) is the root.
"""

from __future__ import annotations

# Small modules every stage may use: errors, plain-text consoles, child processes, the
# sourced-data schema, the artifact cache, the shipped reference data, the result records,
# provenance, output-path checks. They import only each other (and no cycle among them).
FOUNDATION: frozenset[str] = frozenset(
    {
        "npubench",
        "errors",
        "console",
        "processes",
        "sourced",
        "cache",
        "data",
        "schema",
        "provenance",
        "layers",
        "outputs",
    }
)

_BELOW_PIPELINE = frozenset(
    {
        "models",
        "analysis",
        "targets",
        "compilers",
        "toolchains",
        "predict",
        "measure",
        "store",
        "report",
    }
)

ALLOWED: dict[str, frozenset[str]] = {
    **{unit: FOUNDATION for unit in FOUNDATION},
    "models": FOUNDATION,
    "analysis": FOUNDATION,
    "targets": FOUNDATION,
    "compilers": FOUNDATION | {"analysis", "targets"},
    "toolchains": FOUNDATION | {"models", "analysis", "targets"},
    "predict": FOUNDATION | {"analysis", "targets", "toolchains"},
    "measure": FOUNDATION | {"models", "analysis", "targets", "toolchains", "compilers"},
    "store": FOUNDATION,
    "report": FOUNDATION | {"store", "targets"},
    "pipeline": FOUNDATION | _BELOW_PIPELINE,
    "sweep": FOUNDATION | _BELOW_PIPELINE | {"pipeline"},
    "api": FOUNDATION | _BELOW_PIPELINE | {"pipeline", "sweep"},
    "cli": FOUNDATION | _BELOW_PIPELINE | {"pipeline", "sweep", "api"},
}


def unit_of(module: str) -> str | None:
    """The unit of a dotted module name inside npubench, or None for other packages."""
    parts = module.split(".")
    if parts[0] != "npubench":
        return None
    return parts[1] if len(parts) > 1 else "npubench"


def allowed(importer: str, imported: str) -> bool:
    """Whether module ``importer`` may import module ``imported`` (both dotted names)."""
    src, dst = unit_of(importer), unit_of(imported)
    if src is None or dst is None or src == dst:
        return True
    return dst in ALLOWED.get(src, frozenset())
