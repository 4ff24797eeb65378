"""The model zoo: PyTorch definitions of the paper's five models and the MLPerf Tiny four.

Public API: ``ZooEntry``, ``ZOO`` (name -> entry) and ``build_zoo_model(name, seed, weights)``.
Weights are seeded random (no data set can be downloaded) unless a trained state_dict is given.

May import: torch, npubench.errors.
"""

from __future__ import annotations

from npubench.models.zoo.registry import ZOO, ZooEntry, build_zoo_model, get_entry

__all__ = ["ZOO", "ZooEntry", "build_zoo_model", "get_entry"]
