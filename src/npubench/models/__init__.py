"""Model sources, the model zoo, int8 quantization and fidelity.

May import ``npubench.errors``, ``npubench.schema`` and ``npubench.cache``. Submodules:
``source`` (resolve a model spec), ``export`` (float ONNX), ``calibration`` (samples),
``quantize`` (int8 TFLite in a subprocess), ``fidelity`` (int8 vs float), ``prepare`` (all of it,
cached) and ``zoo``. Nothing heavy is imported here, so ``import npubench.models`` stays cheap.
"""
