"""Static memory plan for the generated C: one arena, offsets fixed at generation time.

Each activation buffer lives from the operator that writes it to the last operator that reads
it. Buffers are placed greedily, largest first, at the lowest offset where they do not overlap
any already-placed buffer whose lifetime intersects theirs (the strategy of TFLM's
``GreedyMemoryPlanner``), so buffers with disjoint lifetimes share arena bytes. The placement
order decides the result, so a few orders are tried (ties among equal sizes broken several ways,
and size x lifetime "area") and the smallest arena wins. May import: nothing from npubench.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass


@dataclass(frozen=True)
class BufferRequest:
    """A buffer of ``size`` bytes alive from step ``first_use`` to ``last_use``, inclusive."""

    name: str
    size: int
    first_use: int
    last_use: int

    def __post_init__(self) -> None:
        if self.size < 0 or self.last_use < self.first_use:
            raise ValueError(f"invalid buffer request {self}")

    def overlaps_in_time(self, other: BufferRequest) -> bool:
        return self.first_use <= other.last_use and other.first_use <= self.last_use


@dataclass(frozen=True)
class MemoryPlan:
    """Offsets (bytes from the arena start) in request order, and the arena size."""

    offsets: tuple[int, ...]
    arena_size: int
    naive_size: int  # what one buffer per tensor would take, for comparison
    strategy: str = ""  # the placement order that gave this plan


def _align(value: int, alignment: int) -> int:
    return (value + alignment - 1) // alignment * alignment


_ORDERS: dict[str, Callable[[BufferRequest], tuple[int, ...]]] = {
    "size, earliest first": lambda r: (-r.size, r.first_use),
    "size, latest first": lambda r: (-r.size, -r.first_use),
    "size, longest-lived first": lambda r: (-r.size, r.first_use - r.last_use),
    "size x lifetime": lambda r: (-r.size * (r.last_use - r.first_use + 1),),
}


def _place(requests: list[BufferRequest], order: list[int], alignment: int) -> list[int]:
    offsets = [0] * len(requests)
    placed: list[int] = []
    for i in order:
        request = requests[i]
        # Occupied intervals of live-at-the-same-time buffers, sorted by offset.
        busy = sorted(
            (offsets[j], offsets[j] + requests[j].size)
            for j in placed
            if requests[j].overlaps_in_time(request) and requests[j].size > 0
        )
        candidate = 0
        for start, end in busy:
            if candidate + request.size <= start:
                break  # fits in the gap before this interval
            candidate = max(candidate, _align(end, alignment))
        offsets[i] = candidate
        placed.append(i)
    return offsets


def plan_memory(requests: list[BufferRequest], alignment: int = 16) -> MemoryPlan:
    """Place every request; two buffers share bytes only if their lifetimes are disjoint."""
    if alignment < 1:
        raise ValueError("alignment must be positive")
    naive = sum(_align(r.size, alignment) for r in requests)
    best: MemoryPlan | None = None
    for name, key in _ORDERS.items():
        order = sorted(range(len(requests)), key=lambda i, key=key: (*key(requests[i]), i))
        offsets = _place(requests, order, alignment)
        arena = max((offsets[i] + r.size for i, r in enumerate(requests)), default=0)
        plan = MemoryPlan(tuple(offsets), _align(arena, alignment), naive, name)
        if best is None or plan.arena_size < best.arena_size:
            best = plan
    assert best is not None
    return best
