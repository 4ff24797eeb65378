"""Model sources: turn a user's model spec into a checked, content-hashed ``ModelSource``.

May import ``npubench.errors``, ``npubench.cache`` and ``npubench.models.zoo``; torch, onnx and
ai-edge-litert are imported only when a spec needs them. Specs:

- ``zoo:<name>``                   a model of the built-in zoo
- ``zoo:<family>:k=v,...``         a parametric zoo model, e.g. ``zoo:mobilenet_v2:alpha=0.35,
                                   res=128,classes=1000`` (omitted keys take their defaults);
                                   its name is the canonical spec, every key in order
- ``path/to/model.onnx``           an ONNX model (one input, one output)
- ``path/to/model.tflite``         a float or an already int8 TFLite model (detected)
- ``path/to/file.py:ClassName``    a PyTorch ``nn.Module`` built with no arguments; needs
                                   ``input_shape``; an optional checkpoint is loaded with
                                   ``torch.load(..., weights_only=True)`` only. The file is
                                   imported with its folder first on ``sys.path`` (as
                                   ``python file.py`` would), so it may import sibling modules;
                                   every ``.py`` file of that folder is part of its hash

Every failure a user can cause raises ``ModelError`` naming the problem, with a hint on the fix.
That includes malformed files: a truncated or bit-flipped .onnx or .tflite (a tensor name that
is not UTF-8, a flatbuffer that does not verify), and files too large to be a microcontroller
model, refused from their size *before* they are read (``check_file_size``):

- ``.onnx`` and ``.tflite`` (with an ONNX model's external data): ``MAX_MODEL_BYTES``, 512 MiB
  (ONNX's own protobuf limit is 2 GiB; a model for an MCU NPU is a few MiB);
- a ``.py`` model file: ``MAX_SOURCE_BYTES``, 16 MiB, and 64 MiB for all ``.py`` files beside
  it (``MAX_SOURCE_FOLDER_BYTES``), which are hashed;
- a checkpoint: ``MAX_CHECKPOINT_BYTES``, 2 GiB; calibration ``.npy`` files: 2 GiB
  (``npubench.models.calibration``).

``$NPUBENCH_MAX_FILE_MB`` (a number of MiB) replaces every one of these limits, for the rare
legitimate file beyond them.
"""

from __future__ import annotations

import hashlib
import importlib.util
import os
import sys
import uuid
from collections.abc import Mapping
from dataclasses import asdict, dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Any, Literal

from npubench.cache import file_sha256
from npubench.errors import ModelError, closest_names

if TYPE_CHECKING:
    import torch

SourceKind = Literal["zoo", "pytorch", "onnx", "tflite-float", "tflite-int8"]
TFLITE_IDENTIFIER = b"TFL3"  # flatbuffer file identifier at bytes 4..8 of every .tflite
MIB = 1 << 20
MAX_MODEL_BYTES = 512 * MIB
MAX_SOURCE_BYTES = 16 * MIB
MAX_SOURCE_FOLDER_BYTES = 64 * MIB
MAX_CHECKPOINT_BYTES = 2048 * MIB
SIZE_LIMIT_ENV = "NPUBENCH_MAX_FILE_MB"


def size_limit(default: int) -> int:
    """``default`` bytes, or ``$NPUBENCH_MAX_FILE_MB`` MiB when set (a usage error if not a
    positive number)."""
    raw = os.environ.get(SIZE_LIMIT_ENV, "").strip()
    if not raw:
        return default
    try:
        mib = float(raw)
    except ValueError:
        mib = float("nan")
    if not mib > 0 or mib == float("inf"):
        raise ModelError(
            f"${SIZE_LIMIT_ENV}={raw!r} is not a positive number of MiB",
            hint="unset it, or give the largest input file size in MiB (e.g. 4096)",
        )
    return int(mib * MIB)


def check_file_size(path: Path, what: str, limit: int) -> int:
    """The file's size; a ``ModelError`` if it exceeds ``size_limit(limit)``. Reads nothing."""
    size = path.stat().st_size
    allowed = size_limit(limit)
    if size > allowed:
        raise ModelError(
            f"{what} {path} has {size / MIB:,.1f} MiB, more than the {allowed / MIB:,.0f} MiB "
            "npubench reads (it was not read)",
            hint="check that this is the right file; a model for a microcontroller is a few "
            f"MiB. To read it anyway set {SIZE_LIMIT_ENV} to a larger number of MiB",
        )
    return size


@dataclass(frozen=True)
class ModelSource:
    """One model as given by the user, resolved and checked."""

    name: str
    kind: SourceKind
    path: Path | None  # the model file; None for zoo models
    input_shape: tuple[int, ...]  # batch 1; source layout (NCHW/NCW), TFLite layout for .tflite
    sha256: str  # of the file, or of source text + class + seed + shape + checkpoint hash
    class_name: str | None = None  # PyTorch modules
    checkpoint: Path | None = None
    seed: int = 0
    output_shape: tuple[int, ...] | None = None
    classifier: bool | None = None  # known for zoo models only
    postprocess: str | None = None  # "softmax" | "yolo" | "sigmoid" | "none"; zoo models only

    def to_json(self) -> dict[str, Any]:
        data = asdict(self)
        data["path"] = str(self.path) if self.path else None
        data["checkpoint"] = str(self.checkpoint) if self.checkpoint else None
        return data

    def build_module(self) -> torch.nn.Module:
        """The PyTorch module of a zoo or PyTorch source, in eval mode, weights loaded."""
        if self.kind == "zoo":
            from npubench.models.zoo import build_zoo_model

            return build_zoo_model(self.name, seed=self.seed, weights=self.checkpoint).eval()
        if self.kind == "pytorch" and self.path is not None and self.class_name is not None:
            return _build_pytorch_module(self.path, self.class_name, self.checkpoint, self.seed)
        raise ModelError(f"model source {self.name} ({self.kind}) is not a PyTorch module")


def resolve_source(
    spec: str,
    input_shape: tuple[int, ...] | None = None,
    checkpoint: Path | None = None,
) -> ModelSource:
    """Resolve ``spec`` (see the module docstring) to a checked ``ModelSource``."""
    shape = _normalise_shape(input_shape) if input_shape is not None else None
    checkpoint = Path(checkpoint) if checkpoint is not None else None
    if spec.startswith("zoo:"):
        source = _resolve_zoo(spec[len("zoo:") :], checkpoint)
        _check_given_shape(source, shape, "zoo models have a fixed input shape")
        return source
    file_part, sep, class_name = spec.rpartition(":")
    if sep and file_part.endswith(".py") and class_name:
        return _resolve_pytorch(Path(file_part), class_name, shape, checkpoint)
    path = Path(spec)
    suffix = path.suffix.lower()
    if suffix == ".py":
        raise ModelError(
            f"PyTorch model spec {spec!r} names no class",
            hint=f"write it as {spec}:ClassName",
        )
    if checkpoint is not None and suffix in (".onnx", ".tflite"):
        raise ModelError(
            f"a checkpoint applies to PyTorch and zoo models, not to {path.name}",
            hint="ONNX and TFLite files carry their weights; drop the checkpoint",
        )
    if suffix == ".onnx":
        return _resolve_onnx(path, shape)
    if suffix == ".tflite":
        source = _resolve_tflite(path)
        _check_given_shape(source, shape, "a .tflite model has a fixed input shape")
        return source
    raise ModelError(
        f"unsupported model spec {spec!r} (extension {suffix or 'none'!r})",
        hint="give zoo:<name>, a .onnx or .tflite file, or path/to/file.py:ClassName",
    )


# --- zoo -----------------------------------------------------------------------------------


def _resolve_zoo(name: str, checkpoint: Path | None) -> ModelSource:
    try:
        from npubench.models.zoo import FAMILIES, ZOO, get_entry
    except ImportError as exc:  # the zoo is a separate module; say so rather than crash
        raise ModelError(
            f"the model zoo cannot be imported: {exc}", hint="reinstall npubench"
        ) from exc
    if name not in ZOO and name.partition(":")[0] not in FAMILIES:
        known = sorted([*ZOO, *FAMILIES])
        close = closest_names(name, known)
        raise ModelError(
            f"no zoo model named {name!r}",
            hint=f"did you mean {', '.join(close)}?"
            if close
            else f"zoo models: {', '.join(known)}",
        )
    entry = get_entry(name)  # a family's entry is named by its canonical spec
    name = entry.name
    if checkpoint is not None:
        _require_file(checkpoint, "checkpoint", MAX_CHECKPOINT_BYTES)
    seed = 0
    digest = _hash_parts(
        b"zoo",
        name.encode(),
        _zoo_source_text(),
        str(seed).encode(),
        str(tuple(entry.input_shape)).encode(),
        (file_sha256(checkpoint) if checkpoint else "").encode(),
    )
    return ModelSource(
        name=name,
        kind="zoo",
        path=None,
        input_shape=tuple(int(d) for d in entry.input_shape),
        sha256=digest,
        checkpoint=checkpoint,
        seed=seed,
        output_shape=tuple(int(d) for d in entry.output_shape),
        classifier=bool(entry.classifier),
        postprocess=entry.postprocess,
    )


def _zoo_source_text() -> bytes:
    """Every zoo source file: a change to any layer builder or initialiser changes the hash."""
    import npubench.models.zoo as zoo_package

    folder = Path(zoo_package.__file__).parent
    return b"".join(p.name.encode() + p.read_bytes() for p in sorted(folder.glob("*.py")))


# --- PyTorch -------------------------------------------------------------------------------


def _resolve_pytorch(
    path: Path, class_name: str, input_shape: tuple[int, ...] | None, checkpoint: Path | None
) -> ModelSource:
    _require_file(path, "PyTorch model file", MAX_SOURCE_BYTES)
    _check_folder_sources(path)
    if input_shape is None:
        raise ModelError(
            f"PyTorch model {path}:{class_name} needs an input shape",
            hint="pass --input-shape, e.g. 1,3,32,32 (batch 1, NCHW)",
        )
    if checkpoint is not None:
        _require_file(checkpoint, "checkpoint", MAX_CHECKPOINT_BYTES)
    seed = 0
    module, local_files = _load_pytorch_module(path, class_name, checkpoint, seed)
    output_shape = _check_forward(module, input_shape, f"{path}:{class_name}")
    digest = _hash_parts(
        b"pytorch",
        _pytorch_source_text(path, local_files),
        class_name.encode(),
        str(seed).encode(),
        str(input_shape).encode(),
        (file_sha256(checkpoint) if checkpoint else "").encode(),
    )
    return ModelSource(
        name=class_name,
        kind="pytorch",
        path=path,
        input_shape=input_shape,
        sha256=digest,
        class_name=class_name,
        checkpoint=checkpoint,
        seed=seed,
        output_shape=output_shape,
    )


def _check_folder_sources(path: Path) -> None:
    """Every ``.py`` beside the model is hashed: their sizes are checked first."""
    folder = path.resolve().parent
    total = 0
    for file in folder.glob("*.py"):
        if file.is_file():
            total += check_file_size(file, "Python file beside the model", MAX_SOURCE_BYTES)
    allowed = size_limit(MAX_SOURCE_FOLDER_BYTES)
    if total > allowed:
        raise ModelError(
            f"the .py files in {folder} total {total / MIB:,.1f} MiB, more than the "
            f"{allowed / MIB:,.0f} MiB npubench hashes with a model file",
            hint="put the model file in a folder of its own (with the modules it imports), or "
            f"set {SIZE_LIMIT_ENV}",
        )


def _pytorch_source_text(path: Path, local_files: tuple[Path, ...]) -> bytes:
    """The model file, every ``.py`` beside it and the files it imported from below its folder.

    A change to a sibling module (``layers.py`` imported by ``net.py``) must change the hash, or
    a stale cached int8 model would be reused. Files are named relative to the folder, so moving
    the folder keeps the hash.
    """
    folder = path.resolve().parent
    files = {p.resolve() for p in folder.glob("*.py") if p.is_file()} | set(local_files)
    files.add(path.resolve())
    parts = []
    for file in sorted(files, key=lambda p: p.relative_to(folder).as_posix()):
        parts.append(_hash_parts(file.relative_to(folder).as_posix().encode(), file.read_bytes()))
    return "".join(parts).encode()


def _build_pytorch_module(
    path: Path, class_name: str, checkpoint: Path | None, seed: int
) -> torch.nn.Module:
    module, _ = _load_pytorch_module(path, class_name, checkpoint, seed)
    return module


def _load_pytorch_module(
    path: Path, class_name: str, checkpoint: Path | None, seed: int
) -> tuple[torch.nn.Module, tuple[Path, ...]]:
    """The module, in eval mode, and the files of the sibling modules its file imported."""
    import torch

    module_file, local_files = _import_file(path)
    cls = getattr(module_file, class_name, None)
    if not (isinstance(cls, type) and issubclass(cls, torch.nn.Module)):
        candidates = [
            n
            for n, obj in vars(module_file).items()
            if isinstance(obj, type) and issubclass(obj, torch.nn.Module)
        ]
        close = closest_names(class_name, candidates) or candidates[:5]
        what = "is not a torch.nn.Module class" if cls is not None else "does not exist"
        raise ModelError(
            f"{path}: {class_name} {what}",
            hint=f"did you mean {', '.join(close)}?"
            if close
            else f"{path} defines no nn.Module class",
        )
    torch.manual_seed(seed)  # modules without a checkpoint get reproducible random weights
    try:
        module = cls()
    except Exception as exc:
        raise ModelError(
            f"{path}:{class_name}() failed: {type(exc).__name__}: {exc}",
            hint="the class must be constructible without arguments (give defaults)",
        ) from exc
    if checkpoint is not None:
        _load_checkpoint(module, checkpoint)
    return module.eval(), local_files


def _import_file(path: Path) -> tuple[Any, tuple[Path, ...]]:
    """Import ``path`` as ``python path`` would see it; (module, files of its local imports).

    The file's folder goes first on ``sys.path`` while the file executes, so ``from layers
    import Block`` finds ``layers.py`` beside it. Afterwards that entry is removed and the
    sibling modules it imported are dropped from ``sys.modules`` again: the classes keep working
    (their objects hold their module), and another model folder with its own ``layers.py`` (or
    an edited one) is imported afresh instead of reusing this one.
    """
    folder = path.resolve().parent
    name = f"_npubench_user_model_{uuid.uuid4().hex}"
    spec = importlib.util.spec_from_file_location(name, path)
    if spec is None or spec.loader is None:
        raise ModelError(f"{path} cannot be imported as Python", hint="give a .py file")
    module = importlib.util.module_from_spec(spec)
    already_imported = set(sys.modules)
    # Registered because dataclasses, inspect and tracing look classes' modules up there.
    sys.modules[name] = module
    sys.path.insert(0, str(folder))
    try:
        spec.loader.exec_module(module)
    except SystemExit as exc:
        # A model file that calls sys.exit() at import must not end npubench with its status.
        sys.modules.pop(name, None)
        raise ModelError(
            f"importing {path} called sys.exit({exc.code!r})",
            hint="a model file must define the module class without exiting; move script code "
            "under `if __name__ == '__main__':`",
        ) from None
    except Exception as exc:
        sys.modules.pop(name, None)
        raise ModelError(
            f"importing {path} raised {type(exc).__name__}: {exc}", hint=_import_hint(path, exc)
        ) from exc
    finally:
        _remove_path_entry(str(folder))
        local_files = _forget_local_modules(folder, already_imported | {name})
    return module, local_files


def _remove_path_entry(entry: str) -> None:
    # Our entry was inserted first; the file may have inserted its own before it since.
    if entry in sys.path:
        sys.path.remove(entry)


def _forget_local_modules(folder: Path, keep: set[str]) -> tuple[Path, ...]:
    """Drop the modules the import found in ``folder``'s own entry; return their files.

    A module is local when its top-level name is a file or package of ``folder`` itself
    (``layers.py``, ``blocks/``), not merely a file somewhere below it: a virtual environment
    inside the project folder (``.venv/.../site-packages/timm``) must stay imported.
    """
    files = []
    for module_name in [n for n in sys.modules if n not in keep]:
        origin = getattr(sys.modules[module_name], "__file__", None)
        if origin is None:
            continue
        file = Path(origin).resolve()
        top = module_name.partition(".")[0]
        if file.is_relative_to(folder) and file.relative_to(folder).parts[0] in (top, f"{top}.py"):
            del sys.modules[module_name]
            if file.suffix == ".py":
                files.append(file)
    return tuple(sorted(files))


def _import_hint(path: Path, exc: Exception) -> str:
    if isinstance(exc, ModuleNotFoundError) and exc.name:
        top = exc.name.split(".")[0]
        return (
            f"{path.name} is imported with its folder on sys.path, as `python {path}` would: "
            f"put {top}.py (or the package {top}/) beside it, or install {top!r} into this "
            f"Python environment ({sys.executable})"
        )
    return f"fix the error in the file (try `python {path}`)"


def _load_checkpoint(module: torch.nn.Module, checkpoint: Path) -> None:
    import pickle

    import torch

    try:
        state = torch.load(checkpoint, map_location="cpu", weights_only=True)
    except pickle.UnpicklingError as exc:
        raise ModelError(
            f"checkpoint {checkpoint} holds objects other than tensors; it is not loaded "
            "(only weights_only=True loading is allowed)",
            hint="save the weights with torch.save(model.state_dict(), path)",
        ) from exc
    except Exception as exc:
        raise ModelError(
            f"checkpoint {checkpoint} cannot be read: {type(exc).__name__}: {exc}",
            hint="save the weights with torch.save(model.state_dict(), path)",
        ) from exc
    if isinstance(state, Mapping):
        for key in ("state_dict", "model_state_dict", "model"):
            if isinstance(state.get(key), Mapping):
                state = state[key]
                break
    if not isinstance(state, Mapping):
        raise ModelError(
            f"checkpoint {checkpoint} is not a state dict (found {type(state).__name__})",
            hint="save the weights with torch.save(model.state_dict(), path)",
        )
    try:
        module.load_state_dict(state, strict=True)
    except RuntimeError as exc:
        first = str(exc).strip().splitlines()
        raise ModelError(
            f"checkpoint {checkpoint} does not match the module: {' '.join(first[:3])}",
            hint="use the checkpoint saved from this exact class",
        ) from exc


def _check_forward(
    module: torch.nn.Module, input_shape: tuple[int, ...], what: str
) -> tuple[int, ...]:
    import torch

    try:
        with torch.no_grad():
            out = module(torch.zeros(input_shape))
    except Exception as exc:
        raise ModelError(
            f"{what}: forward fails for input shape {input_shape}: {type(exc).__name__}: {exc}",
            hint="give the input shape the model expects (batch 1, NCHW for images, NCW for 1-D)",
        ) from exc
    if not isinstance(out, torch.Tensor):
        raise ModelError(
            f"{what}: forward returns {type(out).__name__}, not one tensor",
            hint="wrap the model so forward returns a single tensor",
        )
    return tuple(int(d) for d in out.shape)


# --- ONNX ----------------------------------------------------------------------------------


def _load_onnx(path: Path) -> Any:
    """The ONNX model with its external data, each file's size checked before it is read."""
    import onnx

    try:
        model = onnx.load(str(path), load_external_data=False)
    except Exception as exc:  # protobuf DecodeError and friends
        raise ModelError(
            f"{path} is not a readable ONNX model (truncated, corrupt or another format): "
            f"{_first_line(exc)}",
            hint="export the model again (torch.onnx.export) and check it with onnx.checker",
        ) from exc
    try:
        from onnx.external_data_helper import _get_all_tensors, uses_external_data

        locations = set()
        for tensor in _get_all_tensors(model):
            if uses_external_data(tensor):
                for entry in tensor.external_data:
                    if entry.key == "location":
                        locations.add(entry.value)
        total = path.stat().st_size
        for location in sorted(locations):
            data = path.parent / location
            if data.is_file():
                total += data.stat().st_size
        allowed = size_limit(MAX_MODEL_BYTES)
        if total > allowed:
            raise ModelError(
                f"ONNX model {path} with its external data has {total / MIB:,.1f} MiB, more "
                f"than the {allowed / MIB:,.0f} MiB npubench reads (the data was not read)",
                hint=f"a model for a microcontroller is a few MiB; set {SIZE_LIMIT_ENV} to "
                "read it anyway",
            )
        if locations:
            onnx.load_external_data_for_model(model, str(path.parent))
    except ModelError:
        raise
    except Exception as exc:
        raise ModelError(
            f"the external data of ONNX model {path} cannot be read: {_first_line(exc)}",
            hint="keep the .data file(s) beside the .onnx file, as exported",
        ) from exc
    return model


def _first_line(exc: BaseException) -> str:
    text = str(exc).strip().splitlines()
    return (text[0] if text else type(exc).__name__)[:300]


def _resolve_onnx(path: Path, input_shape: tuple[int, ...] | None) -> ModelSource:
    _require_file(path, "ONNX model", MAX_MODEL_BYTES)
    import onnx

    model = _load_onnx(path)
    if len(model.graph.node) == 0 or len(model.graph.input) == 0:
        raise ModelError(
            f"{path} is not an ONNX model (no graph nodes or inputs)",
            hint="give an ONNX file exported from a framework",
        )
    try:
        onnx.checker.check_model(model)
    except Exception as exc:
        raise ModelError(
            f"{path} is not a valid ONNX model: {_first_line(exc)}",
            hint="export the model again; if it uses external data, keep the .data file beside it",
        ) from exc
    try:
        return _onnx_source(path, model, input_shape)
    except ModelError:
        raise
    except Exception as exc:  # a malformed field that passed the checker
        raise ModelError(
            f"{path} is a malformed ONNX model: {type(exc).__name__}: {_first_line(exc)}",
            hint="export the model again (torch.onnx.export) and check it with onnx.checker",
        ) from exc


def _onnx_source(path: Path, model: Any, input_shape: tuple[int, ...] | None) -> ModelSource:
    initializers = {init.name for init in model.graph.initializer}
    inputs = [i for i in model.graph.input if i.name not in initializers]
    if len(inputs) != 1 or len(model.graph.output) != 1:
        raise ModelError(
            f"{path} has {len(inputs)} inputs and {len(model.graph.output)} outputs; "
            "npubench handles models with one input and one output",
            hint="export a wrapper with a single input and a single output",
        )
    graph_input = inputs[0]
    dims = [d.dim_value if d.HasField("dim_value") else (d.dim_param or "?") for d in
            graph_input.type.tensor_type.shape.dim]  # fmt: skip
    dynamic = [i for i, d in enumerate(dims) if not isinstance(d, int) or d <= 0]
    if input_shape is None:
        if dynamic:
            raise ModelError(
                f"{path}: input {graph_input.name!r} has dynamic dimensions {dims}",
                hint="pass --input-shape with every dimension fixed, batch 1 "
                f"(e.g. {','.join('1' if i in dynamic else str(d) for i, d in enumerate(dims))})",
            )
        shape = tuple(int(d) for d in dims)
    else:
        shape = input_shape
        fixed_mismatch = [
            i for i, d in enumerate(dims) if i not in dynamic and i < len(shape) and shape[i] != d
        ]
        if len(shape) != len(dims) or fixed_mismatch:
            raise ModelError(
                f"{path}: input shape {shape} does not fit input {graph_input.name!r} {dims}",
                hint="give a shape with the same rank that keeps the model's fixed dimensions",
            )
    if shape[0] != 1:
        raise ModelError(
            f"{path}: batch size {shape[0]} in input shape {shape}", hint="use batch 1"
        )
    digest = file_sha256(path)
    if input_shape is not None:  # the fixed shape is part of what gets converted
        digest = _hash_parts(digest.encode(), str(shape).encode())
    return ModelSource(name=path.stem, kind="onnx", path=path, input_shape=shape, sha256=digest)


# --- TFLite --------------------------------------------------------------------------------


def _resolve_tflite(path: Path) -> ModelSource:
    _require_file(path, "TFLite model", MAX_MODEL_BYTES)
    with open(path, "rb") as f:
        head = f.read(8)
    if len(head) < 8 or head[4:8] != TFLITE_IDENTIFIER:
        raise ModelError(
            f"{path} is not a TFLite model (no TFL3 flatbuffer identifier)",
            hint="give a .tflite file written by the TFLite converter",
        )
    _, ins, outs, tensors = load_tflite(path, allocate=True)
    if len(ins) != 1 or len(outs) != 1:
        raise ModelError(
            f"{path} has {len(ins)} inputs and {len(outs)} outputs; npubench handles one of each",
            hint="convert a single-input, single-output model",
        )
    float_tensors = [
        t["name"] for t in tensors if t["dtype"].__name__ in ("float32", "float16", "float64")
    ]
    io_int8 = ins[0]["dtype"].__name__ == "int8" and outs[0]["dtype"].__name__ == "int8"
    kind: SourceKind = "tflite-int8" if io_int8 and not float_tensors else "tflite-float"
    return ModelSource(
        name=path.stem,
        kind=kind,
        path=path,
        input_shape=tuple(int(d) for d in ins[0]["shape"]),
        sha256=file_sha256(path),
        output_shape=tuple(int(d) for d in outs[0]["shape"]),
    )


def load_tflite(path: Path, allocate: bool = False) -> tuple[Any, list[Any], list[Any], list[Any]]:
    """(interpreter, input details, output details, tensor details) of a .tflite file.

    A file the interpreter rejects, or whose tensor names or other fields are malformed (a
    flipped byte in a name is not UTF-8), raises ``ModelError``, never the interpreter's own
    exception.
    """
    from ai_edge_litert.interpreter import Interpreter

    try:
        interpreter = Interpreter(model_path=str(path))
        if allocate:
            interpreter.allocate_tensors()
        ins, outs = interpreter.get_input_details(), interpreter.get_output_details()
        tensors = interpreter.get_tensor_details()
    except UnicodeDecodeError as exc:
        raise ModelError(
            f"{path} is a corrupt TFLite model: a tensor or operator name is not UTF-8 "
            f"(byte {exc.start} of a name is {exc.object[exc.start : exc.start + 1]!r})",
            hint="the file was damaged (a flipped byte?): convert or copy the model again",
        ) from None
    except Exception as exc:
        raise ModelError(
            f"{path} is a truncated or corrupt TFLite model: {_first_line(exc)}",
            hint="convert the model again",
        ) from exc
    return interpreter, ins, outs, tensors


# --- helpers -------------------------------------------------------------------------------


def _check_given_shape(source: ModelSource, shape: tuple[int, ...] | None, why: str) -> None:
    if shape is not None and shape != source.input_shape:
        raise ModelError(
            f"input shape {shape} given, but {source.name} takes {source.input_shape} ({why})",
            hint="drop the input shape",
        )


def _require_file(path: Path, what: str, max_bytes: int | None = None) -> None:
    if not path.exists():
        raise ModelError(f"{what} {path} does not exist", hint="check the path")
    if not path.is_file():
        raise ModelError(f"{what} {path} is not a file", hint="give the path of a file")
    if path.stat().st_size == 0:
        raise ModelError(f"{what} {path} is empty", hint="write or copy the file again")
    if max_bytes is not None:
        check_file_size(path, what, max_bytes)


def _normalise_shape(shape: tuple[int, ...]) -> tuple[int, ...]:
    try:
        result = tuple(int(d) for d in shape)
    except (TypeError, ValueError) as exc:
        raise ModelError(
            f"input shape {shape!r} is not a tuple of integers", hint="e.g. 1,3,32,32"
        ) from exc
    if not result or any(d <= 0 for d in result):
        raise ModelError(
            f"input shape {result} has empty or non-positive dimensions", hint="e.g. 1,3,32,32"
        )
    return result


def _hash_parts(*parts: bytes) -> str:
    h = hashlib.sha256()
    for part in parts:
        h.update(len(part).to_bytes(8, "little"))
        h.update(part)
    return h.hexdigest()
