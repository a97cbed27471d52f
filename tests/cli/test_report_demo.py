"""``wattwise demo`` ends with the carbon report of its jobs (``wattwise report --job ...``)."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import pytest

from wattwise.store.jobs import JobStore


@pytest.mark.slow
def test_demo_ends_with_the_report_of_its_jobs(wattwise_home: Path) -> None:
    cmd = [sys.executable, "-m", "wattwise.cli.main", "demo", "--engine", "local", "--jobs", "1"]
    cmd += ["--duration", "60", "--speed", "60", "--port", "0"]
    env = {**os.environ, "WATTWISE_HOME": str(wattwise_home), "PYTHONUNBUFFERED": "1"}
    out = subprocess.run(cmd, env=env, capture_output=True, text=True, timeout=240)
    assert out.returncode == 0, out.stderr
    (job,) = JobStore().list_jobs()
    if job.run_id is None:  # cut before it measured anything on a very busy machine
        pytest.skip("the demo's job measured nothing")
    tail = out.stdout[out.stdout.index("total: ") :]
    assert f"# Carbon report: job {job.id}" in tail
    assert "operational CO₂e (location-based)" in tail and "## Carbon statement" in tail
