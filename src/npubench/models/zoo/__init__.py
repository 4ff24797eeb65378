"""The model zoo: PyTorch definitions of the paper's five models, the MLPerf Tiny four and the
parametric public architectures (MobileNetV1/V2, Tiny YOLOv2).

Public API: ``ZooEntry``, ``ZOO`` (name -> entry), ``FAMILIES`` (name -> ``ZooFamily``),
``get_entry(name_or_spec)`` and ``build_zoo_model(name, seed, weights)``. Weights are seeded
random (no data set can be downloaded) unless a trained state_dict is given. The names come
from ``registry`` on first use, so torch loads only then: ``facts`` (the shipped table of
shapes, params and MACs that ``npubench zoo`` prints) reads without it.

May import: torch, npubench.errors.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from npubench.models.zoo.registry import (
        FAMILIES,
        ZOO,
        ZooEntry,
        ZooFamily,
        build_zoo_model,
        get_entry,
    )

__all__ = ["FAMILIES", "ZOO", "ZooEntry", "ZooFamily", "build_zoo_model", "get_entry"]


def __getattr__(name: str) -> Any:
    if name in __all__:
        from npubench.models.zoo import registry

        return getattr(registry, name)
    raise AttributeError(f"module {__name__!r} has no attribute {name!r}")
