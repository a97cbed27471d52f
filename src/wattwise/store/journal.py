"""Run records for ``wattwise measure`` written with the standard library's sqlite3.

Why a second writer: importing SQLAlchemy costs about 160 ms here, a third of what
``wattwise measure -- true`` may take. This journal writes the same ``runs``,
``run_devices`` and ``run_samples`` rows as :class:`~wattwise.store.RunStore`, through
the same SQL and values (:mod:`wattwise.store.run_rows`; only the connection differs),
and only to a SQLite store whose tables already exist.
Everything else (other databases, a first run that must create the schema, every
read) goes through ``RunStore``. See :func:`open_run_writer`.
"""

from __future__ import annotations

import os
import sqlite3
from collections.abc import Iterator, Sequence
from contextlib import contextmanager
from pathlib import Path
from typing import Protocol

from wattwise.errors import StoreError
from wattwise.meter.types import Measurement
from wattwise.store import run_rows, spool
from wattwise.store.errors import classify, lock_timeout_s
from wattwise.store.run_rows import Sqlite3Executor

_TABLES = ("runs", "run_devices", "run_windows", "run_samples")


class RunWriter(Protocol):
    """What ``wattwise measure`` needs from a store."""

    def start_run(self, name: str, command: Sequence[str] | None = None) -> int: ...

    def checkpoint(self, run_id: int, energy_j: float, duration_s: float) -> None: ...

    def finish_run(
        self, run_id: int, measurement: Measurement, *, status: str, exit_code: int | None
    ) -> None: ...


class SqliteRunJournal:
    """Writes runs to an existing SQLite store (WAL, waits for other writers)."""

    def __init__(self, path: Path) -> None:
        self.path = path
        try:
            timeout_s = lock_timeout_s()
            self._conn = sqlite3.connect(path, timeout=timeout_s, isolation_level=None)
            self._conn.execute(f"PRAGMA busy_timeout={int(timeout_s * 1000)}")
            self._conn.execute("PRAGMA journal_mode=WAL")
            self._conn.execute("PRAGMA synchronous=NORMAL")
            self._conn.execute("PRAGMA foreign_keys=ON")
            present = {
                r[0]
                for r in self._conn.execute("SELECT name FROM sqlite_master WHERE type='table'")
            }
        except sqlite3.Error as err:
            raise classify(str(err), str(path)) from None
        if not set(_TABLES) <= present:
            raise LookupError("schema not created yet")

    @contextmanager
    def _transaction(self) -> Iterator[Sqlite3Executor]:
        cur = self._conn.cursor()
        try:
            cur.execute("BEGIN IMMEDIATE")
            yield Sqlite3Executor(cur)
            cur.execute("COMMIT")
        except sqlite3.Error as err:
            if self._conn.in_transaction:
                self._conn.execute("ROLLBACK")
            raise classify(str(err), str(self.path)) from None

    def start_run(self, name: str, command: Sequence[str] | None = None) -> int:
        with self._transaction() as ex:
            return run_rows.insert_run(ex, run_rows.start_params(name, command))

    def checkpoint(self, run_id: int, energy_j: float, duration_s: float) -> None:
        with self._transaction() as ex:
            run_rows.checkpoint(ex, run_id, energy_j, duration_s)

    def finish_run(
        self, run_id: int, measurement: Measurement, *, status: str, exit_code: int | None
    ) -> None:
        with self._transaction() as ex:
            found = run_rows.finish_run(ex, run_id, measurement, status=status, exit_code=exit_code)
        if not found:
            raise StoreError(f"run {run_id} does not exist")

    def import_spool(self) -> int:
        """Store the runs spooled while this store was locked."""

        def write(entry: spool.SpooledRun) -> None:
            with self._transaction() as ex:
                spool.write_spooled(ex, entry)

        return spool.import_spooled(str(self.path), write)


def open_run_writer() -> RunWriter:
    """The fast journal for an existing SQLite store, ``RunStore`` for anything else;
    either behind a :class:`~wattwise.store.spool.SpoolingWriter`, so a locked store
    never loses the run."""
    from wattwise.config import home, load_config

    url = os.environ.get("WATTWISE_DB") or load_config().database_url
    path = Path(url.removeprefix("sqlite:///")) if url else home() / "wattwise.db"
    if (url is None or url.startswith("sqlite:///")) and path.is_file():
        try:
            journal = SqliteRunJournal(path)
            journal.import_spool()
            return spool.SpoolingWriter(journal, str(path))
        except LookupError:
            pass  # a store file without our tables: let RunStore create them
    from wattwise.store.runs import RunStore

    store = RunStore(url)
    return spool.SpoolingWriter(store, str(store.url))
