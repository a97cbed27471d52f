"""The head survives any one job: a job it cannot dispatch or load fails alone, with a
note, and a job's tries stay within ``max_attempts`` across head restarts.

No Ray here: the Ray edge (``ray_backend``) is replaced by a one-node stand-in whose
``submit_batch`` raises the way Ray's ``.options()`` does for amounts it refuses.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest

from wattwise.engine import head as head_module
from wattwise.engine import ray_backend as rb
from wattwise.engine.head import Engine, EngineConfig
from wattwise.engine.spec import parse_spec
from wattwise.store.jobs import JobStore, NewTask

NODE = rb.NodeInfo("n" * 32, "node-1", True, 4.0, 0.0, None, None)


class _Ray:
    """What the head needs of Ray: tasks run on, or, once ``raises`` is set, end raising it."""

    import ray.exceptions as exceptions

    raises: BaseException | None = None

    def wait(self, refs: list[Any], num_returns: int, timeout: float) -> tuple[list, list]:
        return (list(refs), []) if self.raises is not None else ([], list(refs))

    def get(self, ref: Any) -> Any:
        raise self.raises or AssertionError("nothing has ended")


class _Backend:
    def __init__(self) -> None:
        self.submitted: list[list[str]] = []
        self.ray = _Ray()
        self.tokens: list[str] = []  # of tasks submitted
        self.killed: list[list[str]] = []

    def kill_tasks(self, meter: Any, tokens: list[str], timeout_s: float = 10.0) -> int:
        self.killed.append(list(tokens))
        return len(tokens)

    def connect(self, *_: Any) -> None:
        pass

    def list_nodes(self) -> list[rb.NodeInfo]:
        return [NODE]

    def import_ray(self) -> _Ray:
        return self.ray

    def submit_batch(self, items: list[Any], node: str, cpus: float, gpus: int, _m: Any) -> str:
        if any(i.env.get("BREAK") for i in items):
            # Ray 2.60's message for a fractional amount below its precision.
            raise ValueError(
                "The precision of the fractional quantity of resource CPU cannot go beyond 0.0001"
            )
        self.submitted.append([i.argv[0] for i in items])
        self.tokens += [i.env["WATTWISE_JOB_TOKEN"] for i in items]
        return f"ref-{len(self.submitted)}"


@pytest.fixture
def backend(monkeypatch: pytest.MonkeyPatch) -> _Backend:
    fake = _Backend()
    for name in ("connect", "list_nodes", "import_ray", "submit_batch", "kill_tasks"):
        monkeypatch.setattr(head_module.rb, name, getattr(fake, name))
    return fake


def _engine(tmp_path: Path) -> Engine:
    url = f"sqlite:///{tmp_path / 'w.db'}"
    return Engine(EngineConfig(store_url=url, meter=False, home=tmp_path, tick_s=0.0))


def _submit(store: JobStore, **fields: object) -> int:
    spec = parse_spec({"runtime": "10s", **fields}, 1000.0)
    return store.submit(spec.to_dict(), submitted_s=1000.0, latest_start_s=1000.0)


def test_a_job_that_cannot_be_dispatched_fails_alone(tmp_path: Path, backend: _Backend) -> None:
    engine = _engine(tmp_path)
    bad = _submit(engine.store, command=["bad"], env={"BREAK": "1"})
    good = [_submit(engine.store, command=[f"good{i}"]) for i in range(3)]
    engine.start()
    for _ in range(3):
        engine.tick()
    job = engine.store.get_job(bad)
    assert job.status == "failed"
    assert job.error is not None and "could not dispatch" in job.error
    assert "precision of the fractional quantity" in job.error
    assert [t.status for t in engine.store.tasks(bad)] == ["failed"]
    # The short jobs batched with it went out without it.
    assert sorted(name for batch in backend.submitted for name in batch) == [
        "good0",
        "good1",
        "good2",
    ]
    assert all(engine.store.get_job(i).status == "running" for i in good)


def test_a_stored_spec_ray_cannot_place_fails_at_load(tmp_path: Path, backend: _Backend) -> None:
    engine = _engine(tmp_path)
    spec = parse_spec({"command": ["x"]}, 1000.0).to_dict()
    spec["cpus"] = 0.00001  # stored by a version that did not check
    job_id = engine.store.submit(spec, submitted_s=1000.0, latest_start_s=1000.0)
    engine.start()
    engine.tick()
    job = engine.store.get_job(job_id)
    assert job.status == "failed"
    assert job.error is not None and job.error.startswith("cannot run this job: cpus:")
    assert backend.submitted == []


def test_max_attempts_holds_across_head_restarts(tmp_path: Path, backend: _Backend) -> None:
    store = _engine(tmp_path).store
    job_id = _submit(store, command=["x"], max_attempts=3)
    for attempt in (1, 2, 3):  # three heads each started it and died
        store.start_tasks([NewTask(job_id, 0, attempt, NODE.node_id)], head_id=f"h{attempt}")
        store.recover(f"h{attempt + 1}")
    engine = _engine(tmp_path)
    engine.start()
    engine.tick()
    job = engine.store.get_job(job_id)
    assert job.status == "failed" and job.attempts == 3
    assert job.error is not None and "tried 3 times, max_attempts is 3" in job.error
    assert backend.submitted == []


def test_a_task_that_raised_fails_once_with_a_plain_note(tmp_path: Path, backend: _Backend) -> None:
    """A worker exception is no lost node: no rerun, and the note is the cause, uncoloured."""
    import traceback

    from ray.exceptions import RayTaskError

    try:
        raise FileNotFoundError(2, "No such file or directory", "/proc/nope/ck")
    except FileNotFoundError as cause:
        backend.ray.raises = RayTaskError(
            "_run_batch", traceback.format_exc(), cause
        ).as_instanceof_cause()
    engine = _engine(tmp_path)
    job_id = _submit(engine.store, command=["x"], max_attempts=3)
    engine.start()
    for _ in range(4):
        engine.tick()
    job = engine.store.get_job(job_id)
    assert job.status == "failed" and len(backend.submitted) == 1
    assert job.error == "FileNotFoundError: [Errno 2] No such file or directory: '/proc/nope/ck'"
    assert [t.status for t in engine.store.tasks(job_id)] == ["failed"]


def test_a_task_whose_worker_died_is_stopped_before_it_is_rerun(
    tmp_path: Path, backend: _Backend
) -> None:
    """The worker is gone but its task's processes may run on: the node kills them (by
    the task's token) before the head marks the task lost and dispatches it again."""
    from ray.exceptions import WorkerCrashedError

    backend.ray.raises = WorkerCrashedError()
    engine = _engine(tmp_path)
    job_id = _submit(engine.store, command=["x"], max_attempts=3)
    engine.start()
    engine.tick()
    [first] = engine.store.tasks(job_id)
    engine.tick()
    assert backend.tokens[0] == f"{engine.head_id}-{first.id}"
    assert backend.killed[0] == [backend.tokens[0]]
    assert engine.store.tasks(job_id)[0].status == "lost"
