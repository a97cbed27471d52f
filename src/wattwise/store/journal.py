"""Run records for ``wattwise measure`` written with the standard library's sqlite3.

Why a second writer: importing SQLAlchemy costs about 160 ms here, a third of what
``wattwise measure -- true`` may take. This journal writes the same ``runs``,
``run_devices`` and ``run_samples`` rows that :class:`~wattwise.store.RunStore` owns
(same columns, same JSON encoding; ``tests/store/test_journal.py`` checks both the
schema and the round trip), and only to a SQLite store whose tables already exist.
Everything else (other databases, a first run that must create the schema, every
read) goes through ``RunStore``. See :func:`open_run_writer`.
"""

from __future__ import annotations

import json
import os
import socket
import sqlite3
import time
from collections.abc import Sequence
from pathlib import Path
from typing import Any, Protocol

from wattwise.meter.types import Measurement
from wattwise.store.errors import classify, lock_timeout_s

_TABLES = ("runs", "run_devices", "run_samples")


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

    def _write(self, statements: Sequence[tuple[str, Sequence[Any]]]) -> int | None:
        try:
            cur = self._conn.cursor()
            cur.execute("BEGIN IMMEDIATE")
            for sql, params in statements:
                cur.execute(sql, params)
            cur.execute("COMMIT")
            return cur.lastrowid
        except sqlite3.Error as err:
            if self._conn.in_transaction:
                self._conn.execute("ROLLBACK")
            raise classify(str(err), str(self.path)) from None

    def start_run(self, name: str, command: Sequence[str] | None = None) -> int:
        run_id = self._write(
            [
                (
                    "INSERT INTO runs (name, kind, command, status, host, pid, started_s,"
                    " estimated, meta) VALUES (?, 'command', ?, 'running', ?, ?, ?, 1, '{}')",
                    (
                        name,
                        json.dumps(list(command)) if command is not None else None,
                        socket.gethostname(),
                        os.getpid(),
                        time.time(),
                    ),
                )
            ]
        )
        assert run_id is not None
        return run_id

    def checkpoint(self, run_id: int, energy_j: float, duration_s: float) -> None:
        self._write(
            [
                (
                    "UPDATE runs SET energy_j = ?, duration_s = ?"
                    " WHERE id = ? AND status = 'running'",
                    (energy_j, duration_s, run_id),
                )
            ]
        )

    def finish_run(
        self, run_id: int, measurement: Measurement, *, status: str, exit_code: int | None
    ) -> None:
        m = measurement
        statements: list[tuple[str, Sequence[Any]]] = [
            (
                "UPDATE runs SET status = ?, exit_code = ?, ended_s = ?, duration_s = ?,"
                " energy_j = ?, avg_power_w = ?, peak_power_w = ?, co2e_g = ?,"
                " intensity_source = ?, estimated = ? WHERE id = ?",
                (
                    status,
                    exit_code,
                    m.end_s,
                    m.duration_s,
                    m.energy_j,
                    m.avg_power_w,
                    m.peak_power_w,
                    m.co2e_g,
                    m.intensity_source,
                    int(m.estimated),
                    run_id,
                ),
            )
        ]
        statements += [
            (
                "INSERT INTO run_devices (run_id, name, kind, source, estimated, in_total,"
                " energy_j) VALUES (?, ?, ?, ?, ?, ?, ?)",
                (run_id, d.name, d.kind, d.source, int(d.estimated), int(d.in_total), d.energy_j),
            )
            for d in m.devices
        ]
        statements += [
            (
                "INSERT INTO run_samples (run_id, t_s, power_w) VALUES (?, ?, ?)",
                (run_id, s.t_s, s.power_w),
            )
            for s in m.timeline
        ]
        self._write(statements)


def open_run_writer() -> RunWriter:
    """The fast journal for an existing SQLite store; ``RunStore`` for anything else."""
    from wattwise.config import home, load_config

    url = os.environ.get("WATTWISE_DB") or load_config().database_url
    path = Path(url.removeprefix("sqlite:///")) if url else home() / "wattwise.db"
    if (url is None or url.startswith("sqlite:///")) and path.is_file():
        try:
            return SqliteRunJournal(path)
        except LookupError:
            pass  # a store file without our tables: let RunStore create them
    from wattwise.store.runs import RunStore

    return RunStore(url)
