"""``wattwise grid ...`` end to end on real traces."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest
import typer
from typer.testing import CliRunner

from wattwise.cli.grid import parse_time, register
from wattwise.errors import ConfigError
from wattwise.grid import best_window, load_intensity
from wattwise.units import iso_utc

from .conftest import SOLAR, carbon_file

runner = CliRunner()


def _app() -> typer.Typer:
    app = typer.Typer()
    register(app)

    @app.callback()
    def _root() -> None:  # keeps `grid` a sub-command
        return

    return app


def invoke(*args: str) -> dict:  # type: ignore[type-arg]
    result = runner.invoke(_app(), ["grid", *args], catch_exceptions=False)
    assert result.exit_code == 0, result.output
    return json.loads(result.stdout)


def test_best_window_json_matches_the_library() -> None:
    path = carbon_file("GB_2023")
    out = invoke(
        "best-window", "--carbon", str(path), "--earliest", "2023-06-01T00:00",
        "--deadline", "2023-06-03T00:00", "--duration", "4", "--json",
    )  # fmt: skip
    trace = load_intensity(path)
    start = parse_time("2023-06-01T00:00", "x")
    expected = best_window(trace, 4 * 3600, start, start + 2 * 86400)
    assert out["start"] == "2023-06-02T11:00:00Z"
    assert out["start"] == iso_utc(expected.start_s)
    # Times are ISO 8601 only: no epoch floats beside them.
    assert not any(k.endswith("_s") for k in out)
    assert out["end"] == "2023-06-02T15:00:00Z"
    assert out["mean_intensity"] == pytest.approx(expected.mean_intensity)
    assert out["baseline_mean_intensity"] > out["mean_intensity"]
    assert 0 < out["saving_percent"] < 100
    assert "GB_2023_hourly.csv" in out["source"]


def test_best_window_interruptible_and_plot(tmp_path: Path) -> None:
    png = tmp_path / "w.png"
    out = invoke(
        "best-window", "--carbon", str(carbon_file("DE-LU_2023")), "--earliest", "2023-02-01",
        "--deadline", "2023-02-04", "--duration", "6", "--interruptible", "--json",
        "--plot", str(png),
    )  # fmt: skip
    total = sum(parse_time(p["end"], "e") - parse_time(p["start"], "s") for p in out["periods"])
    assert total == pytest.approx(6 * 3600)
    assert png.read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"


def test_best_window_with_replay_for_today() -> None:
    out = invoke(
        "best-window", "--carbon", str(carbon_file("ES_2022")), "--replay",
        "--earliest", "now", "--deadline", "now+24h", "--duration", "3", "--json",
    )  # fmt: skip
    assert "replayed by time of year" in out["source"]
    assert out["mean_intensity"] <= out["baseline_mean_intensity"]


def test_history_and_forecast_json(tmp_path: Path) -> None:
    path = str(carbon_file("NO_2022"))
    hist = invoke(
        "history", "--carbon", path, "--start", "2022-03-01", "--end", "2022-03-02", "--json"
    )
    assert hist["points"] == 24 and len(hist["values"]) == 24
    assert hist["mean_intensity"] == pytest.approx(np.mean(hist["values"]), rel=1e-6)
    fc = invoke(
        "forecast", "--carbon", path, "--at", "2022-05-10T06:00", "--horizon", "24", "--json",
        "--plot", str(tmp_path / "f.png"),
    )  # fmt: skip
    assert len(fc["values"]) == 24 and len(fc["actual"]) == 24
    assert fc["times"][0] == "2022-05-10T06:00:00Z"
    assert fc["mape_percent"] >= 0 and "seasonal_naive_mape_percent" in fc


def test_now_static_and_zones() -> None:
    now = invoke("now", "--zone", "FR", "--json")
    assert now["intensity"] == 56 and "Ember" in now["source"]
    zones = invoke("zones", "--json")
    assert {"WORLD", "DE", "GB"} <= {z["zone"] for z in zones["zones"]}


def test_solar_json() -> None:
    out = invoke(
        "solar", "--lat", "52.52", "--lon", "13.4", "--kwp", "5", "--start", "2023-06-21",
        "--json",
    )  # fmt: skip
    assert len(out["values"]) == 24 and out["unit"] == "W"
    assert 20 < out["energy_kwh"] < 45
    if SOLAR.exists():
        scaled = invoke(
            "solar", "--lat", "52.52", "--lon", "13.4", "--kwp", "5", "--start", "2023-06-21",
            "--profile", str(SOLAR), "--column", "Berlin", "--json",
        )  # fmt: skip
        assert "measured profile" in scaled["model"]


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        ("now", 1000.0),
        ("now+2h", 1000.0 + 7200),
        ("now-1d", 1000.0 - 86400),
        ("1700000000", 1700000000.0),
        ("2023-01-01T00:00", 1672531200.0),
        ("2023-01-01T01:00+01:00", 1672531200.0),
    ],
)
def test_parse_time(text: str, expected: float) -> None:
    assert parse_time(text, "--at", now_s=1000.0) == expected


def test_parse_time_rejects_garbage() -> None:
    with pytest.raises(ConfigError, match="--earliest"):
        parse_time("tomorrowish", "--earliest")


@pytest.mark.parametrize(
    ("args", "message"),
    [
        (["best-window", "--carbon", "/nonexistent.csv", "--duration", "2"], "file not found"),
        (["best-window", "--zone", "DE", "--duration", "-1"], "--duration"),
        (
            [
                "best-window",
                "--zone",
                "DE",
                "--duration",
                "30",
                "--earliest",
                "now",
                "--deadline",
                "now+1d",
            ],
            "does not fit",
        ),
        (["now", "--zone", "ATLANTIS"], "grid zones"),
        (["history", "--zone", "DE", "--start", "now", "--end", "now-1h"], "--end"),
        (["forecast", "--carbon", "{trace}", "--at", "2030-01-01"], "inside the trace"),
        (["solar", "--lat", "95", "--lon", "0", "--kwp", "1"], "latitude"),
    ],
)
def test_bad_input_is_one_line_and_exit_2(args: list[str], message: str, tmp_path: Path) -> None:
    trace = str(carbon_file("NO_2022"))
    argv = [a.replace("{trace}", trace) for a in args]
    proc = subprocess.run(
        [sys.executable, "-m", "wattwise.cli.main", "grid", *argv],
        capture_output=True,
        text=True,
        env={**os.environ, "WATTWISE_HOME": str(tmp_path)},
        timeout=120,
    )
    assert proc.returncode == 2, proc.stderr
    assert proc.stderr.startswith("wattwise: error:")
    assert message in proc.stderr
    assert "Traceback" not in proc.stderr


@pytest.mark.parametrize(
    ("args", "shown"),
    [
        # An end before the start: both times ISO 8601, never epoch seconds.
        (
            ["solar", "--lat", "52", "--lon", "13", "--kwp", "1", "--start", "2024-01-02",
             "--end", "2024-01-01"],
            "2024-01-02T00:00:00Z to 2024-01-01T00:00:00Z",
        ),
        # A period the trace does not cover names both spans in ISO 8601.
        (
            ["history", "--carbon", "GB", "--start", "2030-01-01", "--end", "2030-01-02"],
            "2023-01-01T00:00:00Z",
        ),
    ],
)  # fmt: skip
def test_times_in_errors_are_iso_8601(args: list[str], shown: str) -> None:
    import re

    args = [str(carbon_file("GB_2023")) if a == "GB" else a for a in args]
    result = runner.invoke(_app(), ["grid", *args])
    message = str(result.exception)
    assert result.exit_code != 0 and shown in message
    assert not re.search(r"\b1[0-9]{9}(\.[0-9]+)?\b", message)  # no epoch seconds
