"""What went wrong with the database, said so the user knows what to fix.

One classifier for both writers (SQLAlchemy and the journal's sqlite3): a corrupt
file, another process's write lock and a permission problem need different fixes,
so each gets its own message and its own :class:`~wattwise.errors.StoreError` subclass.
Plain module (no SQLAlchemy), so the measure command's journal imports it cheaply.
"""

from __future__ import annotations

import os

from wattwise.errors import ConfigError, StoreError


class StoreLockedError(StoreError):
    """Another process held the write lock for longer than this one would wait."""


class RunNotFoundError(StoreError):
    """No run has this id (the API answers 404 for it, 503 for a store that failed)."""


class StoreCorruptError(StoreError):
    """The database file is not a wattwise (SQLite) database, or it is damaged."""


_CORRUPT = ("file is not a database", "malformed", "file is encrypted")
_LOCKED = ("database is locked", "database table is locked", "database schema is locked")
_FULL = ("database or disk is full", "no space left")
_DENIED = ("readonly database", "unable to open database", "permission denied", "disk i/o error")


def classify(message: str, where: str, what: str = "store") -> StoreError:
    """The :class:`StoreError` for a driver's error ``message`` at ``where`` (a path or URL).

    ``what`` names the part that failed ("store", "job store").
    """
    first = message.splitlines()[0] if message else "unknown error"
    low = first.lower()
    path = where.removeprefix("sqlite:///")
    if any(s in low for s in _CORRUPT):
        return StoreCorruptError(
            f"{path} is not a wattwise database or is corrupt",
            hint="move it aside; the next command creates a new store",
        )
    if any(s in low for s in _LOCKED):
        return StoreLockedError(
            f"{what} {path}: another process holds the write lock",
            hint="let it finish (a long `wattwise serve` transaction, an open sqlite3 shell)"
            " and retry",
        )
    if any(s in low for s in _FULL):
        return StoreError(f"{what} {path}: the disk is full", hint="free disk space and retry")
    if any(s in low for s in _DENIED):
        return StoreError(
            f"{what} {path} is not writable: {first}",
            hint="check permissions of the file and its folder (WATTWISE_HOME)",
        )
    return StoreError(f"{what} {path}: {first}")


#: How long a writer waits for another's write lock by default. Units: s.
DEFAULT_LOCK_TIMEOUT_S = 30.0


def lock_timeout_s() -> float:
    """Seconds a writer waits for another's lock: ``WATTWISE_LOCK_TIMEOUT_S`` or 30."""
    raw = os.environ.get("WATTWISE_LOCK_TIMEOUT_S")
    if not raw:
        return DEFAULT_LOCK_TIMEOUT_S
    try:
        value = float(raw)
    except ValueError:
        value = -1.0
    if not 0 <= value < 1e6:
        raise ConfigError(
            f"WATTWISE_LOCK_TIMEOUT_S must be a number of seconds >= 0, got {raw!r}",
            hint="unset it for the default of 30 s",
        )
    return value
