"""``wattwise measure`` end to end with real child processes."""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
from pathlib import Path

import pytest

WATTWISE = [sys.executable, "-m", "wattwise.cli.main"]


def run(*args: str, stdin: str | None = None, home: Path) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [*WATTWISE, *args],
        input=stdin,
        capture_output=True,
        text=True,
        env={**os.environ, "WATTWISE_HOME": str(home)},
        timeout=120,
    )


def test_json_report_and_exit_code(wattwise_home: Path) -> None:
    busy = "import time\nend=time.process_time()+0.3\nwhile time.process_time()<end: pass"
    out = run(
        "measure",
        "--json",
        "--intensity",
        "500",
        "--",
        sys.executable,
        "-c",
        busy,
        home=wattwise_home,
    )
    assert out.returncode == 0, out.stderr
    report = json.loads(out.stdout.strip().splitlines()[-1])
    for key in ("duration_s", "energy_j", "co2e_g", "exit_code", "devices"):
        assert key in report
    assert report["exit_code"] == 0 and report["energy_j"] > 0
    assert report["co2e_g"] == pytest.approx(report["energy_j"] / 3.6e6 * 500)
    device = report["devices"][0]
    assert {"name", "kind", "energy_j", "source", "estimated"} <= set(device)
    assert device["source"] == "estimate" and device["estimated"] is True
    assert report["duration_s"] >= 0.3


def test_exit_code_passthrough_and_stored_status(wattwise_home: Path) -> None:
    out = run("measure", "--", "sh", "-c", "exit 7", home=wattwise_home)
    assert out.returncode == 7
    runs = json.loads(run("runs", "--json", home=wattwise_home).stdout)
    assert runs[0]["status"] == "failed" and runs[0]["exit_code"] == 7


def test_command_not_found_is_127(wattwise_home: Path) -> None:
    out = run("measure", "--", "no-such-command-xyz", home=wattwise_home)
    assert out.returncode == 127
    assert "command not found" in out.stderr and "Traceback" not in out.stderr


def test_stdin_and_stdout_pass_through(wattwise_home: Path) -> None:
    out = run("measure", "--", "tr", "a-z", "A-Z", stdin="hello energy\n", home=wattwise_home)
    assert out.returncode == 0
    assert out.stdout.startswith("HELLO ENERGY")


def test_child_killed_by_signal_gives_128_plus_n(wattwise_home: Path) -> None:
    out = run("measure", "--", "sh", "-c", "kill -TERM $$", home=wattwise_home)
    assert out.returncode == 128 + signal.SIGTERM


def test_sigterm_to_wattwise_is_forwarded_and_the_run_recorded(wattwise_home: Path) -> None:
    proc = subprocess.Popen(
        [*WATTWISE, "measure", "--json", "--", "sh", "-c", "echo started; exec sleep 30"],
        stdout=subprocess.PIPE,
        text=True,
        env={**os.environ, "WATTWISE_HOME": str(wattwise_home)},
    )
    # Signal once the child runs (wattwise forwards from then on), not after a fixed
    # sleep: on a loaded machine start-up can take longer than any sleep we pick.
    assert proc.stdout is not None and proc.stdout.readline().strip() == "started"
    proc.send_signal(signal.SIGTERM)
    stdout, _ = proc.communicate(timeout=30)
    assert proc.returncode == 128 + signal.SIGTERM
    assert json.loads(stdout.strip().splitlines()[-1])["exit_code"] == 128 + signal.SIGTERM


def test_malformed_carbon_file_names_file_and_line(wattwise_home: Path, tmp_path: Path) -> None:
    bad = tmp_path / "carbon.csv"
    bad.write_text("time,value\n2024-01-01T00:00:00Z,100\n2024-01-01T01:00:00Z,abc\n")
    out = run("measure", "--carbon", str(bad), "--", "true", home=wattwise_home)
    assert out.returncode == 2
    assert f"{bad}:3" in out.stderr and "Traceback" not in out.stderr
    assert len(out.stderr.strip().splitlines()) == 1


def test_malformed_config_names_file_and_line(wattwise_home: Path) -> None:
    (wattwise_home / "config.toml").write_text('zone = "DE"\ncpu_tdp_w = -5\n')
    out = run("measure", "--", "true", home=wattwise_home)
    assert out.returncode == 2
    assert "config.toml:2" in out.stderr and "cpu_tdp_w must be > 0" in out.stderr
    (wattwise_home / "config.toml").write_text('zone = "DE\n')
    out = run("measure", "--", "true", home=wattwise_home)
    assert out.returncode == 2 and "config.toml:1" in out.stderr and "TOML" in out.stderr


def test_bad_options_are_one_line_errors(wattwise_home: Path) -> None:
    out = run("measure", "--interval", "-1", "--", "true", home=wattwise_home)
    assert out.returncode == 2 and "interval" in out.stderr and "Traceback" not in out.stderr
    out = run("measure", "--zone", "ATLANTIS", "--", "true", home=wattwise_home)
    assert out.returncode == 2 and "ATLANTIS" in out.stderr and "Traceback" not in out.stderr


@pytest.mark.parametrize(
    ("flag", "value"),
    [
        ("--interval", "inf"),
        ("--interval", "nan"),
        ("--interval", "1e-9"),
        ("--cpu-tdp", "nan"),
        ("--cpu-tdp", "0"),
        ("--cpu-tdp", "inf"),
    ],
)
def test_non_finite_or_absurd_numbers_are_refused(
    wattwise_home: Path, flag: str, value: str
) -> None:
    # These once tracebacked (inf), busy-looped (nan, 1e-9), lost the run to an SQL
    # IntegrityError (tdp nan) or silently gave 0 J (tdp 0, which config.toml refuses).
    out = run("measure", "--intensity", "100", flag, value, "--", "true", home=wattwise_home)
    assert out.returncode == 2, out.stderr
    assert flag in out.stderr and "Traceback" not in out.stderr
    assert len(out.stderr.strip().splitlines()) == 1


def test_show_ranks_windows_and_export_writes_csv(wattwise_home: Path, tmp_path: Path) -> None:
    script = (
        "import wattwise\n"
        "with wattwise.measure('job', intensity_g_per_kwh=100) as m:\n"
        "    with m.window('small'):\n        sum(range(10**5))\n"
        "    with m.window('big'):\n        sum(range(3*10**6))\n"
    )
    env = {**os.environ, "WATTWISE_HOME": str(wattwise_home)}
    subprocess.run([sys.executable, "-c", script], check=True, env=env)
    shown = json.loads(run("show", "1", "--json", home=wattwise_home).stdout)
    assert [w["name"] for w in shown["windows"]] == ["job/big", "job/small"]
    assert 0 < shown["windows"][0]["share"] <= 1.0
    csv_path = tmp_path / "runs.csv"
    assert run("export", "-o", str(csv_path), home=wattwise_home).returncode == 0
    lines = csv_path.read_text().splitlines()
    assert lines[0].startswith("id,name") and len(lines) == 2
    out = run("export", "-o", str(tmp_path / "x.xlsx"), home=wattwise_home)
    assert out.returncode == 2 and "format" in out.stderr


def test_devices_lists_what_is_missing_and_why(wattwise_home: Path) -> None:
    out = json.loads(run("devices", "--json", home=wattwise_home).stdout)
    assert any(d["source"] == "estimate" for d in out["devices"])
    assert "rapl" in out["missing"] and "nvml" in out["missing"]


def test_usage_errors_are_not_tracebacks(wattwise_home: Path) -> None:
    for args in (("runs", "--bogus"), ("no-such-command",), ("show",)):
        out = run(*args, home=wattwise_home)
        assert out.returncode == 2, args
        assert "Traceback" not in out.stderr and "Error" in out.stderr
