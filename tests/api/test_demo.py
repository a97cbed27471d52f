"""``wattwise demo`` end to end (short versions): output, stored runs, Ctrl-C, bad options.

These start a real local Ray instance through the engine (about 10 s each).
"""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import psutil
import pytest

from wattwise.store import RunStore
from wattwise.store.jobs import JobStore

WATTWISE = [sys.executable, "-m", "wattwise.cli.main"]


def _env(home: Path) -> dict[str, str]:
    return {**os.environ, "WATTWISE_HOME": str(home), "PYTHONUNBUFFERED": "1"}


def _leftovers(home: Path) -> list[str]:
    """Processes still carrying this test's WATTWISE_HOME (jobs, Ray's daemons)."""
    left = []
    for proc in psutil.process_iter(["pid", "name"]):
        try:
            if proc.environ().get("WATTWISE_HOME") == str(home) and proc.pid != os.getpid():
                left.append(f"{proc.pid} {proc.info['name']}")
        except (psutil.NoSuchProcess, psutil.AccessDenied, psutil.ZombieProcess):
            continue
    return left


def _no_leftovers(home: Path, wait_s: float = 20.0) -> None:
    """Ray's daemons take a few seconds to exit after ``ray.shutdown()``."""
    deadline = time.time() + wait_s
    while _leftovers(home) and time.time() < deadline:
        time.sleep(0.5)
    assert _leftovers(home) == []


@pytest.mark.slow
def test_short_demo_runs_a_job_and_prints_the_table(wattwise_home: Path) -> None:
    cmd = [*WATTWISE, "demo", "--jobs", "1", "--duration", "60", "--speed", "60", "--port", "0"]
    out = subprocess.run(cmd, env=_env(wattwise_home), capture_output=True, text=True, timeout=240)
    assert out.returncode == 0, out.stderr
    text = out.stdout
    assert "dashboard: http://127.0.0.1:" in text
    assert "California 2022 carbon trace replayed" in text
    assert "engine: Ray, 2 CPUs, carbon-aware policy" in text
    assert "job " in text and "CO2e g" in text and "at once g" in text
    assert "train tiny-transformer" in text
    assert "total: " in text
    runs = RunStore().list_runs()
    assert len(runs) == 1 and runs[0].name == "train tiny-transformer"
    if runs[0].status == "completed":  # on a very busy machine it may be cut at 60 s
        assert "total: 1 jobs done" in text
        assert runs[0].energy_j and runs[0].energy_j > 0 and runs[0].co2e_g is not None
        assert "accuracy" in text
    # The comparison is saved where /api/v1/simulations serves it.
    assert list((wattwise_home / "simulations").glob("demo-*/result.json"))
    _no_leftovers(wattwise_home)


@pytest.mark.slow
def test_a_second_demo_reports_only_its_own_jobs(wattwise_home: Path) -> None:
    # The store keeps the first run's job; the second run's table and totals must not
    # count it (they did, with no "at once" figure for it, so "saved" went negative).
    cmd = [*WATTWISE, "demo", "--jobs", "1", "--duration", "60", "--speed", "60", "--port", "0"]
    for _ in range(2):
        out = subprocess.run(
            cmd, env=_env(wattwise_home), capture_output=True, text=True, timeout=240
        )
        assert out.returncode == 0, out.stderr
    rows = [ln for ln in out.stdout.splitlines() if ln.startswith("train tiny-transformer")]
    assert len(rows) == 1
    assert "total: 2 jobs" not in out.stdout
    assert len(RunStore().list_runs()) == 2  # both runs are kept
    _no_leftovers(wattwise_home)


@pytest.mark.slow
def test_ctrl_c_stops_the_engine_and_its_jobs(wattwise_home: Path) -> None:
    cmd = [*WATTWISE, "demo", "--jobs", "3", "--duration", "200", "--port", "0"]
    proc = subprocess.Popen(
        cmd, env=_env(wattwise_home), stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True
    )
    try:
        deadline = time.time() + 120
        jobs = JobStore()
        while time.time() < deadline and jobs.count_jobs("running") == 0:
            time.sleep(0.3)
        assert jobs.count_jobs("running") >= 1, "no job started"
        proc.send_signal(signal.SIGINT)
        stdout, stderr = proc.communicate(timeout=90)
    finally:
        if proc.poll() is None:
            proc.kill()
    assert proc.returncode == 130, stderr
    assert "stopped: queued jobs cancelled, running ones terminated" in stdout
    assert "Traceback" not in stderr
    statuses = {j.status for j in JobStore().list_jobs(limit=None)}
    assert statuses <= {"succeeded", "cancelled"} and "cancelled" in statuses
    assert "running" not in {r.status for r in RunStore().list_runs()}
    _no_leftovers(wattwise_home)


@pytest.mark.slow
def test_local_engine_runs_without_ray(wattwise_home: Path) -> None:
    cmd = [*WATTWISE, "demo", "--engine", "local", "--jobs", "1", "--duration", "60"]
    cmd += ["--speed", "60", "--port", "0"]
    out = subprocess.run(cmd, env=_env(wattwise_home), capture_output=True, text=True, timeout=240)
    assert out.returncode == 0, out.stderr
    assert "engine: local metered subprocesses" in out.stdout and "total: " in out.stdout
    (run,) = RunStore().list_runs()
    assert run.name == "train tiny-transformer" and run.status in {"completed", "interrupted"}
    _no_leftovers(wattwise_home)


def test_bad_start_is_one_line_error(wattwise_home: Path) -> None:
    for start, words in (("yesterday", "is not an ISO date"), ("2021-01-01T00:00", "must lie")):
        out = subprocess.run(
            [*WATTWISE, "demo", "--start", start],
            env=_env(wattwise_home),
            capture_output=True,
            text=True,
            timeout=60,
        )
        assert out.returncode == 2
        assert out.stderr.startswith("wattwise: error: --start") and words in out.stderr
        assert len(out.stderr.strip().splitlines()) == 1
