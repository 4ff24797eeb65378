"""npubench: benchmark neural-network inference on microcontroller-scale NPUs and MCU CPUs.

One source model (PyTorch, ONNX or TFLite) is quantized once to int8, analysed, compiled with
each target's real toolchain where one is installed, predicted and measured in five latency
stages, stored with its provenance and reported side by side.

Package layout (one folder per stage of the data flow; each may import only the ones listed):

- ``models``     model sources, the zoo, int8 quantization, fidelity   (errors, schema)
- ``analysis``   graph analysis of int8 TFLite models, TFLM checks    (errors, schema)
- ``targets``    the board catalogue: hardware described as data      (errors)
- ``compilers``  vendor compilers (Vela, ...) and the artifact cache  (errors, schema, targets)
- ``predict``    fit checks, per-stage latency, power and energy     (errors, schema, targets,
                 analysis; ``predict.calibrate`` also runs the pipeline to refit)
- ``measure``    hardware-in-the-loop: harness, serial, power traces  (errors, schema, targets,
                 and the models/analysis/compilers stages to build firmware)
- ``store``      the results store (SQLite) and exports               (errors, schema)
- ``report``     terminal, Markdown, CSV, HTML reports, figures    (errors, schema, store,
                 targets)
- ``sweep``      models x targets x options matrices                  (everything above)
- ``data``       reference measurements shipped with npubench        (errors)
- ``pipeline``   the end-to-end data flow the CLI and API call        (everything above)
- ``cli``        the typer/rich command line                          (api)
"""

from __future__ import annotations

__version__ = "0.1.0"

STAGES: tuple[str, ...] = ("init", "input_io", "inference", "output_io", "postprocess")
"""The five latency stages of one inference, in execution order (Millar et al., MobiCom 2025)."""
