"""The database: SQLite in WAL mode under ``WATTWISE_HOME`` by default, any SQLAlchemy URL.

WAL lets readers proceed while one writer commits; ``busy_timeout`` makes concurrent
writers (several ``wattwise measure`` at once) wait for the lock instead of failing.

A SQLite file wattwise creates is private (0600, its new folders 0700, through
:mod:`wattwise.config`): it holds job ``env`` values. SQLite gives the ``-wal`` and
``-shm`` files it makes beside it the database file's own mode.
"""

from __future__ import annotations

import contextlib
import os
import time
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any

from sqlalchemy import create_engine, event
from sqlalchemy.engine import Engine, make_url
from sqlalchemy.exc import ArgumentError, DBAPIError, SQLAlchemyError
from sqlalchemy.orm import Session

from wattwise.config import FILE_MODE, private_dir
from wattwise.errors import StoreError
from wattwise.store.errors import classify, lock_timeout_s
from wattwise.store.tables import Base, add_missing_columns


def default_url(home: Path) -> str:
    return f"sqlite:///{home / 'wattwise.db'}"


def sqlite_path(url: str) -> Path | None:
    """The file a SQLite URL names (None: another database, or SQLite in memory)."""
    try:
        parsed = make_url(url)
    except ArgumentError:
        return None  # create_engine reports the bad URL
    database = parsed.database
    if parsed.get_backend_name() != "sqlite" or not database or database == ":memory:":
        return None
    if database.startswith("file:") or parsed.query.get("mode") == "memory":
        return None  # a SQLite URI: its options decide where and how
    return Path(database)


def _sqlite_pragmas(dbapi_conn: Any, _record: Any) -> None:
    cur = dbapi_conn.cursor()
    # How long a writer waits for another's lock before giving up.
    cur.execute(f"PRAGMA busy_timeout={int(lock_timeout_s() * 1000)}")
    cur.execute("PRAGMA journal_mode=WAL")
    cur.execute("PRAGMA synchronous=NORMAL")
    cur.execute("PRAGMA foreign_keys=ON")
    cur.close()


def _create_private(path: Path) -> None:
    """Create the database file 0600 if it does not exist; never open an existing one.

    Opening and closing a database file outside SQLite drops every POSIX lock this
    process holds on it (``fcntl`` locks belong to the process, not the descriptor),
    under connections already open: this process then read an old snapshot while other
    processes' writes went on (a restarted ``serve`` seemed to run nothing).
    """
    if path.exists():
        return
    with contextlib.suppress(FileExistsError):  # another process created it meanwhile
        os.close(os.open(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL, FILE_MODE))


def make_engine(url: str) -> Engine:
    """Create an engine, the tables, and (for SQLite) the folder and WAL mode."""
    path = sqlite_path(url)
    if path is not None:
        try:
            private_dir(path.parent)
        except OSError as err:
            raise StoreError(
                f"cannot create store folder {path.parent}: {err.strerror}",
                hint="set WATTWISE_HOME to a writable folder",
            ) from None
        try:
            _create_private(path)
        except OSError as err:
            raise StoreError(
                f"cannot create the store {path}: {err.strerror}",
                hint="set WATTWISE_HOME to a writable folder",
            ) from None
    engine = create_engine(url, future=True)
    if engine.dialect.name == "sqlite":
        event.listen(engine, "connect", _sqlite_pragmas)
    _create_tables(engine, url)
    return engine


def _create_tables(engine: Engine, url: str) -> None:
    # Two processes opening a brand-new database at once can both try CREATE TABLE
    # (the existence check and the create are not atomic); the loser sees "already
    # exists" and tries again, now finding the tables. A database an older wattwise
    # made gets the nullable columns added since (tables.add_missing_columns).
    for attempt in range(3):
        try:
            Base.metadata.create_all(engine)
            with engine.begin() as connection:
                add_missing_columns(connection)
            return
        except SQLAlchemyError as err:
            if ("already exists" in str(err) or "duplicate column" in str(err)) and attempt < 2:
                time.sleep(0.05 * (attempt + 1))
                continue
            raise classify(_first_line(err), url) from None


@contextmanager
def transaction(engine: Engine, url: str, what: str = "store") -> Iterator[Session]:
    """One transaction; database failures become a one-line :class:`StoreError`."""
    try:
        with Session(engine, expire_on_commit=False) as session, session.begin():
            yield session
    except DBAPIError as err:  # the driver's own error: locked, corrupt, read-only, full
        raise classify(_first_line(err), url, what) from None
    except SQLAlchemyError as err:
        raise StoreError(f"{what} error: {err.__class__.__name__}: {err}") from None


def _first_line(err: SQLAlchemyError) -> str:
    return str(getattr(err, "orig", None) or err).splitlines()[0]
