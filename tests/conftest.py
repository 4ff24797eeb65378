"""Shared test fixtures."""

from __future__ import annotations

import sys
from collections.abc import Iterator
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


@pytest.fixture
def fresh_catalogue(monkeypatch: pytest.MonkeyPatch) -> Iterator[None]:
    """The board folders as they are now (no $NPUBENCH_BOARDS_PATH), not a cached earlier load."""
    from npubench.targets import catalogue

    monkeypatch.delenv(catalogue.BOARDS_PATH_ENV, raising=False)
    catalogue._load_all.cache_clear()
    yield
    catalogue._load_all.cache_clear()
