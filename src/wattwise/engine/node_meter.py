"""One node's meter: samples the node's devices and the CPU time of every job's
process tree, and splits the node's energy among the jobs (see ``attribution``).

On a node with hardware counters (RAPL, NVML, AMD SMI) the node's measured energy
is split. Where no counter covers the CPU, the node's CPU energy is the labelled
estimate over the jobs' own process trees (TDP / threads x CPU time, plus DRAM by
resident memory), so the jobs' shares still add up to the node's (estimated) total.
A job that exits between two samples is charged its exact CPU time from ``wait4``.
Units: J, W, s (times UTC epoch seconds).
"""

from __future__ import annotations

import threading
import time
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, field

import psutil

from wattwise.engine.attribution import split_interval
from wattwise.meter.meter import DEFAULT_INTERVAL_S
from wattwise.meter.process_tree import ProcessTree
from wattwise.meter.sources.base import EnergySource
from wattwise.meter.sources.estimate import EstimateSettings, resolve_cpu_power
from wattwise.meter.types import Device, DeviceEnergy, Measurement, PowerSample

_GIB = 1024**3
EST_CPU = "estimate:cpu"
EST_DRAM = "estimate:dram"

#: Per-device use weights per job for the current instant (e.g. NVML per-process GPU use).
DeviceUse = Callable[[Mapping[str, Sequence[int]]], Mapping[str, Mapping[str, float]]]


@dataclass(frozen=True)
class JobEnergy:
    """A job's share of its node's energy. Units: J, s (epoch), W in the timeline."""

    key: str
    start_s: float
    end_s: float
    cpu_s: float
    devices: tuple[DeviceEnergy, ...]
    timeline: tuple[PowerSample, ...]

    @property
    def energy_j(self) -> float:
        return sum(d.energy_j for d in self.devices if d.in_total)

    @property
    def estimated(self) -> bool:
        return any(d.estimated for d in self.devices if d.in_total)

    def measurement(self, name: str) -> Measurement:
        return Measurement(
            name=name,
            start_s=self.start_s,
            end_s=self.end_s,
            devices=self.devices,
            timeline=self.timeline,
        )


@dataclass(frozen=True)
class NodeTotals:
    """Node energy since the meter started. Units: J."""

    device_j: dict[str, float]
    attributed_j: float
    unattributed_j: float
    jobs_finished: int
    since_s: float

    @property
    def total_j(self) -> float:
        return self.attributed_j + self.unattributed_j


@dataclass
class _Job:
    key: str
    pid: int
    tree: ProcessTree | None
    start_s: float
    last_cpu_s: float = 0.0
    last_rss: int = 0
    device_j: dict[str, float] = field(default_factory=dict)
    timeline: list[PowerSample] = field(default_factory=list)


class NodeMeter:
    """Meters the jobs running on this node. Thread-safe.

    ``sources`` are the node's counters (default: RAPL, NVML and AMD SMI where
    present); ``device_use`` optionally reports per-job use of devices (GPUs).
    """

    def __init__(
        self,
        sources: Sequence[EnergySource] | None = None,
        *,
        estimate: EstimateSettings | None = None,
        interval_s: float = DEFAULT_INTERVAL_S,
        device_use: DeviceUse | None = None,
        sample: bool = True,
    ) -> None:
        if sources is None:
            from wattwise.meter.detect import detect_sources

            sources = detect_sources(only={"rapl", "nvml", "amdsmi"}).sources
        self.sources = list(sources)
        self._devices: list[Device] = [d for s in self.sources for d in s.devices()]
        self.estimates_cpu = not any(d.kind in ("cpu", "psys") for d in self._devices)
        self._watts_per_thread = 0.0
        self._dram_w_per_gib = 0.0
        if self.estimates_cpu:
            settings = estimate or EstimateSettings()
            cpu = resolve_cpu_power(settings)
            self._watts_per_thread = cpu.watts_per_thread
            self._dram_w_per_gib = settings.dram_w_per_gib
            detail = f"{cpu.model}: {cpu.tdp_w:g} W / {cpu.threads} threads x jobs' CPU time"
            self._devices += [
                Device(EST_CPU, "cpu", "estimate", True, detail=detail),
                Device(EST_DRAM, "dram", "estimate", True, detail="W/GiB x jobs' resident memory"),
            ]
        self._by_name = {d.name: d for d in self._devices}
        limits = [s.max_poll_interval_s() for s in self.sources]
        self.interval_s = min([interval_s, *(x for x in limits if x is not None)])
        if device_use is None and any(d.source == "nvml" for d in self._devices):
            device_use = _gpu_use()
        self._device_use = device_use
        self._lock = threading.Lock()
        self._jobs: dict[str, _Job] = {}
        self._last_read = self._read_sources()
        self._last_mono = time.monotonic()
        self._since_s = time.time()
        self._tick_s = self._since_s  # wall time of the latest counter read (s)
        self._device_total: dict[str, float] = dict.fromkeys(self._by_name, 0.0)
        self._attributed_j = 0.0
        self._unattributed_j = 0.0
        self._finished = 0
        self._stop = threading.Event()
        self._thread: threading.Thread | None = None
        if sample:
            self._thread = threading.Thread(target=self._loop, name="wattwise-node", daemon=True)
            self._thread.start()

    @property
    def devices(self) -> list[Device]:
        return list(self._devices)

    def _read_sources(self) -> dict[str, float]:
        out: dict[str, float] = {}
        for source in self.sources:
            out.update(source.read_j())
        return out

    def _loop(self) -> None:
        while not self._stop.wait(self.interval_s):
            with self._lock:
                self._tick({})

    # -- jobs --------------------------------------------------------------------

    def register(self, key: str, pid: int) -> None:
        """Start charging the process tree rooted at ``pid`` to job ``key``."""
        self.register_many([(key, pid)])

    def register_many(self, jobs: Sequence[tuple[str, int]]) -> None:
        with self._lock:
            self._tick({})  # energy before these jobs belongs to the jobs already here
            # A job's window starts at the counter read that opens it, not before the
            # lock: its energy and its duration then cover the same interval.
            now = self._tick_s
            for key, pid in jobs:
                try:
                    tree: ProcessTree | None = ProcessTree(pid)
                except (psutil.NoSuchProcess, psutil.AccessDenied):
                    tree = None  # already gone; wait4's figure arrives with finish()
                self._jobs[key] = _Job(key, pid, tree, now)

    def finish(self, key: str, exact_cpu_s: float | None = None) -> JobEnergy:
        """Stop charging ``key``; its share so far. ``exact_cpu_s``: the tree's CPU
        time from ``wait4`` once it exited (Units: s)."""
        return self.finish_many([(key, exact_cpu_s)])[0]

    def finish_many(self, jobs: Sequence[tuple[str, float | None]]) -> list[JobEnergy]:
        with self._lock:
            unknown = [k for k, _ in jobs if k not in self._jobs]
            if unknown:
                raise KeyError(f"job {unknown[0]!r} is not registered on this node")
            self._tick(dict(jobs))
            now = self._tick_s  # the read that closes the window
            out = []
            for key, _ in jobs:
                job = self._jobs.pop(key)
                self._finished += 1
                out.append(
                    JobEnergy(
                        key=key,
                        start_s=job.start_s,
                        end_s=now,
                        cpu_s=job.last_cpu_s,
                        devices=tuple(d.used(job.device_j.get(d.name, 0.0)) for d in self._devices),
                        timeline=tuple(job.timeline),
                    )
                )
            return out

    def active(self) -> list[str]:
        with self._lock:
            return list(self._jobs)

    def totals(self) -> NodeTotals:
        with self._lock:
            self._tick({})
            return NodeTotals(
                device_j=dict(self._device_total),
                attributed_j=self._attributed_j,
                unattributed_j=self._unattributed_j,
                jobs_finished=self._finished,
                since_s=self._since_s,
            )

    # -- sampling ----------------------------------------------------------------

    def _tick(self, exact_cpu: Mapping[str, float | None]) -> None:
        """One interval: read devices and job trees, split the energy. Holds the lock."""
        reading = self._read_sources()
        mono = time.monotonic()
        dt = mono - self._last_mono
        t_s = time.time()
        self._tick_s = t_s
        delta = {name: reading[name] - self._last_read.get(name, 0.0) for name in reading}
        self._last_read, self._last_mono = reading, mono
        cpu_delta: dict[str, float] = {}
        rss_mean: dict[str, float] = {}
        for key, job in self._jobs.items():
            cpu, rss = job.last_cpu_s, 0
            if job.tree is not None:
                try:
                    usage = job.tree.usage()
                    cpu, rss = usage.cpu_s, usage.rss_bytes
                except (psutil.NoSuchProcess, psutil.AccessDenied):
                    pass
            exact = exact_cpu.get(key)
            if exact is not None:
                cpu = max(cpu, exact)
            cpu_delta[key] = max(0.0, cpu - job.last_cpu_s)
            rss_mean[key] = 0.5 * (rss + job.last_rss)
            job.last_cpu_s, job.last_rss = max(cpu, job.last_cpu_s), rss
        use: dict[str, dict[str, float]] = {}
        if self.estimates_cpu:
            delta[EST_CPU] = self._watts_per_thread * sum(cpu_delta.values())
            delta[EST_DRAM] = self._dram_w_per_gib * sum(rss_mean.values()) / _GIB * dt
            use[EST_DRAM] = rss_mean
        if self._device_use is not None and self._jobs:
            pids = {key: [job.pid] for key, job in self._jobs.items()}
            use.update({d: dict(w) for d, w in self._device_use(pids).items()})
        counted = {n: e for n, e in delta.items() if self._by_name[n].in_total}
        active = list(self._jobs)
        shares, idle = split_interval(counted, cpu_delta, active, use)
        for name, energy in delta.items():
            self._device_total[name] = self._device_total.get(name, 0.0) + energy
        self._unattributed_j += sum(idle.values())
        for key, per_device in shares.items():
            job = self._jobs[key]
            energy = 0.0
            for name, e in per_device.items():
                job.device_j[name] = job.device_j.get(name, 0.0) + e
                energy += e
            self._attributed_j += energy
            if dt > 0:
                job.timeline.append(PowerSample(t_s=t_s, power_w=energy / dt, energy_j=energy))

    def close(self) -> None:
        self._stop.set()
        if self._thread is not None:
            self._thread.join(timeout=5)
        for source in self.sources:
            source.close()


def _gpu_use() -> DeviceUse | None:
    """NVML per-process GPU use, or ``None`` (GPU energy then goes by CPU share)."""
    from wattwise.errors import WattwiseError
    from wattwise.meter.gpu_process import GpuProcessUse

    try:
        return GpuProcessUse()
    except WattwiseError:
        return None
