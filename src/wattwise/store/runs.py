"""Recording and reading measured runs.

A run is inserted as ``running`` before the work starts (with host and pid), so a
measuring process killed with ``kill -9`` leaves a row behind; the next reader marks
it ``interrupted`` once that pid is gone, keeping the last checkpointed energy.
"""

from __future__ import annotations

import os
import socket
from collections.abc import Iterator, Mapping, Sequence
from contextlib import AbstractContextManager, contextmanager
from dataclasses import dataclass, field
from typing import Any

import psutil
from sqlalchemy import func, select, text
from sqlalchemy.orm import Session, selectinload

from wattwise.errors import StoreError
from wattwise.meter.types import Measurement
from wattwise.store import run_rows, spool
from wattwise.store.db import make_engine, transaction
from wattwise.store.errors import RunNotFoundError
from wattwise.store.tables import RunRow, SampleRow


@dataclass(frozen=True)
class WindowRecord:
    name: str
    start_s: float
    end_s: float
    energy_j: float
    estimated: bool


@dataclass(frozen=True)
class DeviceRecord:
    name: str
    kind: str
    source: str
    estimated: bool
    in_total: bool
    energy_j: float


@dataclass(frozen=True)
class RunRecord:
    """One stored run. Units: J, W, gCO₂e, s (times UTC epoch seconds)."""

    id: int
    name: str
    kind: str
    command: list[str] | None
    status: str
    exit_code: int | None
    host: str
    pid: int
    started_s: float
    ended_s: float | None
    duration_s: float | None
    energy_j: float | None
    avg_power_w: float | None
    peak_power_w: float | None
    co2e_g: float | None
    intensity_source: str | None
    estimated: bool
    cpus: float | None
    meta: dict[str, Any]
    devices: tuple[DeviceRecord, ...] = ()
    windows: tuple[WindowRecord, ...] = ()

    def to_dict(self) -> dict[str, Any]:
        from dataclasses import asdict

        return asdict(self)


def _record(row: RunRow, detail: bool) -> RunRecord:
    devices: tuple[DeviceRecord, ...] = ()
    windows: tuple[WindowRecord, ...] = ()
    if detail:
        devices = tuple(
            DeviceRecord(d.name, d.kind, d.source, d.estimated, d.in_total, d.energy_j)
            for d in row.devices
        )
        windows = tuple(
            WindowRecord(w.name, w.start_s, w.end_s, w.energy_j, w.estimated) for w in row.windows
        )
    return RunRecord(
        id=row.id,
        name=row.name,
        kind=row.kind,
        command=row.command,
        status=row.status,
        exit_code=row.exit_code,
        host=row.host,
        pid=row.pid,
        started_s=row.started_s,
        ended_s=row.ended_s,
        duration_s=row.duration_s,
        energy_j=row.energy_j,
        avg_power_w=row.avg_power_w,
        peak_power_w=row.peak_power_w,
        co2e_g=row.co2e_g,
        intensity_source=row.intensity_source,
        estimated=row.estimated,
        cpus=row.cpus,
        meta=dict(row.meta or {}),
        devices=devices,
        windows=windows,
    )


@dataclass
class RunStore:
    """Runs, windows and samples in one database (default: SQLite under WATTWISE_HOME)."""

    url: str | None = None
    _engine: Any = field(init=False, repr=False)

    def __post_init__(self) -> None:
        if self.url is None:
            from wattwise.config import home, load_config
            from wattwise.store.db import default_url

            self.url = os.environ.get("WATTWISE_DB") or load_config().database_url
            self.url = self.url or default_url(home())
        self._engine = make_engine(self.url)
        self.import_spool()

    @property
    def engine(self) -> Any:
        return self._engine

    def _session(self) -> AbstractContextManager[Session]:
        return transaction(self._engine, str(self.url), "store")

    # -- writing (through the one run-row writer, wattwise.store.run_rows) -----------

    def _writer(self) -> AbstractContextManager[SessionExecutor]:
        return _executor(self._session())

    def start_run(
        self,
        name: str,
        command: Sequence[str] | None = None,
        *,
        kind: str = "command",
        started_s: float | None = None,
        cpus: float | None = None,
        meta: dict[str, Any] | None = None,
    ) -> int:
        """Insert a ``running`` row before the work starts; returns its id."""
        params = run_rows.start_params(
            name, command, kind=kind, started_s=started_s, cpus=cpus, meta=meta
        )
        with self._writer() as ex:
            return run_rows.insert_run(ex, params)

    def checkpoint(self, run_id: int, energy_j: float, duration_s: float) -> None:
        """Save the energy so far, so a killed run keeps what was measured. Units: J, s."""
        with self._writer() as ex:
            run_rows.checkpoint(ex, run_id, energy_j, duration_s)

    def finish_run(
        self,
        run_id: int,
        measurement: Measurement,
        *,
        status: str = "completed",
        exit_code: int | None = None,
        windows: Sequence[Measurement] = (),
        meta: dict[str, Any] | None = None,
    ) -> None:
        """Store the final measurement, its devices, windows and power timeline."""
        with self._writer() as ex:
            found = run_rows.finish_run(
                ex,
                run_id,
                measurement,
                status=status,
                exit_code=exit_code,
                windows=windows,
                meta=meta,
            )
        if not found:
            raise StoreError(f"run {run_id} does not exist")

    def record(
        self,
        measurement: Measurement,
        *,
        kind: str = "region",
        command: Sequence[str] | None = None,
        windows: Sequence[Measurement] = (),
        meta: dict[str, Any] | None = None,
    ) -> int:
        """Store an already finished measurement (a Python code region) in one step."""
        run = run_rows.FinishedRun(
            measurement.name, measurement, kind, command, windows=windows, meta=meta
        )
        with self._writer() as ex:
            return run_rows.insert_finished_runs(ex, [run])[0]

    def import_spool(self) -> int:
        """Store the runs ``wattwise measure`` spooled while the store was locked."""
        url = str(self.url)

        def write(entry: spool.SpooledRun) -> None:
            with self._writer() as ex:
                spool.write_spooled(ex, entry)

        return spool.import_spooled(url, write)

    # -- reading ---------------------------------------------------------------

    def mark_interrupted(self) -> int:
        """Mark ``running`` runs of this host whose measuring process is gone. Returns how many."""
        host = socket.gethostname()
        with self._session() as session:
            rows = session.scalars(
                select(RunRow).where(RunRow.status == "running", RunRow.host == host)
            ).all()
            dead = [r for r in rows if not _alive_since(r.pid, r.started_s)]
            for r in dead:
                r.status = "interrupted"
            return len(dead)

    def list_runs(
        self, *, limit: int = 50, offset: int = 0, status: str | None = None
    ) -> list[RunRecord]:
        """Newest first."""
        self.mark_interrupted()
        query = select(RunRow).order_by(RunRow.started_s.desc(), RunRow.id.desc())
        if status is not None:
            query = query.where(RunRow.status == status)
        with self._session() as session:
            rows = session.scalars(query.limit(limit).offset(offset)).all()
            return [_record(r, detail=False) for r in rows]

    def count_runs(self, status: str | None = None) -> int:
        query = select(func.count(RunRow.id))
        if status is not None:
            query = query.where(RunRow.status == status)
        with self._session() as session:
            return int(session.scalar(query) or 0)

    def get_run(self, run_id: int) -> RunRecord:
        self.mark_interrupted()
        with self._session() as session:
            row = session.scalar(
                select(RunRow)
                .where(RunRow.id == run_id)
                .options(selectinload(RunRow.devices), selectinload(RunRow.windows))
            )
            if row is None:
                raise RunNotFoundError(f"no run {run_id}", hint="`wattwise runs` lists stored runs")
            return _record(row, detail=True)

    def samples(self, run_id: int) -> list[tuple[float, float]]:
        """Power timeline of a run: (t_s, power_w) pairs."""
        with self._session() as session:
            rows = session.execute(
                select(SampleRow.t_s, SampleRow.power_w)
                .where(SampleRow.run_id == run_id)
                .order_by(SampleRow.t_s)
            ).all()
            return [(float(t), float(p)) for t, p in rows]


class SessionExecutor:
    """:class:`~wattwise.store.run_rows.Executor` over a SQLAlchemy session."""

    def __init__(self, session: Session) -> None:
        self.conn = session.connection()

    def insert(self, sql: str, params: Mapping[str, Any]) -> int:
        dialect = self.conn.dialect
        if dialect.name == "sqlite" or not dialect.insert_returning:
            return int(self.conn.execute(text(sql), dict(params)).lastrowid)
        return int(self.conn.execute(text(sql + " RETURNING id"), dict(params)).scalar_one())

    def execute(self, sql: str, params: Mapping[str, Any]) -> int:
        return int(self.conn.execute(text(sql), dict(params)).rowcount)

    def executemany(self, sql: str, rows: Sequence[Mapping[str, Any]]) -> None:
        if rows:
            self.conn.execute(text(sql), [dict(r) for r in rows])

    def scalar(self, sql: str, params: Mapping[str, Any]) -> Any:
        return self.conn.execute(text(sql), dict(params)).scalar()


@contextmanager
def _executor(session: AbstractContextManager[Session]) -> Iterator[SessionExecutor]:
    with session as s:
        yield SessionExecutor(s)


def _alive_since(pid: int, started_s: float) -> bool:
    """Is ``pid`` running and older than the run (not a recycled pid)?"""
    try:
        proc = psutil.Process(pid)
        return proc.create_time() <= started_s + 1.0 and proc.status() != psutil.STATUS_ZOMBIE
    except (psutil.NoSuchProcess, psutil.AccessDenied):
        return False
