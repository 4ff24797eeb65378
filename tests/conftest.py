"""Shared test fixtures."""

from __future__ import annotations

import sys
from pathlib import Path

import pytest

sys.path.insert(0, str(Path(__file__).resolve().parent))
from _tflite_models import ensure_models


@pytest.fixture(scope="session")
def tflite_models(
    request: pytest.FixtureRequest, tmp_path_factory: pytest.TempPathFactory
) -> dict[str, Path]:
    """The small Keras-built int8 test models (tests/_tflite_models.py), built once and kept in
    pytest's cache folder when there is one."""
    cache = getattr(request.config, "cache", None)
    root = cache.mkdir("npubench-tflite-models") if cache else tmp_path_factory.mktemp("m")
    return ensure_models(root)
