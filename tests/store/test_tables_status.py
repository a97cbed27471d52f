"""The tables module stands alone; job states are one enum; store failures say what to fix."""

from __future__ import annotations

import sqlite3
import subprocess
import sys
from pathlib import Path

import pytest

from wattwise.store.errors import StoreCorruptError, StoreLockedError
from wattwise.store.jobs import JobConflictError, JobStore
from wattwise.store.runs import RunStore
from wattwise.store.status import PUBLIC_JOB_STATUSES, JobStatus


def test_make_engine_creates_every_table_without_the_modules_that_use_them(
    tmp_path: Path,
) -> None:
    code = (
        "import sys; from wattwise.store.db import make_engine;"
        f"e = make_engine('sqlite:///{tmp_path / 'w.db'}');"
        "from sqlalchemy import inspect;"
        "print(sorted(inspect(e).get_table_names()));"
        "print([m for m in ('wattwise.store.jobs', 'wattwise.store.runs') if m in sys.modules])"
    )
    out = subprocess.run(
        [sys.executable, "-c", code], capture_output=True, text=True, check=True
    ).stdout.splitlines()
    assert {"runs", "run_devices", "run_windows", "run_samples", "jobs", "job_tasks"} <= set(
        eval(out[0])
    )
    assert out[1] == "[]"  # db imports the tables alone: no cycle back through jobs/runs


def _job(store: JobStore) -> int:
    return store.submit({"name": "j", "command": ["true"]}, submitted_s=1.0, latest_start_s=2.0)


def test_job_status_is_one_enum_with_the_stored_strings(tmp_path: Path) -> None:
    url = f"sqlite:///{tmp_path / 'w.db'}"
    store = JobStore(url)
    job_id = _job(store)
    record = store.get_job(job_id)
    assert record.status is JobStatus.QUEUED and record.to_dict()["status"] == "queued"
    with sqlite3.connect(tmp_path / "w.db") as conn:
        assert conn.execute("select status from jobs").fetchone() == ("queued",)
    assert [s.value for s in JobStatus] == [
        "queued", "waiting", "running", "suspended", "succeeded", "failed", "cancelled",
    ]  # fmt: skip
    # The API keeps its public name for success, mapped in one place.
    assert PUBLIC_JOB_STATUSES == (
        "queued", "waiting", "running", "suspended", "done", "failed", "cancelled",
    )  # fmt: skip
    assert JobStatus.from_public("done") is JobStatus.SUCCEEDED
    from wattwise.api.models import JOB_STATUSES

    assert JOB_STATUSES == PUBLIC_JOB_STATUSES


def test_cancelling_a_finished_job_is_a_conflict_not_a_store_error(tmp_path: Path) -> None:
    from wattwise.errors import StoreError

    store = JobStore(f"sqlite:///{tmp_path / 'w.db'}")
    job_id = _job(store)
    store.request_cancel(job_id)
    with pytest.raises(JobConflictError, match="already cancelled") as caught:
        store.request_cancel(job_id)
    assert not isinstance(caught.value, StoreError)


def test_a_held_write_lock_says_so(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("WATTWISE_LOCK_TIMEOUT_S", "0.2")
    store = JobStore(f"sqlite:///{tmp_path / 'w.db'}")
    job_id = _job(store)
    holder = sqlite3.connect(tmp_path / "w.db", isolation_level=None)
    holder.execute("BEGIN IMMEDIATE")
    try:
        with pytest.raises(StoreLockedError, match="another process holds the write lock"):
            store.request_cancel(job_id)
    finally:
        holder.execute("ROLLBACK")
        holder.close()


def test_a_corrupt_file_says_move_it_aside(tmp_path: Path) -> None:
    path = tmp_path / "w.db"
    path.write_bytes(b"this is no database at all" * 200)
    with pytest.raises(StoreCorruptError) as caught:
        RunStore(f"sqlite:///{path}")
    message = str(caught.value)
    assert str(path) in message and "not a wattwise database or is corrupt" in message
    assert "move it aside" in message and "permission" not in message
    from wattwise.store.journal import SqliteRunJournal

    with pytest.raises(StoreCorruptError, match="move it aside"):
        SqliteRunJournal(path)


def test_a_read_only_store_says_check_permissions(tmp_path: Path) -> None:
    from wattwise.errors import StoreError

    RunStore(f"sqlite:///{tmp_path / 'w.db'}")
    ro = RunStore(f"sqlite:///file:{tmp_path / 'w.db'}?mode=ro&uri=true")
    with pytest.raises(StoreError, match="check permissions"):
        ro.start_run("x")
