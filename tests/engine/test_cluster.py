"""The engine on a real multi-node Ray cluster (ray.cluster_utils.Cluster) on this machine.

Three worker nodes with different labels: big-de (2 CPUs, zone DE), small-fr (1 CPU,
zone FR), spare-de (2 CPUs, zone DE; killed in the last test). The head node has no
CPUs, like a scheduler-only head.
"""

from __future__ import annotations

import functools
import sys
import time
from collections.abc import Callable, Iterator, Sequence
from pathlib import Path
from typing import Any

import numpy as np
import pytest

from wattwise.engine.carbon import Forecast, PlanningSignal
from wattwise.engine.client import EngineClient
from wattwise.engine.head import Engine, EngineConfig
from wattwise.engine.ray_backend import LABEL_NAME, LABEL_TYPE, LABEL_ZONE
from wattwise.engine.scheduler import group_name, make_engine_policy
from wattwise.meter.sources.base import EnergySource
from wattwise.meter.types import Device
from wattwise.schedule.model import JobBatch
from wattwise.schedule.policies.base import ANY_GROUP, ClusterState, ForecastView, Plan, Policy
from wattwise.units import TimeSeries

ray = pytest.importorskip("ray")
from ray.cluster_utils import Cluster  # noqa: E402

pytestmark = [pytest.mark.multinode, pytest.mark.slow]

NODES = {
    "big-de": {"num_cpus": 2, LABEL_ZONE: "DE", LABEL_TYPE: "big"},
    "small-fr": {"num_cpus": 1, LABEL_ZONE: "FR", LABEL_TYPE: "small"},
    "spare-de": {"num_cpus": 2, LABEL_ZONE: "DE", LABEL_TYPE: "big"},
}


class ConstantPower(EnergySource):
    """A node counter growing at a fixed power (stands in for RAPL on each node)."""

    source = "fake"

    def __init__(self, power_w: float) -> None:
        self.power_w = power_w
        self.t0 = time.monotonic()

    def devices(self) -> list[Device]:
        return [Device("fake:node", "cpu", "fake", False)]

    def read_j(self) -> dict[str, float]:
        return {"fake:node": (time.monotonic() - self.t0) * self.power_w}


@pytest.fixture(scope="module")
def cluster() -> Iterator[dict[str, Any]]:
    ray.cloudpickle.register_pickle_by_value(sys.modules[__name__])
    if ray.is_initialized():  # another test module left its Ray up
        ray.shutdown()
    c = Cluster(
        initialize_head=True,
        head_node_args={
            "num_cpus": 0,
            "_system_config": {
                "health_check_initial_delay_ms": 0,
                "health_check_period_ms": 300,
                "health_check_failure_threshold": 3,
            },
        },
    )
    handles = {}
    for name, spec in NODES.items():
        labels = {LABEL_NAME: name, LABEL_ZONE: spec[LABEL_ZONE], LABEL_TYPE: spec[LABEL_TYPE]}
        handles[name] = c.add_node(num_cpus=spec["num_cpus"], labels=labels)
    c.wait_for_nodes()
    ray.init(address=c.address, include_dashboard=False, log_to_driver=False)
    try:
        yield {"cluster": c, "handles": handles}
    finally:
        ray.shutdown()
        c.shutdown()


def _engine(
    tmp_path: Path, cluster: dict[str, Any], forecast: Forecast | None = None, **kw: Any
) -> tuple[Engine, EngineClient]:
    url = f"sqlite:///{tmp_path / 'w.db'}"
    signal = PlanningSignal(
        lambda zone: _Fixed({"DE": 400.0, "FR": 50.0}.get(zone or "", 300.0)), forecast
    )
    config = EngineConfig(
        store_url=url,
        address=cluster["cluster"].address,
        home=tmp_path,
        meter_interval_s=0.1,
        signal=signal,
        **kw,
    )
    engine = Engine(config)
    engine.start()
    return engine, EngineClient(url)


class _Fixed:
    def __init__(self, g: float) -> None:
        self.g = g

    def describe(self) -> str:
        return f"fixed {self.g:g} gCO2e/kWh"

    def series(self, start_s: float, end_s: float) -> TimeSeries:
        return TimeSeries(np.array([start_s]), np.array([self.g]), "gCO2e/kWh", end_s - start_s)


def _done(client: EngineClient, ids: Sequence[int]) -> Callable[[], bool]:
    return lambda: all(
        client.get_job(i).status in ("succeeded", "failed", "cancelled") for i in ids
    )


def _node_names(client: EngineClient, job_id: int) -> list[str]:
    return [t.node_name for t in client.tasks(job_id)]


def _forecast(zone: str | None, start_s: float, end_s: float) -> TimeSeries:
    """Both zones dirty for an hour, then clean; FR always the cleaner."""
    t = np.arange(start_s, end_s + 3600, 900.0)
    dirty, clean = (450.0, 10.0) if zone == "FR" else (500.0, 20.0)
    values = np.where(t < start_s + 3600, dirty, clean)
    return TimeSeries(t, values, "gCO2e/kWh", 900.0)


def test_placement_follows_the_plan(tmp_path: Path, cluster: dict[str, Any]) -> None:
    # Hour 0 of the policy's clock is now: the forecast is dirty for its first hour.
    engine, client = _engine(tmp_path, cluster, _forecast, policy=make_engine_policy("carbon"),
                             clock_origin_s=time.time())  # fmt: skip
    try:
        # No deadline: must start now; FR is cleanest now, so the plan says small-fr.
        anywhere = client.submit({"command": ["true"], "runtime": "1s", "cpus": 0.5})
        # Asks for a big node: only the DE nodes qualify.
        big = client.submit({"command": ["true"], "node_type": "big", "runtime": "1s"})
        # Sharded over DE: the shards spread over both DE nodes.
        shards = client.submit(
            {"command": ["sleep", "0.5"], "zone": "DE", "shards": ["a", "b", "c", "d"]}
        )
        # Plenty of slack: waits for DE's clean hour.
        patient = client.submit(
            {"command": ["true"], "zone": "DE", "runtime": "10m", "slack": "6h"}
        )
        assert engine.run(until=_done(client, [anywhere, big, shards]), timeout_s=90)
        assert _node_names(client, anywhere) == ["small-fr"]
        assert _node_names(client, big)[0] in ("big-de", "spare-de")
        assert set(_node_names(client, shards)) == {"big-de", "spare-de"}
        assert client.get_job(shards).tasks_done == 4
        waiting = client.get_job(patient)
        assert waiting.status == "waiting"
        assert waiting.planned_start_s is not None
        assert waiting.planned_start_s >= waiting.submitted_s + 3600 - 900
        assert set(waiting.planned_nodes) <= {
            n.node_id for n in engine.node_views() if n.zone == "DE"
        }
        # Carbon uses the intensity of the zone the job ran in.
        fr = client.get_job(anywhere)
        assert fr.energy_j is not None and fr.co2e_g is not None
        assert fr.co2e_g == pytest.approx(fr.energy_j / 3.6e6 * 50.0, rel=1e-6)
    finally:
        engine.shutdown()


class _Late(Policy):
    """A policy that always wants to wait an hour (for clean power, say)."""

    name = "late"

    def plan(
        self, now_h: float, queue: JobBatch, state: ClusterState, forecast: ForecastView
    ) -> Plan:
        start = np.maximum(queue.arrival_h, now_h) + 1.0
        return Plan(queue.job_id, np.full(len(queue), ANY_GROUP, np.int64), start)


def test_no_job_starts_after_its_latest_safe_start(tmp_path: Path, cluster: dict[str, Any]) -> None:
    engine, client = _engine(tmp_path, cluster, policy=_Late())
    try:
        hurried = client.submit({"command": ["true"], "runtime": "60s", "slack": "3s"})
        patient = client.submit({"command": ["true"], "runtime": "60s", "slack": "6h"})
        assert engine.run(until=_done(client, [hurried]), timeout_s=60)
        job = client.get_job(hurried)
        assert job.status == "succeeded"
        dispatched = client.tasks(hurried)[0].dispatched_s
        assert job.latest_start_s - 0.5 <= dispatched <= job.latest_start_s + 1.0
        assert client.get_job(patient).status == "waiting"
    finally:
        engine.shutdown()


def test_per_job_energy_adds_up_to_node_energy(tmp_path: Path, cluster: dict[str, Any]) -> None:
    engine, client = _engine(
        tmp_path,
        cluster,
        policy=_Prefer(BIG_DE),
        meter_sources=functools.partial(lambda: [ConstantPower(100.0)]),
    )
    try:
        busy = "import time\nt=time.time()\nwhile time.time()-t<{}: pass"
        ids = [
            client.submit({"command": [sys.executable, "-c", busy.format(1.5)], "cpus": 0.5}),
            client.submit({"command": ["sleep", "1"], "cpus": 0.5}),
            client.submit({"command": [sys.executable, "-c", busy.format(0.8)], "cpus": 0.5}),
        ]
        assert engine.run(until=_done(client, ids), timeout_s=60)
        jobs = [client.get_job(i) for i in ids]
        assert all(j.status == "succeeded" for j in jobs)
        assert all(_node_names(client, i) == ["big-de"] for i in ids)
        node = next(n.node_id for n in engine.node_views() if n.name == "big-de")
        totals = engine.node_totals()[node]
        jobs_j = sum(j.energy_j or 0.0 for j in jobs)
        assert jobs_j == pytest.approx(totals.attributed_j, rel=0.01)
        # Independently: the node drew 100 W over the time at least one job ran.
        tasks = [t for i in ids for t in client.tasks(i)]
        runs = [client.store.runs.get_run(j.run_id) for j in jobs if j.run_id is not None]
        covered = _union_s([(r.started_s, r.ended_s or r.started_s) for r in runs])
        assert jobs_j == pytest.approx(100.0 * covered, rel=0.01)
        assert all(not r.estimated for r in runs) and len(tasks) == 3
        # The busy job used CPU the sleeper did not, so it got the larger share.
        assert jobs[0].energy_j is not None and jobs[1].energy_j is not None
        assert jobs[0].energy_j > jobs[1].energy_j
    finally:
        engine.shutdown()


def test_head_restart_loses_no_job(tmp_path: Path, cluster: dict[str, Any]) -> None:
    first, client = _engine(tmp_path, cluster, policy=_Prefer(SMALL_FR))
    ids = [client.submit({"command": ["sleep", "1"]}) for _ in range(3)]
    # The first head dispatches, then dies with jobs running and jobs queued.
    first.run(until=lambda: client.get_job(ids[0]).status == "running", timeout_s=30)
    running = [i for i in ids if client.get_job(i).status == "running"]
    first.shutdown()
    late = client.submit({"command": ["true"]})  # submitted while no head runs
    second, _ = _engine(tmp_path, cluster, policy=_Prefer(SMALL_FR))
    try:
        assert second.recovered == len(running) >= 1
        assert second.run(until=_done(client, [*ids, late]), timeout_s=60)
        assert [client.get_job(i).status for i in [*ids, late]] == ["succeeded"] * 4
        assert all(client.tasks(i)[0].status == "lost" for i in running)
        assert all(client.tasks(i)[-1].head_id == second.head_id for i in running)
    finally:
        second.shutdown()


def test_cancel_failure_and_entry_points(tmp_path: Path, cluster: dict[str, Any]) -> None:
    engine, client = _engine(tmp_path, cluster, policy=_Prefer(BIG_DE))
    marker = tmp_path / "term.txt"
    trap = f"trap 'echo term > {marker}; exit 143' TERM; sleep 30 & wait"
    try:
        long_job = client.submit({"command": ["sh", "-c", trap], "grace": "5s"})
        failing = client.submit({"command": ["sh", "-c", "echo boom >&2; exit 3"]})
        entry = client.submit({"entry": "json:dumps", "args": [[1, 2]], "runtime": "5s"})
        assert engine.run(
            until=lambda: (
                client.get_job(long_job).status == "running"
                and bool(list((tmp_path / "logs").glob(f"job-{long_job}-*")))
                and client.get_job(failing).status == "failed"
            ),
            timeout_s=60,
        )
        time.sleep(0.5)  # let the shell install its trap
        client.cancel(long_job)
        assert engine.run(until=_done(client, [long_job, entry]), timeout_s=60)
        assert client.get_job(long_job).status == "cancelled"
        assert marker.read_text().strip() == "term"  # SIGTERM reached the job first
        bad = client.get_job(failing)
        assert bad.exit_code == 3 and bad.error == "exited with status 3: boom"
        assert client.get_job(entry).status == "succeeded"
    finally:
        engine.shutdown()


def test_a_job_waits_for_a_node_that_fits_and_runs_when_it_joins(
    tmp_path: Path, cluster: dict[str, Any]
) -> None:
    engine, client = _engine(tmp_path, cluster)
    job = client.submit({"command": ["true"], "zone": "NL"})
    try:
        engine.run(until=lambda: bool(client.get_job(job).error), timeout_s=30)
        record = client.get_job(job)
        assert record.status == "queued"
        assert record.error == "no live node offers 1 cpus, zone=NL; waiting for one to join"
        labels = {LABEL_NAME: "new-nl", LABEL_ZONE: "NL", LABEL_TYPE: "small"}
        node = cluster["cluster"].add_node(num_cpus=1, labels=labels)
        try:
            assert engine.run(until=_done(client, [job]), timeout_s=90)
            assert client.get_job(job).status == "succeeded"
            assert _node_names(client, job) == ["new-nl"]
        finally:
            cluster["cluster"].remove_node(node)
    finally:
        engine.shutdown()


CHECKPOINTED = """
import os, pathlib, time
ckpt = pathlib.Path(os.environ["WATTWISE_CHECKPOINT_DIR"]) / "step"
step = int(ckpt.read_text()) if ckpt.exists() else 0
first = step
while step < 30:
    time.sleep(0.1)
    step += 1
    tmp = ckpt.with_suffix(".tmp")
    tmp.write_text(str(step))
    tmp.replace(ckpt)  # atomic, as a checkpoint should be
pathlib.Path(os.environ["OUT"]).write_text(f"{os.environ['WATTWISE_RESUME']} {first}")
"""


def test_killed_node_job_completes_elsewhere(tmp_path: Path, cluster: dict[str, Any]) -> None:
    engine, client = _engine(tmp_path, cluster, policy=_Prefer(BIG_DE))
    out = tmp_path / "out.txt"
    try:
        job = client.submit(
            {
                "command": [sys.executable, "-c", CHECKPOINTED],
                "interruptible": True,
                "node_type": "big",
                "env": {"OUT": str(out)},
            }
        )
        ckpt = tmp_path / "checkpoints" / f"job-{job}" / "step"
        assert engine.run(until=lambda: ckpt.exists() and int(ckpt.read_text()) >= 5, timeout_s=60)
        first = client.tasks(job)[0].node_name  # big-de (the fuller of equals, by name)
        cluster["cluster"].remove_node(cluster["handles"][first], allow_graceful=False)
        assert engine.run(until=_done(client, [job]), timeout_s=90)
        record = client.get_job(job)
        assert record.status == "succeeded", record.error
        tasks = client.tasks(job)
        other = ({"big-de", "spare-de"} - {first}).pop()
        assert [t.node_name for t in tasks] == [first, other]
        assert [t.status for t in tasks] == ["lost", "succeeded"]
        resumed, first = out.read_text().split()
        assert resumed == "1" and int(first) >= 5  # resumed from its checkpoint
    finally:
        engine.shutdown()


def _union_s(spans: list[tuple[float, float]]) -> float:
    """Length of the union of time intervals. Units: s."""
    total, end = 0.0, -np.inf
    for a, b in sorted(spans):
        if b > end:
            total += b - max(a, end)
            end = b
    return total


#: Node groups of the cluster: live nodes grouped by node type and zone.
BIG_DE, SMALL_FR = group_name("big", "DE"), group_name("small", "FR")


class _Prefer(Policy):
    """Start now, on the named node group (a job it cannot use goes to a group it can).
    Within a group the scheduler takes the node with the least room that fits."""

    name = "prefer"

    def __init__(self, group: str) -> None:
        self.group = group

    def plan(
        self, now_h: float, queue: JobBatch, state: ClusterState, forecast: ForecastView
    ) -> Plan:
        g = self.cluster.index(self.group)
        start = np.maximum(queue.arrival_h, now_h)
        return Plan(queue.job_id, np.full(len(queue), g, np.int64), start)
