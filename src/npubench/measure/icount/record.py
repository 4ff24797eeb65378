"""Write measured per-layer instruction counts to ``predict/params/cpu_counts.toml``.

Layers are keyed by (core, op type, shape signature) with ``predict.cpu_counts``'s own
signature, so a prediction for the same layer finds its count; per-(core, op) and per-(core, op
class) instructions per MAC (per output element for ops without MACs) are derived from them.
Provenance: npubench version, compiler and flags, ELF and model hashes, date. May import:
npubench.predict.cpu_counts / cpu_cost (for keys and op classes) and sibling icount modules.
"""

from __future__ import annotations

import datetime as dt
from collections import defaultdict
from dataclasses import dataclass
from pathlib import Path

from npubench import __version__
from npubench.analysis.layer_keys import op_class, shape_signature, unit_for, work_of
from npubench.measure.icount.counts import METHOD, InstructionCounts

HEADER = """\
# Retired-instruction counts of npubench's generated int8 C (compilers/cgen) per layer, measured
# on emulated Cortex-M cores by npubench.measure.icount (QEMU 7.2 TCG plugin, exact and
# deterministic counts). Written by benchmarks/cgen_icount.py --record; do not edit by hand.
#
# [[layers]]: (core, op, shape) -> instructions of one layer (kernel call included).
# [[rates]]: instructions per MAC (per = "mac") or per output element (per = "element"),
#   sum(instructions) / sum(work) over the counted layers, by op type (kind = "op") and by
#   npubench.predict.cpu_cost op class (kind = "class").
# Cycles = instructions x the core's CPI from src/npubench/targets/cpi.toml (an estimate).
"""


@dataclass(frozen=True)
class NamedCounts:
    model: str
    counts: InstructionCounts


def _q(text: str) -> str:
    return '"' + text.replace("\\", "\\\\").replace('"', '\\"') + '"'


def _rates(rows: list[tuple[str, str, str, float, float]]) -> list[dict[str, object]]:
    """rows: (core, key, per, instructions, work) -> one rate per (core, key), majority unit."""
    groups: dict[tuple[str, str], dict[str, list[tuple[float, float]]]] = defaultdict(
        lambda: defaultdict(list)
    )
    for core, key, per, instructions, work in rows:
        groups[(core, key)][per].append((instructions, work))
    out = []
    for (core, key), by_unit in sorted(groups.items()):
        per, items = max(by_unit.items(), key=lambda kv: len(kv[1]))
        work = sum(w for _, w in items)
        if work <= 0:
            continue
        value = sum(i for i, _ in items) / work
        out.append({"core": core, "key": key, "per": per, "value": value, "layers": len(items)})
    return out


def render_cpu_counts(runs: list[NamedCounts], date: str | None = None) -> str:
    """The TOML text for ``runs`` (several models, several cores)."""
    date = date or dt.date.today().isoformat()
    first = runs[0].counts if runs else None
    lines = [HEADER, "[provenance]"]
    lines.append(f"npubench_version = {_q(__version__)}")
    lines.append(f"method = {_q(METHOD)}")
    lines.append(f"compiler = {_q(first.compiler if first else '')}")
    lines.append(f"date = {_q(date)}")
    lines.append("")
    for run in runs:
        c = run.counts
        lines += [
            "[[models]]",
            f"model = {_q(run.model)}",
            f"core = {_q(c.core)}",
            f"machine = {_q(c.machine)}",
            f"model_sha256 = {_q(c.model_sha256)}",
            f"elf_sha256 = {_q(c.elf_sha256)}",
            f"compile_flags = {_q(c.compile_flags)}",
            f"inference_instructions = {c.inference}",
            "",
        ]
    seen: set[tuple[str, str, str]] = set()
    op_rows: list[tuple[str, str, str, float, float]] = []
    class_rows: list[tuple[str, str, str, float, float]] = []
    for run in runs:
        c = run.counts
        for layer in c.layers:
            if layer.instructions <= 0:
                continue  # aliased reshapes: no code
            sig = shape_signature(layer.info)
            per = unit_for(layer.info)
            work = work_of(layer.info, per)
            op_rows.append((c.core, layer.op, per, layer.instructions, work))
            class_rows.append((c.core, op_class(layer.op), per, layer.instructions, work))
            if (c.core, layer.op, sig) in seen:
                continue
            seen.add((c.core, layer.op, sig))
            lines += [
                "[[layers]]",
                f"core = {_q(c.core)}",
                f"op = {_q(layer.op)}",
                f"shape = {_q(sig)}",
                f"macs = {layer.macs}",
                f"instructions = {layer.instructions}",
                f"model = {_q(run.model)}",
                "",
            ]
    for kind, rows in (("op", op_rows), ("class", class_rows)):
        for rate in _rates(rows):
            lines += [
                "[[rates]]",
                f"core = {_q(str(rate['core']))}",
                f"kind = {_q(kind)}",
                f"key = {_q(str(rate['key']))}",
                f"per = {_q(str(rate['per']))}",
                f"instructions = {float(rate['value']):.4f}",  # type: ignore[arg-type]
                f"layers = {rate['layers']}",
                "",
            ]
    return "\n".join(lines)


def write_cpu_counts(runs: list[NamedCounts], path: Path, date: str | None = None) -> Path:
    path.write_text(render_cpu_counts(runs, date), encoding="utf-8")
    return path
