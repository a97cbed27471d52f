"""CPU time and resident memory of one process and all its descendants.

The estimate scales CPU power by the CPU time of the *measured* tree, not by
machine-wide load, which other tenants pollute. CPU time of children that already
exited and were reaped is included through their parent's ``cutime``/``cstime``, so a
short-lived subprocess is not lost between samples.

On Linux the tree is walked through ``/proc/<pid>/task/<tid>/children`` and each
process's ``/proc/<pid>/stat`` is read directly: a few file reads per sample instead of
a scan of every process on the machine (bench/meter.py measures the difference).
Elsewhere psutil does the walk (imported only there: it costs ``wattwise measure``
about 25 ms of start-up).
"""

from __future__ import annotations

import os
from dataclasses import dataclass
from pathlib import Path

_PROC = Path("/proc")
_TICKS_PER_S = os.sysconf("SC_CLK_TCK") if hasattr(os, "sysconf") else 100
_PAGE_BYTES = os.sysconf("SC_PAGE_SIZE") if hasattr(os, "sysconf") else 4096


@dataclass(frozen=True)
class TreeUsage:
    """Cumulative CPU time (Units: s) and current resident memory (Units: bytes)."""

    cpu_s: float
    rss_bytes: int


@dataclass(frozen=True)
class _ProcTimes:
    own_s: float  # utime + stime
    reaped_s: float  # cutime + cstime: children already waited for
    rss_bytes: int


def _read_stat(pid: int) -> _ProcTimes | None:
    try:
        raw = (_PROC / str(pid) / "stat").read_bytes()
    except OSError:
        return None
    # The command name is in parentheses and may contain spaces; fields follow it.
    fields = raw[raw.rfind(b")") + 2 :].split()
    if len(fields) < 22 or fields[0] == b"Z":
        return None
    utime, stime, cutime, cstime = (int(x) for x in fields[11:15])
    return _ProcTimes(
        (utime + stime) / _TICKS_PER_S,
        (cutime + cstime) / _TICKS_PER_S,
        int(fields[21]) * _PAGE_BYTES,
    )


def _stat_fields(pid: int) -> list[bytes] | None:
    try:
        raw = (_PROC / str(pid) / "stat").read_bytes()
    except OSError:
        return None
    return raw[raw.rfind(b")") + 2 :].split()


def process_start_ticks(pid: int) -> int:
    """When ``pid`` started, in clock ticks since boot (0 if unknown).

    With the pid it names one process for good: a recycled pid starts later.
    """
    fields = _stat_fields(pid)
    if fields is not None and len(fields) > 19:
        return int(fields[19])
    import psutil

    try:
        return int(psutil.Process(pid).create_time() * _TICKS_PER_S)
    except (psutil.NoSuchProcess, psutil.AccessDenied):
        return 0


def pid_alive(pid: int) -> bool:
    """Is ``pid`` a live process? A zombie (exited, not yet reaped) holds its pid: dead.

    A process of another user counts as alive (``kill(pid, 0)`` is refused, not missing).
    """
    if pid <= 0:
        return False
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:
        return True
    return not is_zombie(pid)


def is_zombie(pid: int) -> bool:
    """Has ``pid`` exited without being reaped yet?"""
    fields = _stat_fields(pid)
    if fields is not None:
        return bool(fields) and fields[0] == b"Z"
    import psutil

    try:
        return psutil.Process(pid).status() == psutil.STATUS_ZOMBIE
    except (psutil.NoSuchProcess, psutil.AccessDenied):
        return False


def _children(pid: int) -> list[int] | None:
    """Direct children of ``pid`` from procfs, or ``None`` when procfs cannot tell."""
    try:
        tasks = os.listdir(_PROC / str(pid) / "task")
    except OSError:
        return []
    out: list[int] = []
    for tid in tasks:
        try:
            text = (_PROC / str(pid) / "task" / tid / "children").read_text()
        except FileNotFoundError:
            return None  # kernel without CONFIG_PROC_CHILDREN
        except OSError:
            continue
        out.extend(int(x) for x in text.split())
    return out


class ProcessTree:
    """Samples a process tree rooted at ``pid``. Monotonic in CPU time.

    With ``include_root=False`` only the root's descendants count (live ones, plus
    those it already reaped): ``wattwise measure`` meters its child command this way
    from before the fork, so even a command that exits at once is fully counted.
    """

    def __init__(self, pid: int, *, include_root: bool = True) -> None:
        self.pid = pid
        self.include_root = include_root
        self._last_cpu_s = 0.0
        self._use_procfs = _children(pid) is not None and _read_stat(pid) is not None
        if not self._use_procfs:
            import psutil

            self._root = psutil.Process(pid)

    def _descendants(self) -> list[int]:
        if self._use_procfs:
            found: list[int] = []
            stack = [self.pid]
            while stack:
                kids = _children(stack.pop()) or []
                found.extend(kids)
                stack.extend(kids)
            return found
        import psutil

        try:
            return [p.pid for p in self._root.children(recursive=True)]
        except psutil.NoSuchProcess:
            return []

    def _times(self, pid: int) -> _ProcTimes | None:
        if self._use_procfs:
            return _read_stat(pid)
        import psutil

        try:
            proc = psutil.Process(pid)
            with proc.oneshot():
                t = proc.cpu_times()
                rss = proc.memory_info().rss
        except (psutil.NoSuchProcess, psutil.ZombieProcess, psutil.AccessDenied):
            return None
        return _ProcTimes(t.user + t.system, t.children_user + t.children_system, rss)

    def usage(self) -> TreeUsage:
        cpu_s = 0.0
        rss = 0
        for pid in [self.pid, *self._descendants()]:
            times = self._times(pid)
            if times is None:
                continue
            # A live child's own time is counted here; once reaped it moves into its
            # parent's reaped figure, so no process is counted twice.
            cpu_s += times.reaped_s
            if pid != self.pid or self.include_root:
                cpu_s += times.own_s
                rss += times.rss_bytes
        self._last_cpu_s = max(self._last_cpu_s, cpu_s)
        return TreeUsage(self._last_cpu_s, rss)

    def record_exact_cpu_s(self, cpu_s: float) -> None:
        """Raise the running total to an exact figure known after exit (``wait4`` rusage).

        Units: s. Sampling misses the CPU time a tree spends after its last sample;
        the kernel's accounting of the reaped child does not.
        """
        self._last_cpu_s = max(self._last_cpu_s, cpu_s)
