"""Reading carbon-intensity traces: real portal files, plain CSVs, every bad input."""

from __future__ import annotations

from collections.abc import Callable
from datetime import UTC, datetime
from pathlib import Path

import numpy as np
import pytest

from wattwise.errors import ConfigError, DataFormatError
from wattwise.grid import load_intensity

from .conftest import GRIDS, carbon_file

Writer = Callable[..., Path]


def _epoch(text: str) -> float:
    return datetime.fromisoformat(text).replace(tzinfo=UTC).timestamp()


@pytest.mark.parametrize("grid", GRIDS)
def test_portal_files_load_a_full_hourly_year(grid: str) -> None:
    ts = load_intensity(carbon_file(grid))
    assert len(ts) == 8760
    assert ts.step_s == 3600.0
    assert ts.unit == "gCO2e/kWh"
    assert np.all(np.diff(ts.times_s) == 3600.0)
    assert np.all(ts.values > 0)


def test_portal_lca_and_direct_columns_match_the_file() -> None:
    path = carbon_file("DE-LU_2023")
    lca = load_intensity(path)
    direct = load_intensity(path, emission="direct")
    # First data row: 2023-01-01 00:00:00,...,140.51,185.8,...
    assert lca.times_s[0] == _epoch("2023-01-01T00:00:00")
    assert lca.values[0] == pytest.approx(185.8)
    assert direct.values[0] == pytest.approx(140.51)
    assert np.all(direct.values <= lca.values)


def test_unknown_emission_kind_is_a_config_error() -> None:
    with pytest.raises(ConfigError, match="lca"):
        load_intensity(carbon_file("NO_2022"), emission="scope3")  # type: ignore[arg-type]


def test_plain_hourly_csv_with_utc_offsets(write_csv: Writer) -> None:
    p = write_csv(
        "time,value\n"
        "2024-06-01T02:00:00+02:00,100\n"
        "2024-06-01T03:00:00+02:00,110.5\n"
        "2024-06-01T02:00:00Z,90\n"
    )
    ts = load_intensity(p)
    assert ts.times_s.tolist() == [
        _epoch("2024-06-01T00:00:00"),
        _epoch("2024-06-01T01:00:00"),
        _epoch("2024-06-01T02:00:00"),
    ]
    assert ts.values.tolist() == [100.0, 110.5, 90.0]


def test_fifteen_minute_data_keeps_its_resolution(write_csv: Writer) -> None:
    rows = [f"2024-01-01T00:{m:02d}:00Z,{200 + m}" for m in (0, 15, 30, 45)]
    ts = load_intensity(write_csv("time,value\n" + "\n".join(rows) + "\n"))
    assert ts.step_s == 900.0
    assert ts.end_s == _epoch("2024-01-01T01:00:00")
    assert ts.values.tolist() == [200, 215, 230, 245]


def test_epoch_seconds_and_no_header(write_csv: Writer) -> None:
    ts = load_intensity(write_csv("1700000000,10\n1700000300,20\n1700000600,30\n"))
    assert ts.step_s == 300.0
    assert ts.values.tolist() == [10, 20, 30]


def test_naive_local_times_across_spring_dst_change(write_csv: Writer) -> None:
    # Europe/Berlin, 2023-03-26: 02:00 local does not exist; 01:00 -> 03:00 is one hour.
    p = write_csv("time,value\n2023-03-26 00:00,1\n2023-03-26 01:00,2\n2023-03-26 03:00,3\n")
    ts = load_intensity(p, tz="Europe/Berlin")
    assert ts.step_s == 3600.0
    assert ts.times_s[0] == _epoch("2023-03-25T23:00:00")
    assert ts.times_s[-1] == _epoch("2023-03-26T01:00:00")


def test_naive_local_times_across_autumn_dst_change(write_csv: Writer) -> None:
    # Europe/Berlin, 2023-10-29: 02:00 local happens twice; file order tells them apart.
    p = write_csv(
        "time,value\n2023-10-29 01:00,1\n2023-10-29 02:00,2\n"
        "2023-10-29 02:00,3\n2023-10-29 03:00,4\n"
    )
    ts = load_intensity(p, tz="Europe/Berlin")
    assert np.all(np.diff(ts.times_s) == 3600.0)
    assert ts.times_s[0] == _epoch("2023-10-28T23:00:00")
    assert ts.values.tolist() == [1, 2, 3, 4]


def test_local_time_that_does_not_exist_is_reported(write_csv: Writer) -> None:
    p = write_csv("time,value\n2023-03-26 01:00,1\n2023-03-26 02:00,2\n")
    with pytest.raises(DataFormatError, match=r"trace\.csv:3: .*does not exist"):
        load_intensity(p, tz="Europe/Berlin")


def test_naive_times_default_to_utc(write_csv: Writer) -> None:
    ts = load_intensity(write_csv("time,value\n2023-03-26 02:00,1\n2023-03-26 03:00,2\n"))
    assert ts.times_s[0] == _epoch("2023-03-26T02:00:00")


def test_unknown_time_zone(write_csv: Writer) -> None:
    with pytest.raises(ConfigError, match="Mars/Olympus"):
        load_intensity(write_csv("time,value\n2023-01-01 00:00,1\n"), tz="Mars/Olympus")


@pytest.mark.parametrize(
    ("header", "factor"),
    [
        ("value (lbs/MWh)", 0.45359237),
        ("moer [lbs CO2/MWh]", 0.45359237),
        ("intensity (kgCO2e/kWh)", 1000.0),
        ("intensity (gCO₂eq/kWh)", 1.0),
        ("value", 1.0),
    ],
)
def test_units_named_in_the_header_are_converted(
    write_csv: Writer, header: str, factor: float
) -> None:
    body = f"time,{header}\n2023-01-01T00:00Z,1000\n2023-01-01T01:00Z,500\n"
    ts = load_intensity(write_csv(body))
    assert ts.values.tolist() == pytest.approx([1000 * factor, 500 * factor])


def test_wrong_unit_names_file_and_line(write_csv: Writer) -> None:
    p = write_csv("time,value (kWh)\n2023-01-01T00:00Z,1\n")
    with pytest.raises(DataFormatError, match=r"trace\.csv:1: unknown intensity unit 'kWh'"):
        load_intensity(p)


@pytest.mark.parametrize(
    ("body", "line", "message"),
    [
        ("time,value\n2023-01-01T00:00Z,1\n2023-01-01T01:00Z,2\n2023-01-01T03:00Z,3\n", 4, "gap"),
        ("time,value\n2023-01-01T00:00Z,1\n2023-01-01T01:00Z,2\n2023-01-01T01:00Z,3\n", 4, "dupl"),
        ("time,value\n2023-01-01T01:00Z,1\n2023-01-01T00:00Z,2\n", 3, "backwards"),
        ("time,value\n2023-01-01T00:00Z,1\n2023-01-01T01:00Z,\n", 3, "missing intensity"),
        ("time,value\n2023-01-01T00:00Z,1\n2023-01-01T01:00Z,-4\n", 3, ">= 0"),
        ("time,value\n2023-01-01T00:00Z,abc\n", 2, "not a number"),
        ("time,value\n2023-01-01T00:00Z,nan\n", 2, "finite"),
        ("time,value\nyesterday,5\n", 2, "bad time"),
        ("time,value\n2023-01-01T00:00Z\n", 2, "at least 2 columns"),
        (
            "time,value\n2023-01-01T00:00Z,1\n2023-01-01T01:00Z,1\n2023-01-01T01:30Z,1\n",
            4,
            "irregular step",
        ),
    ],
)
def test_malformed_rows_name_file_and_line(
    write_csv: Writer, body: str, line: int, message: str
) -> None:
    p = write_csv(body)
    with pytest.raises(DataFormatError, match=message) as info:
        load_intensity(p)
    assert info.value.line == line
    assert info.value.path == str(p)
    assert f"trace.csv:{line}:" in str(info.value)


def test_line_numbers_count_blank_lines(write_csv: Writer) -> None:
    p = write_csv("time,value\n\n2023-01-01T00:00Z,1\n\n2023-01-01T00:00Z,2\n")
    with pytest.raises(DataFormatError, match="duplicate") as info:
        load_intensity(p)
    assert info.value.line == 5


def test_empty_file(write_csv: Writer) -> None:
    with pytest.raises(DataFormatError, match="empty file"):
        load_intensity(write_csv(""))


def test_header_only(write_csv: Writer) -> None:
    with pytest.raises(DataFormatError, match="no data rows"):
        load_intensity(write_csv("time,value\n"))


def test_portal_header_without_the_asked_column(write_csv: Writer) -> None:
    header = "Datetime (UTC),Zone Id,Carbon Intensity gCO₂eq/kWh (direct)"
    p = write_csv(header + "\n2023-01-01 00:00:00,DE,1\n")
    with pytest.raises(DataFormatError, match="LCA"):
        load_intensity(p)
    assert load_intensity(p, emission="direct").values.tolist() == [1.0]


def test_portal_rows_with_a_gap_are_reported(tmp_path: Path) -> None:
    lines = carbon_file("ES_2022").read_text(encoding="utf-8").splitlines()
    del lines[100]  # drop the row on file line 101
    p = tmp_path / "es.csv"
    p.write_text("\n".join(lines) + "\n", encoding="utf-8")
    with pytest.raises(DataFormatError, match="gap") as info:
        load_intensity(p)
    assert info.value.line == 101


def test_missing_file() -> None:
    with pytest.raises(DataFormatError, match="file not found"):
        load_intensity("/nonexistent/carbon.csv")


def test_newer_portal_headers_are_read(write_csv: Writer) -> None:
    header = (
        "Datetime (UTC),Country,Zone name,Zone id,Carbon intensity gCO₂eq/kWh (direct),"
        "Carbon intensity gCO₂eq/kWh (Life cycle),Carbon-free energy percentage (CFE%)"
    )
    p = write_csv(header + "\n2024-01-01 00:00:00,France,France,FR,20.1,35.2,95\n")
    assert load_intensity(p).values.tolist() == [35.2]
    assert load_intensity(p, emission="direct").values.tolist() == [20.1]


@pytest.mark.parametrize("grid", ["ES_2022", None])
def test_a_byte_order_mark_is_read(tmp_path: Path, grid: str | None) -> None:
    text = (
        carbon_file(grid).read_text(encoding="utf-8")
        if grid
        else "time,value\n2023-01-01T00:00Z,100\n2023-01-01T01:00Z,120\n"
    )
    p = tmp_path / "bom.csv"
    p.write_bytes(b"\xef\xbb\xbf" + text.encode("utf-8"))
    series = load_intensity(p)
    assert len(series) == (8760 if grid else 2)


def test_a_trace_not_in_utf8_is_one_line_naming_the_file(tmp_path: Path) -> None:
    p = tmp_path / "latin1.csv"
    p.write_bytes("time,value (g/kWh)\n2023-01-01T00:00Z,100 \xb5\n".encode("latin-1"))
    with pytest.raises(DataFormatError) as info:
        load_intensity(p)
    message = str(info.value)
    assert message.startswith(str(p)) and "UTF-8" in message and "\n" not in message


# The shape of the Let's Wait Awhile 15-minute German 2020 series (naive UTC times,
# "Time,Carbon Intensity"), which misses single rows near its end (2020-12-19 23:15
# and 23:45): synthetic values, the real file is read below where it lies in the data.
_QUARTERS = (
    "Time,Carbon Intensity\n"
    "2020-12-19 22:45:00,280.0\n"
    "2020-12-19 23:00:00,282.0\n"
    "2020-12-19 23:30:00,286.0\n"
    "2020-12-20 00:00:00,290.0\n"
    "2020-12-20 00:15:00,291.0\n"
)


def test_a_gap_is_refused_by_default_and_the_message_names_fill(write_csv: Writer) -> None:
    p = write_csv(_QUARTERS)
    with pytest.raises(DataFormatError) as info:
        load_intensity(p)
    assert info.value.line == 4 and "gap" in str(info.value) and "--fill" in str(info.value)


def test_single_missing_rows_are_filled_linearly_or_with_the_previous_value(
    write_csv: Writer,
) -> None:
    from wattwise.grid.trace import Fill, GapFill, load_intensity_filled

    p = write_csv(_QUARTERS)
    linear = load_intensity_filled(p, fill=GapFill(Fill.LINEAR, max_gap_s=3600.0))
    assert linear.series.step_s == 900.0
    assert linear.series.values.tolist() == [280, 282, 284, 286, 288, 290, 291]
    assert np.all(np.diff(linear.series.times_s) == 900.0)
    assert [(g.rows, g.line) for g in linear.filled] == [(1, 4), (1, 5)]
    assert linear.note().startswith("2 missing row(s) in 2 gap(s) filled (linear")
    assert "2020-12-19T23:15:00Z" in linear.note() and "not recorded" in linear.note()
    previous = load_intensity(p, fill=GapFill(Fill.PREVIOUS))
    assert previous.values.tolist() == [280, 282, 282, 286, 286, 290, 291]


def test_a_gap_longer_than_the_maximum_is_refused(write_csv: Writer) -> None:
    from wattwise.grid.trace import Fill, GapFill

    p = write_csv("time,value\n2023-01-01T00:00Z,1\n2023-01-01T01:00Z,2\n2023-01-01T05:00Z,3\n")
    with pytest.raises(DataFormatError) as info:
        load_intensity(p, fill=GapFill(Fill.LINEAR, max_gap_s=7200.0))
    assert info.value.line == 4 and "longer than the 7200 s allowed" in str(info.value)
    filled = load_intensity(p, fill=GapFill(Fill.LINEAR, max_gap_s=3 * 3600.0))
    assert filled.values.tolist() == [1, 2, 2.25, 2.5, 2.75, 3]


def test_an_irregular_step_is_never_filled(write_csv: Writer) -> None:
    from wattwise.grid.trace import Fill, GapFill

    p = write_csv("time,value\n2023-01-01T00:00Z,1\n2023-01-01T01:00Z,2\n2023-01-01T02:30Z,3\n")
    with pytest.raises(DataFormatError, match="irregular step"):
        load_intensity(p, fill=GapFill(Fill.LINEAR, max_gap_s=86400.0))


def test_a_bad_maximum_gap_is_a_config_error() -> None:
    from wattwise.grid.trace import Fill, GapFill

    with pytest.raises(ConfigError):
        GapFill(Fill.LINEAR, max_gap_s=0.0)


def test_the_real_german_2020_series_loads_once_filled() -> None:
    from tests.conftest import shared_file
    from wattwise.grid.trace import Fill, GapFill, load_intensity_filled

    path = shared_file("carbon", "DE_2020_15min_letswaitawhile.csv")
    with pytest.raises(DataFormatError, match="--fill"):
        load_intensity(path)
    trace = load_intensity_filled(path, fill=GapFill(Fill.LINEAR, max_gap_s=3600.0))
    assert trace.series.step_s == 900.0 and sum(g.rows for g in trace.filled) >= 1
