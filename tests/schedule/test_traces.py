from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest

from tests.conftest import shared_file
from wattwise.errors import ConfigError, DataFormatError
from wattwise.schedule.traces import read_job_trace


def write(tmp_path: Path, text: str) -> Path:
    p = tmp_path / "jobs.csv"
    p.write_text(text)
    return p


def test_reads_the_gaia_trace_sorted_with_deadlines() -> None:
    jobs = read_job_trace(shared_file("jobs", "pai_1k.csv"), time_unit="s", slack_h=24.0)
    assert len(jobs) == 1000
    assert np.all(np.diff(jobs.arrival_h) >= 0)
    # First row of the file: arrival 0 s, length 6302 s, 1 CPU.
    assert jobs.length_h[0] == pytest.approx(6302 / 3600)
    assert np.allclose(jobs.deadline_h, jobs.arrival_h + 24.0 + jobs.length_h)
    assert jobs.line[0] == 2


def test_optional_columns(tmp_path: Path) -> None:
    p = write(tmp_path, "arrival_time,length,cpus,gpus,interruptible\n1,2,4,1,true\n0,1,1,0,0\n")
    jobs = read_job_trace(p)
    assert jobs.arrival_h.tolist() == [0.0, 1.0]
    assert jobs.gpus.tolist() == [0, 1]
    assert jobs.interruptible.tolist() == [False, True]
    assert jobs.line.tolist() == [3, 2]


@pytest.mark.parametrize(
    ("text", "line", "fragment"),
    [
        ("arrival_time,length,cpus\n0,1,2\n1,abc,2\n", 3, "length is not a number"),
        ("arrival_time,length,cpus\n0,1,2\n1,2\n", 3, "expected 3 fields"),
        ("arrival_time,length,cpus\n0,-1,2\n", 2, "length must be > 0"),
        ("arrival_time,length,cpus\n-5,1,2\n", 2, "arrival_time must be at least 0"),
        ("arrival_time,length,cpus\n0,1,2.5\n", 2, "cpus must be a whole number"),
        ("arrival_time,length,cpus\n0,1,0\n", 2, "cpus must be at least 1"),
        ("arrival_time,length,cpus\n0,inf,1\n", 2, "not finite"),
        ("time,len\n0,1\n", 1, "missing column"),
        ("", 1, "empty file"),
    ],
)
def test_malformed_traces_name_file_and_line(
    tmp_path: Path, text: str, line: int, fragment: str
) -> None:
    p = write(tmp_path, text)
    with pytest.raises(DataFormatError) as err:
        read_job_trace(p)
    assert err.value.line == line
    assert str(p) in str(err.value)
    assert fragment in str(err.value)


def test_no_jobs_and_missing_file(tmp_path: Path) -> None:
    with pytest.raises(DataFormatError, match="no jobs"):
        read_job_trace(write(tmp_path, "arrival_time,length,cpus\n"))
    with pytest.raises(DataFormatError, match="cannot read"):
        read_job_trace(tmp_path / "absent.csv")


def test_bad_units_and_slack(tmp_path: Path) -> None:
    p = write(tmp_path, "arrival_time,length,cpus\n0,1,1\n")
    with pytest.raises(ConfigError, match="time unit"):
        read_job_trace(p, time_unit="fortnight")
    with pytest.raises(ConfigError, match="slack"):
        read_job_trace(p, slack_h=-1)
    assert read_job_trace(p, time_unit="min").length_h[0] == pytest.approx(1 / 60)


@pytest.mark.parametrize(
    ("text", "line", "fragment"),
    [
        # int64 overflow once: a one-line error naming the limit, not an OverflowError.
        ("arrival_time,length,cpus\n0,1,2\n1,1,1e23\n", 3, "cpus must be at least 1 and at most"),
        ("arrival_time,length,cpus,gpus\n0,1,2,1e30\n", 2, "gpus must be at least 0 and at most"),
        # A 1e9 h job would size the simulation's arrays past memory: refused here.
        ("arrival_time,length,cpus\n0,1e9,2\n", 2, "length must be > 0 and at most 8784 h"),
        ("arrival_time,length,cpus\n1e12,1,2\n", 2, "arrival_time must be at least 0 and at most"),
    ],
)
def test_absurd_sizes_are_refused_with_the_limit(
    tmp_path: Path, text: str, line: int, fragment: str
) -> None:
    p = write(tmp_path, text)
    with pytest.raises(DataFormatError) as err:
        read_job_trace(p)
    assert err.value.line == line and str(p) in str(err.value)
    assert fragment in str(err.value)


def test_a_byte_order_mark_is_read_as_utf8(tmp_path: Path) -> None:
    p = tmp_path / "bom.csv"
    p.write_bytes("\ufeffarrival_time,length,cpus\n0,1,2\n".encode())
    jobs = read_job_trace(p)
    assert jobs.cpus.tolist() == [2]


def test_a_trace_not_in_utf8_is_one_line_naming_the_file(tmp_path: Path) -> None:
    p = tmp_path / "latin1.csv"
    p.write_bytes("arrival_time,length,cpus,priorit\xe9\n0,1,2,0\n".encode("latin-1"))
    with pytest.raises(DataFormatError) as err:
        read_job_trace(p)
    message = str(err.value)
    assert str(p) in message and "UTF-8" in message and "\n" not in message
