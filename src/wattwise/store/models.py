"""Tables for measured runs: one row per run, per device, per window, per power sample.

Units are in column names: ``_j`` joules, ``_w`` watts, ``_g`` grams CO₂e, ``_s`` seconds
(times are UTC epoch seconds).
"""

from __future__ import annotations

from typing import Any

from sqlalchemy import JSON, Boolean, Float, ForeignKey, Index, Integer, String, Text
from sqlalchemy.orm import Mapped, mapped_column, relationship

from wattwise.store.db import Base

RUN_STATUSES = ("running", "completed", "failed", "interrupted")


class RunRow(Base):
    __tablename__ = "runs"

    id: Mapped[int] = mapped_column(Integer, primary_key=True, autoincrement=True)
    name: Mapped[str] = mapped_column(String(200))
    kind: Mapped[str] = mapped_column(String(20), default="command")  # command | region | job
    command: Mapped[list[str] | None] = mapped_column(JSON, nullable=True)
    status: Mapped[str] = mapped_column(String(20), default="running")
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
