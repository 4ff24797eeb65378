"""Shared pytest markers."""

from __future__ import annotations

import pytest

from npubench.measure import qemu

_MISSING = qemu.missing_tools("qemu-cortex-m4")

needs_qemu = pytest.mark.skipif(
    bool(_MISSING),
    reason=f"{', '.join(_MISSING)} not installed: apt-get install {' '.join(qemu.APT_PACKAGES)}",
)
"""Skips a test that builds firmware and boots an emulated Cortex-M board, naming what is
missing and the Debian packages that provide it."""
