"""How many analytical predictions per second npubench.predict makes (for NAS loops).

Builds a 20-layer int8 CNN analysis by hand (no TFLite, no TensorFlow) and times ``predict`` on
every catalogue target, with the fit check precomputed (the latency/power models alone) and with
the fit check inside the loop (what a search that changes the model each step pays).

Run: ``python benchmarks/predict_speed.py [--seconds 1.0]``.
"""

from __future__ import annotations

import argparse
import time

from npubench.analysis.graph_types import GraphAnalysis, LayerInfo
from npubench.predict.fit import check_fit
from npubench.predict.predict import predict
from npubench.targets import all_targets


def conv(index: int, hw: int, in_c: int, out_c: int, k: int = 3, op: str = "CONV_2D") -> LayerInfo:
    depthwise = op == "DEPTHWISE_CONV_2D"
    macs = hw * hw * out_c * k * k * (1 if depthwise else in_c)
    weights = k * k * out_c * (1 if depthwise else in_c)
    return LayerInfo(
        index,
        f"l{index}",
        op,
        [[1, hw, hw, in_c]],
        [1, hw, hw, out_c],
        [k, k],
        [1, 1],
        "SAME",
        [1, 1],
        "RELU",
        macs,
        weights + out_c,
        weights + 4 * out_c,
        hw * hw * (in_c + out_c),
    )


def twenty_layer_cnn() -> GraphAnalysis:
    layers: list[LayerInfo] = []
    hw, c = 32, 3
    for i in range(18):
        if i % 3 == 2:
            layers.append(conv(i, hw, c, c, op="DEPTHWISE_CONV_2D"))
        else:
            out_c = min(16 * (1 + i // 4), 64)
            layers.append(conv(i, hw, c, out_c, k=1 if i % 3 == 1 else 3))
            c = out_c
        if i in (5, 11):
            hw //= 2
    layers.append(
        LayerInfo(
            18,
            "fc",
            "FULLY_CONNECTED",
            [[1, hw * hw * c]],
            [1, 10],
            macs=hw * hw * c * 10,
            params=hw * hw * c * 10 + 10,
            weight_bytes=hw * hw * c * 10 + 40,
            activation_bytes=hw * hw * c + 10,
        )
    )
    layers.append(LayerInfo(19, "softmax", "SOFTMAX", [[1, 10]], [1, 10], activation_bytes=20))
    return GraphAnalysis(
        "b" * 64,
        layers,
        [1, 32, 32, 3],
        "int8",
        [1, 10],
        "int8",
        sum(x.macs for x in layers),
        sum(x.params for x in layers),
        sum(x.weight_bytes for x in layers),
        max(x.activation_bytes for x in layers),
    )


def rate(fn, seconds: float) -> float:
    fn()  # warm caches (params files, cost table)
    n, start = 0, time.perf_counter()
    while time.perf_counter() - start < seconds:
        fn()
        n += 1
    return n / (time.perf_counter() - start)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--seconds", type=float, default=1.0, help="time per measurement")
    args = parser.parse_args()
    g = twenty_layer_cnn()
    boards = list(all_targets().values())
    fits = {b.name: check_fit(g, b) for b in boards}

    def all_boards_fit_given() -> None:
        for b in boards:
            predict(g, b, fit=fits[b.name])

    def all_boards_with_fit() -> None:
        for b in boards:
            predict(g, b)

    per_sweep = len(boards)
    r1 = rate(all_boards_fit_given, args.seconds) * per_sweep
    r2 = rate(all_boards_with_fit, args.seconds) * per_sweep
    print(f"{len(g.layers)}-layer CNN, {per_sweep} targets")
    print(f"predictions/s, fit check precomputed: {r1:8.0f}")
    print(f"predictions/s, fit check included:    {r2:8.0f}")
    slowest = []
    for b in boards:
        slowest.append(
            (rate(lambda b=b: predict(g, b, fit=fits[b.name]), args.seconds / 10), b.name)
        )
    slowest.sort()
    print("slowest targets (predictions/s):", ", ".join(f"{n} {r:.0f}" for r, n in slowest[:3]))


if __name__ == "__main__":
    main()
