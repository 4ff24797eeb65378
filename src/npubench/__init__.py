"""npubench: benchmark neural-network inference on microcontroller-scale NPUs and MCU CPUs.

One source model (PyTorch, ONNX or TFLite) is quantized once to int8, analysed, compiled with
each target's real toolchain where one is installed, predicted and measured in five latency
stages, stored with its provenance and reported side by side.

Package layout: one folder per stage of the data flow -- ``models`` (sources, zoo, int8),
``analysis`` (layer tables), ``targets`` (boards and NPU families as data), ``toolchains``
(vendor compiler plug-ins), ``compilers`` (npubench's C generator), ``predict`` (fit, stage
models, calibration, validation), ``measure`` (hardware in the loop), ``store``, ``report``,
and ``pipeline`` / ``sweep`` / ``api`` / ``cli`` on top. Which may import which is declared in
``npubench.layers`` and checked by a test (docs/ARCHITECTURE.md).
"""

from __future__ import annotations

__version__ = "0.1.0"

STAGES: tuple[str, ...] = ("init", "input_io", "inference", "output_io", "postprocess")
"""The five latency stages of one inference, in execution order (Millar et al., MobiCom 2025)."""
