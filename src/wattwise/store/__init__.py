"""What has been measured and run: SQLite (WAL) through SQLAlchemy, any SQLAlchemy URL."""

from __future__ import annotations

from wattwise.store.runs import DeviceRecord, RunRecord, RunStore, WindowRecord

__all__ = ["DeviceRecord", "RunRecord", "RunStore", "WindowRecord"]
