"""What `npubench measure` adds on an emulated core: retired instructions per stage and layer,
the linked image's memory, and CPI-based cycle estimates marked as such."""

from __future__ import annotations

from pathlib import Path
from typing import Any

from npubench.measure.icount.boards import get_core
from npubench.measure.icount.build import build_image, prepare_sources
from npubench.measure.icount.counts import count_model
from npubench.measure.icount.elf_memory import elf_memory


def profile_model(tflite: Path, core: str, clock_mhz: float | None = None) -> dict[str, Any]:
    """Counts (deterministic: the image runs once, without interrupts) and ELF memory."""
    from npubench.targets.cpi import cpi

    counts = count_model(tflite, core)
    # The same cached image count_model ran: building again only looks it up.
    elf = build_image(prepare_sources(tflite), get_core(core), layer_marks=True)
    memory = elf_memory(elf)
    figure = cpi(core)
    estimate: dict[str, Any] | None = None
    if figure is not None:
        cycles = counts.inference * figure.value
        estimate = {
            "what": "an estimate: instructions x the core's CPI, not a measurement",
            "cpi": figure.value,
            "cpi_low": figure.low,
            "cpi_high": figure.high,
            "cpi_source": figure.source,
            "inference_cycles": round(cycles),
        }
        if clock_mhz:
            estimate["clock_mhz"] = clock_mhz
            estimate["inference_us"] = cycles / clock_mhz
            estimate["inference_us_low"] = counts.inference * figure.low / clock_mhz
            estimate["inference_us_high"] = counts.inference * figure.high / clock_mhz
    return {
        "instruction_counts": {
            "method": counts.method,
            "core": counts.core,
            "machine": counts.machine,
            "compiler": counts.compiler,
            "compile_flags": counts.compile_flags,
            "elf_sha256": counts.elf_sha256,
            "output_checked": counts.output_checked,
            "stages": dict(counts.stages),
            "total_macs": counts.total_macs,
            "layers": [
                {
                    "index": layer.index,
                    "op": layer.op,
                    "output_shape": list(layer.output_shape),
                    "macs": layer.macs,
                    "instructions": layer.instructions,
                }
                for layer in counts.layers
            ],
            "notes": list(counts.notes),
        },
        "cycle_estimate": estimate,
        "elf_memory": {
            "code_bytes": memory.code_bytes,
            "rodata_bytes": memory.rodata_bytes,
            "weights_bytes": memory.weights_bytes,
            "op_params_bytes": memory.op_params_bytes,
            "data_bytes": memory.data_bytes,
            "bss_bytes": memory.bss_bytes,
            "arena_bytes": memory.arena_bytes,
            "flash_bytes": memory.flash_bytes,
            "ram_bytes": memory.ram_bytes,
        },
    }
