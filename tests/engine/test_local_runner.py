"""The local runner: the store's queue run as metered subprocesses, no Ray."""

from __future__ import annotations

import sys
import time
from pathlib import Path

import psutil
import pytest

from wattwise.engine.carbon import PlanningSignal
from wattwise.engine.client import EngineClient
from wattwise.engine.local_runner import LocalRunner
from wattwise.grid.provider import FixedProvider
from wattwise.store import RunStore

BURN = (
    "import time\nt = time.process_time()\nwhile time.process_time() - t < 0.5: pass\nprint('ok')"
)


def _runner(cpus: float = 1.0) -> LocalRunner:
    signal = PlanningSignal(lambda _zone: FixedProvider(400.0))
    runner = LocalRunner(cpus=cpus, signal=signal, interval_s=0.1)
    runner.start()
    return runner


def _until_done(runner: LocalRunner, client: EngineClient, ids: list[int], limit_s: float = 60):
    deadline = time.time() + limit_s
    while time.time() < deadline:
        runner.tick()
        jobs = [client.get_job(i) for i in ids]
        if all(j.status in {"succeeded", "failed", "cancelled"} for j in jobs):
            return jobs
        time.sleep(0.05)
    raise AssertionError(f"jobs not finished: {[j.status for j in jobs]}")


def test_a_job_runs_metered_and_is_stored_as_a_run(wattwise_home: Path) -> None:
    client = EngineClient()
    job_id = client.submit({"name": "burn", "command": [sys.executable, "-c", BURN]})
    runner = _runner()
    (job,) = _until_done(runner, client, [job_id])
    assert job.status == "succeeded", job.error
    assert job.energy_j is not None and job.energy_j > 0
    assert job.co2e_g == pytest.approx(job.energy_j / 3.6e6 * 400.0)
    (task,) = client.tasks(job_id)
    assert task.status == "succeeded" and task.node_id == "local"
    assert Path(task.detail["log"]).read_text().strip() == "ok"
    (run,) = RunStore().list_runs()
    assert run.name == "burn" and run.kind == "job" and run.energy_j == job.energy_j
    assert runner.idle


def test_failures_stay_each_jobs_own(wattwise_home: Path) -> None:
    client = EngineClient()
    ok = client.submit({"name": "ok", "command": [sys.executable, "-c", "print(1)"]})
    bad = client.submit({"name": "bad", "command": [sys.executable, "-c", "raise SystemExit(3)"]})
    missing = client.submit({"name": "nope", "command": ["/no/such/program"]})
    sharded = client.submit(
        {"name": "shards", "command": ["echo", "{shard}"], "shards": ["a", "b"]}
    )
    jobs = _until_done(_runner(cpus=2), client, [ok, bad, missing, sharded])
    assert [j.status for j in jobs] == ["succeeded", "failed", "failed", "failed"]
    assert "exited with status 3" in (jobs[1].error or "")
    assert "cannot start" in (jobs[2].error or "") and "/no/such/program" in (jobs[2].error or "")
    assert "sharded jobs need the engine on Ray" in (jobs[3].error or "")


def test_cancel_stops_the_whole_process_group(wattwise_home: Path, tmp_path: Path) -> None:
    pidfile = tmp_path / "grandchild.pid"
    # The job starts a grandchild in the background, then sleeps: cancel must reach both.
    script = f"sleep 60 & echo $! > {pidfile}; sleep 60"
    client = EngineClient()
    job_id = client.submit({"name": "sleeper", "command": ["sh", "-c", script], "grace": "1s"})
    runner = _runner()
    deadline = time.time() + 30
    while not pidfile.exists() or not pidfile.read_text().strip():
        runner.tick()
        assert time.time() < deadline, "job did not start"
        time.sleep(0.05)
    grandchild = int(pidfile.read_text())
    client.cancel(job_id)
    (job,) = _until_done(runner, client, [job_id], limit_s=20)
    assert job.status == "cancelled" and job.energy_j is not None
    deadline = time.time() + 5
    while psutil.pid_exists(grandchild) and time.time() < deadline:
        time.sleep(0.05)
    assert not psutil.pid_exists(grandchild), f"grandchild {grandchild} still runs"
    assert runner.idle


def test_a_planned_start_waits_in_the_store(wattwise_home: Path) -> None:
    import numpy as np

    from wattwise.schedule.policies.base import ANY_GROUP, Plan, Policy

    class Later(Policy):
        """Every job an hour after it arrives."""

        name = "later"

        def plan(self, now_h, queue, state, forecast):  # type: ignore[no-untyped-def]
            n = len(queue)
            return Plan(queue.job_id, np.full(n, ANY_GROUP, np.int64), queue.arrival_h + 1.0)

    client = EngineClient()
    job_id = client.submit(
        {"name": "later", "command": ["true"], "deadline": "2h", "runtime": "1s"}
    )
    signal = PlanningSignal(lambda _zone: FixedProvider(1.0))
    runner = LocalRunner(cpus=1, policy=Later(), signal=signal)
    runner.start()
    runner.tick()
    job = client.get_job(job_id)
    assert job.status == "waiting" and job.planned_start_s is not None
    assert job.planned_start_s > time.time() + 3000
    client.cancel(job_id)
    runner.tick()
    assert client.get_job(job_id).status == "cancelled"
    runner.shutdown()
