"""Processes found by a token in their environment: a job task's, the embedded Ray's.

A task runs in its own process group, but a descendant that calls ``setsid()`` (a
daemon, ``setsid cmd &``) leaves the group, and ``killpg`` no longer reaches it. Each
task is therefore started with ``WATTWISE_JOB_TOKEN=<token>`` in its environment;
descendants inherit it wherever they go, and a sweep of ``/proc/<pid>/environ`` finds
them. Only processes of this user are readable there, which are the only ones it may
signal anyway. A process that empties its own environment before ``exec`` escapes
the sweep; Linux only (elsewhere the process group is all there is).

The embedded Ray instance of ``wattwise serve`` is tagged the same way
(``WATTWISE_RAY_TOKEN``): :func:`spawn_watchdog` starts a small process that, once the
head's pid is gone (``kill -9`` included), kills every process carrying the token and
every process it saw descend from the head. Ray kills its GCS and raylet with their
parent itself, but the agents the raylet starts lived on for minutes.

This module imports the standard library only: the watchdog runs it from its file,
without loading the rest of wattwise.
"""

from __future__ import annotations

import contextlib
import os
import signal
import subprocess
import sys
import time
import uuid
from collections.abc import Collection
from pathlib import Path

#: The environment variable that tags a task's processes.
TOKEN_VAR = "WATTWISE_JOB_TOKEN"
#: The one that tags the processes of the embedded Ray instance (and what runs in it).
RAY_TOKEN_VAR = "WATTWISE_RAY_TOKEN"

_PROC = Path("/proc")


def new_token() -> str:
    """A token no other task has (128 random bits, hex)."""
    return uuid.uuid4().hex


def find(token: str, var: str = TOKEN_VAR) -> list[int]:
    """Pids of live processes whose environment has ``var=token`` (zombies have none)."""
    return find_all([token], var)[token]


def find_all(tokens: Collection[str], var: str = TOKEN_VAR) -> dict[str, list[int]]:
    """:func:`find` for many tokens in one sweep of ``/proc`` (a batch's tasks)."""
    found: dict[str, list[int]] = {t: [] for t in tokens}
    prefix = f"{var}=".encode()
    me = os.getpid()
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
        if prefix not in environ:
            continue
        for item in environ.split(b"\0"):
            if item.startswith(prefix):
                pids = found.get(item[len(prefix) :].decode(errors="replace"))
                if pids is not None:
                    pids.append(int(entry))
                break
    return found


def signal_all(token: str, sig: signal.Signals, var: str = TOKEN_VAR) -> list[int]:
    """Send ``sig`` to every live process carrying ``token``; returns the pids signalled."""
    pids = find(token, var)
    for pid in pids:
        with contextlib.suppress(ProcessLookupError, PermissionError):
            os.kill(pid, sig)
    return pids


def kill_all(tokens: Collection[str], var: str = TOKEN_VAR, rounds: int = 50) -> int:
    """SIGKILL every process carrying one of ``tokens`` until a sweep finds none (or
    ``rounds`` sweeps, 20 ms apart, went by). Returns how many were killed."""
    killed: set[int] = set()
    for _ in range(rounds):
        pids = [pid for found in find_all(tokens, var).values() for pid in found]
        if not pids:
            break
        for pid in pids:
            with contextlib.suppress(ProcessLookupError, PermissionError):
                os.kill(pid, signal.SIGKILL)
        killed.update(pids)
        time.sleep(0.02)
    return len(killed)


def start_ticks(pid: int) -> int | None:
    """When ``pid`` started (clock ticks since boot); None once it is gone or a zombie."""
    try:
        raw = (_PROC / str(pid) / "stat").read_bytes()
    except OSError:
        return None
    fields = raw[raw.rfind(b")") + 2 :].split()
    if len(fields) < 20 or fields[0] == b"Z":
        return None
    return int(fields[19])


def _children(pid: int) -> list[int]:
    """Direct children of ``pid`` (``/proc/<pid>/task/*/children``, else a ppid scan)."""
    try:
        tids = os.listdir(_PROC / str(pid) / "task")
    except OSError:
        return []
    out: list[int] = []
    for tid in tids:
        try:
            out += [
                int(x) for x in (_PROC / str(pid) / "task" / tid / "children").read_text().split()
            ]
        except FileNotFoundError:  # a kernel without CONFIG_PROC_CHILDREN
            return _children_by_scan(pid)
        except OSError:
            continue
    return out


def _children_by_scan(pid: int) -> list[int]:
    out = []
    for entry in os.listdir(_PROC):
        if not entry.isdigit():
            continue
        try:
            raw = (_PROC / entry / "stat").read_bytes()
        except OSError:
            continue
        fields = raw[raw.rfind(b")") + 2 :].split()
        if len(fields) > 1 and int(fields[1]) == pid:
            out.append(int(entry))
    return out


def descendants(pid: int) -> dict[int, int]:
    """Every live descendant of ``pid``, with its start ticks (which name it for good)."""
    found: dict[int, int] = {}
    todo = [pid]
    while todo:
        for child in _children(todo.pop()):
            ticks = start_ticks(child)
            if child not in found and ticks is not None:
                found[child] = ticks
                todo.append(child)
    return found


def kill_when_gone(
    pid: int, token: str, var: str, poll_s: float = 0.5, snapshot_s: float = 2.0
) -> int:
    """Wait until process ``pid`` has exited, then SIGKILL what descended from it and
    every process carrying ``var=token``, until none is left. Returns how many.

    Both, because each misses some: a descendant reparented before the last snapshot
    (taken every ``snapshot_s``) is only found by its token, and a process that
    rewrote its environment (Ray's agents set their title over it with
    ``setproctitle``) only by descent. Units: s.
    """
    started = start_ticks(pid)
    me = os.getpid()
    known: dict[int, int] = {}
    next_snapshot = 0.0
    while started is not None and start_ticks(pid) == started:
        if time.monotonic() >= next_snapshot:
            known = {p: t for p, t in known.items() if start_ticks(p) == t}
            known.update(descendants(pid))
            known.pop(me, None)
            next_snapshot = time.monotonic() + snapshot_s
        time.sleep(poll_s)
    killed: set[int] = set()
    for child, ticks in known.items():
        if start_ticks(child) == ticks:
            with contextlib.suppress(ProcessLookupError, PermissionError):
                os.kill(child, signal.SIGKILL)
                killed.add(child)
    for _ in range(50):  # a dying process may still fork: sweep until a sweep finds none
        pids = signal_all(token, signal.SIGKILL, var)
        if not pids:
            break
        killed.update(pids)
        time.sleep(0.1)
    return len(killed)


def spawn_watchdog(pid: int, token: str, var: str = RAY_TOKEN_VAR) -> subprocess.Popen[bytes]:
    """Start the process that kills everything carrying ``var=token`` once ``pid`` exits.

    It runs in its own session, so what stops the head (a terminal's Ctrl-C, ``kill
    -9``) leaves it to clean up; it does not carry the token itself.
    """
    env = {k: v for k, v in os.environ.items() if k != var}
    code = (
        "import importlib.util as u, sys; "
        "s = u.spec_from_file_location('wattwise_job_procs', sys.argv[1]); "
        "m = u.module_from_spec(s); s.loader.exec_module(m); "
        "m.kill_when_gone(int(sys.argv[2]), sys.argv[3], sys.argv[4])"
    )
    return subprocess.Popen(
        [sys.executable, "-c", code, __file__, str(pid), token, var],
        env=env,
        stdin=subprocess.DEVNULL,
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
        start_new_session=True,
    )
