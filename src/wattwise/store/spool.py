"""Runs kept on disk while the store cannot take them, imported by the next store open.

``wattwise measure`` must never lose a finished measurement nor change the command's
exit code because another process holds the database's write lock (or the disk
hiccups). :class:`SpoolingWriter` retries, then writes the run to a private file under
``$WATTWISE_HOME/spool`` (folder 0700, file 0600: runs name commands and hosts); the next
``RunStore``/``JobStore``/journal open of the same store writes it and removes the file.

Plain module (no SQLAlchemy). Units: J, s.
"""

from __future__ import annotations

import contextlib
import json
import os
import sys
import time
from collections.abc import Callable, Sequence
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any

from wattwise.errors import StoreError
from wattwise.meter.types import Measurement
from wattwise.store import run_rows
from wattwise.store.run_rows import DetailRows, Executor, Params

#: Extra tries after the first failed write (each waits the lock timeout).
RETRIES = 1


def spool_dir() -> Path:
    from wattwise.config import home

    return home() / "spool"


def store_key(url_or_path: str) -> str:
    """The same string for the same store, whichever way it was named."""
    if url_or_path.startswith("sqlite:///"):
        url_or_path = url_or_path.removeprefix("sqlite:///")
    elif "://" in url_or_path:
        return url_or_path
    return str(Path(url_or_path).expanduser().resolve())


@dataclass(frozen=True)
class SpooledRun:
    """A run the store could not take: its row (new, or an update of ``run_id``)."""

    store: str
    run_id: int | None  # the row inserted at start, if that worked
    start: Params  # the ``running`` row's values (used when there is no row)
    final: Params
    details: DetailRows
    spooled_s: float = field(default_factory=time.time)

    def to_json(self) -> str:
        return json.dumps(asdict(self))

    @staticmethod
    def from_json(raw: str) -> SpooledRun:
        d = json.loads(raw)
        return SpooledRun(
            store=d["store"],
            run_id=d["run_id"],
            start=d["start"],
            final=d["final"],
            details=DetailRows(**d["details"]),
            spooled_s=d["spooled_s"],
        )


def spool(entry: SpooledRun) -> Path:
    """Write ``entry`` to a new private file; returns its path."""
    folder = spool_dir()
    folder.mkdir(mode=0o700, parents=True, exist_ok=True)
    path = folder / f"run-{time.time_ns()}-{os.getpid()}.json"
    fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
    with os.fdopen(fd, "w") as f:
        f.write(entry.to_json())
        f.flush()
        os.fsync(f.fileno())
    return path


def write_spooled(ex: Executor, entry: SpooledRun) -> None:
    """Store a spooled run: finish its row if there is one, else insert it whole."""
    if entry.run_id is not None and run_rows.apply_finish(
        ex, entry.run_id, entry.final, entry.details
    ):
        return
    run_id = run_rows.insert_run(ex, {**entry.start, **entry.final})
    run_rows.write_details(ex, entry.details.with_run_id(run_id))


def import_spooled(store: str, write: Callable[[SpooledRun], None]) -> int:
    """Hand every spooled run of ``store`` to ``write`` (one transaction each), oldest first.

    A file is claimed by renaming it, so two processes opening the store at once never
    import it twice; one the store still refuses goes back for the next open. Returns
    how many were imported.
    """
    folder = spool_dir()
    if not folder.is_dir():
        return 0
    key, done = store_key(store), 0
    for path in sorted(folder.glob("run-*.json")):
        try:
            entry = SpooledRun.from_json(path.read_text())
        except (OSError, ValueError, KeyError, TypeError):
            continue  # unreadable or another version's: leave it for a human
        if entry.store != key:
            continue
        claimed = path.with_suffix(f".claimed-{os.getpid()}")
        try:
            path.rename(claimed)
        except OSError:
            continue  # another process took it
        try:
            write(entry)
        except StoreError:
            claimed.rename(path)
            break  # still locked or failing: try again at the next open
        claimed.unlink()
        done += 1
    return done


class SpoolingWriter:
    """The measure command's writer: a store failure never loses the run.

    ``start_run`` that fails gives a placeholder id (0; stored ids start at 1);
    checkpoints that fail are skipped (the final row supersedes them); ``finish_run``
    retries :data:`RETRIES` times, then spools the whole run and says where.
    """

    def __init__(self, inner: Any, store: str) -> None:
        self.inner = inner
        self.store = store_key(store)
        self._starts: dict[int, Params] = {}
        self.spooled: Path | None = None

    def start_run(self, name: str, command: Sequence[str] | None = None) -> int:
        params = run_rows.start_params(name, command)
        try:
            run_id = int(self.inner.start_run(name, command))
        except StoreError as err:
            _warn(f"{err}; measuring anyway, the run is stored when it ends")
            run_id = 0
        self._starts[run_id] = params
        return run_id

    def checkpoint(self, run_id: int, energy_j: float, duration_s: float) -> None:
        if run_id <= 0:
            return
        with contextlib.suppress(StoreError):  # a progress mark; the final write supersedes it
            self.inner.checkpoint(run_id, energy_j, duration_s)

    def finish_run(
        self, run_id: int, measurement: Measurement, *, status: str, exit_code: int | None
    ) -> None:
        last: StoreError | None = None
        if run_id > 0:
            for attempt in range(1 + RETRIES):
                try:
                    self.inner.finish_run(run_id, measurement, status=status, exit_code=exit_code)
                    return
                except StoreError as err:
                    last = err
                    if attempt < RETRIES:
                        time.sleep(0.2)
        start = self._starts.get(run_id) or run_rows.start_params(measurement.name)
        start = {**start, "started_s": measurement.start_s}
        entry = SpooledRun(
            store=self.store,
            run_id=run_id if run_id > 0 else None,
            start=start,
            final=run_rows.final_params(measurement, status, exit_code),
            details=run_rows.detail_rows(None, measurement),
        )
        try:
            self.spooled = spool(entry)
        except OSError as err:
            if last is not None:
                raise last from None
            raise StoreError(
                f"cannot spool the run to {spool_dir()}: {err.strerror}",
                hint="check permissions of WATTWISE_HOME",
            ) from None
        why = f"{last}; " if last is not None else ""
        _warn(f"{why}run saved to {self.spooled}; the next wattwise command stores it")


def _warn(message: str) -> None:
    print(f"wattwise: warning: {message}", file=sys.stderr)
