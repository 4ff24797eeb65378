"""Export a model source to one self-contained, static-shape float ONNX file.

May import ``npubench.errors`` and ``npubench.models.source``; torch and onnx are imported when
called. PyTorch and zoo models go through the TorchScript exporter
(``torch.onnx.export(..., dynamo=False, opset_version=17)``), which writes weights inline; the
dynamo exporter would need onnxscript and a separate ``.onnx.data`` file. ONNX sources are
copied with their dynamic input dimensions fixed to the resolved input shape.
"""

from __future__ import annotations

import contextlib
import warnings
from pathlib import Path

from npubench.errors import ExitStatus, ModelError
from npubench.models.source import ModelSource

ONNX_OPSET = 17
INPUT_NAME = "input"
OUTPUT_NAME = "output"


def export_onnx(source: ModelSource, out_path: Path) -> Path:
    """Write ``source`` as float ONNX to ``out_path`` and return it (checked, static shapes)."""
    out_path = Path(out_path)
    if source.kind in ("zoo", "pytorch"):
        _export_torch(source, out_path)
    elif source.kind == "onnx" and source.path is not None:
        _copy_onnx_with_static_input(source.path, source.input_shape, out_path)
    else:
        raise ModelError(
            f"model {source.name} ({source.kind}) has no ONNX form",
            hint="give the model as PyTorch, ONNX or an int8 .tflite",
        )
    _check_onnx(out_path, source)
    return out_path


def _export_torch(source: ModelSource, out_path: Path) -> None:
    import torch

    module = source.build_module()
    example = torch.zeros(source.input_shape)
    try:
        with warnings.catch_warnings(), torch.no_grad():
            # The TorchScript exporter is deprecated in favour of dynamo, but it is the one that
            # writes a single self-contained file without onnxscript: silence only that notice.
            warnings.simplefilter("ignore", category=DeprecationWarning)
            torch.onnx.export(
                module,
                (example,),
                str(out_path),
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


def export_pt2(source: ModelSource, out_path: Path) -> Path:
    """Write ``source`` as a ``torch.export`` program (``torch.export.save``) to ``out_path``.

    For front ends that quantize a PyTorch model themselves (ExecuTorch's PT2E flow): the
    program travels to their own environment, which loads it with the same torch release.
    """
    import torch

    if source.kind not in ("zoo", "pytorch"):
        raise ModelError(
            f"model {source.name} ({source.kind}) is not a PyTorch module: this front end "
            "quantizes PyTorch models itself",
            hint="give the model as zoo:<name> or file.py:Class, or use the TFLite front end",
        )
    module = source.build_module()
    example = torch.zeros(source.input_shape)
    try:
        with torch.no_grad():
            program = torch.export.export(module, (example,))
        torch.export.save(program, str(out_path))
    except Exception as exc:
        raise ModelError(
            f"torch.export of {source.name} failed: {type(exc).__name__}: "
            f"{str(exc).splitlines()[0] if str(exc) else ''}",
            hint="the model must be exportable with torch.export.export (no data-dependent "
            "control flow)",
            exit_code=ExitStatus.FAILED,
        ) from exc
    return Path(out_path)


def _copy_onnx_with_static_input(src: Path, shape: tuple[int, ...], out_path: Path) -> None:
    import onnx

    model = onnx.load(str(src))  # also loads external data kept beside the file
    initializers = {init.name for init in model.graph.initializer}
    graph_input = next(i for i in model.graph.input if i.name not in initializers)
    for dim, size in zip(graph_input.type.tensor_type.shape.dim, shape, strict=True):
        dim.Clear()
        dim.dim_value = size
    # Intermediate and output shapes inferred for the dynamic graph would contradict the fixed
    # input: drop them and let shape inference (and onnxsim inside onnx2tf) recompute them.
    del model.graph.value_info[:]
    for output in model.graph.output:
        for dim in output.type.tensor_type.shape.dim:
            if not dim.HasField("dim_value"):
                dim.Clear()
    # Inference is an optimisation here (onnxruntime and onnxsim re-derive shapes), so a model
    # it cannot handle is saved without the inferred shapes rather than refused.
    with contextlib.suppress(Exception):
        model = onnx.shape_inference.infer_shapes(model)
    onnx.save(model, str(out_path), save_as_external_data=False)


def _check_onnx(path: Path, source: ModelSource) -> None:
    import onnx
    import onnxruntime as ort

    try:
        onnx.checker.check_model(str(path))
        ort.InferenceSession(str(path), providers=["CPUExecutionProvider"])
    except Exception as exc:
        raise ModelError(
            f"the ONNX form of {source.name} does not load in onnxruntime: "
            f"{str(exc).splitlines()[0]}",
            hint="check the model's ops are standard ONNX at opset "
            f"{ONNX_OPSET} and its input shape {source.input_shape} is right",
        ) from exc
