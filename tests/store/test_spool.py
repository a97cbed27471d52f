"""A write lock held past the timeout never loses a finished measurement."""

from __future__ import annotations

import sqlite3
import stat
from pathlib import Path

import pytest

from tests.store.test_journal import _measurement
from wattwise.store import RunStore
from wattwise.store.journal import open_run_writer


def test_locked_store_spools_the_run_and_the_next_open_imports_it(
    wattwise_home: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("WATTWISE_LOCK_TIMEOUT_S", "0.1")
    RunStore()
    writer = open_run_writer()
    run_id = writer.start_run("train", ["python", "train.py"])
    holder = sqlite3.connect(wattwise_home / "wattwise.db", isolation_level=None)
    holder.execute("BEGIN IMMEDIATE")  # another process holds the write lock
    try:
        writer.finish_run(run_id, _measurement(), status="completed", exit_code=0)
    finally:
        holder.execute("ROLLBACK")
        holder.close()
    (spooled,) = (wattwise_home / "spool").glob("run-*.json")
    assert stat.S_IMODE(spooled.stat().st_mode) == 0o600
    run = RunStore().get_run(run_id)  # any store open imports it
    assert run.status == "completed" and run.energy_j == pytest.approx(30.0)
    assert not list((wattwise_home / "spool").glob("run-*"))
