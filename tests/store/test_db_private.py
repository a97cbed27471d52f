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
