"""What runs on a node: launch a batch of job tasks as processes, have the node meter
charge each its share, and report how each ended.

Plain Python (no Ray here) so it is testable on its own; ``ray_backend`` wraps it in a
Ray task. Each task is its own process group, and its processes carry a token
(:mod:`wattwise.engine.job_procs`), so cancel reaches its children, even one that left
the group with ``setsid``; a long task dies with its worker if the node goes down
(``PR_SET_PDEATHSIG``). Exact CPU time comes from ``wait4``.

A task that cannot be set up (its checkpoint folder, log or ``cwd``) fails alone, with
a note naming the path; the rest of its batch runs. Should anything else go wrong in
here, every task already started is stopped before the error leaves: no task is
reported failed while its processes run on unmetered. Job logs and the checkpoint
folders this creates are private (0600/0700, :mod:`wattwise.config`): they can hold
job ``env`` values. Units: s (times UTC epoch seconds), J.
"""

from __future__ import annotations

import contextlib
import ctypes
import os
import signal
import subprocess
import sys
import threading
import time
from collections.abc import Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Protocol

from wattwise.config import open_private, private_dir
from wattwise.engine import job_procs
from wattwise.engine.node_meter import JobEnergy
from wattwise.engine.power import NodePower, PowerPlan

_PR_SET_PDEATHSIG = 1


@dataclass(frozen=True)
class TaskItem:
    """One task to run: argv, environment and where its output goes."""

    task_id: int
    job_id: int
    key: str
    argv: tuple[str, ...]
    env: dict[str, str] = field(default_factory=dict)
    cwd: str | None = None
    log_path: str | None = None
    checkpoint_dir: str | None = None
    grace_s: float = 10.0
    #: Kill the task if its worker dies (PR_SET_PDEATHSIG). Costs a full fork (about
    #: 5 ms) instead of vfork, so the head asks for it for long tasks only.
    die_with_worker: bool = True
    #: Carbon-aware GPU power for this task (``power: carbon`` jobs with GPUs).
    power: PowerPlan | None = None
    #: Which of its job's shards this task runs (0 for an unsharded job).
    shard: int = 0


@dataclass(frozen=True)
class TaskResult:
    """How one task ended on its node. ``exit_code`` < 0: killed by that signal."""

    task_id: int
    job_id: int
    key: str
    node_id: str
    started_s: float
    ended_s: float
    exit_code: int | None
    cpu_s: float
    energy: JobEnergy | None
    error: str | None = None
    log_path: str | None = None
    cancelled: bool = False
    #: Limits the power governor set, in order (W), and its one-line note, if any.
    power_limits_w: tuple[float, ...] = ()
    power_note: str | None = None
    shard: int = 0


class MeterLink(Protocol):
    """What the worker needs from its node's meter (local object or actor proxy)."""

    def register_many(self, jobs: Sequence[tuple[str, int]]) -> None: ...

    def finish_many(self, jobs: Sequence[tuple[str, float | None]]) -> list[JobEnergy]: ...


def _die_with_parent() -> None:
    # Runs in the child between fork and exec: if the Ray worker dies (node killed),
    # the kernel kills the job too instead of leaving it orphaned.
    try:
        libc = ctypes.CDLL("libc.so.6", use_errno=True)
        libc.prctl(_PR_SET_PDEATHSIG, signal.SIGKILL)
    except OSError:
        pass


@dataclass
class _Running:
    item: TaskItem
    proc: subprocess.Popen[bytes] | None
    started_s: float
    token: str = ""
    error: str | None = None
    exit_code: int | None = None
    cpu_s: float = 0.0
    ended_s: float = 0.0
    done: bool = False


def _setup(item: TaskItem) -> str | None:
    """Make the task's checkpoint folder and check its cwd; why it cannot run, or None."""
    if item.checkpoint_dir:
        path = Path(item.checkpoint_dir)
        try:
            private_dir(path)
        except (OSError, ValueError) as err:
            return f"cannot create checkpoint_dir {item.checkpoint_dir}: {_reason(err)}"
        if not path.is_dir():
            return f"checkpoint_dir {item.checkpoint_dir} is not a folder"
    if item.cwd and not Path(item.cwd).is_dir():
        return f"cwd {item.cwd} is not a folder on this node"
    return None


def _reason(err: BaseException) -> str:
    return (err.strerror if isinstance(err, OSError) else None) or str(err) or type(err).__name__


def _launch(item: TaskItem) -> _Running:
    started = time.time()
    # The head names each task's token, so it can have the node stop the task's
    # processes even if this worker dies; a random one otherwise.
    token = item.env.get(job_procs.TOKEN_VAR) or job_procs.new_token()
    problem = _setup(item)
    if problem is not None:
        return _Running(item, None, started, token, error=problem)
    env = {**os.environ, **item.env, job_procs.TOKEN_VAR: token}
    out: int = subprocess.DEVNULL
    log: int | None = None
    try:
        if item.log_path:
            try:
                log = out = open_private(Path(item.log_path))
            except (OSError, ValueError) as err:
                return _Running(
                    item,
                    None,
                    started,
                    token,
                    error=f"cannot write the job log {item.log_path}: {_reason(err)}",
                )
        proc = subprocess.Popen(
            list(item.argv),
            env=env,
            cwd=item.cwd,
            stdin=subprocess.DEVNULL,
            stdout=out,
            stderr=subprocess.STDOUT,
            start_new_session=True,
            preexec_fn=_die_with_parent
            if item.die_with_worker and sys.platform == "linux"
            else None,
        )
    except OSError as err:
        if item.cwd and err.filename == item.cwd:
            why = f"cannot enter cwd {item.cwd}: {_reason(err)}"
        else:
            why = f"cannot start {item.argv[0]!r}: {_reason(err)}"
        return _Running(item, None, started, token, error=why)
    except Exception as err:  # e.g. a NUL byte in an argument: this task alone fails
        why = f"cannot start {item.argv[0]!r}: {_reason(err)}"
        return _Running(item, None, started, token, error=why)
    finally:
        if log is not None:
            os.close(log)
    return _Running(item, proc, started, token)


def _reap(run: _Running, block: bool) -> bool:
    """Collect the exit status and exact CPU time once the process has exited."""
    if run.done:
        return True
    if run.proc is None:
        run.done, run.ended_s = True, time.time()
        return True
    pid, status, usage = os.wait4(run.proc.pid, 0 if block else os.WNOHANG)
    if pid == 0:
        return False
    run.exit_code = os.waitstatus_to_exitcode(status)
    run.proc.returncode = run.exit_code  # Popen must not wait for it again
    run.cpu_s = usage.ru_utime + usage.ru_stime
    run.ended_s = time.time()
    run.done = True
    return True


def _signal(runs: Sequence[_Running], sig: signal.Signals) -> int:
    """``sig`` to each task's process group and to every process carrying its token
    (one sweep of ``/proc`` for all); returns how many token carriers were signalled."""
    for r in runs:
        assert r.proc is not None
        if not r.done:
            with contextlib.suppress(ProcessLookupError, PermissionError):
                os.killpg(r.proc.pid, sig)
    carriers = [
        pid for pids in job_procs.find_all([r.token for r in runs]).values() for pid in pids
    ]
    for pid in carriers:
        with contextlib.suppress(ProcessLookupError, PermissionError):
            os.kill(pid, sig)
    return len(carriers)


def _stop(runs: Sequence[_Running], grace_s: float) -> None:
    """SIGTERM each task's processes (a job may checkpoint), SIGKILL what is left after
    the grace; returns once the tasks' own processes have been reaped and none carrying
    their tokens (e.g. a grandchild that called ``setsid``) is alive."""
    live = [r for r in runs if not r.done and r.proc is not None]
    if not live:
        return
    tokens = [r.token for r in live]
    _signal(live, signal.SIGTERM)
    deadline = time.monotonic() + grace_s
    while time.monotonic() < deadline and not all(_reap(r, False) for r in live):
        time.sleep(0.05)
    while time.monotonic() < deadline and any(job_procs.find_all(tokens).values()):
        time.sleep(0.05)
    for _ in range(50):  # until a sweep finds none (one may fork while it runs)
        signalled = _signal(live, signal.SIGKILL)
        for r in live:
            _reap(r, True)
        if not signalled:
            break
        time.sleep(0.02)


def _tail(path: str | None, limit: int = 300) -> str:
    if not path:
        return ""
    try:
        with open(path, "rb") as fh:
            fh.seek(0, os.SEEK_END)
            fh.seek(max(0, fh.tell() - limit))
            lines = fh.read().decode("utf-8", "replace").strip().splitlines()
    except OSError:
        return ""
    return lines[-1] if lines else ""


class _CancelRequested(Exception):
    """``cancel`` was set: stop as on Ray's ``KeyboardInterrupt``."""


def run_items(
    items: Sequence[TaskItem],
    meter: MeterLink | None,
    node_id: str,
    power: NodePower | None = None,
    cancel: threading.Event | None = None,
) -> list[TaskResult]:
    """Run ``items`` at once on this node; return one result per item when all ended.

    A ``KeyboardInterrupt`` (Ray's cancel), or ``cancel`` being set (a worker on a
    thread, ``engine.inprocess``), stops every task (SIGTERM, grace, SIGKILL) and
    returns them as cancelled, with the energy they used.
    """
    runs: list[_Running] = []
    registered: set[str] = set()
    cancelled = False
    energies: dict[str, JobEnergy] = {}
    power = power if power is not None else NodePower()
    pause = 0.001
    try:
        # Inside the try: a cancel that lands while tasks are still being launched
        # must stop the ones already started, not orphan them.
        for item in items:
            if cancel is not None and cancel.is_set():
                raise _CancelRequested
            runs.append(_launch(item))
            if item.power is not None and runs[-1].proc is not None:
                power.start(item.key, item.power, item.env, time.time())
        started = [(r.item.key, r.proc.pid) for r in runs if r.proc is not None]
        if meter is not None and started:
            meter.register_many(started)
            registered.update(key for key, _ in started)
        pending = [r for r in runs if r.proc is not None]
        while pending:
            if cancel is not None and cancel.is_set():
                raise _CancelRequested
            ended = [r for r in pending if _reap(r, False)]
            power.tick(time.time())
            if ended:
                for r in ended:
                    power.release(r.item.key)
                pending = [r for r in pending if not r.done]
                if meter is not None:
                    for e in meter.finish_many([(r.item.key, r.cpu_s) for r in ended]):
                        energies[e.key] = e
                pause = 0.001
            else:
                if cancel is not None:
                    cancel.wait(pause)
                else:
                    time.sleep(pause)
                pause = min(pause * 2, 0.05)
    except (KeyboardInterrupt, _CancelRequested):
        cancelled = True
        # Cancelled while launching: the tasks not started end cancelled too.
        runs += [_Running(i, None, time.time(), done=True) for i in items[len(runs) :]]
        live = [r for r in runs if not r.done]
        _stop(live, max((r.item.grace_s for r in live), default=0.0))
        unfinished = [r for r in runs if r.item.key in registered and r.item.key not in energies]
        if meter is not None and unfinished:
            for e in meter.finish_many([(r.item.key, r.cpu_s) for r in unfinished]):
                energies[e.key] = e
    except BaseException:
        # Not the tasks' fault (the meter link, a bug here): stop them before saying so,
        # so the head never records a failure while a job runs on unmetered.
        _stop([r for r in runs if not r.done], 0.0)
        raise
    finally:
        power.release_all()  # every card back to its limit, whatever happened
    results = []
    for r in runs:
        error = r.error
        if error is None and r.exit_code not in (0, None) and not cancelled:
            last = _tail(r.item.log_path)
            error = f"exited with status {r.exit_code}" + (f": {last}" if last else "")
        results.append(
            TaskResult(
                task_id=r.item.task_id,
                job_id=r.item.job_id,
                key=r.item.key,
                node_id=node_id,
                started_s=r.started_s,
                ended_s=r.ended_s or time.time(),
                exit_code=r.exit_code,
                cpu_s=r.cpu_s,
                energy=energies.get(r.item.key),
                error=error,
                log_path=r.item.log_path,
                cancelled=cancelled,
                power_limits_w=tuple(power.logs[r.item.key].limits_w)
                if r.item.key in power.logs
                else (),
                power_note=power.logs[r.item.key].note if r.item.key in power.logs else None,
                shard=r.item.shard,
            )
        )
    return results
