from __future__ import annotations

import json
import multiprocessing
import os
import signal
import sqlite3
import subprocess
import sys
import time
from pathlib import Path

import psutil
import pytest

from wattwise.errors import StoreError
from wattwise.meter.types import DeviceEnergy, Measurement, PowerSample
from wattwise.store import RunStore


def _measurement(name: str, energy_j: float = 12.0) -> Measurement:
    now = time.time()
    return Measurement(
        name=name,
        start_s=now - 2.0,
        end_s=now,
        devices=(DeviceEnergy("rapl:package-0", "cpu", "rapl", False, energy_j),),
        timeline=(PowerSample(now - 1.0, 6.0, 6.0), PowerSample(now, 6.0, 6.0)),
        co2e_g=1.5,
        intensity_source="fixed 450 gCO2e/kWh",
    )


def test_round_trip_with_devices_windows_and_samples() -> None:
    store = RunStore()
    inner = _measurement("epoch-1", 4.0)
    run_id = store.record(_measurement("train"), windows=[inner])
    run = store.get_run(run_id)
    assert (run.name, run.status, run.energy_j, run.co2e_g) == ("train", "completed", 12.0, 1.5)
    assert run.devices[0].source == "rapl" and not run.estimated
    assert run.windows[0].name == "epoch-1" and run.windows[0].energy_j == 4.0
    assert len(store.samples(run_id)) == 2
    assert store.list_runs()[0].id == run_id
    with pytest.raises(StoreError, match="no run 999"):
        store.get_run(999)


def _write_runs(url: str, worker: int, count: int) -> None:
    store = RunStore(url)
    for i in range(count):
        store.record(_measurement(f"w{worker}-{i}"))


def test_eight_processes_writing_concurrently_lose_nothing(tmp_path: Path) -> None:
    url = f"sqlite:///{tmp_path / 'runs.db'}"
    # No schema yet: the eight writers also race to create the tables.
    ctx = multiprocessing.get_context("spawn")
    procs = [ctx.Process(target=_write_runs, args=(url, w, 25)) for w in range(8)]
    for p in procs:
        p.start()
    for p in procs:
        p.join(timeout=120)
        assert p.exitcode == 0
    names = {r.name for r in RunStore(url).list_runs(limit=1000)}
    assert len(names) == 200


def test_kill_9_of_a_measuring_process_leaves_an_intact_interrupted_run(tmp_path: Path) -> None:
    env = {**os.environ, "WATTWISE_HOME": str(tmp_path)}
    proc = subprocess.Popen(
        [sys.executable, "-m", "wattwise.cli.main", "measure", "--", "sleep", "30"], env=env
    )
    db = tmp_path / "wattwise.db"
    deadline = time.time() + 30
    while time.time() < deadline:
        if db.exists():
            with sqlite3.connect(db) as conn:
                try:
                    if conn.execute("select count(*) from runs").fetchone()[0]:
                        break
                except sqlite3.OperationalError:
                    pass
        time.sleep(0.1)
    children = psutil.Process(proc.pid).children(recursive=True)
    os.kill(proc.pid, signal.SIGKILL)
    proc.wait()
    for child in children:  # the orphaned `sleep`
        child.kill()
    with sqlite3.connect(db) as conn:
        assert conn.execute("pragma integrity_check").fetchone()[0] == "ok"
    listed = subprocess.run(
        [sys.executable, "-m", "wattwise.cli.main", "runs", "--json"],
        env=env,
        capture_output=True,
        text=True,
        check=True,
    )
    runs = json.loads(listed.stdout)
    assert [r["status"] for r in runs] == ["interrupted"]
    assert runs[0]["command"] == ["sleep", "30"]


def test_unwritable_home_is_a_clear_error(tmp_path: Path) -> None:
    blocker = tmp_path / "file"
    blocker.write_text("not a folder")
    with pytest.raises(StoreError, match="cannot create store folder"):
        RunStore(f"sqlite:///{blocker / 'sub' / 'w.db'}")
