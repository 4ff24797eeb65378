"""Unit tests of the model zoo: shapes, sizes and MACs against the published figures in
``shared/reference/model_facts.csv``, seeded determinism, healthy activations, ONNX export
(checked against onnxruntime), weight loading and its errors, and the MAC counter itself.
"""

from __future__ import annotations

import csv
import io
from pathlib import Path

import numpy as np
import pytest
import torch
from torch import nn

from npubench.errors import ModelError
from npubench.models.torch_stats import count_params_macs
from npubench.models.zoo import ZOO, build_zoo_model

FACTS_CSV = Path(__file__).parents[3] / "shared" / "reference" / "model_facts.csv"
TOLERANCE = 0.02
NAMES = sorted(ZOO)


@pytest.fixture(scope="module")
def facts() -> dict[str, dict[str, str]]:
    if not FACTS_CSV.is_file():
        pytest.skip(f"reference table {FACTS_CSV} is absent (it sits beside the repo)")
    with FACTS_CSV.open(newline="") as handle:
        return {row["model"]: row for row in csv.DictReader(handle)}


@pytest.fixture(scope="module")
def models() -> dict[str, nn.Module]:
    return {name: build_zoo_model(name, seed=0) for name in NAMES}


def _csv_shape(text: str) -> tuple[int, ...]:
    return tuple(int(d) for d in text.split("x"))


def _matches_csv_shape(torch_shape: tuple[int, ...], csv_shape: tuple[int, ...]) -> bool:
    """Equal with or without the batch dimension, directly or after NC... -> N...C."""
    candidates = {torch_shape, torch_shape[1:]}
    if len(torch_shape) >= 3:
        channels_last = (torch_shape[0], *torch_shape[2:], torch_shape[1])
        candidates |= {channels_last, channels_last[1:]}
    return csv_shape in candidates


def test_zoo_covers_the_reference_table(facts: dict[str, dict[str, str]]) -> None:
    assert set(ZOO) == set(facts)
    for name, entry in ZOO.items():
        assert entry.suite == facts[name]["suite"]


@pytest.mark.parametrize("name", NAMES)
def test_shapes_params_and_macs_match_reference(
    name: str, facts: dict[str, dict[str, str]], models: dict[str, nn.Module]
) -> None:
    entry, row, model = ZOO[name], facts[name], models[name]
    assert _matches_csv_shape(entry.input_shape, _csv_shape(row["input_shape"]))
    assert _matches_csv_shape(entry.output_shape, _csv_shape(row["output_shape"]))
    with torch.no_grad():
        out = model(torch.zeros(entry.input_shape))
    assert tuple(out.shape) == entry.output_shape
    params, macs = count_params_macs(model, entry.input_shape)
    assert params == pytest.approx(int(row["params"]), rel=TOLERANCE)
    assert macs == pytest.approx(int(row["macs"]), rel=TOLERANCE)


def test_paper_models_match_vela_macs_exactly_when_pooling_is_counted(
    facts: dict[str, dict[str, str]], models: dict[str, nn.Module]
) -> None:
    # The paper's MACs are Vela nn_macs, which also charge pooling kernels; counting those too
    # must reproduce the published figures (yolov1 keeps a 1728-MAC, 0.01% remainder).
    for name in ("resnet", "simplenet", "nas", "autoenc"):
        _, macs = count_params_macs(models[name], ZOO[name].input_shape, include_pooling=True)
        assert macs == int(facts[name]["macs"]), name
    _, macs = count_params_macs(models["yolov1"], ZOO["yolov1"].input_shape, include_pooling=True)
    assert macs == pytest.approx(int(facts["yolov1"]["macs"]), rel=1e-3)


@pytest.mark.parametrize("name", NAMES)
def test_same_seed_same_weights_other_seed_other_weights(
    name: str, models: dict[str, nn.Module]
) -> None:
    again = build_zoo_model(name, seed=0).state_dict()
    other = build_zoo_model(name, seed=1).state_dict()
    reference = models[name].state_dict()
    assert all(torch.equal(reference[k], again[k]) for k in reference)
    assert any(not torch.equal(reference[k], other[k]) for k in reference)


def test_building_leaves_the_global_rng_alone() -> None:
    torch.manual_seed(7)
    expected = torch.rand(3)
    torch.manual_seed(7)
    build_zoo_model("kws_dscnn")
    assert torch.equal(torch.rand(3), expected)


@pytest.mark.parametrize("name", NAMES)
@pytest.mark.parametrize("distribution", ["normal", "uniform"])
def test_outputs_are_finite_and_spread(
    name: str, distribution: str, models: dict[str, nn.Module]
) -> None:
    entry, model = ZOO[name], models[name]
    generator = torch.Generator().manual_seed(99)
    shape = (8, *entry.input_shape[1:])
    draw = torch.randn if distribution == "normal" else torch.rand
    with torch.no_grad():
        out = model(draw(shape, generator=generator))
    assert torch.isfinite(out).all()
    # Neither vanished nor exploded: the output stays within a factor 20 of the unit scale the
    # init aims for, and depends on the input (a net that forgets its input gives the same
    # output for every sample). U(0, 1) inputs carry a large common offset, hence a lower bar.
    rms = out.pow(2).mean().sqrt().item()
    across_samples = out.std(dim=0).mean().item()
    assert 0.05 < rms < 20, rms
    assert across_samples > (0.15 if distribution == "normal" else 0.03) * rms, across_samples
    if entry.classifier and distribution == "normal":
        # On the synthetic N(0, 1) calibration inputs the pipeline uses, different inputs must
        # not all pick the same class, or int8 top-1 agreement would be trivially 100%.
        assert len(set(out.argmax(dim=1).tolist())) > 1


@pytest.mark.parametrize("name", NAMES)
def test_onnx_export_matches_onnxruntime(name: str, models: dict[str, nn.Module]) -> None:
    import onnxruntime as ort

    entry, model = ZOO[name], models[name]
    x = torch.randn(entry.input_shape, generator=torch.Generator().manual_seed(3))
    buffer = io.BytesIO()
    torch.onnx.export(model, (x,), buffer, dynamo=False, opset_version=17)
    session = ort.InferenceSession(buffer.getvalue(), providers=["CPUExecutionProvider"])
    (onnx_out,) = session.run(None, {session.get_inputs()[0].name: x.numpy()})
    with torch.no_grad():
        torch_out = model(x).numpy()
    assert onnx_out.shape == entry.output_shape
    # Both run float32 with different accumulation orders; through 20 layers that differs by
    # ~1e-5 of the output range (measured <= 1.5e-5), so the bound is 1e-4 of that range.
    scale = max(1.0, float(np.abs(torch_out).max()))
    np.testing.assert_allclose(onnx_out, torch_out, atol=1e-4 * scale, rtol=0)


def test_entries_are_consistent() -> None:
    for name, entry in ZOO.items():
        assert entry.name == name
        assert entry.suite in {"paper", "mlperf-tiny"}
        assert entry.postprocess in {"softmax", "yolo", "sigmoid", "none"}
        assert entry.input_shape[0] == 1 and entry.output_shape[0] == 1
        assert entry.classifier == (entry.postprocess == "softmax")
        assert entry.source and entry.description and entry.task


# --- trained weights -------------------------------------------------------------------------


def test_trained_weights_round_trip(tmp_path: Path) -> None:
    trained = build_zoo_model("autoenc", seed=5)
    path = tmp_path / "autoenc.pt"
    torch.save(trained.state_dict(), path)
    loaded = build_zoo_model("autoenc", seed=0, weights=path)
    assert not loaded.training
    x = torch.randn(ZOO["autoenc"].input_shape)
    with torch.no_grad():
        assert torch.equal(loaded(x), trained(x))


def test_missing_weights_file(tmp_path: Path) -> None:
    with pytest.raises(ModelError, match="does not exist") as info:
        build_zoo_model("autoenc", weights=tmp_path / "nope.pt")
    assert info.value.hint and "state_dict" in info.value.hint


def test_weights_file_that_is_not_a_pickle(tmp_path: Path) -> None:
    path = tmp_path / "junk.pt"
    path.write_bytes(b"this is not a torch file")
    with pytest.raises(ModelError, match="cannot be read as a PyTorch state_dict"):
        build_zoo_model("autoenc", weights=path)


def test_weights_file_holding_a_whole_model_is_refused(tmp_path: Path) -> None:
    path = tmp_path / "model.pt"
    torch.save(build_zoo_model("ad_fc_autoencoder"), path)  # pickles classes: not weights_only
    with pytest.raises(ModelError, match="cannot be read as a PyTorch state_dict"):
        build_zoo_model("ad_fc_autoencoder", weights=path)


def test_training_checkpoint_gets_a_specific_hint(tmp_path: Path) -> None:
    path = tmp_path / "ckpt.pt"
    state = build_zoo_model("autoenc").state_dict()
    torch.save({"epoch": 3, "state_dict": state}, path)
    with pytest.raises(ModelError, match="not a state_dict") as info:
        build_zoo_model("autoenc", weights=path)
    assert "checkpoint['state_dict']" in (info.value.hint or "")


def test_weights_with_a_missing_key_name_it(tmp_path: Path) -> None:
    state = build_zoo_model("autoenc").state_dict()
    del state["decoder.2.weight"]
    path = tmp_path / "w.pt"
    torch.save(state, path)
    with pytest.raises(ModelError, match=r"lacks 'decoder\.2\.weight'"):
        build_zoo_model("autoenc", weights=path)


def test_weights_with_a_wrong_shape_name_the_key(tmp_path: Path) -> None:
    state = build_zoo_model("autoenc").state_dict()
    state["encoder.0.bias"] = torch.zeros(7)
    path = tmp_path / "w.pt"
    torch.save(state, path)
    with pytest.raises(ModelError, match=r"'encoder\.0\.bias' has shape \(7,\)"):
        build_zoo_model("autoenc", weights=path)


def test_weights_with_an_extra_key_name_it(tmp_path: Path) -> None:
    state = build_zoo_model("autoenc").state_dict()
    state["head.weight"] = torch.zeros(2)
    path = tmp_path / "w.pt"
    torch.save(state, path)
    with pytest.raises(ModelError, match=r"first 'head\.weight'"):
        build_zoo_model("autoenc", weights=path)


def test_unknown_name_suggests_close_ones() -> None:
    with pytest.raises(ModelError, match="unknown zoo model 'yolo1'") as info:
        build_zoo_model("yolo1")
    assert "yolov1" in (info.value.hint or "")


# --- the MAC counter on hand-computed layers -----------------------------------------------


def test_count_params_macs_by_hand() -> None:
    model = nn.Sequential(
        nn.Conv2d(3, 8, 3, padding=1),  # 8*8*8 outputs * 27 = 13824 MACs, 224 params
        nn.MaxPool2d(2),  # 8*4*4 outputs * 4 = 512 MACs only with include_pooling
        nn.Conv2d(8, 8, 3, padding=1, groups=8),  # 128 * 9 = 1152 MACs, 80 params
        nn.Flatten(),
        nn.Linear(128, 10),  # 1280 MACs, 1290 params
    )
    assert count_params_macs(model, (1, 3, 8, 8)) == (1594, 16256)
    assert count_params_macs(model, (1, 3, 8, 8), include_pooling=True) == (1594, 16768)
    conv1d = nn.Conv1d(4, 6, 3, bias=False)  # 6 * 3 outputs * 12 = 216 MACs
    assert count_params_macs(conv1d, (1, 4, 5)) == (72, 216)
    with pytest.raises(ValueError, match="batch size 1"):
        count_params_macs(model, (2, 3, 8, 8))
