"""The head's logic without Ray: ``InProcessBackend`` runs each batch on a thread with
the real worker (real processes, real cancel), on nodes declared here, over a SQLite
store in a temporary folder. Dispatch and completion, batching, a lost node, cancel,
and a head restart."""

from __future__ import annotations

import sys
import time
from collections.abc import Iterator
from pathlib import Path

import pytest

from wattwise.engine import job_procs
from wattwise.engine.head import Engine, EngineConfig
from wattwise.engine.inprocess import InProcessBackend, InProcessNode
from wattwise.engine.spec import parse_spec
from wattwise.store.jobs import JobStore

#: Runs for 30 s on its first try, ends at once on any later one.
FIRST_TRY_HANGS = ["sh", "-c", 'test "$WATTWISE_ATTEMPT" = 1 && exec sleep 30; exit 0']
BURN = [sys.executable, "-c", "sum(range(300_000))"]


@pytest.fixture
def url(tmp_path: Path) -> str:
    return f"sqlite:///{tmp_path / 'w.db'}"


@pytest.fixture
def backends() -> Iterator[list[InProcessBackend]]:
    made: list[InProcessBackend] = []
    yield made
    for backend in made:  # no test leaves a process behind
        for node in backend.list_nodes():
            if node.alive:
                backend.kill_node(node.name)


def _engine(
    url: str, tmp_path: Path, backends: list[InProcessBackend], *names: str, **config: object
) -> tuple[Engine, InProcessBackend]:
    backend = InProcessBackend([InProcessNode(n, cpus=4, zone="DE") for n in names or ("a",)])
    backends.append(backend)
    engine = Engine(EngineConfig(store_url=url, home=tmp_path, backend=backend, tick_s=0.005,
                                 meter_interval_s=0.05, **config))  # type: ignore[arg-type]  # fmt: skip
    return engine, backend


def _submit(store: JobStore, command: list[str], **fields: object) -> int:
    now = time.time()
    spec = parse_spec({"command": command, "runtime": "10m", **fields}, now)
    return store.submit(spec.to_dict(), submitted_s=now, latest_start_s=spec.latest_start_s(now))


def _run_until(engine: Engine, *job_ids: int, status: str | None = None) -> None:
    def settled() -> bool:
        jobs = [engine.store.get_job(i) for i in job_ids]
        return all(j.status == status if status else j.status in _ENDED for j in jobs)

    assert engine.run(until=settled, timeout_s=20.0), [
        (i, engine.store.get_job(i).status, engine.store.get_job(i).error) for i in job_ids
    ]


_ENDED = {"succeeded", "failed", "cancelled"}


def _until_launched(token: str) -> None:
    deadline = time.monotonic() + 10.0  # "running" in the store comes before the launch
    while not job_procs.find(token) and time.monotonic() < deadline:
        time.sleep(0.01)
    assert job_procs.find(token)  # its process runs


def test_a_job_runs_and_its_energy_and_carbon_are_stored(
    url: str, tmp_path: Path, backends: list[InProcessBackend]
) -> None:
    engine, _ = _engine(url, tmp_path, backends)
    job_id = _submit(engine.store, BURN)
    _run_until(engine, job_id)
    job = engine.store.get_job(job_id)
    assert job.status == "succeeded", job.error
    assert job.energy_j is not None and job.energy_j > 0
    assert job.co2e_g is not None and job.co2e_g > 0
    [task] = engine.store.tasks(job_id)
    assert task.status == "succeeded" and task.node_name == "a"
    assert engine.node_totals()["a"].attributed_j > 0
    engine.shutdown()


def test_short_jobs_for_one_node_go_out_as_one_batch(
    url: str, tmp_path: Path, backends: list[InProcessBackend]
) -> None:
    engine, backend = _engine(url, tmp_path, backends)
    ids = [_submit(engine.store, ["true"], runtime="5s", cpus=0.25) for _ in range(8)]
    long_id = _submit(engine.store, ["true"])  # 10 min: a batch of its own
    _run_until(engine, *ids, long_id)
    assert all(engine.store.get_job(i).status == "succeeded" for i in [*ids, long_id])
    sizes = sorted(len(b) for b in backend.batches())
    assert sizes == [1, 8]
    engine.shutdown()


def test_a_lost_node_requeues_its_job_on_the_other_node(
    url: str, tmp_path: Path, backends: list[InProcessBackend]
) -> None:
    engine, backend = _engine(url, tmp_path, backends, "a", "b")
    job_id = _submit(engine.store, FIRST_TRY_HANGS, max_attempts=2)
    _run_until(engine, job_id, status="running")
    [first] = engine.store.tasks(job_id)
    token = backend.batches(first.node_id)[0][0].env[job_procs.TOKEN_VAR]
    _until_launched(token)
    backend.kill_node(first.node_id)
    _run_until(engine, job_id)
    lost, second = engine.store.tasks(job_id)
    assert lost.status == "lost" and second.status == "succeeded"
    assert second.node_id != first.node_id
    assert engine.store.get_job(job_id).status == "succeeded"
    assert not job_procs.find(token)  # killed with its node
    engine.shutdown()


def test_a_task_whose_worker_died_is_killed_then_rerun_on_its_live_node(
    url: str, tmp_path: Path, backends: list[InProcessBackend]
) -> None:
    engine, backend = _engine(url, tmp_path, backends)
    job_id = _submit(engine.store, FIRST_TRY_HANGS, max_attempts=2)
    _run_until(engine, job_id, status="running")
    token = backend.batches()[0][0].env[job_procs.TOKEN_VAR]
    _until_launched(token)
    backend.kill_worker("a")  # its process outlives the worker...
    _run_until(engine, job_id)
    assert not job_procs.find(token)  # ...until the head has the node kill it
    lost, second = engine.store.tasks(job_id)
    assert lost.status == "lost" and "worker" in (lost.error or "")
    assert second.status == "succeeded" and second.node_name == "a"  # the node is fine
    engine.shutdown()


def test_max_attempts_holds_when_the_node_is_lost(
    url: str, tmp_path: Path, backends: list[InProcessBackend]
) -> None:
    engine, backend = _engine(url, tmp_path, backends, "a", "b")
    job_id = _submit(engine.store, FIRST_TRY_HANGS, max_attempts=1)
    _run_until(engine, job_id, status="running")
    [first] = engine.store.tasks(job_id)
    backend.kill_node(first.node_id)
    _run_until(engine, job_id)
    job = engine.store.get_job(job_id)
    assert job.status == "failed" and job.error is not None and "lost 1 times" in job.error
    assert [t.status for t in engine.store.tasks(job_id)] == ["lost"]
    engine.shutdown()


def test_cancel_of_a_queued_and_of_a_running_job(
    url: str, tmp_path: Path, backends: list[InProcessBackend]
) -> None:
    engine, backend = _engine(url, tmp_path, backends)
    queued = _submit(engine.store, ["true"], node_type="gpu-box")  # no node of that type
    running = _submit(engine.store, ["sleep", "30"], grace="1s")
    _run_until(engine, running, status="running")
    engine.store.request_cancel(queued)
    assert engine.store.get_job(queued).status == "cancelled"  # at once, in the store
    engine.store.request_cancel(running)
    t0 = time.monotonic()
    _run_until(engine, running)
    assert time.monotonic() - t0 < 5.0  # SIGTERM ends sleep: no 30 s wait, no grace
    assert engine.store.get_job(running).status == "cancelled"
    assert [t.status for t in engine.store.tasks(running)] == ["cancelled"]
    assert engine.store.tasks(queued) == []
    token = backend.batches()[0][0].env[job_procs.TOKEN_VAR]
    assert not job_procs.find(token)
    engine.shutdown()


def test_a_new_head_requeues_what_the_last_one_left_running(
    url: str, tmp_path: Path, backends: list[InProcessBackend]
) -> None:
    first, _ = _engine(url, tmp_path, backends)
    job_id = _submit(first.store, FIRST_TRY_HANGS, max_attempts=3)
    _run_until(first, job_id, status="running")
    first.shutdown()  # the head goes; the store says the job runs
    second, _ = _engine(url, tmp_path, backends, "c")
    second.start()
    assert second.recovered == 1
    _run_until(second, job_id)
    old, new = second.store.tasks(job_id)
    assert old.status == "lost" and new.status == "succeeded" and new.node_name == "c"
    assert second.store.get_job(job_id).status == "succeeded"
    second.shutdown()


def test_a_job_is_told_the_name_and_type_of_the_node_it_runs_on(
    url: str, tmp_path: Path, backends: list[InProcessBackend]
) -> None:
    backend = InProcessBackend([InProcessNode("gpu-box", cpus=4, zone="DE", node_type="a100")])
    backends.append(backend)
    engine = Engine(EngineConfig(store_url=url, home=tmp_path, backend=backend, tick_s=0.005,
                                 meter_interval_s=0.05))  # fmt: skip
    out = tmp_path / "where.txt"
    job_id = _submit(
        engine.store, ["sh", "-c", f'echo "$WATTWISE_NODE $WATTWISE_NODE_TYPE" > {out}']
    )
    _run_until(engine, job_id)
    assert engine.store.get_job(job_id).status == "succeeded"
    assert out.read_text().strip() == "gpu-box a100"
    engine.shutdown()


def test_the_head_reports_the_policy_its_scheduler_switched_to(
    url: str, tmp_path: Path, backends: list[InProcessBackend]
) -> None:
    from wattwise.engine.scheduler import make_engine_policy

    engine, _ = _engine(url, tmp_path, backends, policy=make_engine_policy("fifo"))
    engine.scheduler.use(make_engine_policy("wattwise"))
    assert engine.policy.name == "wattwise"
