"""Subprocess entry point that runs a model through TFLite Micro or LiteRT's reference kernels.

Run only by ``npubench.analysis.tflm`` as ``python -m npubench.analysis._tflm_worker``: both
interpreters abort or segfault the whole process on some models (degenerate quantization such
as a near-zero softmax input scale, an arena too small), so neither runs in the caller's
process. May import numpy, ``tflite_micro`` and ``ai_edge_litert`` only.

Protocol: sample ``s``'s input ``i`` is ``--io-dir``/``in_<s>_<i>.npy`` (missing inputs are
zeros), in the subgraph's input order; outputs are written as ``out_<s>_<o>.npy``. The last
stdout line is ``NPUBENCH_TFLM_RESULT <json>``; with ``--engine tflm`` the caller reads the
arena figure from the allocator report ``print_allocations()`` writes to C stderr.
"""

from __future__ import annotations

import argparse
import json
import os
import sys
from pathlib import Path

import numpy as np

RESULT_MARKER = "NPUBENCH_TFLM_RESULT"


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="npubench.analysis._tflm_worker")
    parser.add_argument("model", type=Path)
    parser.add_argument("--engine", choices=("tflm", "litert-ref"), default="tflm")
    parser.add_argument("--arena", type=int, default=0, help="TFLM tensor arena size in bytes")
    parser.add_argument("--io-dir", type=Path, default=None, help="folder of in_*/out_* .npy")
    parser.add_argument("--samples", type=int, default=1)
    parser.add_argument(
        "--abort-for-test", action="store_true", help="call os.abort() after loading (tests)"
    )
    args = parser.parse_args(argv)

    if args.engine == "tflm":
        runner = _TflmRunner(args.model, args.arena)
    else:
        runner = _LiteRtReferenceRunner(args.model)
    if args.abort_for_test:
        os.abort()

    for sample in range(args.samples):
        inputs = []
        for index, (shape, dtype) in enumerate(runner.inputs):
            source = args.io_dir / f"in_{sample}_{index}.npy" if args.io_dir else None
            if source is not None and source.exists():
                inputs.append(np.load(source))
            else:
                inputs.append(np.zeros(shape, dtype=dtype))
        outputs = runner.run(inputs)
        if args.io_dir is not None:
            for index, array in enumerate(outputs):
                np.save(args.io_dir / f"out_{sample}_{index}.npy", array)

    sys.stdout.flush()
    runner.report()
    result = {
        "engine": args.engine,
        "inputs": [[list(shape), np.dtype(dtype).name] for shape, dtype in runner.inputs],
        "samples": args.samples,
    }
    print(RESULT_MARKER, json.dumps(result), flush=True)
    return 0


class _TflmRunner:
    """The TFLM host interpreter with a fixed tensor arena."""

    def __init__(self, model: Path, arena: int) -> None:
        from tflite_micro.python.tflite_micro import runtime

        self.interpreter = runtime.Interpreter.from_file(str(model), arena_size=arena or None)
        self.inputs = [
            (tuple(int(d) for d in detail["shape"]), detail["dtype"])
            for detail in _details(self.interpreter.get_input_details)
        ]
        self.output_count = len(_details(self.interpreter.get_output_details))

    def run(self, inputs: list[np.ndarray]) -> list[np.ndarray]:
        for index, array in enumerate(inputs):
            self.interpreter.set_input(array, index)
        self.interpreter.invoke()
        outputs = [self.interpreter.get_output(i).copy() for i in range(self.output_count)]
        self.interpreter.reset()  # clear variable tensors so samples are independent
        return outputs

    def report(self) -> None:
        # The RecordingMicroAllocator report goes to C stderr; the caller parses it there.
        self.interpreter.print_allocations()


class _LiteRtReferenceRunner:
    """LiteRT with its reference kernels (no XNNPACK, no optimized kernels)."""

    def __init__(self, model: Path) -> None:
        from ai_edge_litert.interpreter import Interpreter, OpResolverType

        self.interpreter = Interpreter(
            model_path=str(model), experimental_op_resolver_type=OpResolverType.BUILTIN_REF
        )
        self.interpreter.allocate_tensors()
        # Both lists follow the subgraph's input/output order, as TFLM's indices do.
        self.input_details = self.interpreter.get_input_details()
        self.output_details = self.interpreter.get_output_details()
        self.inputs = [(tuple(int(n) for n in d["shape"]), d["dtype"]) for d in self.input_details]

    def run(self, inputs: list[np.ndarray]) -> list[np.ndarray]:
        for detail, array in zip(self.input_details, inputs, strict=True):
            self.interpreter.set_tensor(detail["index"], array)
        self.interpreter.invoke()
        return [self.interpreter.get_tensor(d["index"]).copy() for d in self.output_details]

    def report(self) -> None:
        pass


def _details(getter) -> list[dict]:
    """Details of every input (or output) tensor; TFLM raises past the last index."""
    found = []
    while True:
        try:
            found.append(getter(len(found)))
        except (RuntimeError, ValueError, IndexError):
            return found


if __name__ == "__main__":
    sys.exit(main())
