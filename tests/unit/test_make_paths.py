"""Paths reach make safely: a cache folder with spaces and ``$(shell ...)`` in its name builds
the harness without make expanding or splitting it (measure/qemu.py, measure/icount/build.py)."""

from __future__ import annotations

from pathlib import Path

import pytest

from npubench.measure import qemu
from npubench.measure.icount.build import qemu_option_path

pytestmark = pytest.mark.timeout(300)


def test_make_safe_paths_and_qemu_options() -> None:
    assert qemu.make_safe("/tmp/npb-make-1/harness")
    for bad in ("/a b", "/x/$(shell id)", "/a#b", "/a:b", "/a=b", "/a%b"):
        assert not qemu.make_safe(bad), bad
    assert qemu_option_path("/a,b/lib.so") == "/a,,b/lib.so"


def test_a_model_port_with_unsafe_paths_is_staged(tmp_path: Path) -> None:
    folder = tmp_path / "my model $(shell false)"
    folder.mkdir()
    for name in ("model.c", "npb_kernels.c", "model.h"):
        (folder / name).write_text("/* */\n")
    port = qemu.ModelPort.from_cgen(folder, "ab" * 8, "net")
    with pytest.raises(qemu.EmulatorError, match="cannot be passed to make"):
        port.make_args()
    stage = tmp_path / "stage"
    staged = port.staged(stage, stage / "harness")
    args = staged.make_args()
    assert all(qemu.make_safe(p) for a in args for p in a.split("=", 1)[1].split() if "/" in p)
    assert (stage / "inc0" / "model.h").exists()
    assert staged.sources[-1] == stage / "harness" / "models" / "cgen" / "npb_model_glue.c"


@pytest.mark.skipif(bool(qemu.missing_tools("host")), reason="make and gcc are needed")
def test_the_harness_builds_in_a_cache_with_spaces_and_make_syntax(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    marker = tmp_path / "expanded"
    cache = tmp_path / f"npb cache $(shell touch {marker})"
    monkeypatch.setenv("NPUBENCH_CACHE_DIR", str(cache))
    binary = qemu.build_firmware("host")
    assert binary.is_file() and binary.is_relative_to(cache)
    assert not marker.exists()  # make never saw the path
