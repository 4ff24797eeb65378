"""The float ONNX form of a model source, in memory, for the analytical (no-quantization) path.

May import ``npubench.errors`` and the other ``npubench.models`` modules; torch is imported
when a zoo or PyTorch source is exported. The layer table keeps ``models`` and ``analysis``
apart, so the analysis itself is the caller's one line (in a unit that may import both, such
as the pipeline)::

    from npubench.analysis.onnx_graph import analyze_onnx
    analysis = analyze_onnx(*analytical_onnx(source))   # GraphAnalysis, source "onnx-analytical"

Zoo and PyTorch sources go through the same TorchScript exporter as ``export.export_onnx``
(``dynamo=False``, opset 17, constant folding), but into a ``BytesIO`` with no onnxruntime
check; a zoo model without a checkpoint is only constructed (no seeded initialisation), since
shapes, parameter and MAC counts do not depend on the weights. ONNX sources are read in place.
"""

from __future__ import annotations

import io
import warnings
from pathlib import Path
from typing import TYPE_CHECKING

from npubench.errors import ModelError
from npubench.models.export import INPUT_NAME, ONNX_OPSET, OUTPUT_NAME
from npubench.models.source import ModelSource

if TYPE_CHECKING:
    import torch


def analytical_onnx(source: ModelSource) -> tuple[bytes | Path, tuple[int, ...]]:
    """``(model, input_shape)`` for ``analyze_onnx``: the serialized float ONNX (or the ONNX
    file itself) and the input shape in the source's layout (NCHW / NCW, batch 1)."""
    if source.kind == "onnx" and source.path is not None:
        return Path(source.path), tuple(source.input_shape)
    if source.kind in ("zoo", "pytorch"):
        return export_onnx_bytes(source), tuple(source.input_shape)
    raise ModelError(
        f"model {source.name} ({source.kind}) has no float ONNX form to analyse",
        hint="a .tflite model is analysed as it is (npubench.analysis.graph.analyze_tflite)",
    )


def export_onnx_bytes(source: ModelSource) -> bytes:
    """The float ONNX of a zoo or PyTorch source, exported in memory."""
    import torch

    module = _module(source)
    buffer = io.BytesIO()
    try:
        with warnings.catch_warnings(), torch.no_grad():
            # The TorchScript exporter is deprecated in favour of dynamo, which needs onnxscript
            # and writes weights beside the file: silence only that notice (as export.py does).
            warnings.simplefilter("ignore", category=DeprecationWarning)
            torch.onnx.export(
                module,
                (torch.zeros(source.input_shape),),
                buffer,
                dynamo=False,
                opset_version=ONNX_OPSET,
                input_names=[INPUT_NAME],
                output_names=[OUTPUT_NAME],
                do_constant_folding=True,
            )
    except Exception as exc:
        raise ModelError(
            f"exporting {source.name} to ONNX failed: {type(exc).__name__}: "
            f"{str(exc).splitlines()[0] if str(exc) else ''}",
            hint=f"the model must be traceable with torch.onnx.export at opset {ONNX_OPSET}",
        ) from exc
    return buffer.getvalue()


def _module(source: ModelSource) -> torch.nn.Module:
    if source.kind == "zoo" and source.checkpoint is None:
        import torch

        from npubench.models.zoo import get_entry

        # Construction only: its default init draws from the global RNG, so fork it (as
        # ZooEntry.build does) to leave the caller's random stream alone.
        with torch.random.fork_rng(devices=[]):
            return get_entry(source.name).factory().eval()
    return source.build_module()
