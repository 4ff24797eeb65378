"""Provenance recorded with every stored result: versions, host, time, hashes.

May import ``npubench`` only. Versions are read from package metadata (cheap: nothing heavy is
imported just to learn its version).
"""

from __future__ import annotations

import os
import platform
from datetime import UTC, datetime
from importlib import metadata
from typing import Any

import npubench

TOOLCHAIN_PACKAGES: dict[str, str] = {
    "vela": "ethos-u-vela",
    "tensorflow": "tensorflow",
    "onnx2tf": "onnx2tf",
    "torch": "torch",
    "onnx": "onnx",
    "onnxruntime": "onnxruntime",
    "tflite_micro": "tflite-micro",
    "ai_edge_litert": "ai-edge-litert",
}


def package_version(dist: str) -> str | None:
    try:
        return metadata.version(dist)
    except metadata.PackageNotFoundError:
        return None


def toolchain_versions() -> dict[str, str | None]:
    return {name: package_version(dist) for name, dist in TOOLCHAIN_PACKAGES.items()}


def host_info() -> dict[str, Any]:
    return {
        "hostname": platform.node(),
        "platform": platform.platform(),
        "python": platform.python_version(),
        "cpu_count": os.cpu_count(),
    }


def base_provenance(**extra: Any) -> dict[str, Any]:
    """The provenance every result carries, plus stage-specific ``extra`` entries."""
    return {
        "npubench_version": npubench.__version__,
        "toolchains": toolchain_versions(),
        "host": host_info(),
        "time_utc": datetime.now(UTC).isoformat(timespec="seconds"),
        **extra,
    }
