"""What a toolchain is given: one prepared model in every form a tool may consume.

May import ``npubench.errors``, ``npubench.cache`` and ``npubench.models``. npubench quantizes a
model once (int8 TFLite) and keeps the float ONNX it exported; front ends that quantize for
themselves (ExecuTorch, rknn, esp-ppq, TPU-MLIR) take the float model and the same calibration
samples npubench used, written as ``.npy`` in the source layout (NCHW), so every toolchain
calibrates on the same data.
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Any

import numpy as np

from npubench.cache import file_sha256
from npubench.errors import ModelError

if TYPE_CHECKING:
    from npubench.models.prepare import PreparedModel
    from npubench.toolchains.base import ModelForm


@dataclass(frozen=True)
class CompileInput:
    """One model ready for any toolchain (see the module docstring)."""

    name: str
    spec: str  # as the user gave it: zoo:<name>, a path, file.py:Class
    source_kind: str  # zoo, pytorch, onnx, tflite-float, tflite-int8
    tflite_int8: Path
    onnx: Path | None  # the float ONNX npubench exported (None for TFLite sources)
    source_input_shape: tuple[int, ...]  # batch first, source layout
    int8_sha256: str
    source_sha256: str
    calibration: Path | None = None  # the user's .npy, None for npubench's synthetic samples
    calib_samples: int = 64
    eval_samples: int = 16
    seed: int = 0
    input_shape_option: tuple[int, ...] | None = None  # --input-shape, to rebuild the source
    checkpoint: Path | None = None

    @classmethod
    def from_prepared(
        cls,
        prepared: PreparedModel,
        spec: str,
        *,
        calibration: Path | None = None,
        seed: int = 0,
        input_shape: tuple[int, ...] | None = None,
        checkpoint: Path | None = None,
    ) -> CompileInput:
        onnx = prepared.float_reference
        return cls(
            name=prepared.name,
            spec=spec or prepared.name,
            source_kind=prepared.source_kind,
            tflite_int8=Path(prepared.int8_tflite),
            onnx=onnx if onnx is not None and onnx.suffix == ".onnx" else None,
            source_input_shape=tuple(prepared.source_input_shape),
            int8_sha256=prepared.sha256,
            source_sha256=prepared.source_sha256,
            calibration=calibration,
            seed=seed,
            input_shape_option=input_shape,
            checkpoint=checkpoint,
        )

    @classmethod
    def from_tflite(cls, path: Path) -> CompileInput:
        """An int8 TFLite file alone (for tools that consume only it, e.g. Vela)."""
        path = Path(path)
        if not path.is_file():
            raise ModelError(f"model file {path} does not exist", hint="give the path of a .tflite")
        digest = file_sha256(path)
        return cls(
            name=path.stem,
            spec=str(path),
            source_kind="tflite-int8",
            tflite_int8=path,
            onnx=None,
            source_input_shape=(),
            int8_sha256=digest,
            source_sha256=digest,
        )

    def key(self, form: ModelForm) -> list[Any]:
        """What identifies the model for a toolchain consuming ``form`` (cache keys)."""
        if form == "tflite-int8":
            return [form, self.int8_sha256]
        calibration = file_sha256(self.calibration) if self.calibration else "synthetic"
        common = [self.source_sha256, calibration, self.seed, self.calib_samples]
        if form == "onnx":
            return [form, file_sha256(self.require_onnx()), *common]
        return [form, *common]

    def require_onnx(self) -> Path:
        if self.onnx is None or not self.onnx.is_file():
            raise ModelError(
                f"{self.name} has no float ONNX form ({self.source_kind} source), which this "
                "toolchain needs",
                hint="give the model as PyTorch (zoo:<name>, file.py:Class) or ONNX",
            )
        return self.onnx

    def _samples(self) -> Any:
        from npubench.models.calibration import make_sample_set

        return make_sample_set(
            self.calibration,
            self.source_input_shape,
            self.calib_samples,
            self.eval_samples,
            self.seed,
        )

    def write_samples(self, folder: Path) -> tuple[Path, Path]:
        """(calibration.npy, evaluation.npy) in the source layout, float32: the samples
        npubench's own quantizer used, and the held-out ones its fidelity figures use."""
        samples = self._samples()
        folder.mkdir(parents=True, exist_ok=True)
        calib, evaluation = folder / "calibration.npy", folder / "evaluation.npy"
        np.save(calib, np.asarray(samples.calibration, dtype=np.float32))
        np.save(evaluation, np.asarray(samples.evaluation, dtype=np.float32))
        return calib, evaluation

    def write_pt2(self, path: Path) -> Path:
        """The float PyTorch model as a ``torch.export`` program (ExecuTorch front ends)."""
        from npubench.models.export import export_pt2
        from npubench.models.source import resolve_source

        source = resolve_source(
            self.spec, input_shape=self.input_shape_option, checkpoint=self.checkpoint
        )
        return export_pt2(source, path)
