"""Every process of one job task, found by a token in its environment.

A task runs in its own process group, but a descendant that calls ``setsid()`` (a
daemon, ``setsid cmd &``) leaves the group, and ``killpg`` no longer reaches it. Each
task is therefore started with ``WATTWISE_JOB_TOKEN=<token>`` in its environment;
descendants inherit it wherever they go, and a sweep of ``/proc/<pid>/environ`` finds
them. Only processes of this user are readable there, which are the only ones it may
signal anyway. A process that empties its own environment before ``exec`` escapes
the sweep; Linux only (elsewhere the process group is all there is).
"""

from __future__ import annotations

import contextlib
import os
import signal
import uuid
from pathlib import Path

#: The environment variable that tags a task's processes.
TOKEN_VAR = "WATTWISE_JOB_TOKEN"

_PROC = Path("/proc")


def new_token() -> str:
    """A token no other task has (128 random bits, hex)."""
    return uuid.uuid4().hex


def find(token: str) -> list[int]:
    """Pids of live processes whose environment carries ``token`` (zombies have none)."""
    needle = f"{TOKEN_VAR}={token}".encode()
    me = os.getpid()
    found: list[int] = []
    try:
        entries = os.listdir(_PROC)
    except OSError:
        return found
    for entry in entries:
        if not entry.isdigit() or int(entry) == me:
            continue
        try:
            environ = (_PROC / entry / "environ").read_bytes()
        except OSError:  # gone meanwhile, or another user's
            continue
        if needle in environ.split(b"\0"):
            found.append(int(entry))
    return found


def signal_all(token: str, sig: signal.Signals) -> list[int]:
    """Send ``sig`` to every live process carrying ``token``; returns the pids signalled."""
    pids = find(token)
    for pid in pids:
        with contextlib.suppress(ProcessLookupError, PermissionError):
            os.kill(pid, sig)
    return pids
