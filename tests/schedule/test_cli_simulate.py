from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import pytest

from tests.conftest import REPO_ROOT, shared_file
from wattwise.cli.main import main
from wattwise.cli.simulate import parse_slack
from wattwise.errors import ConfigError


def jobs() -> Path:
    return shared_file("jobs", "pai_1k.csv")


def gb() -> Path:
    return shared_file("carbon", "GB_2023_hourly.csv")


def run(capsys: pytest.CaptureFixture[str], *args: str) -> tuple[int, str, str]:
    try:
        main(["simulate", *args])
        code = 0
    except SystemExit as exc:
        code = int(exc.code or 0)
    out, err = capsys.readouterr()
    return code, out, err


def test_json_has_every_policy_and_the_oracle(capsys: pytest.CaptureFixture[str]) -> None:
    code, out, _ = run(
        capsys, "--jobs", str(jobs()), "--time-unit", "s", "--carbon", str(gb()), "--json"
    )
    assert code == 0
    doc = json.loads(out)
    assert set(doc["policies"]) == {
        "fifo",
        "lowest-start",
        "lowest-window",
        "threshold",
        "gaia-cst",
        "efficiency",
        "wattwise",
    }
    for m in doc["policies"].values():
        assert {"co2e_kg", "energy_kwh", "deadline_misses", "mean_wait_h"} <= set(m)
    assert doc["oracle"]["co2e_kg"] <= min(m["co2e_kg"] for m in doc["policies"].values())
    assert doc["policies"]["fifo"]["saved_vs_fifo"] == 0.0


def test_result_is_kept_for_the_api(
    capsys: pytest.CaptureFixture[str], wattwise_home: Path
) -> None:
    code, _, err = run(
        capsys, "--jobs", str(jobs()), "--time-unit", "s", "--carbon", str(gb()), "--policy", "fifo"
    )
    assert code == 0 and "result saved to" in err
    saved = list((wattwise_home / "simulations").glob("simulate-*/result.json"))
    assert len(saved) == 1
    doc = json.loads(saved[0].read_text())
    assert doc["kind"] == "simulate" and "fifo" in doc["grids"]["GB"]["policies"]


def test_table_plots_and_cluster(capsys: pytest.CaptureFixture[str], tmp_path: Path) -> None:
    cluster = REPO_ROOT / "examples" / "clusters" / "hetero-solar-pai1k.yaml"
    code, out, _ = run(
        capsys,
        "--jobs",
        str(jobs()),
        "--time-unit",
        "s",
        "--carbon",
        str(gb()),
        "--cluster",
        str(cluster),
        "--policy",
        "fifo,wattwise",
        "--plot",
        str(tmp_path),
    )
    assert code == 0
    assert "fifo" in out and "wattwise" in out
    assert (tmp_path / "simulate_GB.png").stat().st_size > 1000


def test_with_a_cluster_the_oracle_is_the_lp_bound_over_common_hours(
    capsys: pytest.CaptureFixture[str],
) -> None:
    cluster = REPO_ROOT / "examples" / "clusters" / "hetero-solar-pai1k.yaml"
    args = ["--jobs", str(jobs()), "--time-unit", "s", "--carbon", str(gb())]
    args += ["--cluster", str(cluster), "--policy", "fifo,wattwise,oracle", "--json"]
    code, out, _ = run(capsys, *args)
    assert code == 0
    doc = json.loads(out)
    bound = doc["oracle"]
    assert bound["bound"] == "LP relaxation" and bound["hours"] > 24 * 7
    assert 0 < bound["co2e_kg"] <= min(m["co2e_kg"] for m in doc["policies"].values())
    # The bound and every policy pay the cluster's idle power over the same hours.
    idle_kw = (50.0 + 80.0) / 1000.0
    for m in doc["policies"].values():
        assert m["energy_kwh"] >= idle_kw * bound["hours"] - 1e-6


def test_json_on_stdout_stays_json_when_the_solver_runs(tmp_path: Path) -> None:
    # HiGHS may print a banner from C++ straight to file descriptor 1, which capsys
    # cannot see: only a real process shows whether --json stays parseable.
    head = jobs().read_text().splitlines()[:120]
    small = tmp_path / "jobs.csv"
    small.write_text("\n".join(head) + "\n")
    cluster = REPO_ROOT / "examples" / "clusters" / "hetero-solar-pai1k.yaml"
    code = "import sys; from wattwise.cli.main import main; main(sys.argv[1:])"
    args = ["simulate", "--jobs", str(small), "--time-unit", "s", "--carbon", str(gb())]
    args += ["--cluster", str(cluster), "--policy", "fifo,oracle", "--json"]
    env = {**os.environ, "WATTWISE_HOME": str(tmp_path / "home")}
    done = subprocess.run(
        [sys.executable, "-c", code, *args], capture_output=True, text=True, env=env, timeout=300
    )
    assert done.returncode == 0, done.stderr
    assert json.loads(done.stdout)["oracle"]["bound"] == "LP relaxation"


def test_an_lp_bound_too_large_is_a_note_not_a_failure(
    capsys: pytest.CaptureFixture[str], monkeypatch: pytest.MonkeyPatch
) -> None:
    import wattwise.schedule.scenario as scenario

    monkeypatch.setattr(scenario, "LP_MAX_VARIABLES", 1000)
    cluster = REPO_ROOT / "examples" / "clusters" / "hetero-solar-pai1k.yaml"
    args = ["--jobs", str(jobs()), "--time-unit", "s", "--carbon", str(gb())]
    code, out, _ = run(capsys, *args, "--cluster", str(cluster), "--policy", "fifo,oracle")
    assert code == 0
    assert "no capacity-limited bound" in out and "variables (limit 1,000)" in out
    assert "shorter slice" in out


def test_bad_inputs_are_one_line_errors(capsys: pytest.CaptureFixture[str], tmp_path: Path) -> None:
    bad = tmp_path / "jobs.csv"
    bad.write_text("arrival_time,length,cpus\n0,1,1\n2,x,1\n")
    code, _, err = run(capsys, "--jobs", str(bad), "--carbon", str(gb()))
    assert code == 2 and f"{bad}:3: length is not a number" in err
    assert "Traceback" not in err
    # Seconds read as hours: jobs of years, refused with the limit and the likely cause.
    code, _, err = run(capsys, "--jobs", str(jobs()), "--carbon", str(gb()), "--policy", "fifo")
    assert code == 2 and "at most 8784 h" in err and "--time-unit s" in err
    # A trace longer than the carbon year needs --wrap.
    late = tmp_path / "late.csv"
    late.write_text("arrival_time,length,cpus\n9000,1,1\n")
    code, _, err = run(capsys, "--jobs", str(late), "--carbon", str(gb()), "--policy", "fifo")
    assert code == 2 and "covers 8760 h" in err and "--wrap" in err
    code, _, err = run(capsys, "--jobs", str(jobs()), "--carbon", str(gb()), "--policy", "nope")
    assert code == 2 and "unknown policy 'nope'" in err


def test_slack_parsing() -> None:
    assert parse_slack("24h") == 24.0
    assert parse_slack("90m") == 1.5
    assert parse_slack("2d") == 48.0
    assert parse_slack("12") == 12.0
    with pytest.raises(ConfigError):
        parse_slack("soon")


def test_start_puts_hour_zero_later_in_the_carbon_year(capsys: pytest.CaptureFixture[str]) -> None:
    common = ("--jobs", str(jobs()), "--time-unit", "s", "--carbon", str(gb()), "--json")
    code, out, _ = run(capsys, *common, "--policy", "fifo,wattwise")
    assert code == 0
    january = json.loads(out)["policies"]
    code, out, _ = run(capsys, *common, "--policy", "fifo,wattwise", "--start", "2023-06-01")
    assert code == 0
    june = json.loads(out)["policies"]
    # Same jobs, same energy; June's grid and June's forecasts give other carbon.
    assert june["fifo"]["energy_kwh"] == pytest.approx(january["fifo"]["energy_kwh"])
    assert june["fifo"]["co2e_kg"] != pytest.approx(january["fifo"]["co2e_kg"], rel=1e-3)
    assert june["wattwise"]["co2e_kg"] < june["fifo"]["co2e_kg"]


@pytest.mark.parametrize(
    ("start", "message"),
    [
        ("2020-01-01", "before the carbon data begins"),
        ("2023-03-01T00:30Z", "whole hour"),
        ("next tuesday", "cannot read start"),
        ("2024-06-01", "cannot start at hour"),
        ("2023-12-31T12:00Z", "covers 12 h but the simulation needs"),
    ],
)
def test_a_bad_start_is_a_one_line_error(
    capsys: pytest.CaptureFixture[str], start: str, message: str
) -> None:
    code, _, err = run(
        capsys,
        *("--jobs", str(jobs()), "--time-unit", "s", "--carbon", str(gb()), "--policy", "fifo"),
        *("--start", start),
    )
    assert code == 2 and message in err and "Traceback" not in err


def test_a_cluster_on_a_year_long_trace_runs_with_wrap(
    capsys: pytest.CaptureFixture[str], tmp_path: Path
) -> None:
    # The README's example, on the trace's last hours (same absolute times): the jobs
    # end within the wrapped carbon data, and the common accounting period must too.
    # It used to be the last deadline divided by the slowest speed (0.7), far past it.
    rows = shared_file("jobs", "azure-100k.csv").read_text().splitlines()
    tail = [r for r in rows[1:] if float(r.split(",")[0]) >= 8740.0]
    small = tmp_path / "azure-tail.csv"
    small.write_text("\n".join([rows[0], *tail]) + "\n")
    es = shared_file("carbon", "ES_2022_hourly.csv")
    cluster = REPO_ROOT / "examples" / "clusters" / "hetero-solar-azure.yaml"
    args = ["--jobs", str(small), "--carbon", str(es), "--cluster", str(cluster)]
    code, out, err = run(capsys, *args, "--policy", "fifo,wattwise", "--wrap", "--json")
    assert code == 0, err
    doc = json.loads(out)
    assert doc["policies"]["fifo"]["jobs"] == len(tail)
    # Both pay the cluster's idle power over the same hours, so their energy differs
    # by less than the idle power of the whole period.
    fifo, ww = doc["policies"]["fifo"], doc["policies"]["wattwise"]
    assert fifo["energy_kwh"] > 0 and ww["energy_kwh"] > 0
    assert any("repeated" in n for n in doc["notes"])


def test_an_absurd_job_length_with_wrap_is_one_line_naming_the_limit(
    capsys: pytest.CaptureFixture[str], tmp_path: Path
) -> None:
    # It used to size the signals for a 1e9 h horizon: ~7 GiB before any check.
    huge = tmp_path / "huge.csv"
    huge.write_text("arrival_time,length,cpus\n0,1,1\n1,1e9,1\n")
    code, _, err = run(capsys, "--jobs", str(huge), "--carbon", str(gb()), "--wrap")
    assert code == 2 and "Traceback" not in err and len(err.strip().splitlines()) == 1
    assert f"{huge}:3: length must be > 0 and at most 8784 h" in err
