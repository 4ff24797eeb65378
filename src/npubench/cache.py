"""Content-addressed artifact cache shared by every stage that produces files.

May import ``npubench.errors`` only. An entry is a folder named by the SHA-256 of everything
that determines its content (input hashes, options, tool versions). It is built in a temporary
folder and renamed into place, so a crashed or concurrent build never leaves a half entry.
"""

from __future__ import annotations

import hashlib
import json
import os
import shutil
import tempfile
from collections.abc import Callable
from pathlib import Path
from typing import Any

from platformdirs import user_cache_dir

CACHE_ENV = "NPUBENCH_CACHE_DIR"


def cache_root() -> Path:
    root = Path(os.environ.get(CACHE_ENV) or user_cache_dir("npubench"))
    root.mkdir(parents=True, exist_ok=True)
    return root


def file_sha256(path: Path) -> str:
    h = hashlib.sha256()
    with open(path, "rb") as f:
        for chunk in iter(lambda: f.read(1 << 20), b""):
            h.update(chunk)
    return h.hexdigest()


def cache_key(*parts: Any) -> str:
    """A stable key from JSON-serialisable parts (dicts are key-sorted)."""
    blob = json.dumps(parts, sort_keys=True, default=str, separators=(",", ":"))
    return hashlib.sha256(blob.encode()).hexdigest()


def cached_dir(namespace: str, key: str, build: Callable[[Path], None]) -> tuple[Path, bool]:
    """The folder for ``key``, built by ``build(tmpdir)`` if absent. Returns (path, was_cached)."""
    final = cache_root() / namespace / key[:2] / key
    if (final / ".complete").exists():
        return final, True
    final.parent.mkdir(parents=True, exist_ok=True)
    tmp = Path(tempfile.mkdtemp(prefix=f".{key[:12]}-", dir=final.parent))
    try:
        build(tmp)
        (tmp / ".complete").write_text("ok\n")
        try:
            os.rename(tmp, final)
        except OSError:
            # Another process finished the same entry first: theirs is as good as ours.
            if not (final / ".complete").exists():
                shutil.rmtree(final, ignore_errors=True)
                os.rename(tmp, final)
    finally:
        if tmp.exists():
            shutil.rmtree(tmp, ignore_errors=True)
    return final, False
