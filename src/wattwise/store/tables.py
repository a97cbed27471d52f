"""Every table of the wattwise database, on one declarative ``Base``.

Runs (one row per run, per device, per window, per power sample) and the job queue
(jobs, their task attempts, the nodes that ran them). This module imports only
SQLAlchemy, the status enums and the exception tree, so ``store/db.py`` imports it to
create the tables without a cycle through the modules that read and write them.

Units are in column names: ``_j`` joules, ``_w`` watts, ``_g`` grams CO₂e, ``_s`` seconds
(times are UTC epoch seconds).
"""

from __future__ import annotations

from typing import Any

from sqlalchemy import (
    JSON,
    Boolean,
    Connection,
    Float,
    ForeignKey,
    Index,
    Integer,
    String,
    Text,
    inspect,
    text,
)
from sqlalchemy.orm import DeclarativeBase, Mapped, mapped_column, relationship

from wattwise.errors import StoreError
from wattwise.store.status import JobStatus, RunStatus, TaskStatus


class Base(DeclarativeBase):
    """Declarative base of every wattwise table."""


# -- measured runs ----------------------------------------------------------------


class RunRow(Base):
    __tablename__ = "runs"

    id: Mapped[int] = mapped_column(Integer, primary_key=True, autoincrement=True)
    name: Mapped[str] = mapped_column(String(200))
    kind: Mapped[str] = mapped_column(String(20), default="command")  # command | region | job
    command: Mapped[list[str] | None] = mapped_column(JSON, nullable=True)
    status: Mapped[str] = mapped_column(String(20), default=RunStatus.RUNNING)
    exit_code: Mapped[int | None] = mapped_column(Integer, nullable=True)
    host: Mapped[str] = mapped_column(String(200))
    pid: Mapped[int] = mapped_column(Integer)
    started_s: Mapped[float] = mapped_column(Float)
    ended_s: Mapped[float | None] = mapped_column(Float, nullable=True)
    duration_s: Mapped[float | None] = mapped_column(Float, nullable=True)
    energy_j: Mapped[float | None] = mapped_column(Float, nullable=True)
    avg_power_w: Mapped[float | None] = mapped_column(Float, nullable=True)
    peak_power_w: Mapped[float | None] = mapped_column(Float, nullable=True)
    co2e_g: Mapped[float | None] = mapped_column(Float, nullable=True)
    intensity_source: Mapped[str | None] = mapped_column(Text, nullable=True)
    estimated: Mapped[bool] = mapped_column(Boolean, default=True)
    cpus: Mapped[float | None] = mapped_column(Float, nullable=True)
    meta: Mapped[dict[str, Any]] = mapped_column(JSON, default=dict)

    devices: Mapped[list[DeviceRow]] = relationship(
        back_populates="run", cascade="all, delete-orphan", order_by="DeviceRow.id"
    )
    windows: Mapped[list[WindowRow]] = relationship(
        back_populates="run", cascade="all, delete-orphan", order_by="WindowRow.id"
    )

    # Lists are newest first, optionally filtered by status: both orders are indexed.
    __table_args__ = (
        Index("ix_runs_status_started", "status", "started_s"),
        Index("ix_runs_started", "started_s"),
    )


class DeviceRow(Base):
    __tablename__ = "run_devices"

    id: Mapped[int] = mapped_column(Integer, primary_key=True, autoincrement=True)
    run_id: Mapped[int] = mapped_column(ForeignKey("runs.id", ondelete="CASCADE"), index=True)
    name: Mapped[str] = mapped_column(String(100))
    kind: Mapped[str] = mapped_column(String(20))
    source: Mapped[str] = mapped_column(String(20))
    estimated: Mapped[bool] = mapped_column(Boolean)
    in_total: Mapped[bool] = mapped_column(Boolean, default=True)
    energy_j: Mapped[float] = mapped_column(Float)

    run: Mapped[RunRow] = relationship(back_populates="devices")


class WindowRow(Base):
    __tablename__ = "run_windows"

    id: Mapped[int] = mapped_column(Integer, primary_key=True, autoincrement=True)
    run_id: Mapped[int] = mapped_column(ForeignKey("runs.id", ondelete="CASCADE"), index=True)
    name: Mapped[str] = mapped_column(String(200))
    start_s: Mapped[float] = mapped_column(Float)
    end_s: Mapped[float] = mapped_column(Float)
    energy_j: Mapped[float] = mapped_column(Float)
    estimated: Mapped[bool] = mapped_column(Boolean)

    run: Mapped[RunRow] = relationship(back_populates="windows")


class SampleRow(Base):
    __tablename__ = "run_samples"

    id: Mapped[int] = mapped_column(Integer, primary_key=True, autoincrement=True)
    run_id: Mapped[int] = mapped_column(ForeignKey("runs.id", ondelete="CASCADE"), index=True)
    t_s: Mapped[float] = mapped_column(Float)
    power_w: Mapped[float] = mapped_column(Float)


# -- the job queue ----------------------------------------------------------------


class JobRow(Base):
    __tablename__ = "jobs"

    id: Mapped[int] = mapped_column(Integer, primary_key=True, autoincrement=True)
    name: Mapped[str] = mapped_column(String(200))
    spec: Mapped[dict[str, Any]] = mapped_column(JSON)
    status: Mapped[str] = mapped_column(String(20), default=JobStatus.QUEUED)
    submitted_s: Mapped[float] = mapped_column(Float)
    deadline_s: Mapped[float | None] = mapped_column(Float, nullable=True)
    latest_start_s: Mapped[float] = mapped_column(Float)
    planned_start_s: Mapped[float | None] = mapped_column(Float, nullable=True)
    planned_nodes: Mapped[list[str]] = mapped_column(JSON, default=list)
    started_s: Mapped[float | None] = mapped_column(Float, nullable=True)
    ended_s: Mapped[float | None] = mapped_column(Float, nullable=True)
    cancel_requested: Mapped[bool] = mapped_column(Boolean, default=False)
    attempts: Mapped[int] = mapped_column(Integer, default=0)
    tasks_total: Mapped[int] = mapped_column(Integer, default=1)
    tasks_done: Mapped[int] = mapped_column(Integer, default=0)
    energy_j: Mapped[float | None] = mapped_column(Float, nullable=True)
    co2e_g: Mapped[float | None] = mapped_column(Float, nullable=True)
    estimated: Mapped[bool | None] = mapped_column(Boolean, nullable=True)
    run_id: Mapped[int | None] = mapped_column(Integer, nullable=True)
    exit_code: Mapped[int | None] = mapped_column(Integer, nullable=True)
    error: Mapped[str | None] = mapped_column(Text, nullable=True)
    excluded_nodes: Mapped[list[str]] = mapped_column(JSON, default=list)
    # Added by the predictor in the loop (wattwise.predict.runtime): what the head
    # planned the job with, and how it went (PredictedRuntime / ActualRuntime dicts).
    predicted: Mapped[dict[str, Any] | None] = mapped_column(JSON(none_as_null=True), nullable=True)
    actual: Mapped[dict[str, Any] | None] = mapped_column(JSON(none_as_null=True), nullable=True)

    __table_args__ = (
        Index("ix_jobs_status", "status"),
        Index("ix_jobs_cancel", "cancel_requested"),
    )


class TaskRow(Base):
    """One attempt of one task (a job's only task, or one of its shards) on one node."""

    __tablename__ = "job_tasks"

    id: Mapped[int] = mapped_column(Integer, primary_key=True, autoincrement=True)
    job_id: Mapped[int] = mapped_column(ForeignKey("jobs.id", ondelete="CASCADE"), index=True)
    shard: Mapped[int] = mapped_column(Integer, default=0)
    attempt: Mapped[int] = mapped_column(Integer, default=1)
    node_id: Mapped[str] = mapped_column(String(80))
    node_name: Mapped[str] = mapped_column(String(200), default="")
    head_id: Mapped[str] = mapped_column(String(64))
    status: Mapped[str] = mapped_column(String(20), default=TaskStatus.RUNNING)
    dispatched_s: Mapped[float] = mapped_column(Float)
    started_s: Mapped[float | None] = mapped_column(Float, nullable=True)
    ended_s: Mapped[float | None] = mapped_column(Float, nullable=True)
    exit_code: Mapped[int | None] = mapped_column(Integer, nullable=True)
    energy_j: Mapped[float | None] = mapped_column(Float, nullable=True)
    co2e_g: Mapped[float | None] = mapped_column(Float, nullable=True)
    error: Mapped[str | None] = mapped_column(Text, nullable=True)
    detail: Mapped[dict[str, Any]] = mapped_column(JSON, default=dict)

    __table_args__ = (Index("ix_job_tasks_status", "status"),)


class NodeRow(Base):
    """A Ray node the head has seen, with its wattwise labels."""

    __tablename__ = "engine_nodes"

    node_id: Mapped[str] = mapped_column(String(80), primary_key=True)
    name: Mapped[str] = mapped_column(String(200))
    node_type: Mapped[str | None] = mapped_column(String(100), nullable=True)
    zone: Mapped[str | None] = mapped_column(String(100), nullable=True)
    cpus: Mapped[float] = mapped_column(Float)
    gpus: Mapped[float] = mapped_column(Float)
    alive: Mapped[bool] = mapped_column(Boolean)
    last_seen_s: Mapped[float] = mapped_column(Float)


# -- schema changes ---------------------------------------------------------------


def add_missing_columns(connection: Connection) -> list[str]:
    """Bring a database an older wattwise created up to these tables.

    ``create_all`` creates missing tables but never changes one that exists, so each
    column added to a table since must be nullable (old rows have no value); this
    adds those the database lacks (``ALTER TABLE ... ADD COLUMN``). Returns the
    ``table.column`` names added; a missing column that is not nullable is a
    :class:`StoreError` naming it.
    """
    schema = inspect(connection)
    preparer = connection.dialect.identifier_preparer
    added: list[str] = []
    for table in Base.metadata.sorted_tables:
        if not schema.has_table(table.name):
            continue
        have = {c["name"] for c in schema.get_columns(table.name)}
        for column in table.columns:
            if column.name in have:
                continue
            if not column.nullable or column.primary_key:
                raise StoreError(
                    f"the database lacks column {table.name}.{column.name}, which an "
                    "older wattwise cannot have left empty",
                    hint="point WATTWISE_HOME (or the store URL) at a new database",
                )
            kind = column.type.compile(dialect=connection.dialect)
            connection.execute(
                text(
                    f"ALTER TABLE {preparer.format_table(table)} "
                    f"ADD COLUMN {preparer.format_column(column)} {kind}"
                )
            )
            added.append(f"{table.name}.{column.name}")
    return added
