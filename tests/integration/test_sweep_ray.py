"""The Ray backend on a local Ray instance: same cells and figures as the local pool, board
resources route measure cells, a crashed Ray worker fails only its cell.

Ray is an optional extra: without it these tests are skipped. The "board" here is a Ray
custom resource on the local node; no serial device exists, so the measure cell that reaches
its node fails with the runner's "no board found" error, which shows it was scheduled there.
"""

from __future__ import annotations

import os
import shutil
from collections.abc import Iterator
from pathlib import Path

import pytest

from npubench.store import ResultStore
from npubench.sweep.execute import KILL_ENV
from npubench.sweep.run import run_sweep
from npubench.sweep.spec import SweepSpec, parse_spec

ray = pytest.importorskip("ray", reason="Ray is an optional extra: pip install 'npubench[ray]'")
pytestmark = pytest.mark.integration

MODEL = Path(__file__).parents[1] / "data" / "cgen" / "mlp_per_tensor.tflite"
VICTIM = "compile mlp on corstone-300 (Performance)"


@pytest.fixture(scope="module")
def local_ray(tmp_path_factory: pytest.TempPathFactory) -> Iterator[None]:
    # Ray workers inherit the driver's environment at ray.init: set the cache and the
    # fault hook (which kills one cell's worker) before starting the instance.
    saved = {k: os.environ.get(k) for k in ("NPUBENCH_CACHE_DIR", KILL_ENV)}
    os.environ["NPUBENCH_CACHE_DIR"] = str(tmp_path_factory.mktemp("cache"))
    os.environ[KILL_ENV] = VICTIM
    ray.init(
        num_cpus=2, include_dashboard=False, resources={"board:max78000": 1}, log_to_driver=False
    )
    try:
        yield
    finally:
        ray.shutdown()
        for k, v in saved.items():
            if v is None:
                os.environ.pop(k, None)
            else:
                os.environ[k] = v


def spec_in(folder: Path, text: str) -> SweepSpec:
    shutil.copy(MODEL, folder / "mlp.tflite")
    return parse_spec(text, folder / "sweep.toml")


def test_ray_runs_the_same_cells_as_the_local_pool(local_ray: None, tmp_path: Path) -> None:
    spec = spec_in(
        tmp_path,
        """\
name = "ray"
models = ["mlp.tflite"]
targets = ["hx-we2", "corstone-300", "max78000"]
kinds = ["compile", "predict"]
[options]
optimise = ["Performance"]
tflm_checks = false
""",
    )
    db = tmp_path / "r.sqlite"
    summary = run_sweep(spec, db=db, backend="ray", workers=2)
    assert summary.cells == 2 + 3
    # The one cell whose worker the fault hook killed failed; the other four went on.
    assert summary.failed == 1 and summary.ran == 5
    [(label, message)] = summary.failures
    assert label == VICTIM and "Ray task" in message
    with ResultStore(db) as store:
        ray_results = {(s.result.kind, s.result.target): s.result for s in store.query()}
    assert ray_results[("compiled", "hx-we2")].compiler["name"] == "vela"
    # Vela is deterministic: the local pool gives the same figures for the same cell.
    os.environ.pop(KILL_ENV)  # the local pool's workers start now, without the hook
    try:
        local_db = tmp_path / "local.sqlite"
        local = run_sweep(spec, db=local_db, backend="local", workers=2)
    finally:
        os.environ[KILL_ENV] = VICTIM
    assert local.failed == 0
    with ResultStore(local_db) as store:
        local_results = {(s.result.kind, s.result.target): s.result for s in store.query()}
    for key, r in ray_results.items():
        if r.status != "failed":
            assert r.latency_us == local_results[key].latency_us, key
    # Resume works the same way through Ray: nothing left to do.
    again = run_sweep(spec, db=db, backend="ray", workers=2)
    assert again.ran == 0 and again.already_done == 5


def test_measure_cells_go_to_the_node_with_the_board(local_ray: None, tmp_path: Path) -> None:
    spec = spec_in(
        tmp_path,
        """\
name = "hil"
models = ["mlp.tflite"]
targets = ["max78000", "gap8"]
kinds = ["measure"]
[options]
tflm_checks = false
""",
    )
    summary = run_sweep(spec, db=tmp_path / "r.sqlite", backend="ray", workers=2)
    messages = dict(summary.failures)
    # No node offers board:gap8: failed at once, with the way out.
    assert (
        "no node of the Ray cluster offers the resource board:gap8"
        in messages["measure mlp on gap8"]
    )
    # board:max78000 exists: the cell ran on that node and looked for the board there.
    assert "no max78000 board found on any serial port" in messages["measure mlp on max78000"]
