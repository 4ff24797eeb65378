"""The zoo catalogue: one ``ZooEntry`` per model, and ``build_zoo_model`` to instantiate one.

``ZOO`` holds the fixed models (the paper's five, MLPerf Tiny's four); ``FAMILIES`` the
parametric public architectures, named in specs as ``<family>:<key>=<value>,...`` (e.g.
``mobilenet_v2:alpha=0.35,res=128,classes=1000``; omitted keys take their defaults), which
``get_entry`` resolves to a ``ZooEntry`` named by the canonical spec (every key, in order).

May import: torch, npubench.errors, npubench.models.zoo.{init,paper,mlperf_tiny,public}.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from pathlib import Path

import torch
from torch import nn

from npubench.errors import ModelError, closest_names
from npubench.models.zoo import mlperf_tiny, paper, public
from npubench.models.zoo.init import seeded_init

_PAPER_REPO = "github.com/j0shmillar/uNPU-Bench (Millar et al., MobiCom 2025)"
_AI8X = "github.com/analogdevicesinc/ai8x-training"
_TINY = "github.com/mlcommons/tiny benchmark/training"
_KERAS = "github.com/keras-team/keras keras/src/applications"


@dataclass(frozen=True)
class ZooEntry:
    """One zoo model: its I/O contract (PyTorch layout, batch 1) and how to build it."""

    name: str
    suite: str  # "paper" | "mlperf-tiny" | "public" (the parametric families)
    task: str
    input_shape: tuple[int, ...]
    output_shape: tuple[int, ...]
    classifier: bool
    postprocess: str  # "softmax" | "yolo" | "sigmoid" | "none"
    description: str
    source: str
    factory: Callable[[], nn.Module] = field(repr=False, compare=False)

    def build(self, seed: int = 0) -> nn.Module:
        """A fresh model with seeded random weights (same seed, same weights), in eval mode."""
        # Constructors run PyTorch's default init from the global RNG; fork it so that building
        # a model never changes the caller's random stream. seeded_init overwrites all weights.
        with torch.random.fork_rng(devices=[]):
            model = self.factory()
        return seeded_init(model, self.input_shape, seed)


_ENTRIES = (
    ZooEntry(
        name="yolov1",
        suite="paper",
        task="person detection (12x12 grid, 2 boxes per cell, 2 classes)",
        input_shape=(1, 3, 96, 96),
        output_shape=(1, 12, 12, 12),
        classifier=False,
        postprocess="yolo",
        description="ai8x YOLO v1 Model_Z (96 input): 20 convs, 16/32 channels, 3 max pools",
        source=f"{_PAPER_REPO} src/model/yolo/yolov1_96.py (ai8x style)",
        factory=paper.YoloV1Tiny96,
    ),
    ZooEntry(
        name="resnet",
        suite="paper",
        task="image classification (CIFAR-100)",
        input_shape=(1, 3, 32, 32),
        output_shape=(1, 100),
        classifier=True,
        postprocess="softmax",
        description="ai8x ResSimpleNet: SimpleNet v1 with 3 residual adds, 14 convs",
        source=f"{_AI8X} models/ai85net-res-simplenet.py; {_PAPER_REPO} src/model/resnet",
        factory=lambda: paper.SimpleNetV1(num_classes=100, residual=True),
    ),
    ZooEntry(
        name="simplenet",
        suite="paper",
        task="image classification (CIFAR-100)",
        input_shape=(1, 3, 32, 32),
        output_shape=(1, 100),
        classifier=True,
        postprocess="softmax",
        description="ai8x SimpleNet v1 (ai85simplenet), 14 convs up to 512 channels",
        source=f"{_AI8X} models/ai85net-simplenet.py; {_PAPER_REPO} src/model/simplenet",
        factory=lambda: paper.SimpleNetV1(num_classes=100, residual=False),
    ),
    ZooEntry(
        name="nas",
        suite="paper",
        task="image classification (CIFAR-10)",
        input_shape=(1, 3, 32, 32),
        output_shape=(1, 10),
        classifier=True,
        postprocess="softmax",
        description="ai8x NAS CIFAR-10 net: 10 convs 64/32/128/512 ch, global avg pool, FC 512->10",
        source=f"{_PAPER_REPO} src/model/nas/nas.py (ai8x models/ai85net-nas-cifar.py, widened)",
        factory=paper.NasCifarNet,
    ),
    ZooEntry(
        name="autoenc",
        suite="paper",
        task="anomaly detection (motor vibration, reconstruction error)",
        input_shape=(1, 256, 3),
        output_shape=(1, 768),
        classifier=False,
        postprocess="none",
        description="ai8x AutoEncoder: Conv1d 256->128 k1, 128->64 k3, FC 64->32->4->32->96->768",
        source=f"{_AI8X} models/ai85net-autoencoder.py; {_PAPER_REPO} src/model/autoenc",
        factory=paper.MotorAutoEncoder,
    ),
    ZooEntry(
        name="kws_dscnn",
        suite="mlperf-tiny",
        task="keyword spotting (Speech Commands, 12 classes)",
        input_shape=(1, 1, 49, 10),
        output_shape=(1, 12),
        classifier=True,
        postprocess="softmax",
        description="DS-CNN: conv 64 10x4/2, 4 depthwise-separable blocks of 64, avg pool, FC 12",
        source=f"{_TINY}/keyword_spotting/keras_model.py",
        factory=mlperf_tiny.KwsDsCnn,
    ),
    ZooEntry(
        name="vww_mobilenetv1",
        suite="mlperf-tiny",
        task="visual wake words (person / no person)",
        input_shape=(1, 3, 96, 96),
        output_shape=(1, 2),
        classifier=True,
        postprocess="softmax",
        description="MobileNetV1 alpha 0.25, 96x96 RGB, 13 depthwise-separable blocks, FC 2",
        source=f"{_TINY}/visual_wake_words/vww_model.py",
        factory=mlperf_tiny.VwwMobileNetV1,
    ),
    ZooEntry(
        name="ic_resnet8",
        suite="mlperf-tiny",
        task="image classification (CIFAR-10)",
        input_shape=(1, 3, 32, 32),
        output_shape=(1, 10),
        classifier=True,
        postprocess="softmax",
        description="ResNet-8: conv 16, 3 residual stacks of 16/32/64 filters, avg pool, FC 10",
        source=f"{_TINY}/image_classification/keras_model.py",
        factory=mlperf_tiny.IcResNet8,
    ),
    ZooEntry(
        name="ad_fc_autoencoder",
        suite="mlperf-tiny",
        task="anomaly detection (ToyADMOS toy car, reconstruction error)",
        input_shape=(1, 640),
        output_shape=(1, 640),
        classifier=False,
        postprocess="none",
        description="FC autoencoder 640-128x4-8-128x4-640 (Dense+BN+ReLU, BN folded)",
        source=f"{_TINY}/anomaly_detection/keras_model.py",
        factory=mlperf_tiny.AdFcAutoEncoder,
    ),
)

ZOO: dict[str, ZooEntry] = {entry.name: entry for entry in _ENTRIES}
"""Every zoo model by name."""


@dataclass(frozen=True)
class ZooParameter:
    """One parameter of a zoo family, as typed in a spec (``alpha=0.35``)."""

    key: str
    default: float | int
    minimum: float | int
    maximum: float | int
    meaning: str
    multiple_of: int | None = None

    def parse(self, text: str, family: str) -> float | int:
        kind = type(self.default)
        try:
            value = kind(text)
        except ValueError:
            raise ModelError(
                f"zoo:{family}: {self.key}={text!r} is not "
                f"{'an integer' if kind is int else 'a number'}",
                f"{self.key} is {self.meaning}, e.g. {self.key}={self.default}",
            ) from None
        if not self.minimum <= value <= self.maximum or (
            self.multiple_of and int(value) % self.multiple_of
        ):
            multiple = f", a multiple of {self.multiple_of}" if self.multiple_of else ""
            raise ModelError(
                f"zoo:{family}: {self.key}={text} is out of range",
                f"{self.key} ({self.meaning}) must be {self.minimum}..{self.maximum}{multiple}",
            )
        return value

    def format(self, value: float | int) -> str:
        return repr(float(value)) if isinstance(self.default, float) else str(int(value))


@dataclass(frozen=True)
class ZooFamily:
    """A parametric zoo model: ``entry("alpha=0.35,res=128")`` gives one ``ZooEntry``."""

    name: str
    suite: str  # "public"
    parameters: tuple[ZooParameter, ...]
    classifier: bool
    postprocess: str
    source: str
    # values -> (module factory, input shape, output shape, task, description)
    make: Callable[
        [Mapping[str, float | int]],
        tuple[Callable[[], nn.Module], tuple[int, ...], tuple[int, ...], str, str],
    ] = field(repr=False, compare=False)

    def values(self, arguments: str = "") -> dict[str, float | int]:
        """Every parameter's value: the defaults, overridden by ``key=value,...``."""
        known = {p.key: p for p in self.parameters}
        values: dict[str, float | int] = {p.key: p.default for p in self.parameters}
        given: set[str] = set()
        for item in filter(None, (part.strip() for part in arguments.split(","))):
            key, sep, text = item.partition("=")
            key = key.strip()
            if not sep or key not in known:
                raise ModelError(
                    f"zoo:{self.name}: {item!r} is not a parameter of {self.name}",
                    f"write zoo:{self.name}:{self.signature()} (any subset, in any order)",
                )
            if key in given:
                raise ModelError(f"zoo:{self.name}: {key} is given twice", "give it once")
            given.add(key)
            values[key] = known[key].parse(text.strip(), self.name)
        return values

    def spec(self, values: Mapping[str, float | int] | None = None) -> str:
        """The canonical name: ``family:key=value,...`` with every parameter, in order."""
        values = {**{p.key: p.default for p in self.parameters}, **(values or {})}
        return (
            f"{self.name}:{','.join(f'{p.key}={p.format(values[p.key])}' for p in self.parameters)}"
        )

    def signature(self) -> str:
        """The parameters with their defaults, as a spec would give them."""
        return ",".join(f"{p.key}={p.format(p.default)}" for p in self.parameters)

    def entry(self, arguments: str = "") -> ZooEntry:
        values = self.values(arguments)
        factory, input_shape, output_shape, task, description = self.make(values)
        return ZooEntry(
            name=self.spec(values),
            suite=self.suite,
            task=task,
            input_shape=input_shape,
            output_shape=output_shape,
            classifier=self.classifier,
            postprocess=self.postprocess,
            description=description,
            source=self.source,
            factory=factory,
        )


_ALPHA = ZooParameter("alpha", 1.0, 0.05, 4.0, "the width multiplier")
_CLASSES = ZooParameter("classes", 1000, 1, 100_000, "the number of classes")


def _mobilenet_v1(values: Mapping[str, float | int]) -> tuple:
    alpha, res, classes = float(values["alpha"]), int(values["res"]), int(values["classes"])
    last = int(1024 * alpha)
    return (
        lambda: public.MobileNetV1(alpha, res, classes),
        (1, 3, res, res),
        (1, classes),
        f"image classification ({classes} classes)",
        f"MobileNetV1 alpha {alpha:g}, {res}x{res} RGB, 13 depthwise-separable blocks up to "
        f"{last} channels, ReLU6, FC {classes}",
    )


def _mobilenet_v2(values: Mapping[str, float | int]) -> tuple:
    alpha, res, classes = float(values["alpha"]), int(values["res"]), int(values["classes"])
    last = public.make_divisible(1280 * alpha) if alpha > 1.0 else 1280
    return (
        lambda: public.MobileNetV2(alpha, res, classes),
        (1, 3, res, res),
        (1, classes),
        f"image classification ({classes} classes)",
        f"MobileNetV2 alpha {alpha:g}, {res}x{res} RGB, 17 inverted residual blocks, ReLU6, "
        f"last conv {last}, FC {classes}",
    )


def _tiny_yolov2(values: Mapping[str, float | int]) -> tuple:
    res, classes = int(values["res"]), int(values["classes"])
    grid = res // 32
    channels = 5 * (5 + classes)
    return (
        lambda: public.TinyYoloV2(classes),
        (1, 3, res, res),
        (1, channels, grid, grid),
        f"object detection ({grid}x{grid} grid, 5 anchors, {classes} classes)",
        f"Tiny YOLOv2 (VOC), {res}x{res} RGB, 9 convs 16..1024, 6 max pools, leaky ReLU, "
        f"output {channels} channels",
    )


_FAMILIES = (
    ZooFamily(
        name="mobilenet_v1",
        suite="public",
        parameters=(
            _ALPHA,
            ZooParameter("res", 224, 32, 1024, "the input resolution"),
            _CLASSES,
        ),
        classifier=True,
        postprocess="softmax",
        source=f"Howard et al. 2017 (arXiv:1704.04861); {_KERAS}/mobilenet.py",
        make=_mobilenet_v1,
    ),
    ZooFamily(
        name="mobilenet_v2",
        suite="public",
        parameters=(
            _ALPHA,
            ZooParameter("res", 224, 32, 1024, "the input resolution"),
            _CLASSES,
        ),
        classifier=True,
        postprocess="softmax",
        source=f"Sandler et al. 2018 (arXiv:1801.04381); {_KERAS}/mobilenet_v2.py",
        make=_mobilenet_v2,
    ),
    ZooFamily(
        name="tiny_yolov2",
        suite="public",
        parameters=(
            ZooParameter("res", 416, 32, 1024, "the input resolution", multiple_of=32),
            ZooParameter("classes", 20, 1, 1000, "the number of classes"),
        ),
        classifier=False,
        postprocess="yolo",
        source="Redmon & Farhadi 2017 (arXiv:1612.08242); github.com/pjreddie/darknet "
        "cfg/yolov2-tiny-voc.cfg",
        make=_tiny_yolov2,
    ),
)

FAMILIES: dict[str, ZooFamily] = {family.name: family for family in _FAMILIES}
"""Every parametric zoo family by name."""


def get_entry(name: str) -> ZooEntry:
    """The zoo entry called ``name`` (a fixed model, or ``family[:key=value,...]``); an
    unknown name raises ``ModelError`` with suggestions."""
    if name in ZOO:
        return ZOO[name]
    family_name, _, arguments = name.partition(":")
    if family_name in FAMILIES:
        return FAMILIES[family_name].entry(arguments)
    names = [*ZOO, *FAMILIES]
    suggestions = closest_names(family_name, names)
    hint = (
        f"did you mean {', '.join(suggestions)}?"
        if suggestions
        else f"zoo models are: {', '.join(names)}"
    )
    raise ModelError(f"unknown zoo model {name!r}", hint)


def build_zoo_model(name: str, seed: int = 0, weights: Path | None = None) -> nn.Module:
    """Build zoo model ``name`` with seeded random weights, or with trained ``weights``.

    ``weights`` is a file holding a state_dict saved with ``torch.save(model.state_dict())``,
    read with ``torch.load(..., weights_only=True)`` so that no pickled code runs.
    """
    entry = get_entry(name)
    model = entry.build(seed)
    if weights is not None:
        state = _read_state_dict(Path(weights))
        _check_state_dict(model, state, name, Path(weights))
        model.load_state_dict(state)
        model.eval()
    return model


def _read_state_dict(path: Path) -> dict[str, torch.Tensor]:
    save_hint = "save the trained weights with torch.save(model.state_dict(), path)"
    if not path.is_file():
        raise ModelError(f"weights file {path} does not exist", f"check the path; {save_hint}")
    try:
        loaded = torch.load(path, map_location="cpu", weights_only=True)
    except Exception as exc:  # torch raises several types for non-tensor pickles and junk files
        raise ModelError(
            f"weights file {path} cannot be read as a PyTorch state_dict: "
            f"{type(exc).__name__}: {str(exc).splitlines()[0] if str(exc) else ''}",
            f"{save_hint}; whole pickled models and files with custom objects are not loaded",
        ) from exc
    if not isinstance(loaded, Mapping) or not all(
        isinstance(k, str) and isinstance(v, torch.Tensor) for k, v in loaded.items()
    ):
        nested = isinstance(loaded, Mapping) and "state_dict" in loaded
        raise ModelError(
            f"weights file {path} holds a {type(loaded).__name__}, not a state_dict "
            "(a mapping of parameter names to tensors)",
            "this looks like a training checkpoint: save checkpoint['state_dict'] on its own"
            if nested
            else save_hint,
        )
    return dict(loaded)


def _check_state_dict(
    model: nn.Module, state: Mapping[str, torch.Tensor], name: str, path: Path
) -> None:
    """Raise ``ModelError`` naming the first key that is missing, unexpected or mis-shaped."""
    expected = model.state_dict()
    hint = (
        f"the weights must come from the npubench zoo definition of {name!r} "
        "(same layer names and shapes); convert other checkpoints by renaming their keys"
    )
    for key, tensor in expected.items():
        if key not in state:
            raise ModelError(
                f"weights file {path} lacks {key!r} needed by zoo model {name!r}", hint
            )
        if tuple(state[key].shape) != tuple(tensor.shape):
            raise ModelError(
                f"weights file {path}: {key!r} has shape {tuple(state[key].shape)}, "
                f"zoo model {name!r} needs {tuple(tensor.shape)}",
                hint,
            )
    unexpected = [key for key in state if key not in expected]
    if unexpected:
        raise ModelError(
            f"weights file {path} has {len(unexpected)} key(s) zoo model {name!r} does not, "
            f"first {unexpected[0]!r}",
            hint,
        )
