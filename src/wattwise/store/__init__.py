"""What has been measured and run: SQLite (WAL) through SQLAlchemy, any SQLAlchemy URL.

Names load on first use, so ``wattwise.store.journal`` (the measure command's fast
writer) does not pay for importing SQLAlchemy.
"""

from __future__ import annotations

from importlib import import_module
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from wattwise.store.runs import DeviceRecord, RunRecord, RunStore, WindowRecord

__all__ = ["DeviceRecord", "RunRecord", "RunStore", "WindowRecord"]


def __getattr__(name: str) -> Any:
    if name not in __all__:
        raise AttributeError(f"module 'wattwise.store' has no attribute {name!r}")
    return getattr(import_module("wattwise.store.runs"), name)
