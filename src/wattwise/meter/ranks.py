"""Ranks of a multi-process job on one node, and the election of the node's one meter.

Under ``torchrun``/``accelerate`` (``LOCAL_RANK``, ``LOCAL_WORLD_SIZE``, ``RANK``, ...),
Slurm steps (``SLURM_LOCALID``, ``SLURM_STEP_TASKS_PER_NODE``, ...) and Open MPI
(``OMPI_COMM_WORLD_LOCAL_RANK``, ...) every rank runs the same code, so every rank
calls ``wattwise.measure()``. Hardware counters (RAPL, NVML) are per node, so a meter
per rank counts the node once per rank. Instead one rank per node is elected to meter
the whole node; the others only note their pid and CPU time.

Election: the first rank to create ``meter`` in the node's rendezvous folder with
``O_CREAT | O_EXCL`` wins; the kernel makes exactly one creation succeed, so there is
no race. The folder is named after the launch (Slurm job and step; torchrun's run id,
master address/port and the launching agent's pid and start time), the region's name
and how many regions of that name this process opened before, so every launch and
every region gets a fresh folder and a stale one is never reused.
"""

from __future__ import annotations

import contextlib
import json
import os
import re
import socket
import tempfile
import time
from collections.abc import Mapping
from dataclasses import asdict, dataclass
from enum import StrEnum
from pathlib import Path
from typing import Any

from wattwise.errors import ConfigError
from wattwise.meter.process_tree import pid_alive

#: How long the node's meter waits, at the end of its region, for the other local
#: ranks to finish theirs (a rank that dies stops the wait for itself at once). Units: s.
RANK_WAIT_S = 60.0
_POLL_S = 0.02


class Launcher(StrEnum):
    TORCHRUN = "torchrun"
    SLURM = "slurm"
    MPI = "mpi"


@dataclass(frozen=True)
class RankLayout:
    """Where this process sits in a multi-process job. Ranks count from 0."""

    launcher: Launcher
    rank: int
    world_size: int
    local_rank: int
    local_world_size: int
    node_rank: int
    job_key: str  # names this launch on this node (see module docstring)

    def to_meta(self) -> dict[str, Any]:
        return {
            "launcher": self.launcher.value,
            "world_size": self.world_size,
            "local_world_size": self.local_world_size,
            "node_rank": self.node_rank,
            "nodes": -(-self.world_size // self.local_world_size),
            "host": socket.gethostname(),
        }


def _int(env: Mapping[str, str], name: str) -> int | None:
    raw = env.get(name)
    if raw is None or raw == "":
        return None
    try:
        value = int(raw)
    except ValueError:
        raise ConfigError(
            f"environment variable {name}={raw!r} is not a whole number",
            hint="fix the launcher's environment, or unset it for a single-process run",
        ) from None
    if value < 0:
        raise ConfigError(f"environment variable {name}={value} is negative")
    return value


def _slurm_tasks_on_node(spec: str, node: int) -> int | None:
    """``SLURM_STEP_TASKS_PER_NODE`` (``"4(x2),3"``) → the count on node ``node``."""
    counts: list[int] = []
    for part in spec.split(","):
        match = re.fullmatch(r"(\d+)(?:\(x(\d+)\))?", part.strip())
        if match is None:
            return None
        counts += [int(match.group(1))] * int(match.group(2) or 1)
    return counts[node] if node < len(counts) else None


def _parent_key() -> str:
    """The launching process (torchrun's agent, mpirun's daemon): pid and start time."""
    from wattwise.meter.process_tree import process_start_ticks

    ppid = os.getppid()
    return f"p{ppid}.{process_start_ticks(ppid)}"


def rank_layout(env: Mapping[str, str] | None = None) -> RankLayout | None:
    """This process's layout, or ``None`` for a single-process run."""
    env = os.environ if env is None else env
    layout: RankLayout | None = None
    if env.get("LOCAL_RANK") is not None and env.get("LOCAL_WORLD_SIZE") is not None:
        local_rank = _int(env, "LOCAL_RANK") or 0
        local_size = _int(env, "LOCAL_WORLD_SIZE") or 1
        key = (
            f"torch-{env.get('TORCHELASTIC_RUN_ID', '')}-{env.get('MASTER_ADDR', '')}"
            f"-{env.get('MASTER_PORT', '')}-{_parent_key()}"
        )
        layout = RankLayout(
            Launcher.TORCHRUN,
            _int(env, "RANK") or local_rank,
            _int(env, "WORLD_SIZE") or local_size,
            local_rank,
            local_size,
            _int(env, "GROUP_RANK") or 0,
            key,
        )
    elif env.get("SLURM_STEP_ID") is not None and env.get("SLURM_LOCALID") is not None:
        # A batch script alone has no step: it is one process however many tasks the
        # allocation has (counting it once per task is the classic double count).
        node = _int(env, "SLURM_NODEID") or 0
        local = _slurm_tasks_on_node(env.get("SLURM_STEP_TASKS_PER_NODE", "1"), node)
        if local is None:
            raise ConfigError(
                f"SLURM_STEP_TASKS_PER_NODE={env.get('SLURM_STEP_TASKS_PER_NODE')!r}"
                " cannot be read",
                hint="expected a list like '4(x2),3'",
            )
        layout = RankLayout(
            Launcher.SLURM,
            _int(env, "SLURM_PROCID") or 0,
            _int(env, "SLURM_STEP_NUM_TASKS") or local,
            _int(env, "SLURM_LOCALID") or 0,
            local,
            node,
            f"slurm-{env.get('SLURM_JOB_ID', '')}.{env['SLURM_STEP_ID']}",
        )
    elif env.get("OMPI_COMM_WORLD_LOCAL_RANK") is not None:
        local_size = _int(env, "OMPI_COMM_WORLD_LOCAL_SIZE") or 1
        layout = RankLayout(
            Launcher.MPI,
            _int(env, "OMPI_COMM_WORLD_RANK") or 0,
            _int(env, "OMPI_COMM_WORLD_SIZE") or local_size,
            _int(env, "OMPI_COMM_WORLD_LOCAL_RANK") or 0,
            local_size,
            _int(env, "OMPI_COMM_WORLD_NODE_RANK") or 0,
            f"mpi-{env.get('OMPI_MCA_ess_base_jobid', '')}-{_parent_key()}",
        )
    if layout is None or (layout.world_size <= 1 and layout.local_world_size <= 1):
        return None
    if layout.local_rank >= layout.local_world_size or layout.rank >= layout.world_size:
        raise ConfigError(
            f"rank layout does not add up: local rank {layout.local_rank} of "
            f"{layout.local_world_size}, rank {layout.rank} of {layout.world_size}",
            hint="check the launcher's LOCAL_RANK/LOCAL_WORLD_SIZE/RANK/WORLD_SIZE",
        )
    return layout


class MemberStatus(StrEnum):
    RUNNING = "running"  # joined, not finished when the meter stopped waiting
    FINISHED = "finished"
    DIED = "died"  # its process is gone and it never finished its region
    ABSENT = "absent"  # never joined within the wait


@dataclass(frozen=True)
class RankMember:
    """One local rank's part of a node run. ``cpu_s`` is its process tree's CPU time
    inside the region (Units: s); ``gpu`` the CUDA device index it used, if known."""

    rank: int
    local_rank: int
    pid: int
    status: MemberStatus
    cpu_s: float | None = None
    gpu: str | None = None

    def to_meta(self) -> dict[str, Any]:
        return {**asdict(self), "status": self.status.value}


def _safe(text: str) -> str:
    return re.sub(r"[^A-Za-z0-9._-]+", "_", text)[:120]


def _write_json(path: Path, doc: dict[str, Any]) -> None:
    tmp = path.with_name(f".{path.name}.{os.getpid()}")
    tmp.write_text(json.dumps(doc))
    os.replace(tmp, path)  # atomic: a reader sees the whole file or none


def _read_json(path: Path) -> dict[str, Any] | None:
    try:
        data = json.loads(path.read_text())
    except (OSError, ValueError):
        return None
    return data if isinstance(data, dict) else None


class NodeRendezvous:
    """The node-local folder where one region's ranks meet (see module docstring)."""

    def __init__(self, layout: RankLayout, region: str, root: Path | None = None) -> None:
        self.layout = layout
        base = root or Path(tempfile.gettempdir()) / f"wattwise-ranks-{os.getuid()}"
        self.path = base / _safe(f"{socket.gethostname()}-{layout.job_key}") / _safe(region)

    def elect(self) -> bool:
        """True for exactly one rank of the node: the one that meters it."""
        self.path.mkdir(parents=True, exist_ok=True)
        try:
            fd = os.open(self.path / "meter", os.O_CREAT | os.O_EXCL | os.O_WRONLY, 0o600)
        except FileExistsError:
            return False
        with os.fdopen(fd, "w") as fh:
            fh.write(str(os.getpid()))
        return True

    @property
    def closed(self) -> bool:
        return (self.path / "closed").exists()

    def join(self, gpu: str | None = None) -> None:
        doc = {"rank": self.layout.rank, "local_rank": self.layout.local_rank}
        _write_json(self._file("joined"), {**doc, "pid": os.getpid(), "gpu": gpu})

    def leave(self, cpu_s: float, gpu: str | None = None) -> None:
        _write_json(self._file("done"), {"cpu_s": cpu_s, "gpu": gpu})

    def _file(self, what: str, local_rank: int | None = None) -> Path:
        local = self.layout.local_rank if local_rank is None else local_rank
        return self.path / f"rank-{local}.{what}.json"

    def gather(self, wait_s: float = RANK_WAIT_S) -> list[RankMember]:
        """Each local rank's part, waiting up to ``wait_s`` for those still running."""
        deadline = time.monotonic() + wait_s
        while True:
            members = [self._member(i) for i in range(self.layout.local_world_size)]
            waiting = [
                m for m in members if m.status in (MemberStatus.RUNNING, MemberStatus.ABSENT)
            ]
            if not waiting or time.monotonic() >= deadline:
                return members
            time.sleep(_POLL_S)

    def _member(self, local_rank: int) -> RankMember:
        joined = _read_json(self._file("joined", local_rank))
        if joined is None:
            return RankMember(-1, local_rank, -1, MemberStatus.ABSENT)
        pid, rank = int(joined["pid"]), int(joined["rank"])
        done = _read_json(self._file("done", local_rank))
        if done is not None:
            gpu = done.get("gpu", joined.get("gpu"))
            return RankMember(
                rank, local_rank, pid, MemberStatus.FINISHED, float(done["cpu_s"]), gpu
            )
        status = MemberStatus.RUNNING if pid_alive(pid) else MemberStatus.DIED
        return RankMember(rank, local_rank, pid, status, gpu=joined.get("gpu"))

    def close(self) -> None:
        """Mark the region measured: a rank that arrives later measures nothing."""
        with contextlib.suppress(OSError):
            (self.path / "closed").touch()
