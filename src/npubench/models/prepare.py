"""Prepare a model source for benchmarking: float ONNX reference + int8 TFLite + fidelity.

May import ``npubench.errors``, ``npubench.schema``, ``npubench.cache`` and the other
``npubench.models`` modules. The whole conversion is cached by content: the key covers the
source's hash, the calibration data's hash, the options and every converter version, so a
second call with the same inputs returns the cached folder (``model.onnx``,
``model_int8.tflite``, ``prepared.json``, ``convert.log``) at once.
"""

from __future__ import annotations

import dataclasses
import json
import shutil
import tempfile
import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from npubench.cache import cache_key, cached_dir, file_sha256
from npubench.models.calibration import calibration_source_id, make_sample_set
from npubench.models.export import ONNX_OPSET, export_onnx
from npubench.models.fidelity import measure_fidelity
from npubench.models.quantize import (
    CONVERTER_OPTIONS,
    check_int8_tflite,
    converter_versions,
    quantize_float_tflite,
    quantize_onnx,
)
from npubench.models.source import ModelSource
from npubench.schema import Fidelity

PREPARE_VERSION = 1  # bump when the conversion recipe changes in a way versions don't show
CACHE_NAMESPACE = "quantized"
ONNX_FILE = "model.onnx"
INT8_FILE = "model_int8.tflite"
FLOAT_TFLITE_FILE = "model_float.tflite"
META_FILE = "prepared.json"
PROBE_SAMPLES = 2  # held-out samples the worker uses to identify the output layout


@dataclass
class PreparedModel:
    """A model ready for analysis and compilation: the int8 TFLite file and what it cost."""

    name: str
    int8_tflite: Path
    float_reference: Path | None  # float ONNX; None for a given int8 .tflite
    fidelity: Fidelity
    calibration_source: str  # "synthetic", "npy:<sha256>" or "unknown" (given int8 model)
    input_shape: tuple[int, ...]  # TFLite layout
    output_shape: tuple[int, ...]  # TFLite layout
    source_input_shape: tuple[int, ...]
    source_output_shape: tuple[int, ...] | None
    input_layout: tuple[int, ...]  # tflite_input == source_input.transpose(input_layout)
    output_layout: tuple[int, ...]
    sha256: str  # of the int8 .tflite
    source_kind: str
    source_sha256: str
    converter: dict[str, Any] = field(default_factory=dict)
    cached: bool = False
    classifier: bool | None = None
    postprocess: str | None = None

    def to_json(self) -> dict[str, Any]:
        data = dataclasses.asdict(self)
        data["int8_tflite"] = str(self.int8_tflite)
        data["float_reference"] = str(self.float_reference) if self.float_reference else None
        return data


def prepare_model(
    source: ModelSource,
    calibration: Path | None = None,
    calib_samples: int = 64,
    eval_samples: int = 16,
    seed: int = 0,
) -> PreparedModel:
    """Quantize ``source`` to int8 TFLite (cached) and measure its fidelity on held-out samples."""
    if source.kind == "tflite-int8":
        return _prepare_given_int8(source)
    calibration_id = calibration_source_id(calibration)
    options = {
        "calib_samples": calib_samples,
        "eval_samples": eval_samples,
        "seed": seed,
        "opset": ONNX_OPSET,
        "input_shape": list(source.input_shape),
        **CONVERTER_OPTIONS,
    }
    versions = converter_versions()
    key = cache_key("prepared", PREPARE_VERSION, source.sha256, calibration_id, options, versions)

    def build(folder: Path) -> None:
        _build(source, calibration, calib_samples, eval_samples, seed, folder, options, versions)

    folder, was_cached = cached_dir(CACHE_NAMESPACE, key, build)
    return _load_prepared(folder, was_cached)


def _build(
    source: ModelSource,
    calibration: Path | None,
    calib_samples: int,
    eval_samples: int,
    seed: int,
    folder: Path,
    options: dict[str, Any],
    versions: dict[str, str | None],
) -> None:
    started = time.monotonic()
    samples = make_sample_set(calibration, source.input_shape, calib_samples, eval_samples, seed)
    # Kept on failure so the conversion log the error points to still exists.
    scratch = Path(tempfile.mkdtemp(prefix="npubench-quantize-"))
    if source.kind == "tflite-float":
        # The float model itself is the reference; TF's calibrator quantizes the flatbuffer.
        assert source.path is not None
        onnx_path = folder / FLOAT_TFLITE_FILE
        shutil.copyfile(source.path, onnx_path)
        result = quantize_float_tflite(
            onnx_path, samples.calibration, work_dir=scratch, out_path=folder / INT8_FILE
        )
    else:
        onnx_path = export_onnx(source, folder / ONNX_FILE)
        result = quantize_onnx(
            onnx_path,
            samples.calibration,
            samples.evaluation[:PROBE_SAMPLES],
            work_dir=scratch,
            out_path=folder / INT8_FILE,
        )
    shutil.copyfile(scratch / "convert.log", folder / "convert.log")
    shutil.rmtree(scratch, ignore_errors=True)
    fidelity = measure_fidelity(
        onnx_path,
        result.tflite,
        samples.evaluation,
        result.input_layout,
        result.output_layout,
        source.classifier,
        samples.source,
    )
    source_output_shape = tuple(
        result.output_shape[result.output_layout.index(i)] for i in range(len(result.output_shape))
    )
    meta = {
        "name": source.name,
        "fidelity": dataclasses.asdict(fidelity),
        "calibration_source": samples.source,
        "calibration_samples": len(samples.calibration),
        "input_shape": list(result.input_shape),
        "output_shape": list(result.output_shape),
        "source_input_shape": list(source.input_shape),
        "source_output_shape": list(source_output_shape),
        "input_layout": list(result.input_layout),
        "output_layout": list(result.output_layout),
        "sha256": file_sha256(result.tflite),
        "source_kind": source.kind,
        "source_sha256": source.sha256,
        "converter": {
            **versions,
            "options": options,
            "float_graph_max_error": result.float_graph_max_error,
            "seconds_quantize": round(result.seconds, 2),
            "seconds_total": round(time.monotonic() - started, 2),
        },
        "classifier": source.classifier,
        "postprocess": source.postprocess,
    }
    (folder / META_FILE).write_text(json.dumps(meta, indent=2))


def _load_prepared(folder: Path, cached: bool) -> PreparedModel:
    meta = json.loads((folder / META_FILE).read_text())
    return PreparedModel(
        name=meta["name"],
        int8_tflite=folder / INT8_FILE,
        float_reference=next(
            (folder / f for f in (ONNX_FILE, FLOAT_TFLITE_FILE) if (folder / f).exists()), None
        ),
        fidelity=Fidelity(**meta["fidelity"]),
        calibration_source=meta["calibration_source"],
        input_shape=tuple(meta["input_shape"]),
        output_shape=tuple(meta["output_shape"]),
        source_input_shape=tuple(meta["source_input_shape"]),
        source_output_shape=tuple(meta["source_output_shape"]),
        input_layout=tuple(meta["input_layout"]),
        output_layout=tuple(meta["output_layout"]),
        sha256=meta["sha256"],
        source_kind=meta["source_kind"],
        source_sha256=meta["source_sha256"],
        converter=meta["converter"],
        cached=cached,
        classifier=meta["classifier"],
        postprocess=meta["postprocess"],
    )


def _prepare_given_int8(source: ModelSource) -> PreparedModel:
    """An int8 .tflite is used as is; without a float reference its fidelity is unknown."""
    assert source.path is not None
    input_shape, output_shape = check_int8_tflite(source.path)
    identity_in = tuple(range(len(input_shape)))
    identity_out = tuple(range(len(output_shape)))
    return PreparedModel(
        name=source.name,
        int8_tflite=source.path,
        float_reference=None,
        fidelity=Fidelity(samples=0, calibration="unknown"),
        calibration_source="unknown",
        input_shape=input_shape,
        output_shape=output_shape,
        source_input_shape=input_shape,
        source_output_shape=output_shape,
        input_layout=identity_in,
        output_layout=identity_out,
        sha256=source.sha256,
        source_kind=source.kind,
        source_sha256=source.sha256,
        converter={"options": {"path": "given int8 .tflite, used as is"}},
        cached=False,
        classifier=source.classifier,
        postprocess=source.postprocess,
    )
