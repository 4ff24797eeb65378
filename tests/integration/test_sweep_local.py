"""Local sweeps with real interruptions: SIGKILL of the sweep, of a worker, concurrent writers.

Cells are real: a small int8 TFLite model (tests/data/cgen) compiled with Vela 5.2.0 for
Ethos-U boards and predicted elsewhere, and measured on an emulated Cortex-M4 (QEMU). Sweeps
that are killed or inject faults run as ``python -m npubench.sweep`` subprocesses, so the test
process itself is never hit; the fault hooks are the environment variables documented in
``npubench.sweep.execute``.
"""

from __future__ import annotations

import os
import shutil
import signal
import sqlite3
import subprocess
import time
from collections import Counter
from collections.abc import Iterator
from pathlib import Path

import pytest

from _cli import console_script
from _markers import needs_qemu
from npubench.measure.runner import DEFAULT_BAUD
from npubench.store import ResultStore
from npubench.sweep.cells import expand
from npubench.sweep.execute import KILL_ENV, SLOW_ENV
from npubench.sweep.export import write_export
from npubench.sweep.run import run_sweep
from npubench.sweep.spec import load_spec

pytestmark = pytest.mark.integration

MODEL = Path(__file__).parents[1] / "data" / "cgen" / "mlp_per_tensor.tflite"
SWEEP = """\
name = "{name}"
models = ["mlp.tflite"]
targets = {targets}
kinds = {kinds}

[options]
optimise = ["Size", "Performance"]
tflm_checks = false
"""


@pytest.fixture(scope="module", autouse=True)
def _cache_dir(tmp_path_factory: pytest.TempPathFactory) -> Iterator[None]:
    # One fresh cache for the module: the first sweep compiles for real, later ones reuse it.
    # Set before any worker starts: workers inherit the environment of the first start.
    old = os.environ.get("NPUBENCH_CACHE_DIR")
    os.environ["NPUBENCH_CACHE_DIR"] = str(tmp_path_factory.mktemp("cache"))
    yield
    if old is None:
        os.environ.pop("NPUBENCH_CACHE_DIR", None)
    else:
        os.environ["NPUBENCH_CACHE_DIR"] = old


def make_sweep(
    folder: Path,
    name: str = "t",
    kinds: str = '["compile"]',
    targets: str = '["hx-we2", "alif-e7-hp", "corstone-300", "max78000"]',
) -> Path:
    folder.mkdir(parents=True, exist_ok=True)
    shutil.copy(MODEL, folder / "mlp.tflite")
    path = folder / f"{name}.toml"
    path.write_text(SWEEP.format(name=name, kinds=kinds, targets=targets), encoding="utf-8")
    return path


def sweep_process(sweep: Path, db: Path, **env: str) -> subprocess.Popen[bytes]:
    return subprocess.Popen(
        [
            str(console_script()),
            "sweep",
            str(sweep),
            "--db",
            str(db),
            "--workers",
            "2",
            "--no-progress",
        ],
        env={**os.environ, **env},
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        start_new_session=True,  # its own process group: the kill reaches its workers too
    )


def stored_rows(db: Path) -> int:
    if not db.exists():
        return 0
    try:
        with sqlite3.connect(db, timeout=10) as conn:
            return int(conn.execute("SELECT COUNT(*) FROM runs").fetchone()[0])
    except sqlite3.OperationalError:
        return 0  # the schema is not created yet


def cell_counts(db: Path, group_id: str) -> Counter[str]:
    with ResultStore(db) as store:
        return Counter(s.cell_key or "" for s in store.query(group_id=group_id))


def test_sweep_runs_every_cell_and_a_rerun_skips_them(tmp_path: Path) -> None:
    sweep = make_sweep(tmp_path, kinds='["compile", "predict"]')
    db = tmp_path / "r.sqlite"
    spec = load_spec(sweep)
    matrix = expand(spec)
    # 3 Vela boards x 2 modes compiled; predicted on those and once on max78000.
    assert len(matrix.cells) == 6 + 7
    first = run_sweep(spec, db=db, workers=2)
    assert (first.ran, first.already_done, first.failed) == (13, 0, 0)
    assert first.ok + first.does_not_fit == 13
    with ResultStore(db) as store:
        results = store.query(group_id=first.group_id)
    compiled = [s.result for s in results if s.result.kind == "compiled"]
    assert len(compiled) == 6
    assert all(r.compiler["name"] == "vela" and r.latency_us["inference"] > 0 for r in compiled)
    # Size and Performance are real, separate compilations of the same model.
    assert {r.options["optimise"] for r in compiled} == {"Size", "Performance"}
    second = run_sweep(spec, db=db, workers=2)
    assert (second.ran, second.already_done) == (0, 13)
    assert set(cell_counts(db, first.group_id).values()) == {1}

    # The sweep's results export to Parquet with unit-named, typed columns.
    import pyarrow.parquet as pq

    with ResultStore(db) as store:
        path = write_export(store.query(group_id=first.group_id), tmp_path / "r.parquet")
    table = pq.read_table(path)
    assert table.num_rows == 13
    assert str(table.schema.field("inference_us").type) == "double"
    assert str(table.schema.field("sram_bytes").type) == "int64"
    assert set(table.column("group_id").to_pylist()) == {first.group_id}
    inference = sorted(x for x in table.column("inference_us").to_pylist() if x is not None)
    assert inference and inference[0] > 0


def test_a_sweep_killed_halfway_resumes_without_loss_or_duplicates(tmp_path: Path) -> None:
    sweep = make_sweep(tmp_path, name="killed", kinds='["compile", "predict"]')
    db = tmp_path / "r.sqlite"
    group = load_spec(sweep).group_id
    total = len(expand(load_spec(sweep)).cells)
    proc = sweep_process(sweep, db, **{SLOW_ENV: "0.5"})
    deadline = time.monotonic() + 60
    while stored_rows(db) < 3 and time.monotonic() < deadline and proc.poll() is None:
        time.sleep(0.05)
    os.killpg(proc.pid, signal.SIGKILL)
    proc.wait(timeout=10)
    before = cell_counts(db, group)
    assert 3 <= sum(before.values()) < total, "the sweep must be killed halfway"
    assert proc.returncode == -signal.SIGKILL

    rerun = sweep_process(sweep, db)
    _, err = rerun.communicate(timeout=120)
    assert rerun.returncode == 0, err.decode()
    after = cell_counts(db, group)
    assert len(after) == total  # every cell is there
    assert set(after.values()) == {1}  # and none twice: finished cells were not redone
    assert set(before) <= set(after)
    assert f"{sum(before.values())} already stored" in err.decode()


def test_a_worker_killed_mid_cell_fails_that_cell_only(tmp_path: Path) -> None:
    sweep = make_sweep(tmp_path, name="workerkill")
    db = tmp_path / "r.sqlite"
    victim = "compile mlp on alif-e7-hp (Size)"
    proc = sweep_process(sweep, db, **{KILL_ENV: victim})
    _, err = proc.communicate(timeout=120)
    assert proc.returncode == 1, err.decode()  # a failed cell: exit status 1
    with ResultStore(db) as store:
        results = store.query(group_id=load_spec(sweep).group_id)
    assert len(results) == 6
    failed = [s.result for s in results if s.result.status == "failed"]
    assert len(failed) == 1
    assert failed[0].target == "alif-e7-hp" and failed[0].options["optimise"] == "Size"
    assert "killed by SIGKILL" in failed[0].message and victim in failed[0].message
    assert all(s.result.compiler["name"] == "vela" for s in results if s.result.status != "failed")


def test_a_cell_over_its_timeout_is_stopped_and_failed(tmp_path: Path) -> None:
    sweep = make_sweep(tmp_path, name="timeout", targets='["hx-we2"]')
    db = tmp_path / "r.sqlite"
    proc = subprocess.run(
        [
            str(console_script()),
            "sweep",
            str(sweep),
            "--db",
            str(db),
            "--workers",
            "2",
            "--cell-timeout",
            "1",
            "--no-progress",
            "--json",
        ],
        env={**os.environ, SLOW_ENV: "30"},
        capture_output=True,
        timeout=120,
    )
    assert proc.returncode == 1
    with ResultStore(db) as store:
        results = store.query(group_id=load_spec(sweep).group_id)
    assert len(results) == 2
    assert all("cell timeout of 1 s" in s.result.message for s in results)


def test_two_sweeps_into_one_store_at_once_lose_nothing(tmp_path: Path) -> None:
    db = tmp_path / "shared.sqlite"
    sweeps = [make_sweep(tmp_path / n, name=n, kinds='["compile", "predict"]') for n in "ab"]
    procs = [sweep_process(s, db) for s in sweeps]
    for proc in procs:
        _, err = proc.communicate(timeout=180)
        assert proc.returncode == 0, err.decode()
    for sweep in sweeps:
        counts = cell_counts(db, load_spec(sweep).group_id)
        assert len(counts) == 13 and set(counts.values()) == {1}
    assert stored_rows(db) == 26


def test_an_invalid_sweep_file_stops_before_anything_runs(tmp_path: Path) -> None:
    sweep = make_sweep(tmp_path)
    sweep.write_text(sweep.read_text().replace('"max78000"', '"max7800"'), encoding="utf-8")
    db = tmp_path / "r.sqlite"
    proc = subprocess.run(
        [str(console_script()), "sweep", str(sweep), "--db", str(db)],
        capture_output=True,
        timeout=60,
    )
    assert proc.returncode == 2
    err = proc.stderr.decode()
    assert "t.toml:3: unknown target 'max7800' (did you mean max78002, max78000" in err
    assert not db.exists()


@needs_qemu
def test_a_measure_cell_on_the_emulator_is_npubench_measure(tmp_path: Path) -> None:
    # A measure cell on an emulated board builds the harness and boots it in QEMU, as
    # `npubench measure` does, with its checks: model hash, seeded input, output against TFLM.
    shutil.copy(MODEL, tmp_path / "mlp.tflite")
    sweep = tmp_path / "m.toml"
    sweep.write_text(
        'name = "m"\nmodels = ["mlp.tflite"]\ntargets = ["qemu-cortex-m4"]\n'
        'kinds = ["measure"]\n\n[options]\nseed = 7\n\n[measure]\nrepeat = 3\nwarmup = 1\n',
        encoding="utf-8",
    )
    summary = run_sweep(load_spec(sweep), db=tmp_path / "m.sqlite", workers=1)
    assert (summary.ran, summary.ok, summary.failed) == (1, 1, 0), summary.failures
    with ResultStore(tmp_path / "m.sqlite") as store:
        [stored] = store.query(group_id=summary.group_id)
    r = stored.result
    assert r.kind == "measured" and r.status == "ok", r.message
    assert (r.model, r.target) == ("mlp", "qemu-cortex-m4")
    assert r.details["sweep_cell"] == "measure mlp on qemu-cortex-m4"
    assert r.details["output_check"]["checked"] and r.details["output_check"]["identical"]
    assert r.details["repetitions"] == {"requested": 3, "received": 3, "warmup": 1}
    assert r.options["input"] == "seed:7" and r.options["baud"] == DEFAULT_BAUD
    # The firmware that ran is the model the cell names.
    assert r.provenance["firmware_model_hash"] == r.provenance["model_sha256"][:16]
    # The total is the median of per-repetition totals, as `npubench measure` reports it.
    assert r.latency_us["total"] == r.details["total"]["median"]
