from __future__ import annotations

import sys
from pathlib import Path

import pytest

from wattwise.engine.spec import (
    JobSpec,
    NodeSizes,
    SpecError,
    load_spec_data,
    load_spec_file,
    parse_duration_s,
    parse_spec,
)
from wattwise.errors import DataFormatError

NOW = 1_700_000_000.0


def test_durations() -> None:
    assert parse_duration_s("90s", "x") == 90
    assert parse_duration_s("1h30m", "x") == 5400
    assert parse_duration_s("2d", "x") == 172800
    assert parse_duration_s(12, "x") == 12
    assert parse_duration_s("1.5h", "x") == 5400
    assert parse_duration_s("1.2096e+06s", "x") == 1_209_600  # what f"{x:g}s" gives


@pytest.mark.parametrize("bad", ["soon", "5 parsecs", "-3", "1h-2m", True, [1]])
def test_bad_durations_name_the_field(bad: object) -> None:
    with pytest.raises(SpecError, match=r"^runtime:"):
        parse_duration_s(bad, "runtime")


def test_command_spec_defaults_and_latest_start() -> None:
    spec = parse_spec(
        {"command": "python train.py --epochs 3", "deadline": "6h", "runtime": "1h"}, NOW
    )
    assert spec.command == ("python", "train.py", "--epochs", "3")
    assert spec.name == "python"
    assert spec.cpus == 1.0 and spec.max_attempts == 3
    assert spec.deadline_s == NOW + 6 * 3600
    assert spec.latest_start_s(NOW) == NOW + 5 * 3600


def test_slack_sets_the_deadline_and_no_deadline_means_now() -> None:
    spec = parse_spec({"command": ["true"], "runtime": "10m", "slack": "2h"}, NOW)
    assert spec.deadline_s == NOW + 600 + 7200
    assert parse_spec({"command": ["true"]}, NOW).latest_start_s(NOW) == NOW


def test_iso_deadline() -> None:
    spec = parse_spec({"command": ["true"], "deadline": "2030-01-01T00:00Z"}, NOW)
    assert spec.deadline_s == 1893456000.0


def test_shards_fill_the_placeholder_and_round_trip() -> None:
    spec = parse_spec({"command": ["infer", "--in", "{shard}"], "shards": ["a.txt", "b.txt"]}, NOW)
    assert spec.n_tasks == 2
    assert spec.argv("b.txt") == ["infer", "--in", "b.txt"]
    assert JobSpec.from_dict(spec.to_dict()) == spec


def test_entry_point_runs_the_function(tmp_path: Path) -> None:
    import subprocess

    spec = parse_spec({"entry": "json:dumps", "args": [[1, 2]]}, NOW)
    out = subprocess.run(spec.argv(), capture_output=True, text=True, check=False)
    assert out.returncode == 0 and spec.argv()[0] == sys.executable


@pytest.mark.parametrize(
    ("data", "message"),
    [
        ({}, "exactly one of `command`"),
        ({"command": "a", "entry": "m:f"}, "exactly one of `command`"),
        ({"command": ""}, "command: is empty"),
        ({"command": {"a": 1}}, "command: expected"),
        ({"command": "a", "cpus": 0}, "cpus: must be > 0"),
        ({"command": "a", "cpus": "two"}, "cpus: expected a number"),
        ({"command": "a", "gpus": -1}, "gpus: must be >= 0"),
        ({"command": "a", "gpus": 1.5}, "gpus: expected a whole number"),
        ({"command": "a", "deadline": "1h", "slack": "1h"}, "either `deadline` or `slack`"),
        ({"command": "a", "deadline": "2001-01-01"}, "already past"),
        ({"command": "a", "deadline": "1h", "runtime": "2h"}, "cannot finish in time"),
        ({"command": "a", "runtime": "0s"}, "runtime: must be > 0"),
        ({"command": "a", "interruptible": "yes"}, "interruptible: expected true or false"),
        ({"command": "a", "shards": []}, "shards: is empty"),
        ({"command": "a", "shards": "a,b"}, "shards: expected a list"),
        ({"command": "a", "args": [1]}, "only an `entry` job takes args"),
        ({"entry": "not a module"}, "entry: 'not a module' is not of the form"),
        ({"command": "a", "gpu": 1}, "unknown field 'gpu'"),
        ({"command": "a", "max_attempts": 0}, "max_attempts: must be >= 1"),
        ({"command": "a", "env": ["A=1"]}, "env: expected a mapping"),
        ({"entry": "m:f", "args": [{1, 2}]}, "args: must be plain JSON values"),
        ({"command": "a", "zone": ""}, "zone: expected a non-empty string"),
        (["command"], "must be a mapping"),
    ],
)
def test_bad_specs_give_one_line_messages(data: object, message: str) -> None:
    with pytest.raises(SpecError) as err:
        parse_spec(data, NOW)
    assert message in str(err.value)
    assert "\n" not in str(err.value)


def test_job_file(tmp_path: Path) -> None:
    good = tmp_path / "job.yaml"
    good.write_text("name: train\ncommand: [python, train.py]\ncpus: 2\ndeadline: 6h\n")
    spec = load_spec_file(good, NOW)
    assert spec.name == "train" and spec.cpus == 2.0
    bad = tmp_path / "bad.yaml"
    bad.write_text("command: [python\ncpus: 2\n")
    with pytest.raises(DataFormatError, match=r"bad.yaml:.*not valid YAML"):
        load_spec_file(bad, NOW)
    wrong = tmp_path / "wrong.yaml"
    wrong.write_text("command: 'true'\ncpus: -2\n")
    with pytest.raises(DataFormatError, match=r"wrong.yaml: cpus: must be > 0"):
        load_spec_file(wrong, NOW)
    with pytest.raises(DataFormatError, match="no such job file"):
        load_spec_file(tmp_path / "missing.yaml", NOW)


@pytest.mark.parametrize(
    ("fields", "message"),
    [
        ({"cpus": 0.00001}, "cpus: must be a multiple of 0.0001 from 0.0001 to "),
        ({"cpus": 0.00015}, "cpus: must be a multiple of 0.0001"),
        ({"cpus": 1e300}, "cpus: must be a multiple of 0.0001 from 0.0001 to 9.22337e+14"),
        ({"gpus": 10**26}, "gpus: must be a multiple of 0.0001 from 0 to 9.22337e+14"),
    ],
)
def test_resources_ray_cannot_place_are_refused(fields: dict[str, object], message: str) -> None:
    with pytest.raises(SpecError) as err:
        parse_spec({"command": "a", **fields}, NOW)
    assert message in str(err.value) and "\n" not in str(err.value)


def test_resources_are_bounded_by_the_largest_node_when_known() -> None:
    largest = NodeSizes(cpus=16.0, gpus=2.0)
    assert parse_spec({"command": "a", "cpus": 0.25, "gpus": 2}, NOW, largest).cpus == 0.25
    with pytest.raises(SpecError, match=r"^cpus: .* to 16 \(the largest live node\), got 17$"):
        parse_spec({"command": "a", "cpus": 17}, NOW, largest)
    with pytest.raises(SpecError, match=r"^gpus: .* from 0 to 2 \(the largest live node\), got 3$"):
        parse_spec({"command": "a", "gpus": 3}, NOW, largest)


def test_a_stored_spec_is_checked_again() -> None:
    data = parse_spec({"command": "a"}, NOW).to_dict()
    data["cpus"] = 0.00001
    with pytest.raises(SpecError, match=r"^cpus: must be a multiple of 0\.0001"):
        JobSpec.from_dict(data)


def test_a_job_file_that_is_not_utf8_names_the_file(tmp_path: Path) -> None:
    path = tmp_path / "latin1.yaml"
    path.write_bytes(b"name: caf\xe9\ncommand: 'true'\n")
    with pytest.raises(DataFormatError) as err:
        load_spec_data(path)
    assert str(err.value).startswith(f"{path}:1: not UTF-8 text (byte 9)")
    assert "\n" not in str(err.value)
