"""Recording and reading measured runs.

A run is inserted as ``running`` before the work starts (with host and pid), so a
measuring process killed with ``kill -9`` leaves a row behind; the next reader marks
it ``interrupted`` once that pid is gone, keeping the last checkpointed energy.
"""

from __future__ import annotations

import os
import socket
import time
from collections.abc import Sequence
from contextlib import AbstractContextManager
from dataclasses import dataclass, field
from typing import Any

import psutil
from sqlalchemy import func, select, update
from sqlalchemy.orm import Session, selectinload

from wattwise.errors import StoreError
from wattwise.meter.types import Measurement
from wattwise.store.db import make_engine, transaction
from wattwise.store.tables import DeviceRow, RunRow, SampleRow, WindowRow


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

    @property
    def engine(self) -> Any:
        return self._engine

    def _session(self) -> AbstractContextManager[Session]:
        return transaction(self._engine, str(self.url), "store")

    # -- writing ---------------------------------------------------------------

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
        row = RunRow(
            name=name,
            kind=kind,
            command=list(command) if command is not None else None,
            status="running",
            host=socket.gethostname(),
            pid=os.getpid(),
            started_s=started_s if started_s is not None else time.time(),
            cpus=cpus,
            meta=meta or {},
        )
        with self._session() as session:
            session.add(row)
            session.flush()
            return row.id

    def checkpoint(self, run_id: int, energy_j: float, duration_s: float) -> None:
        """Save the energy so far, so a killed run keeps what was measured. Units: J, s."""
        with self._session() as session:
            session.execute(
                update(RunRow)
                .where(RunRow.id == run_id, RunRow.status == "running")
                .values(energy_j=energy_j, duration_s=duration_s)
            )

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
        with self._session() as session:
            row = session.get(RunRow, run_id)
            if row is None:
                raise StoreError(f"run {run_id} does not exist")
            self._fill(row, measurement, status, exit_code, windows, meta)
            session.add_all(
                SampleRow(run_id=run_id, t_s=s.t_s, power_w=s.power_w) for s in measurement.timeline
            )

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
        run_id = self.start_run(
            measurement.name, command, kind=kind, started_s=measurement.start_s, meta=meta
        )
        self.finish_run(run_id, measurement, windows=windows)
        return run_id

    @staticmethod
    def _fill(
        row: RunRow,
        m: Measurement,
        status: str,
        exit_code: int | None,
        windows: Sequence[Measurement],
        meta: dict[str, Any] | None,
    ) -> None:
        row.status = status
        row.exit_code = exit_code
        row.ended_s = m.end_s
        row.duration_s = m.duration_s
        row.energy_j = m.energy_j
        row.avg_power_w = m.avg_power_w
        row.peak_power_w = m.peak_power_w
        row.co2e_g = m.co2e_g
        row.intensity_source = m.intensity_source
        row.estimated = m.estimated
        row.meta = {**(row.meta or {}), **(meta or {})}
        row.devices = [
            DeviceRow(
                name=d.name,
                kind=d.kind,
                source=d.source,
                estimated=d.estimated,
                in_total=d.in_total,
                energy_j=d.energy_j,
            )
            for d in m.devices
        ]
        row.windows = [
            WindowRow(
                name=w.name,
                start_s=w.start_s,
                end_s=w.end_s,
                energy_j=w.energy_j,
                estimated=w.estimated,
            )
            for w in windows
        ]

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
                raise StoreError(f"no run {run_id}", hint="`wattwise runs` lists stored runs")
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


def _alive_since(pid: int, started_s: float) -> bool:
    """Is ``pid`` running and older than the run (not a recycled pid)?"""
    try:
        proc = psutil.Process(pid)
        return proc.create_time() <= started_s + 1.0 and proc.status() != psutil.STATUS_ZOMBIE
    except (psutil.NoSuchProcess, psutil.AccessDenied):
        return False
