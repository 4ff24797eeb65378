"""The Python API: the same operations as the CLI, returning data instead of printing.

May import every stage package. Example::

    import npubench.api as npb
    results = npb.bench(["zoo:resnet"], ["hx-we2"], optimise="Size", db="results.sqlite")
    print(results[0].latency_us["inference"])
"""

from __future__ import annotations

from collections.abc import Sequence
from pathlib import Path
from typing import Any

from npubench.errors import TargetError
from npubench.pipeline import (
    BenchOptions,
    Progress,
    _first_toolchain,
    _quiet,
    compile_on,
    expand_targets,
    prepare,
)
from npubench.pipeline import bench as _bench
from npubench.schema import BenchResult
from npubench.store import ResultStore
from npubench.targets import Board, all_targets


def zoo() -> list[dict[str, Any]]:
    """The model zoo: name, suite, task, shapes, parameter and MAC counts (Vela's nn_macs with
    pooling counted, as the published model facts use).

    Served from the shipped table ``models/zoo/facts.toml``: no model is built and torch is not
    imported. A parametric family is listed once, named by its default spec
    (``mobilenet_v2:alpha=1.0,res=224,classes=1000``), with ``family`` and ``parameters``.
    """
    from npubench.models.zoo.facts import zoo_listing

    return zoo_listing()


def targets() -> list[Board]:
    return list(all_targets().values())


def compile(model: str, target: str, progress: Progress = _quiet, **options: Any) -> BenchResult:
    """Quantize (cached) and compile one model for one target; nothing is stored."""
    opts = BenchOptions(**options)
    boards = expand_targets([target])
    if len(boards) != 1:
        raise TargetError(
            f"compile takes one target; {target!r} names {len(boards)}",
            "use `npubench bench` for several targets",
        )
    [board] = boards
    # A missing toolchain is said before minutes of quantization, not after.
    _first_toolchain(board, opts)
    bundle = prepare(model, opts, progress)
    return compile_on(bundle, board, opts)


def compile_matrix(
    model: str, targets: Sequence[str], progress: Progress = _quiet, **options: Any
) -> tuple[list[BenchResult], list[dict[str, str]]]:
    """Every installed toolchain of every target, each beside the analytical prediction for
    the same target (what the predictor says without the tool); nothing is stored.

    Returns the results and, for each toolchain a target names that is not installed here,
    ``{target, toolchain, install}``.
    """
    import dataclasses

    from npubench.errors import NpubenchError
    from npubench.pipeline import (
        board_toolchains,
        compile_report,
        compiled_result,
        failed_result,
        predict_on,
    )

    opts = BenchOptions(**options)
    boards = expand_targets(targets)
    bundle = prepare(model, opts, progress)
    results: list[BenchResult] = []
    missing: list[dict[str, str]] = []
    for board in boards:
        for toolchain in board_toolchains(board, opts):
            info = toolchain.detect()
            if not info.available:
                missing.append(
                    {
                        "target": board.name,
                        "toolchain": toolchain.name,
                        "install": info.install or info.detail,
                    }
                )
                continue
            progress(f"{bundle.prepared.name}: {toolchain.name} for {board.name}")
            run = dataclasses.replace(opts, toolchain=toolchain.name)
            try:
                report = compile_report(bundle, board, run, toolchain)
                results.append(compiled_result(bundle, board, run, report))
            except NpubenchError as e:
                failed = failed_result(bundle, board.name, run, e)
                failed.compiler = {"name": toolchain.name, "tool": toolchain.tool}
                results.append(failed)
        try:
            results.append(predict_on(bundle, board, opts))
        except NpubenchError as e:
            results.append(failed_result(bundle, board.name, opts, e, "predicted"))
    return results, missing


def bench(
    models: Sequence[str],
    targets: Sequence[str],
    db: str | Path | None = None,
    progress: Progress = _quiet,
    optimise_modes: Sequence[str] | None = None,
    **options: Any,
) -> list[BenchResult]:
    """Every model on every target, stored in the results store at ``db``: compiled figures
    where a real compiler exists, and the calibrated five-stage prediction built on them.

    ``optimise_modes`` (e.g. ["Size", "Performance"]) compiles Ethos-U targets in each mode.
    """
    opts = BenchOptions(**options)
    with ResultStore(db) as store:
        return _bench(
            models, targets, opts, store=store, progress=progress, optimise_modes=optimise_modes
        )


def predict(
    models: Sequence[str],
    targets: Sequence[str],
    db: str | Path | None = None,
    analytical: bool = False,
    store: bool = True,
    progress: Progress = _quiet,
    **options: Any,
) -> list[BenchResult]:
    """Five-stage latency, power, energy and fit predictions (kind ``predicted``).

    ``analytical=True`` runs no compiler at all (Ethos-U inference from the analytical model).
    """
    opts = BenchOptions(**options)
    mode = "analytical" if analytical else "predict"
    if not store:
        return _bench(models, targets, opts, store=None, progress=progress, mode=mode)
    with ResultStore(db) as result_store:
        return _bench(models, targets, opts, store=result_store, progress=progress, mode=mode)


def results(db: str | Path | None = None, **filters: Any) -> list[BenchResult]:
    with ResultStore(db) as store:
        return [s.result for s in store.query(**filters)]
