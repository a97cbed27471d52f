from __future__ import annotations

import threading
from pathlib import Path

import pytest

from wattwise.engine.spec import parse_spec
from wattwise.errors import StoreError
from wattwise.store.jobs import (
    JobCompletion,
    JobConflictError,
    JobNotFoundError,
    JobStore,
    NewTask,
    TaskOutcome,
)


def _store(tmp_path: Path) -> JobStore:
    return JobStore(f"sqlite:///{tmp_path / 'w.db'}")


def _submit(store: JobStore, **fields: object) -> int:
    spec = parse_spec({"command": ["true"], **fields}, 1000.0)
    return store.submit(
        spec.to_dict(), submitted_s=1000.0, latest_start_s=spec.latest_start_s(1000.0)
    )


def test_lifecycle_and_cancel(tmp_path: Path) -> None:
    store = _store(tmp_path)
    a, b = _submit(store), _submit(store, shards=["x", "y"])
    assert [j.id for j in store.pending()] == [a, b]
    assert store.get_job(b).tasks_total == 2
    started = store.start_tasks([NewTask(a, 0, 1, "n1", "node-1")], head_id="h1")
    assert list(started) == [a] and store.get_job(a).status == "running"
    store.finish_tasks([TaskOutcome(started[a][0], "succeeded", exit_code=0, energy_j=5.0)])
    store.complete_jobs([JobCompletion(a, "succeeded")])
    assert store.get_job(a).status == "succeeded" and store.get_job(a).tasks_done == 1
    with pytest.raises(JobConflictError, match="is already succeeded"):
        store.request_cancel(a)
    assert store.request_cancel(b).status == "cancelled"
    # The head can no longer start a job a client cancelled.
    assert store.start_tasks([NewTask(b, 0, 1, "n1")], head_id="h1") == {}


def test_unknown_job_is_one_clear_line(tmp_path: Path) -> None:
    store = _store(tmp_path)
    with pytest.raises(JobNotFoundError, match=r"^no job 42 \(`wattwise jobs` lists jobs\)$"):
        store.request_cancel(42)
    with pytest.raises(JobNotFoundError):
        store.get_job(42)
    with pytest.raises(StoreError, match="unknown job status 'done'"):
        store.list_jobs(status="done")


def test_recover_requeues_jobs_of_a_dead_head(tmp_path: Path) -> None:
    store = _store(tmp_path)
    a, b = _submit(store), _submit(store)
    store.start_tasks([NewTask(a, 0, 1, "n1"), NewTask(b, 0, 1, "n1")], head_id="old")
    store.request_cancel(b)  # running: only flagged
    assert store.get_job(b).status == "running" and store.get_job(b).cancel_requested
    assert JobStore(store.url).recover("new") == 1
    assert store.get_job(a).status == "queued"
    assert store.get_job(b).status == "cancelled"
    assert [t.status for t in store.tasks(a)] == ["lost"]


def test_requeue_excludes_the_dead_node(tmp_path: Path) -> None:
    store = _store(tmp_path)
    a = _submit(store)
    store.start_tasks([NewTask(a, 0, 1, "n1")], head_id="h")
    assert store.requeue(a, exclude_node="n1", error="node died")
    job = store.get_job(a)
    assert job.status == "queued" and job.excluded_nodes == ["n1"] and job.error == "node died"


def test_many_clients_submitting_at_once_lose_nothing(tmp_path: Path) -> None:
    url = f"sqlite:///{tmp_path / 'w.db'}"
    JobStore(url)
    ids: list[int] = []
    lock = threading.Lock()

    def client() -> None:
        store = JobStore(url)
        for _ in range(25):
            job_id = _submit(store)
            with lock:
                ids.append(job_id)

    threads = [threading.Thread(target=client) for _ in range(8)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    assert len(set(ids)) == 200
    assert JobStore(url).count_jobs("queued") == 200


def _client_process(url: str, n: int) -> None:
    store = JobStore(url)
    for _ in range(n):
        _submit(store)


def test_many_processes_on_a_fresh_store_lose_nothing(tmp_path: Path) -> None:
    import multiprocessing

    url = f"sqlite:///{tmp_path / 'fresh.db'}"  # not created yet: they race to create it
    ctx = multiprocessing.get_context("fork")
    procs = [ctx.Process(target=_client_process, args=(url, 20)) for _ in range(4)]
    for p in procs:
        p.start()
    for p in procs:
        p.join(60)
    assert [p.exitcode for p in procs] == [0, 0, 0, 0]
    assert JobStore(url).count_jobs("queued") == 80


def test_submit_is_bounded_by_the_largest_live_node(tmp_path: Path) -> None:
    from wattwise.engine.client import EngineClient
    from wattwise.engine.spec import SpecError
    from wattwise.store.jobs import NodeRecord

    client = EngineClient(store=_store(tmp_path))
    assert client.submit({"command": ["true"], "cpus": 1e6}) > 0  # no node known yet
    client.store.upsert_nodes(
        [
            NodeRecord("a", "a", None, None, 16.0, 1.0, True, 0.0),
            NodeRecord("b", "b", None, None, 64.0, 8.0, False, 0.0),  # gone
        ]
    )
    with pytest.raises(SpecError, match=r"^cpus: .* to 16 \(the largest live node\), got 17$"):
        client.submit({"command": ["true"], "cpus": 17})
    with pytest.raises(SpecError, match=r"^gpus: .* to 1 \(the largest live node\), got 2$"):
        client.submit({"command": ["true"], "gpus": 2})
    assert client.submit({"command": ["true"], "cpus": 16, "gpus": 1}) > 0
