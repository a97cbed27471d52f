"""CPU time and resident memory of one process and all its descendants.

The estimate scales CPU power by the CPU time of the *measured* tree, not by
machine-wide load, which other tenants pollute. CPU time of children that already
exited and were reaped is included through their parent's ``children_*`` times, so
a short-lived subprocess is not lost between samples.
"""

from __future__ import annotations

from dataclasses import dataclass

import psutil


@dataclass(frozen=True)
class TreeUsage:
    """Cumulative CPU time (Units: s) and current resident memory (Units: bytes)."""

    cpu_s: float
    rss_bytes: int


class ProcessTree:
    """Samples a process tree rooted at ``pid``. Monotonic in CPU time.

    With ``include_root=False`` only the root's descendants count (live ones, plus
    those it already reaped): ``wattwise measure`` meters its child command this way
    from before the fork, so even a command that exits at once is fully counted.
    """

    def __init__(self, pid: int, *, include_root: bool = True) -> None:
        self.pid = pid
        self.include_root = include_root
        self._root = psutil.Process(pid)
        self._procs: dict[int, psutil.Process] = {pid: self._root}
        self._last_cpu_s = 0.0

    def usage(self) -> TreeUsage:
        cpu_s = 0.0
        rss = 0
        try:
            children = self._root.children(recursive=True)
        except psutil.NoSuchProcess:
            children = []
        seen = {self.pid}
        for child in children:
            seen.add(child.pid)
            self._procs.setdefault(child.pid, child)
        for pid, proc in list(self._procs.items()):
            if pid not in seen:
                del self._procs[pid]
                continue
            try:
                with proc.oneshot():
                    t = proc.cpu_times()
                    if pid != self.pid or self.include_root:
                        rss += proc.memory_info().rss
            except (psutil.NoSuchProcess, psutil.ZombieProcess, psutil.AccessDenied):
                continue
            own = t.user + t.system if (pid != self.pid or self.include_root) else 0.0
            reaped = t.children_user + t.children_system
            # A live child's own time is counted here; once reaped it moves into
            # its parent's children_* figures, so no process is counted twice.
            cpu_s += own + reaped
        self._last_cpu_s = max(self._last_cpu_s, cpu_s)
        return TreeUsage(self._last_cpu_s, rss)

    def record_exact_cpu_s(self, cpu_s: float) -> None:
        """Raise the running total to an exact figure known after exit (``wait4`` rusage).

        Units: s. Sampling misses the CPU time a tree spends after its last sample;
        the kernel's accounting of the reaped child does not.
        """
        self._last_cpu_s = max(self._last_cpu_s, cpu_s)
