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
    """The model zoo: name, suite, task, shapes, parameter and MAC counts."""
    from npubench.models.torch_stats import count_params_macs
    from npubench.models.zoo import ZOO

    out = []
    for entry in ZOO.values():
        # Vela's nn_macs convention (pooling counted), as the published model facts use.
        params, macs = count_params_macs(
            entry.build(seed=0), entry.input_shape, include_pooling=True
        )
        out.append(
            {
                "name": entry.name,
                "suite": entry.suite,
                "task": entry.task,
                "input_shape": list(entry.input_shape),
                "output_shape": list(entry.output_shape),
                "params": params,
                "macs": macs,
                "classifier": entry.classifier,
                "postprocess": entry.postprocess,
                "source": entry.source,
            }
        )
    return out


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
