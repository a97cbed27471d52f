"""The measure command's sqlite3 journal writes exactly what RunStore reads."""

from __future__ import annotations

import time
from pathlib import Path

import pytest

from wattwise.meter.types import DeviceEnergy, Measurement, PowerSample
from wattwise.store import RunStore
from wattwise.store.journal import SqliteRunJournal, open_run_writer
from wattwise.store.spool import SpoolingWriter


def _measurement() -> Measurement:
    now = time.time()
    return Measurement(
        name="train",
        start_s=now - 3.0,
        end_s=now,
        devices=(
            DeviceEnergy("rapl:package-0", "cpu", "rapl", False, 30.0),
            DeviceEnergy("rapl:core-0", "core", "rapl", False, 20.0, in_total=False),
        ),
        timeline=(PowerSample(now - 1.5, 10.0, 15.0), PowerSample(now, 10.0, 15.0)),
        co2e_g=0.5,
        intensity_source="fixed 60 gCO2e/kWh",
    )


def test_journal_round_trip_matches_run_store(wattwise_home: Path) -> None:
    RunStore()  # the schema exists from an earlier (slow-path) run
    writer = open_run_writer()
    assert isinstance(writer, SpoolingWriter) and isinstance(writer.inner, SqliteRunJournal)
    run_id = writer.start_run("train", ["python", "train.py"])
    writer.checkpoint(run_id, 12.0, 1.0)
    assert RunStore().get_run(run_id).energy_j == 12.0
    m = _measurement()
    writer.finish_run(run_id, m, status="failed", exit_code=3)

    journal_run = RunStore().get_run(run_id)
    orm_id = RunStore().start_run("train", ["python", "train.py"])
    RunStore().finish_run(orm_id, m, status="failed", exit_code=3)
    orm_run = RunStore().get_run(orm_id)
    ignore = {"id", "pid", "started_s"}
    assert {k: v for k, v in journal_run.to_dict().items() if k not in ignore} == {
        k: v for k, v in orm_run.to_dict().items() if k not in ignore
    }
    assert RunStore().samples(run_id) == RunStore().samples(orm_id)


def test_first_run_creates_the_schema_through_run_store(wattwise_home: Path) -> None:
    assert isinstance(open_run_writer().inner, RunStore)  # no database yet
    (wattwise_home / "other.db").touch()
    with pytest.raises(LookupError):
        SqliteRunJournal(wattwise_home / "other.db")  # a file without our tables
