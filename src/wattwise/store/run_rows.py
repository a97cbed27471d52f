"""The one writer of run rows: a run, its devices, windows and power samples.

``RunStore`` (SQLAlchemy), ``JobStore`` (a finished job is a run of kind ``job``) and
the measure command's journal (the standard library's sqlite3, because importing
SQLAlchemy would cost a third of ``wattwise measure``'s budget) all write through the
functions here. They own the SQL text and the column values (JSON encoded here, once);
the callers only hand in an :class:`Executor` over their own connection. Named
parameters (``:name``) work both in sqlite3 and in SQLAlchemy's ``text()``.

Plain module (no SQLAlchemy). Units: J, W, gCO₂e, s (times UTC epoch seconds).
"""

from __future__ import annotations

import json
import os
import socket
import time
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from typing import Any, Protocol

from wattwise.meter.types import Measurement
from wattwise.store.status import RunStatus

Params = dict[str, Any]

_RUN_COLUMNS = (
    "name", "kind", "command", "status", "exit_code", "host", "pid", "started_s", "ended_s",
    "duration_s", "energy_j", "avg_power_w", "peak_power_w", "co2e_g", "intensity_source",
    "estimated", "cpus", "meta",
)  # fmt: skip
_DEVICE_COLUMNS = ("run_id", "name", "kind", "source", "estimated", "in_total", "energy_j")
_WINDOW_COLUMNS = ("run_id", "name", "start_s", "end_s", "energy_j", "estimated")
_SAMPLE_COLUMNS = ("run_id", "t_s", "power_w")
_FINAL_COLUMNS = (
    "status", "exit_code", "ended_s", "duration_s", "energy_j", "avg_power_w",
    "peak_power_w", "co2e_g", "intensity_source", "estimated",
)  # fmt: skip


def _insert(table: str, columns: Sequence[str]) -> str:
    return (
        f"INSERT INTO {table} ({', '.join(columns)}) VALUES ({', '.join(':' + c for c in columns)})"
    )


INSERT_RUN = _insert("runs", _RUN_COLUMNS)
INSERT_DEVICE = _insert("run_devices", _DEVICE_COLUMNS)
INSERT_WINDOW = _insert("run_windows", _WINDOW_COLUMNS)
INSERT_SAMPLE = _insert("run_samples", _SAMPLE_COLUMNS)
FINISH_RUN = f"UPDATE runs SET {', '.join(f'{c} = :{c}' for c in _FINAL_COLUMNS)} WHERE id = :id"
CHECKPOINT_RUN = (
    "UPDATE runs SET energy_j = :energy_j, duration_s = :duration_s"
    f" WHERE id = :id AND status = '{RunStatus.RUNNING.value}'"
)
RUN_META = "SELECT meta FROM runs WHERE id = :id"
SET_META = "UPDATE runs SET meta = :meta WHERE id = :id"


class Executor(Protocol):
    """A connection in an open transaction, as the writers here need it."""

    def insert(self, sql: str, params: Mapping[str, Any]) -> int:
        """Run an INSERT; return the new row's id."""
        ...

    def execute(self, sql: str, params: Mapping[str, Any]) -> int:
        """Run a statement; return how many rows it changed."""
        ...

    def executemany(self, sql: str, rows: Sequence[Mapping[str, Any]]) -> None: ...

    def scalar(self, sql: str, params: Mapping[str, Any]) -> Any:
        """First column of the first row, or ``None``."""
        ...


class Sqlite3Executor:
    """:class:`Executor` over a standard-library sqlite3 cursor."""

    def __init__(self, cursor: Any) -> None:
        self.cursor = cursor

    def insert(self, sql: str, params: Mapping[str, Any]) -> int:
        self.cursor.execute(sql, params)
        return int(self.cursor.lastrowid)

    def execute(self, sql: str, params: Mapping[str, Any]) -> int:
        self.cursor.execute(sql, params)
        return int(self.cursor.rowcount)

    def executemany(self, sql: str, rows: Sequence[Mapping[str, Any]]) -> None:
        if rows:
            self.cursor.executemany(sql, rows)

    def scalar(self, sql: str, params: Mapping[str, Any]) -> Any:
        row = self.cursor.execute(sql, params).fetchone()
        return None if row is None else row[0]


@dataclass(frozen=True)
class FinishedRun:
    """A run written in one step (a job's energy, a code region, a spooled run)."""

    name: str
    measurement: Measurement
    kind: str = "region"
    command: Sequence[str] | None = None
    status: str = RunStatus.COMPLETED
    exit_code: int | None = None
    host: str | None = None  # default: this host
    pid: int | None = None  # default: this process
    cpus: float | None = None
    meta: Mapping[str, Any] | None = None
    windows: Sequence[Measurement] = ()


def _json(value: Any) -> str | None:
    return None if value is None else json.dumps(value)


def start_params(
    name: str,
    command: Sequence[str] | None = None,
    *,
    kind: str = "command",
    started_s: float | None = None,
    cpus: float | None = None,
    meta: Mapping[str, Any] | None = None,
    host: str | None = None,
    pid: int | None = None,
) -> Params:
    """Column values of a ``running`` row inserted before the work starts."""
    return {
        "name": name,
        "kind": kind,
        "command": _json(list(command) if command is not None else None),
        "status": RunStatus.RUNNING.value,
        "exit_code": None,
        "host": socket.gethostname() if host is None else host,
        "pid": os.getpid() if pid is None else pid,
        "started_s": time.time() if started_s is None else started_s,
        "ended_s": None,
        "duration_s": None,
        "energy_j": None,
        "avg_power_w": None,
        "peak_power_w": None,
        "co2e_g": None,
        "intensity_source": None,
        "estimated": True,
        "cpus": cpus,
        "meta": _json(dict(meta or {})),
    }


def final_params(m: Measurement, status: str, exit_code: int | None) -> Params:
    """Column values a finished measurement sets on its run."""
    return {
        "status": RunStatus(status).value,
        "exit_code": exit_code,
        "ended_s": m.end_s,
        "duration_s": m.duration_s,
        "energy_j": m.energy_j,
        "avg_power_w": m.avg_power_w,
        "peak_power_w": m.peak_power_w,
        "co2e_g": m.co2e_g,
        "intensity_source": m.intensity_source,
        "estimated": m.estimated,
    }


@dataclass(frozen=True)
class DetailRows:
    """The child rows of one run: per-device energy, windows, power samples."""

    devices: list[Params]
    windows: list[Params]
    samples: list[Params]

    def with_run_id(self, run_id: int) -> DetailRows:
        def put(rows: list[Params]) -> list[Params]:
            return [{**r, "run_id": run_id} for r in rows]

        return DetailRows(put(self.devices), put(self.windows), put(self.samples))


def detail_rows(
    run_id: int | None, m: Measurement, windows: Sequence[Measurement] = ()
) -> DetailRows:
    return DetailRows(
        devices=[
            {
                "run_id": run_id,
                "name": d.name,
                "kind": d.kind,
                "source": d.source,
                "estimated": d.estimated,
                "in_total": d.in_total,
                "energy_j": d.energy_j,
            }
            for d in m.devices
        ],
        windows=[
            {
                "run_id": run_id,
                "name": w.name,
                "start_s": w.start_s,
                "end_s": w.end_s,
                "energy_j": w.energy_j,
                "estimated": w.estimated,
            }
            for w in windows
        ],
        samples=[{"run_id": run_id, "t_s": s.t_s, "power_w": s.power_w} for s in m.timeline],
    )


def write_details(ex: Executor, rows: DetailRows) -> None:
    ex.executemany(INSERT_DEVICE, rows.devices)
    ex.executemany(INSERT_WINDOW, rows.windows)
    ex.executemany(INSERT_SAMPLE, rows.samples)


# -- the writes ---------------------------------------------------------------------


def insert_run(ex: Executor, params: Mapping[str, Any]) -> int:
    """Insert a run row (:func:`start_params`); returns its id."""
    return ex.insert(INSERT_RUN, params)


def checkpoint(ex: Executor, run_id: int, energy_j: float, duration_s: float) -> None:
    """Save the energy so far of a still running run. Units: J, s."""
    ex.execute(CHECKPOINT_RUN, {"id": run_id, "energy_j": energy_j, "duration_s": duration_s})


def apply_finish(
    ex: Executor,
    run_id: int,
    final: Mapping[str, Any],
    details: DetailRows,
    meta: Mapping[str, Any] | None = None,
) -> bool:
    """Set a run's final columns and write its child rows. False if no such run."""
    if ex.execute(FINISH_RUN, {**final, "id": run_id}) == 0:
        return False
    if meta:
        raw = ex.scalar(RUN_META, {"id": run_id})
        old = json.loads(raw) if isinstance(raw, str) else dict(raw or {})
        ex.execute(SET_META, {"id": run_id, "meta": _json({**old, **meta})})
    write_details(ex, details.with_run_id(run_id))
    return True


def finish_run(
    ex: Executor,
    run_id: int,
    m: Measurement,
    *,
    status: str = RunStatus.COMPLETED,
    exit_code: int | None = None,
    windows: Sequence[Measurement] = (),
    meta: Mapping[str, Any] | None = None,
) -> bool:
    """Store the final measurement of run ``run_id``. False if no such run."""
    return apply_finish(
        ex, run_id, final_params(m, status, exit_code), detail_rows(run_id, m, windows), meta
    )


def insert_finished_runs(ex: Executor, runs: Sequence[FinishedRun]) -> list[int]:
    """Write finished runs in one go (child rows batched over all); returns their ids."""
    ids: list[int] = []
    details: list[DetailRows] = []
    for r in runs:
        m = r.measurement
        params = start_params(
            r.name,
            r.command,
            kind=r.kind,
            started_s=m.start_s,
            cpus=r.cpus,
            meta=r.meta,
            host=r.host,
            pid=r.pid,
        )
        run_id = insert_run(ex, {**params, **final_params(m, r.status, r.exit_code)})
        ids.append(run_id)
        details.append(detail_rows(run_id, m, r.windows))
    write_details(
        ex,
        DetailRows(
            [d for x in details for d in x.devices],
            [w for x in details for w in x.windows],
            [s for x in details for s in x.samples],
        ),
    )
    return ids
