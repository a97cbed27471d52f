"""The SQLite store is created private: it holds job ``env`` values."""

from __future__ import annotations

import os
import stat
from collections.abc import Iterator
from pathlib import Path

import pytest

from wattwise.engine.spec import parse_spec
from wattwise.store.db import sqlite_path
from wattwise.store.jobs import JobStore


@pytest.fixture
def open_umask() -> Iterator[None]:
    """The usual umask (022), which leaves new files readable by everyone."""
    old = os.umask(0o022)
    try:
        yield
    finally:
        os.umask(old)


def _mode(path: Path) -> int:
    return stat.S_IMODE(path.stat().st_mode)


def test_the_database_and_its_wal_files_are_private(tmp_path: Path, open_umask: None) -> None:
    db = tmp_path / "new" / "home" / "w.db"
    store = JobStore(f"sqlite:///{db}")
    spec = parse_spec({"command": ["true"], "env": {"TOKEN": "secret"}}, 1000.0)
    store.submit(spec.to_dict(), submitted_s=1000.0, latest_start_s=1000.0)
    with store._session():  # a connection is open: SQLite keeps -wal and -shm beside it
        wal, shm = db.with_name("w.db-wal"), db.with_name("w.db-shm")
        assert wal.exists() and shm.exists()
        assert {p.name: _mode(p) for p in (db, wal, shm)} == {
            "w.db": 0o600,
            "w.db-wal": 0o600,
            "w.db-shm": 0o600,
        }
    assert _mode(db.parent) == 0o700 and _mode(db.parent.parent) == 0o700


@pytest.mark.parametrize(
    ("url", "path"),
    [
        ("sqlite:///rel/w.db", Path("rel/w.db")),
        ("sqlite:////abs/w.db", Path("/abs/w.db")),
        ("sqlite+pysqlite:////abs/w.db", Path("/abs/w.db")),
        ("sqlite://", None),
        ("sqlite:///:memory:", None),
        ("postgresql://u@h/db", None),
    ],
)
def test_which_urls_name_a_file(url: str, path: Path | None) -> None:
    assert sqlite_path(url) == path


def _write_status(url: str, job_id: int, status: str) -> None:
    import subprocess
    import sys

    code = "\n".join(
        [
            "import sys",
            "from sqlalchemy import update",
            "from wattwise.store.jobs import JobStore",
            "from wattwise.store.tables import JobRow",
            "job = update(JobRow).where(JobRow.id == int(sys.argv[2]))",
            "with JobStore(sys.argv[1])._session() as session:",
            "    session.execute(job.values(status=sys.argv[3]))",
        ]
    )
    subprocess.run([sys.executable, "-c", code, url, str(job_id), status], check=True)


def test_opening_the_store_again_never_hides_another_process_writes(tmp_path: Path) -> None:
    # Opening and closing the database file from Python drops every POSIX lock this
    # process holds on it (fcntl semantics), under SQLite's open connections; from then
    # on this process read an old snapshot while other processes' writes went on.
    url = f"sqlite:///{tmp_path / 'w.db'}"
    first = JobStore(url)
    spec = parse_spec({"command": ["true"]}, 1000.0)
    job_id = first.submit(spec.to_dict(), submitted_s=1000.0, latest_start_s=1000.0)
    assert first.get_job(job_id).status == "queued"
    _write_status(url, job_id, "running")
    assert JobStore(url).get_job(job_id).status == "running"
    _write_status(url, job_id, "succeeded")
    for store in (first, JobStore(url), JobStore(url)):
        assert store.get_job(job_id).status == "succeeded"


def test_an_existing_database_file_is_not_opened_outside_sqlite(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    db = tmp_path / "w.db"
    JobStore(f"sqlite:///{db}")
    opened: list[str] = []
    real_open = os.open

    def spy(path: object, *args: object, **kw: object) -> int:
        opened.append(str(path))
        return real_open(path, *args, **kw)  # type: ignore[arg-type]

    monkeypatch.setattr(os, "open", spy)
    JobStore(f"sqlite:///{db}")
    assert str(db) not in opened
