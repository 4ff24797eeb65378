"""Calibration: reference measurements in, fitted parameters and their validated error out.

May import ``npubench.errors``, ``npubench.analysis``, ``npubench.targets``,
``npubench.toolchains`` (report types) and the other ``predict`` modules; never a model source,
a toolchain run or the pipeline: the pipeline (``pipeline.calibrate``) turns each reference row
into a ``cases.Case`` (the board, the model's layer table, the toolchain's cycles where one ran)
and hands the cases here.

- ``groups``: what is fitted, as parameter groups with physical meaning and bounds (the CPU
  kernels deployed firmware runs, shared across cores; each NPU board's utilisation and
  overheads; the memory system Vela is given on an Ethos-U board);
- ``fitting``: bounded least squares on log(predicted / measured) with scipy, every prediction
  made by the same stage models ``npubench predict`` runs;
- ``crossval``: leave-one-model-out and leave-one-source-out cross-validation, intervals sized
  from the held-out residuals, and their coverage;
- ``writer``: the fitted parameters as TOML with what they were fitted on.
"""
