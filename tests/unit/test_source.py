"""Model source resolution: every spec kind and every error a user can cause (no TensorFlow)."""

from __future__ import annotations

import sys
import textwrap
from pathlib import Path

import numpy as np
import onnx
import pytest
import torch
from onnx import TensorProto, helper, numpy_helper

from npubench.errors import ModelError
from npubench.models.source import resolve_source

TINY_MODULES = textwrap.dedent(
    """
    import torch

    class TinyNet(torch.nn.Module):
        def __init__(self):
            super().__init__()
            self.conv = torch.nn.Conv2d(3, 4, 3, padding=1)
            self.fc = torch.nn.Linear(4 * 8 * 8, 5)

        def forward(self, x):
            return self.fc(torch.relu(self.conv(x)).flatten(1))

    class TinyNetWide(TinyNet):
        pass

    class NeedsArgs(torch.nn.Module):
        def __init__(self, width):
            super().__init__()

    def helper_function():
        return 1
    """
)


def write_tiny_onnx(path: Path, batch: int | str = 1) -> Path:
    """A 1-input Conv+Relu ONNX model built with onnx.helper (no torch export needed)."""
    weight = numpy_helper.from_array(
        np.random.default_rng(0).standard_normal((4, 3, 3, 3)).astype(np.float32), "w"
    )
    nodes = [
        helper.make_node("Conv", ["x", "w"], ["c"], pads=[1, 1, 1, 1]),
        helper.make_node("Relu", ["c"], ["y"]),
    ]
    graph = helper.make_graph(
        nodes,
        "tiny",
        [helper.make_tensor_value_info("x", TensorProto.FLOAT, [batch, 3, 8, 8])],
        [helper.make_tensor_value_info("y", TensorProto.FLOAT, [batch, 4, 8, 8])],
        initializer=[weight],
    )
    model = helper.make_model(graph, opset_imports=[helper.make_opsetid("", 17)])
    onnx.save(model, str(path))
    return path


@pytest.fixture
def module_file(tmp_path: Path) -> Path:
    path = tmp_path / "nets.py"
    path.write_text(TINY_MODULES)
    return path


@pytest.fixture
def sine_tflite() -> Path:
    """The float sine model that ships with the tflite-micro wheel (a real float .tflite)."""
    tflite_micro = pytest.importorskip("tflite_micro")
    found = sorted(Path(tflite_micro.__file__).parent.rglob("sine_float.tflite"))
    if not found:
        pytest.skip("tflite-micro ships no sine_float.tflite in this version")
    return found[0]


def raises_model_error(spec: str, **kwargs) -> ModelError:
    with pytest.raises(ModelError) as info:
        resolve_source(spec, **kwargs)
    assert info.value.hint, "every ModelError must carry a hint"
    return info.value


# --- missing, empty, unsupported ---------------------------------------------------------------


@pytest.mark.parametrize("name", ["missing.onnx", "missing.tflite", "missing.py:Net"])
def test_missing_file_is_named(tmp_path: Path, name: str) -> None:
    spec = str(tmp_path / name)
    err = raises_model_error(spec, input_shape=(1, 3, 8, 8))
    assert "does not exist" in err.message
    assert "missing." in err.message


def test_empty_file(tmp_path: Path) -> None:
    (tmp_path / "empty.onnx").write_bytes(b"")
    assert "empty" in raises_model_error(str(tmp_path / "empty.onnx")).message


@pytest.mark.parametrize("name", ["model.pb", "model.h5", "model"])
def test_unsupported_extension(tmp_path: Path, name: str) -> None:
    (tmp_path / name).write_bytes(b"x" * 16)
    err = raises_model_error(str(tmp_path / name))
    assert "unsupported model spec" in err.message
    assert ".onnx" in (err.hint or "")


def test_py_file_without_class(module_file: Path) -> None:
    err = raises_model_error(str(module_file), input_shape=(1, 3, 8, 8))
    assert "names no class" in err.message
    assert ":ClassName" in (err.hint or "")


# --- ONNX --------------------------------------------------------------------------------------


def test_onnx_static_shape_and_hash(tmp_path: Path) -> None:
    path = write_tiny_onnx(tmp_path / "tiny.onnx")
    source = resolve_source(str(path))
    assert source.kind == "onnx"
    assert source.input_shape == (1, 3, 8, 8)
    assert source.name == "tiny"
    assert len(source.sha256) == 64
    assert resolve_source(str(path)).sha256 == source.sha256


def test_onnx_truncated(tmp_path: Path) -> None:
    data = write_tiny_onnx(tmp_path / "full.onnx").read_bytes()
    (tmp_path / "cut.onnx").write_bytes(data[: len(data) // 2])
    err = raises_model_error(str(tmp_path / "cut.onnx"))
    assert "cut.onnx" in err.message
    assert "ONNX" in err.message


def test_text_renamed_onnx(tmp_path: Path) -> None:
    (tmp_path / "notes.onnx").write_text("these are my notes, not a model\n" * 4)
    err = raises_model_error(str(tmp_path / "notes.onnx"))
    assert "not" in err.message and "ONNX" in err.message


def test_onnx_dynamic_dims_need_input_shape(tmp_path: Path) -> None:
    path = write_tiny_onnx(tmp_path / "dyn.onnx", batch="batch")
    err = raises_model_error(str(path))
    assert "'x'" in err.message  # the input's name
    assert "batch" in err.message  # its dynamic dimension
    assert "1,3,8,8" in (err.hint or "")


def test_onnx_dynamic_dims_with_input_shape(tmp_path: Path) -> None:
    path = write_tiny_onnx(tmp_path / "dyn.onnx", batch="batch")
    source = resolve_source(str(path), input_shape=(1, 3, 8, 8))
    assert source.input_shape == (1, 3, 8, 8)
    # The fixed shape is part of what gets converted, so it is part of the hash.
    from npubench.cache import file_sha256

    assert source.sha256 != file_sha256(path)


@pytest.mark.parametrize("shape", [(1, 3, 8), (1, 4, 8, 8)])
def test_onnx_input_shape_that_contradicts_model(tmp_path: Path, shape: tuple[int, ...]) -> None:
    path = write_tiny_onnx(tmp_path / "dyn.onnx", batch="batch")
    err = raises_model_error(str(path), input_shape=shape)
    assert str(shape) in err.message


# --- TFLite ------------------------------------------------------------------------------------


def test_tflite_not_a_flatbuffer(tmp_path: Path) -> None:
    (tmp_path / "fake.tflite").write_text("definitely not a flatbuffer at all")
    err = raises_model_error(str(tmp_path / "fake.tflite"))
    assert "not a TFLite model" in err.message


def test_tflite_float_detected(sine_tflite: Path) -> None:
    source = resolve_source(str(sine_tflite))
    assert source.kind == "tflite-float"
    assert source.input_shape == (1, 1)


def test_tflite_truncated(tmp_path: Path, sine_tflite: Path) -> None:
    data = sine_tflite.read_bytes()
    (tmp_path / "cut.tflite").write_bytes(data[: len(data) // 2])
    err = raises_model_error(str(tmp_path / "cut.tflite"))
    assert "truncated or corrupt" in err.message


# --- PyTorch -----------------------------------------------------------------------------------


def test_pytorch_module_resolves(module_file: Path) -> None:
    source = resolve_source(f"{module_file}:TinyNet", input_shape=(1, 3, 8, 8))
    assert source.kind == "pytorch"
    assert source.output_shape == (1, 5)
    assert source.class_name == "TinyNet"
    again = resolve_source(f"{module_file}:TinyNet", input_shape=(1, 3, 8, 8))
    assert again.sha256 == source.sha256
    other = resolve_source(f"{module_file}:TinyNetWide", input_shape=(1, 3, 8, 8))
    assert other.sha256 != source.sha256


NET_IMPORTING_SIBLING = textwrap.dedent(
    """
    import torch
    from layers import Block

    class Net(torch.nn.Module):
        def __init__(self):
            super().__init__()
            self.block = Block()

        def forward(self, x):
            return self.block(x).flatten(1)
    """
)


def write_layers(folder: Path, channels: int) -> Path:
    path = folder / "layers.py"
    path.write_text(
        "import torch\n\n"
        "class Block(torch.nn.Module):\n"
        "    def __init__(self):\n"
        "        super().__init__()\n"
        f"        self.conv = torch.nn.Conv2d(3, {channels}, 3, padding=1)\n\n"
        "    def forward(self, x):\n"
        "        return torch.relu(self.conv(x))\n"
    )
    return path


def two_file_model(folder: Path, channels: int) -> Path:
    folder.mkdir(parents=True, exist_ok=True)
    write_layers(folder, channels)
    net = folder / "net.py"
    net.write_text(NET_IMPORTING_SIBLING)
    return net


def test_pytorch_model_importing_a_sibling_module_resolves_and_builds(tmp_path: Path) -> None:
    net = two_file_model(tmp_path / "model", channels=4)
    path_before = list(sys.path)
    source = resolve_source(f"{net}:Net", input_shape=(1, 3, 8, 8))
    assert source.output_shape == (1, 4 * 8 * 8)
    module = source.build_module()
    with torch.no_grad():
        assert tuple(module(torch.zeros(1, 3, 8, 8)).shape) == (1, 4 * 8 * 8)
    # The folder is on sys.path only while the file runs; its sibling is not left imported.
    assert sys.path == path_before
    assert "layers" not in sys.modules


def test_editing_a_sibling_module_changes_the_source_hash(tmp_path: Path) -> None:
    net = two_file_model(tmp_path / "model", channels=4)
    first = resolve_source(f"{net}:Net", input_shape=(1, 3, 8, 8))
    write_layers(net.parent, channels=6)
    second = resolve_source(f"{net}:Net", input_shape=(1, 3, 8, 8))
    assert second.sha256 != first.sha256
    assert second.output_shape == (1, 6 * 8 * 8)  # the edited layers.py, not a stale import


def test_two_model_folders_with_the_same_sibling_name_do_not_collide(tmp_path: Path) -> None:
    narrow = two_file_model(tmp_path / "a", channels=2)
    wide = two_file_model(tmp_path / "b", channels=5)
    assert resolve_source(f"{narrow}:Net", input_shape=(1, 3, 8, 8)).output_shape == (1, 128)
    assert resolve_source(f"{wide}:Net", input_shape=(1, 3, 8, 8)).output_shape == (1, 320)


def test_missing_import_hint_names_the_module_not_python(tmp_path: Path) -> None:
    path = tmp_path / "net.py"
    path.write_text("import torch\nfrom no_such_layers_module import Block\n")
    err = raises_model_error(f"{path}:Net", input_shape=(1, 3, 8, 8))
    assert "no_such_layers_module" in err.message
    assert "no_such_layers_module.py" in (err.hint or "") and "install" in (err.hint or "")


def test_pytorch_needs_input_shape(module_file: Path) -> None:
    err = raises_model_error(f"{module_file}:TinyNet")
    assert "input shape" in err.message


def test_pytorch_file_raises_on_import(tmp_path: Path) -> None:
    path = tmp_path / "broken.py"
    path.write_text("import torch\nraise RuntimeError('boom at import')\n")
    err = raises_model_error(f"{path}:Net", input_shape=(1, 3, 8, 8))
    assert "RuntimeError" in err.message and "boom at import" in err.message


def test_pytorch_syntax_error(tmp_path: Path) -> None:
    path = tmp_path / "syntax.py"
    path.write_text("class Net(:\n")
    err = raises_model_error(f"{path}:Net", input_shape=(1, 3, 8, 8))
    assert "SyntaxError" in err.message


def test_pytorch_no_such_class_suggests_close_names(module_file: Path) -> None:
    err = raises_model_error(f"{module_file}:TinyNte", input_shape=(1, 3, 8, 8))
    assert "TinyNte does not exist" in err.message
    assert "TinyNet" in (err.hint or "")


def test_pytorch_name_that_is_not_a_module(module_file: Path) -> None:
    err = raises_model_error(f"{module_file}:helper_function", input_shape=(1, 3, 8, 8))
    assert "not a torch.nn.Module" in err.message


def test_pytorch_class_needing_arguments(module_file: Path) -> None:
    err = raises_model_error(f"{module_file}:NeedsArgs", input_shape=(1, 3, 8, 8))
    assert "NeedsArgs()" in err.message
    assert "without arguments" in (err.hint or "")


def test_pytorch_wrong_input_shape(module_file: Path) -> None:
    err = raises_model_error(f"{module_file}:TinyNet", input_shape=(1, 3, 16, 16))
    assert "forward fails for input shape (1, 3, 16, 16)" in err.message


def test_bad_input_shape_values(module_file: Path) -> None:
    err = raises_model_error(f"{module_file}:TinyNet", input_shape=(1, 0, 8, 8))
    assert "non-positive" in err.message


# --- checkpoints -------------------------------------------------------------------------------


def test_checkpoint_state_dict_loads_and_changes_hash(module_file: Path, tmp_path: Path) -> None:
    import torch

    source = resolve_source(f"{module_file}:TinyNet", input_shape=(1, 3, 8, 8))
    module = source.build_module()
    with torch.no_grad():
        for p in module.parameters():
            p.fill_(0.5)
    ckpt = tmp_path / "w.pt"
    torch.save(module.state_dict(), ckpt)
    loaded = resolve_source(f"{module_file}:TinyNet", input_shape=(1, 3, 8, 8), checkpoint=ckpt)
    assert loaded.sha256 != source.sha256
    rebuilt = loaded.build_module()
    assert all(torch.all(p == 0.5) for p in rebuilt.parameters())


def test_checkpoint_with_arbitrary_objects_is_not_unpickled(
    module_file: Path, tmp_path: Path
) -> None:
    import argparse

    import torch

    # Real checkpoints often carry training arguments like this; unpickling them would run
    # arbitrary constructors, so weights_only loading must refuse the whole file.
    ckpt = tmp_path / "with_args.pt"
    torch.save({"args": argparse.Namespace(lr=0.1), "state_dict": {}}, ckpt)
    err = raises_model_error(f"{module_file}:TinyNet", input_shape=(1, 3, 8, 8), checkpoint=ckpt)
    assert "objects other than tensors" in err.message


def test_checkpoint_that_does_not_match(module_file: Path, tmp_path: Path) -> None:
    import torch

    ckpt = tmp_path / "other.pt"
    torch.save({"unrelated.weight": torch.zeros(2)}, ckpt)
    err = raises_model_error(f"{module_file}:TinyNet", input_shape=(1, 3, 8, 8), checkpoint=ckpt)
    assert "does not match" in err.message


def test_missing_checkpoint(module_file: Path, tmp_path: Path) -> None:
    err = raises_model_error(
        f"{module_file}:TinyNet", input_shape=(1, 3, 8, 8), checkpoint=tmp_path / "nope.pt"
    )
    assert "checkpoint" in err.message and "does not exist" in err.message


# --- zoo ---------------------------------------------------------------------------------------


def test_zoo_unknown_name_suggests() -> None:
    zoo = pytest.importorskip("npubench.models.zoo")
    name = sorted(zoo.ZOO)[0]
    err = raises_model_error(f"zoo:{name}x")
    assert f"{name}x" in err.message
    assert name in (err.hint or "")


def test_zoo_model_resolves() -> None:
    zoo = pytest.importorskip("npubench.models.zoo")
    name = sorted(zoo.ZOO)[0]
    source = resolve_source(f"zoo:{name}")
    entry = zoo.ZOO[name]
    assert source.kind == "zoo"
    assert source.input_shape == tuple(entry.input_shape)
    assert source.classifier == entry.classifier
    assert resolve_source(f"zoo:{name}").sha256 == source.sha256


def test_zoo_input_shape_cannot_be_changed() -> None:
    zoo = pytest.importorskip("npubench.models.zoo")
    name = sorted(zoo.ZOO)[0]
    wrong = tuple(d + 1 for d in zoo.ZOO[name].input_shape)
    err = raises_model_error(f"zoo:{name}", input_shape=wrong)
    assert str(wrong) in err.message


def test_checkpoint_with_onnx_is_refused(tmp_path: Path) -> None:
    path = write_tiny_onnx(tmp_path / "tiny.onnx")
    (tmp_path / "w.pt").write_bytes(b"weights")
    err = raises_model_error(str(path), checkpoint=tmp_path / "w.pt")
    assert "checkpoint applies to PyTorch" in err.message
