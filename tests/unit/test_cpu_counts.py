"""predict.cpu_counts: CPI table, shape keys and lookups on the recorded instruction counts.

The recorded data is the packaged ``predict/params/cpu_counts.toml`` written by
``benchmarks/cgen_icount.py --record`` from QEMU-counted runs of the zoo models; the lookups are
checked against the numbers in that file, read independently here.
"""

from __future__ import annotations

import math
import tomllib
from importlib import resources

import pytest

from npubench.analysis.graph_types import LayerInfo
from npubench.analysis.layer_keys import op_class, shape_signature
from npubench.predict import cpu_counts

CORES = ("cortex-m4", "cortex-m7", "cortex-m33", "cortex-m55")


def _recorded() -> dict:
    path = resources.files("npubench.predict") / "params" / "cpu_counts.toml"
    return tomllib.loads(path.read_text(encoding="utf-8"))


def _dims(text: str) -> list[int] | None:
    return None if text == "-" else [int(d) for d in text.split("x")]


def _layer_from_signature(op: str, signature: str, macs: int) -> LayerInfo:
    """Rebuild the shape fields of a LayerInfo from a recorded signature string."""
    f = dict(part.split("=", 1) for part in signature.split(";"))
    return LayerInfo(
        index=0,
        name="x",
        op=op,
        input_shapes=[_dims(s) or [] for s in f["in"].split(",")] if f["in"] != "-" else [],
        output_shape=_dims(f["out"]) or [],
        kernel=_dims(f["k"]),
        stride=_dims(f["s"]),
        padding=None if f["pad"] == "-" else f["pad"],
        dilation=_dims(f["d"]),
        macs=macs,
        params=int(f["params"]),
    )


def test_cpi_table_has_every_counted_core_with_a_source() -> None:
    for core in CORES:
        fig = cpu_counts.cpi(core)
        assert fig is not None and fig.source
        assert fig.low <= fig.value <= fig.high
        assert 0.3 < fig.value < 3.0
    assert cpu_counts.cpi("cortex-m4f") == cpu_counts.cpi("cortex-m4")
    assert cpu_counts.cpi("riscv32-rv32imc") is None
    # The M7 dual-issues: fewer cycles per instruction than the M4.
    assert cpu_counts.cpi("cortex-m7").value < cpu_counts.cpi("cortex-m4").value  # type: ignore[union-attr]


def test_recorded_file_has_provenance_and_all_cores() -> None:
    data = _recorded()
    prov = data["provenance"]
    assert prov["method"] == "qemu-tcg-plugin" and prov["npubench_version"] and prov["date"]
    assert {m["core"] for m in data["models"]} == set(CORES)
    assert all(len(m["elf_sha256"]) == 64 and "-O2" in m["compile_flags"] for m in data["models"])
    conv_rates = [r for r in data["rates"] if r["kind"] == "class" and r["key"] == "conv"]
    assert {r["core"] for r in conv_rates} == set(CORES)
    for r in conv_rates:
        assert r["per"] == "mac" and 1.0 < r["instructions"] < 50.0


def test_exact_lookup_returns_recorded_instructions_times_cpi() -> None:
    data = _recorded()
    table = cpu_counts.load_counts()
    for row in data["layers"]:
        layer = _layer_from_signature(row["op"], row["shape"], row["macs"])
        assert shape_signature(layer) == row["shape"]
        found = cpu_counts.lookup_instructions(row["core"], layer, table)
        assert found == (float(row["instructions"]), "exact")
        cycles = cpu_counts.lookup(row["core"], layer, table)
        assert cycles == pytest.approx(row["instructions"] * cpu_counts.cpi(row["core"]).value)


def test_unrecorded_shape_falls_back_to_the_measured_rate() -> None:
    data = _recorded()
    op_rate = {
        (r["core"], r["key"]): r for r in data["rates"] if r["kind"] == "op" and r["per"] == "mac"
    }
    assert ("cortex-m4", "CONV_2D") in op_rate
    odd = LayerInfo(0, "odd", "CONV_2D", [[1, 13, 13, 7]], [1, 13, 13, 11], [3, 3], [1, 1], "SAME",
                    [1, 1], "RELU", macs=13 * 13 * 11 * 9 * 7, params=11 * 9 * 7 + 11)  # fmt: skip
    found = cpu_counts.lookup_instructions("cortex-m4f", odd)
    assert found is not None and found[1] == "op-rate"
    assert found[0] == pytest.approx(op_rate[("cortex-m4", "CONV_2D")]["instructions"] * odd.macs)
    # An op never counted on the core but of a counted class uses the class rate.
    class_rates = {(r["core"], r["key"]): r for r in data["rates"] if r["kind"] == "class"}
    counted_ops = {r["key"] for r in data["rates"] if r["kind"] == "op"}
    if "TRANSPOSE_CONV" not in counted_ops and ("cortex-m7", "conv") in class_rates:
        tconv = LayerInfo(0, "t", "TRANSPOSE_CONV", [[1, 4, 4, 8]], [1, 8, 8, 8], macs=4096)
        got = cpu_counts.lookup_instructions("cortex-m7", tconv)
        assert got is not None and got[1] == "class-rate"
        assert op_class("TRANSPOSE_CONV") == "conv"
    # Cores with no counts at all: no figure, the caller keeps its own table.
    assert cpu_counts.lookup("riscv32-rv32imc", odd) is None
    assert cpu_counts.lookup("xtensa-lx7", odd) is None


def test_time_estimate_uses_the_cpi_range() -> None:
    us, lo, hi = cpu_counts.instructions_to_us("cortex-m4", 1_000_000, 100e6)
    fig = cpu_counts.cpi("cortex-m4")
    assert us == pytest.approx(1_000_000 * fig.value / 100)  # type: ignore[union-attr]
    assert lo < us < hi
    low, high = cpu_counts.cycles_bounds("cortex-m4", 1000.0)
    assert math.isclose(low / 1000.0, fig.low / fig.value)  # type: ignore[union-attr]
    assert high > 1000.0


def test_signature_tells_strides_apart() -> None:
    a = LayerInfo(0, "a", "CONV_2D", [[1, 8, 8, 4]], [1, 8, 8, 4], [3, 3], [1, 1], "SAME", [1, 1])
    b = LayerInfo(0, "b", "CONV_2D", [[1, 8, 8, 4]], [1, 8, 8, 4], [3, 3], [2, 2], "SAME", [1, 1])
    assert shape_signature(a) != shape_signature(b)


def test_malformed_counts_file_is_a_clear_error() -> None:
    with pytest.raises(cpu_counts.CpuCountsError, match="malformed"):
        cpu_counts.parse_counts({"layers": [{"core": "cortex-m4", "op": "ADD"}]})
    from npubench.targets.cpi import CpiError, parse_cpi

    with pytest.raises(CpiError, match="source"):
        parse_cpi({"sources": {}, "cores": {"cortex-m4": {"cpi": {"value": 1.0}}}})
