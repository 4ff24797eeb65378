"""Generated C against TensorFlow Lite Micro: identical int8 outputs on random inputs.

Small Keras models covering every lowered operator are converted to int8 TFLite in a
subprocess (``tests/data/cgen/keras_models.py``); each is compiled to C, built for the host with
gcc, and fed the same random int8 inputs as the tflite-micro interpreter (run in a subprocess,
since TFLM can abort). All nine zoo models run too (slow on first use: each is quantized once
and cached); ``NPUBENCH_SKIP_ZOO=1`` skips them for a quick local run.
"""

from __future__ import annotations

import os
import shutil
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest

from npubench.compilers.cgen import generate_c
from npubench.compilers.cgen.host import CORTEX_M_FLAGS, build_host, compile_for_cortex_m, run_host

pytestmark = pytest.mark.integration

MODEL_SCRIPT = Path(__file__).parent.parent / "data" / "cgen" / "keras_models.py"
KERAS_MODELS = [
    "convnet",
    "misc",
    "grouped",
    "mlp",
    "softmax_wide",
    "softmax_narrow",
    "logistic_wide",
    "logistic_narrow",
]
SEEDS = (0, 1, 2, 3)
ZOO = [
    "yolov1",
    "resnet",
    "simplenet",
    "nas",
    "autoenc",
    "kws_dscnn",
    "vww_mobilenetv1",
    "ic_resnet8",
    "ad_fc_autoencoder",
]

_TFLM_SCRIPT = """
import sys
import numpy as np
from tflite_micro.python.tflite_micro import runtime
model, inputs, outputs, arena = sys.argv[1], sys.argv[2], sys.argv[3], int(sys.argv[4])
interpreter = runtime.Interpreter.from_file(model, arena_size=arena)
results = []
for x in np.load(inputs):
    interpreter.set_input(x, 0)
    interpreter.invoke()
    results.append(np.array(interpreter.get_output(0), copy=True))
np.save(outputs, np.stack(results))
"""


def tflm_outputs(model: Path, samples: list[np.ndarray], work: Path) -> list[np.ndarray]:
    """The tflite-micro interpreter's outputs, computed in a subprocess (TFLM may abort)."""
    np.save(work / "tflm_in.npy", np.stack(samples))
    proc = subprocess.run(
        [
            sys.executable,
            "-c",
            _TFLM_SCRIPT,
            str(model),
            str(work / "tflm_in.npy"),
            str(work / "tflm_out.npy"),
            str(8 << 20),
        ],
        capture_output=True,
        text=True,
        timeout=600,
    )
    assert proc.returncode == 0, f"TFLM failed ({proc.returncode}): {proc.stderr[-1500:]}"
    return list(np.load(work / "tflm_out.npy"))


def random_samples(shape: tuple[int, ...], extra_all_codes: bool) -> list[np.ndarray]:
    samples = [np.random.default_rng(s).integers(-128, 128, shape, dtype=np.int8) for s in SEEDS]
    if extra_all_codes:
        # Every int8 code once (tiled): the whole input range of an element-wise table.
        n = int(np.prod(shape))
        samples.append(np.resize(np.arange(-128, 128, dtype=np.int8), n).reshape(shape))
    return samples


def assert_bitexact(model: Path, work: Path) -> dict:
    result = generate_c(model, work / "c")
    binary = build_host(result)
    samples = random_samples(result.input_shape, extra_all_codes=True)
    ours = run_host(binary, result, samples)
    theirs = tflm_outputs(model, samples, work)
    for seed, (a, b) in enumerate(zip(ours, theirs, strict=True)):
        b = b.reshape(a.shape)
        mismatches = int(np.count_nonzero(a != b))
        assert mismatches == 0, (
            f"{model.name} sample {seed}: {mismatches}/{a.size} outputs differ, max |diff| "
            f"{int(np.max(np.abs(a.astype(int) - b.astype(int))))}"
        )
    # The comparison means something only if the outputs depend on the input.
    assert len({o.tobytes() for o in ours}) > 1, "outputs do not depend on the input"
    return {"arena": result.arena_bytes, "ops": result.operators}


@pytest.fixture(scope="session")
def keras_models(tmp_path_factory: pytest.TempPathFactory) -> Path:
    out = tmp_path_factory.mktemp("cgen_models")
    proc = subprocess.run(
        [sys.executable, str(MODEL_SCRIPT), str(out)],
        capture_output=True,
        text=True,
        timeout=1200,
        env={**os.environ, "CUDA_VISIBLE_DEVICES": ""},
    )
    assert proc.returncode == 0, proc.stderr[-3000:]
    return out


@pytest.mark.parametrize("name", KERAS_MODELS)
def test_generated_c_is_bitexact_with_tflm(keras_models: Path, name: str, tmp_path: Path) -> None:
    info = assert_bitexact(keras_models / f"{name}.tflite", tmp_path)
    assert info["arena"] > 0


def test_models_cover_every_lowered_operator(keras_models: Path) -> None:
    from npubench.analysis.tflite_reader import read_tflite

    seen = {
        op.op for n in KERAS_MODELS for op in read_tflite(keras_models / f"{n}.tflite").operators
    }
    expected = {
        "CONV_2D",
        "DEPTHWISE_CONV_2D",
        "FULLY_CONNECTED",
        "AVERAGE_POOL_2D",
        "MAX_POOL_2D",
        "ADD",
        "SUB",
        "MUL",
        "SOFTMAX",
        "LOGISTIC",
        "QUANTIZE",
        "RELU",
        "RELU6",
        "MEAN",
        "REDUCE_MAX",
        "PAD",
        "TRANSPOSE",
        "CONCATENATION",
        "STRIDED_SLICE",
        "RESHAPE",
    }
    assert expected <= seen, f"not covered: {sorted(expected - seen)}"


@pytest.mark.skipif(shutil.which("arm-none-eabi-gcc") is None, reason="no arm-none-eabi-gcc")
@pytest.mark.parametrize("cpu", sorted(CORTEX_M_FLAGS))
def test_cross_compiles_warning_free_for_cortex_m(
    keras_models: Path, cpu: str, tmp_path: Path
) -> None:
    for name in ("convnet", "misc"):
        result = generate_c(keras_models / f"{name}.tflite", tmp_path / name)
        objects = compile_for_cortex_m(result, cpu)
        assert all(o.stat().st_size > 0 for o in objects)


def test_static_arena_is_not_larger_than_tflm_arena(keras_models: Path, tmp_path: Path) -> None:
    tflm = pytest.importorskip("npubench.analysis.tflm")
    for name in ("convnet", "misc", "grouped"):
        model = keras_models / f"{name}.tflite"
        result = generate_c(model, tmp_path / name)
        assert result.arena_bytes <= tflm.measure_arena(model)


@pytest.mark.skipif(os.environ.get("NPUBENCH_SKIP_ZOO") == "1", reason="NPUBENCH_SKIP_ZOO=1")
@pytest.mark.parametrize("name", ZOO)
def test_zoo_model_is_bitexact(name: str, tmp_path: Path) -> None:
    from npubench.models.prepare import prepare_model
    from npubench.models.source import resolve_source

    prepared = prepare_model(resolve_source(f"zoo:{name}"))
    assert_bitexact(prepared.int8_tflite, tmp_path)
