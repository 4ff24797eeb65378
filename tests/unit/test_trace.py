"""Trace import: formats, unit conversion and every malformed-input refusal."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest

from npubench.errors import MeasurementError
from npubench.measure.trace import PowerTrace, concat_traces, read_trace_csv

TRACES = Path(__file__).resolve().parents[1] / "data" / "traces"
REFERENCE = TRACES / "hxwe2_yolov1_size_power_trace.csv"


def write(tmp_path: Path, text: str, name: str = "trace.csv") -> Path:
    path = tmp_path / name
    path.write_text(text)
    return path


def test_reference_trace_with_crlf_line_ends() -> None:
    assert b"\r\n" in REFERENCE.read_bytes()
    trace = read_trace_csv(REFERENCE)
    assert len(trace) == 439
    assert trace.time_ms[0] == pytest.approx(16086.4)
    assert trace.time_ms[-1] == pytest.approx(16174.0)
    assert trace.power_mw[0] == pytest.approx(88.0591)
    assert trace.sample_rate_hz == pytest.approx(5000.0)
    assert trace.instrument == "monsoon-csv"
    assert trace.current_ma is None and trace.digital is None


def test_crlf_and_lf_read_the_same(tmp_path: Path) -> None:
    lf = write(tmp_path, REFERENCE.read_text().replace("\r\n", "\n"), "lf.csv")
    a, b = read_trace_csv(REFERENCE), read_trace_csv(lf)
    np.testing.assert_array_equal(a.time_ms, b.time_ms)
    np.testing.assert_array_equal(a.power_mw, b.power_mw)


def test_ppk2_bitstring_export_converts_ua_to_mw_and_reads_markers() -> None:
    trace = read_trace_csv(TRACES / "ppk2_export_bitstring.csv", voltage_v=3.0)
    assert trace.instrument == "ppk2-csv"
    assert len(trace) == 300
    assert trace.sample_rate_hz == pytest.approx(100_000, rel=1e-6)
    # 1500 µA = 1.5 mA; at 3.0 V that is 4.5 mW. 25000 µA -> 75 mW.
    assert trace.current_ma[0] == pytest.approx(1.5)
    assert trace.power_mw[0] == pytest.approx(4.5)
    assert trace.power_mw[120] == pytest.approx(75.0)
    assert trace.digital_channels == 8
    d0 = trace.marker(0)
    assert d0.sum() == 50 and d0[100] and d0[149] and not d0[99] and not d0[150]
    assert trace.marker(3).all()  # the 4th character of the bit string is D3
    assert not trace.marker(7).any()


def test_ppk2_separate_digital_columns() -> None:
    trace = read_trace_csv(TRACES / "ppk2_export_columns.csv", voltage_v=1.8)
    assert trace.power_mw[120] == pytest.approx(25.0 * 1.8)
    assert trace.marker(1).sum() == 50
    assert not trace.marker(0).any()


def test_otii_export_seconds_amperes_volts() -> None:
    trace = read_trace_csv(TRACES / "otii_export.csv")
    assert trace.instrument == "otii-csv"
    assert trace.time_ms[1] == pytest.approx(1.0)  # 0.001 s
    assert trace.current_ma[0] == pytest.approx(2.0)  # 0.002 A
    assert trace.power_mw[100] == pytest.approx(40.0 * 3.3)  # 40 mA x 3.3 V
    assert trace.voltage_v is not None and trace.voltage_v[0] == pytest.approx(3.3)


def test_generic_microseconds_and_microamperes_with_semicolons() -> None:
    trace = read_trace_csv(TRACES / "generic_time_us_current_ua.csv", voltage_v=3.3)
    assert trace.time_ms[1] == pytest.approx(0.05)  # 50 µs
    assert trace.power_mw[0] == pytest.approx(0.2 * 3.3)  # 200 µA
    assert trace.power_mw[50] == pytest.approx(0.8 * 3.3)
    assert trace.metadata["voltage_v_assumed"] == 3.3


@pytest.mark.parametrize(
    ("header", "row", "time_ms", "power_mw"),
    [
        ("time_s,power_w", "0.5,0.25", 500.0, 250.0),
        ("time_ms,power_mw", "2.5,7", 2.5, 7.0),
        ("time_us,power_uw", "1500,300", 1.5, 0.3),
        ("Time (s),Main Avg Power (W)", "1,0.09", 1000.0, 90.0),
        ("time_s,current_ma,voltage_mv", "1,10,1800", 1000.0, 18.0),
        ("time_s,current_a,voltage_v", "1,0.01,3.3", 1000.0, 33.0),
    ],
)
def test_unit_conversions(
    tmp_path: Path, header: str, row: str, time_ms: float, power_mw: float
) -> None:
    # Three samples one step apart; check the first.
    t, p = row.split(",")[0], ",".join(row.split(",")[1:])
    step = float(t)
    text = f"{header}\n{t},{p}\n{2 * step:g},{p}\n{3 * step:g},{p}\n"
    trace = read_trace_csv(write(tmp_path, text))
    assert trace.time_ms[0] == pytest.approx(time_ms)
    assert trace.power_mw[0] == pytest.approx(power_mw)


def test_current_without_voltage_asks_for_voltage() -> None:
    with pytest.raises(MeasurementError) as err:
        read_trace_csv(TRACES / "generic_time_us_current_ua.csv")
    assert "no power or voltage column" in err.value.message
    assert "--voltage" in (err.value.hint or "")


def test_missing_file(tmp_path: Path) -> None:
    with pytest.raises(MeasurementError, match="no such trace file"):
        read_trace_csv(tmp_path / "absent.csv")


def test_empty_file(tmp_path: Path) -> None:
    with pytest.raises(MeasurementError, match="empty"):
        read_trace_csv(write(tmp_path, "\n\n"))


def test_binary_file_is_not_a_csv(tmp_path: Path) -> None:
    path = tmp_path / "capture.ppk2"
    path.write_bytes(b"PK\x03\x04\x00\x00binary")
    with pytest.raises(MeasurementError, match="not a CSV") as err:
        read_trace_csv(path)
    assert str(path) in err.value.message


def test_unrecognised_columns_list_found_and_accepted(tmp_path: Path) -> None:
    path = write(tmp_path, "when,how much\n1,2\n2,3\n3,4\n")
    with pytest.raises(MeasurementError) as err:
        read_trace_csv(path)
    message = err.value.message
    assert "no recognisable columns" in message
    assert "'when'" in message and "'how much'" in message
    assert "line 1" in message
    assert "Timestamp(ms)" in (err.value.hint or "") and "time_ms" in (err.value.hint or "")


def test_header_only_has_no_samples(tmp_path: Path) -> None:
    with pytest.raises(MeasurementError, match="no samples"):
        read_trace_csv(write(tmp_path, "time_ms,power_mw\n"))


def test_too_few_samples(tmp_path: Path) -> None:
    with pytest.raises(MeasurementError, match="too few samples"):
        read_trace_csv(write(tmp_path, "time_ms,power_mw\n0,1\n1,1\n"))


def test_nans_are_counted_located_and_refused_unless_dropped(tmp_path: Path) -> None:
    rows = "\n".join(f"{k},{'nan' if k in (3, 7) else 5}" for k in range(10))
    path = write(tmp_path, "time_ms,power_mw\n" + rows + "\n")
    with pytest.raises(MeasurementError) as err:
        read_trace_csv(path)
    assert "2 of 10 samples are NaN" in err.value.message
    assert "lines 5, 9" in err.value.message  # header is line 1, sample k is line k + 2
    assert "drop_nan" in (err.value.hint or "")
    trace = read_trace_csv(path, drop_nan=True)
    assert len(trace) == 8 and np.isfinite(trace.power_mw).all()


def test_empty_cell_counts_as_nan(tmp_path: Path) -> None:
    path = write(tmp_path, "time_ms,power_mw\n0,1\n1,\n2,1\n3,1\n")
    with pytest.raises(MeasurementError, match="1 of 4 samples are NaN"):
        read_trace_csv(path)


def test_non_numeric_cell_names_line_and_column(tmp_path: Path) -> None:
    path = write(tmp_path, "time_ms,power_mw\n0,1\n1,1,5\n2,abc\n")
    with pytest.raises(MeasurementError) as err:
        read_trace_csv(path)
    assert "line 4" in err.value.message and "'abc'" in err.value.message
    assert "power_mw" in err.value.message


def test_short_row(tmp_path: Path) -> None:
    path = write(tmp_path, "time_ms,power_mw\n0,1\n1\n2,1\n")
    with pytest.raises(MeasurementError, match=r"line 3: 1 fields where the header has 2"):
        read_trace_csv(path)


def test_unsorted_timestamps_name_first_offending_row(tmp_path: Path) -> None:
    path = write(tmp_path, "time_ms,power_mw\n0,1\n1,1\n2,1\n1.5,1\n3,1\n")
    with pytest.raises(MeasurementError) as err:
        read_trace_csv(path)
    assert "line 5" in err.value.message
    assert "unsorted" in err.value.message and "1.5 ms after 2 ms" in err.value.message


def test_duplicate_timestamps(tmp_path: Path) -> None:
    path = write(tmp_path, "time_ms,power_mw\n0,1\n1,1\n1,2\n2,1\n")
    with pytest.raises(MeasurementError, match=r"line 4: duplicate timestamp 1 ms"):
        read_trace_csv(path)


def test_gap_is_located_and_refused_unless_allowed(tmp_path: Path) -> None:
    times = [0, 1, 2, 3, 4, 50, 51, 52]
    path = write(tmp_path, "time_ms,power_mw\n" + "\n".join(f"{t},1" for t in times) + "\n")
    with pytest.raises(MeasurementError) as err:
        read_trace_csv(path)
    assert "gap" in err.value.message and "line 7" in err.value.message
    assert "46 ms between 4 and 50 ms" in err.value.message
    assert "allow_gaps" in (err.value.hint or "")
    trace = read_trace_csv(path, allow_gaps=True)
    assert len(trace) == 8 and trace.metadata["gaps"] == 1


def test_write_csv_round_trip_keeps_markers(tmp_path: Path) -> None:
    trace = read_trace_csv(TRACES / "ppk2_export_bitstring.csv", voltage_v=3.0)
    back = read_trace_csv(trace.write_csv(tmp_path / "out.csv"))
    np.testing.assert_allclose(back.time_ms, trace.time_ms, atol=1e-6)
    np.testing.assert_allclose(back.power_mw, trace.power_mw, rtol=1e-5)
    np.testing.assert_array_equal(back.marker(0), trace.marker(0))
    np.testing.assert_array_equal(back.marker(3), trace.marker(3))


def test_slice_and_concat() -> None:
    trace = read_trace_csv(REFERENCE)
    part = trace.slice_ms(16100.0, 16101.0)
    assert len(part) == 6 and part.time_ms[0] == pytest.approx(16100.0)
    joined = concat_traces([trace.slice_ms(16086, 16120), trace.slice_ms(16120.1, 16175)])
    np.testing.assert_array_equal(joined.time_ms, trace.time_ms)


def test_mismatched_arrays_are_rejected() -> None:
    with pytest.raises(ValueError, match="differ in length"):
        PowerTrace(time_ms=np.arange(3.0), power_mw=np.arange(4.0))


def test_missing_marker_channel_is_a_measurement_error() -> None:
    with pytest.raises(MeasurementError, match="no digital channel D0"):
        read_trace_csv(REFERENCE).marker(0)
