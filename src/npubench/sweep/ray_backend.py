"""The Ray backend: the same prepare tasks and cells as Ray tasks, from a laptop to a board farm.

May import ``npubench.errors``, ``npubench.sweep.cells`` and ``npubench.sweep.execute``; Ray
is an optional extra (``pip install 'npubench[ray]'``) imported only here, only when used.

``ray.init(address=...)`` joins a running cluster (``address=None`` starts a local instance).
Each model is prepared once as a task; its cells take the prepared model's object reference,
so Ray starts them when it is ready and ships it to whichever node runs them. Cells of kind
"measure" request the custom resource ``board:<target>`` (one unit), so they run only on the
node that has that board attached, started with e.g.
``ray start --address HEAD:6379 --resources '{"board:max78000": 1}'``; a board no node offers
fails its cells at once instead of waiting forever. Results come back to the driver, which
alone writes them into the store. Every node needs npubench installed in the same version.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

from npubench.errors import EnvironmentProblem, NpubenchError
from npubench.schema import BenchResult
from npubench.sweep.cells import Cell, PrepareTask
from npubench.sweep.execute import failed_cell_result, run_cell, run_prepare

OnResult = Callable[[Cell, BenchResult], None]
OnMessage = Callable[[str], None]


class RayMissingError(NpubenchError):
    """The Ray backend was asked for but Ray is not installed."""


def import_ray() -> Any:
    try:
        import ray
    except ImportError as e:
        raise RayMissingError(
            f"the Ray backend needs Ray, which is not installed ({e})",
            "pip install 'npubench[ray]' (or use --backend local)",
        ) from e
    return ray


def _connect(ray: Any, address: str | None, workers: int | None) -> bool:
    """Connect to (or start) Ray; True if this call started it and must shut it down."""
    if ray.is_initialized():
        return False
    kwargs: dict[str, Any] = {"include_dashboard": False, "log_to_driver": False}
    if address is None and workers is not None:
        kwargs["num_cpus"] = workers
    try:
        ray.init(address=address, **kwargs)
    except (ConnectionError, RuntimeError, ValueError) as e:
        raise EnvironmentProblem(
            f"cannot connect to the Ray cluster at {address or 'a new local instance'}: {e}",
            "check --address (e.g. ray://head:10001 or head:6379) and that `ray status` works",
        ) from e
    return True


def _missing_resources(ray: Any, cells: list[Cell]) -> set[str]:
    offered = set(ray.cluster_resources())
    return {c.resource for c in cells if c.resource and c.resource not in offered}


def run_ray(
    prepares: list[PrepareTask],
    cells_by_prepare: dict[str, list[Cell]],
    on_result: OnResult,
    workers: int | None = None,
    cell_timeout_s: float | None = None,
    on_message: OnMessage | None = None,
    address: str | None = None,
) -> None:
    """Run every prepare task and cell as Ray tasks; at most ``workers`` cells in flight."""
    ray = import_ray()
    say = on_message or (lambda _: None)
    started = _connect(ray, address, workers)
    try:
        _run(ray, prepares, cells_by_prepare, on_result, workers, cell_timeout_s, say)
    finally:
        if started:
            ray.shutdown()


def _run(
    ray: Any,
    prepares: list[PrepareTask],
    cells_by_prepare: dict[str, list[Cell]],
    on_result: OnResult,
    workers: int | None,
    cell_timeout_s: float | None,
    say: OnMessage,
) -> None:
    import time

    # No retries: a cell that kills its worker would kill the next one too. It fails instead.
    prepare_remote = ray.remote(num_cpus=1, max_retries=0)(run_prepare)
    cell_remote = ray.remote(num_cpus=1, max_retries=0)(run_cell)
    all_cells = [c for cells in cells_by_prepare.values() for c in cells]
    missing = _missing_resources(ray, all_cells)
    for resource in sorted(missing):
        say(f"no Ray node offers {resource}: its cells fail (start a node with that resource)")
    limit = workers or max(1, int(ray.cluster_resources().get("CPU", 1)))

    pending_cells: list[tuple[Cell, Any]] = []
    for task in prepares:
        prepared_ref = prepare_remote.remote(task)
        for cell in cells_by_prepare.get(task.key, []):
            if cell.resource in missing:
                on_result(
                    cell,
                    failed_cell_result(
                        cell,
                        f"no node of the Ray cluster offers the resource {cell.resource}",
                        {
                            "hint": f"ray start ... --resources '{{\"{cell.resource}\": 1}}' on "
                            "the host the board is attached to"
                        },
                    ),
                )
            else:
                pending_cells.append((cell, prepared_ref))

    in_flight: dict[Any, tuple[Cell, float]] = {}
    queue = list(reversed(pending_cells))
    while queue or in_flight:
        while queue and len(in_flight) < limit:
            cell, prepared_ref = queue.pop()
            options: dict[str, Any] = {}
            if cell.resource:
                options["resources"] = {cell.resource: 1}
            ref = cell_remote.options(**options).remote(cell, prepared_ref)
            in_flight[ref] = (cell, time.monotonic())
        ready, _ = ray.wait(list(in_flight), num_returns=1, timeout=1.0)
        for ref in ready:
            cell, _t = in_flight.pop(ref)
            try:
                result = ray.get(ref)
            except ray.exceptions.RayError as e:  # a dead worker or node, a lost object
                result = failed_cell_result(
                    cell, f"the Ray task for {cell.label} failed: {type(e).__name__}: {e}"
                )
            on_result(cell, result)
        if cell_timeout_s is not None:
            now = time.monotonic()
            for ref, (cell, t_start) in list(in_flight.items()):
                # The clock starts at submission: on Ray, queueing counts against the timeout.
                if now - t_start > cell_timeout_s:
                    ray.cancel(ref, force=True)
                    in_flight.pop(ref)
                    on_result(
                        cell,
                        failed_cell_result(
                            cell, f"{cell.label} exceeded the cell timeout of {cell_timeout_s:g} s"
                        ),
                    )
