"""``/metrics`` in the Prometheus text format, computed at scrape time.

Energy counters (per device since the server started; per finished job; all stored
runs), power gauges per device and node, job counts per status, grid intensity; the
per-job series (:func:`job_energy`) and the Kepler-named node series
(:func:`node_families`). ``docs/metrics.md`` lists every series with its type, unit,
labels and source.
"""

from __future__ import annotations

from collections.abc import Iterable, Iterator
from dataclasses import dataclass
from typing import Any

from prometheus_client import CollectorRegistry, generate_latest
from prometheus_client.core import CounterMetricFamily, GaugeMetricFamily, Metric
from prometheus_client.registry import Collector
from sqlalchemy import func, or_, select

from wattwise.api.models import JOB_STATUSES
from wattwise.api.state import AppState
from wattwise.api.telemetry import DeviceState
from wattwise.store.status import JobStatus
from wattwise.store.tables import DeviceRow, JobRow, RunRow, TaskRow

JOB_LABELS = ["job_id", "name", "node", "device"]
#: ``device`` of a running job's series: the finished tasks' energy, all devices together
#: (task attempts record a total, not a split per device).
ALL_DEVICES = "all"
#: Finished jobs with per-job series: the newest this many (every running job too).
JOB_SERIES_LIMIT = 1000

# Kepler (sustainable-computing-io/kepler, docs "Kepler Metrics") names node energy
# ``kepler_node_<component>_joules_total`` with a ``zone`` label for the CPU's RAPL
# zones and a constant ``node_name``. wattwise's device kinds map onto those families.
_CPU_ZONES = {"cpu": "package", "core": "core", "uncore": "uncore", "dram": "dram"}
_PLATFORM_ZONES = {"psys": "psys"}


@dataclass(frozen=True)
class JobEnergy:
    """One per-job counter sample. Units: J, gCO₂e (cumulative for that job)."""

    job_id: str
    name: str
    node: str
    device: str
    energy_j: float
    co2e_g: float | None

    @property
    def labels(self) -> list[str]:
        return [self.job_id, self.name, self.node, self.device]


def job_energy(engine: Any, limit: int | None = None) -> list[JobEnergy]:
    """Per-job, per-node, per-device energy and carbon of the engine's jobs in the store.

    A finished job (one whose energy is stored as a run) reports each device of that
    run that counts toward the total (J), and its CO₂e shared out by energy; its node
    is the nodes its tasks ran on. A job still running reports, per node, the tasks
    that have finished so far under ``device="all"``: task attempts record only a total.
    Either value only grows while the job runs (a task's energy is written once, when
    it ends), and the final per-device series sum to the job's whole energy.

    Every running job, and the newest ``limit`` finished ones (default
    :data:`JOB_SERIES_LIMIT`): each job is a label value, and a store holds years of
    them. Four statements whatever the number of jobs (sub-selects, no id lists).
    """
    limit = JOB_SERIES_LIMIT if limit is None else limit
    newest = (
        select(JobRow.id)
        .where(JobRow.run_id.is_not(None))
        .order_by(JobRow.id.desc())
        .limit(limit)
        .subquery()
    )
    wanted = or_(JobRow.status == JobStatus.RUNNING, JobRow.id.in_(select(newest.c.id)))
    run_ids = select(JobRow.run_id).where(wanted, JobRow.run_id.is_not(None))
    with engine.connect() as conn:
        jobs = conn.execute(
            select(JobRow.id, JobRow.name, JobRow.status, JobRow.run_id, JobRow.co2e_g)
            .where(wanted)
            .order_by(JobRow.id)
        ).all()
        if not jobs:
            return []
        tasks = conn.execute(
            select(
                TaskRow.job_id,
                TaskRow.node_name,
                TaskRow.node_id,
                func.sum(TaskRow.energy_j),
                func.sum(TaskRow.co2e_g),
                func.count(TaskRow.co2e_g),
                func.count(TaskRow.id),
            )
            .where(TaskRow.job_id.in_(select(JobRow.id).where(wanted)))
            .where(TaskRow.energy_j.is_not(None))
            .group_by(TaskRow.job_id, TaskRow.node_name, TaskRow.node_id)
        ).all()
        devices = conn.execute(
            select(DeviceRow.run_id, DeviceRow.name, DeviceRow.energy_j)
            .where(DeviceRow.run_id.in_(run_ids), DeviceRow.in_total.is_(True))
            .order_by(DeviceRow.run_id, DeviceRow.id)
        ).all()
        hosts = dict(
            conn.execute(select(RunRow.id, RunRow.host).where(RunRow.id.in_(run_ids))).all()
        )
    by_job: dict[int, list[Any]] = {}
    for row in tasks:
        by_job.setdefault(row[0], []).append(row)
    by_run: dict[int, list[tuple[str, float]]] = {}
    for run_id, device, energy in devices:
        by_run.setdefault(run_id, []).append((device, float(energy)))
    out: list[JobEnergy] = []
    for job in jobs:
        job_id, name = str(job.id), job.name
        if job.run_id is not None:
            parts = by_run.get(job.run_id, [])
            nodes = sorted({t[1] or t[2] for t in by_job.get(job.id, [])})
            node = ",".join(nodes) or str(hosts.get(job.run_id) or "")
            total = sum(e for _, e in parts)
            for device, energy in parts:
                share = energy / total if total > 0 else 0.0
                co2e = job.co2e_g * share if job.co2e_g is not None else None
                out.append(JobEnergy(job_id, name, node, device, energy, co2e))
            continue
        for _, node_name, node_id, energy, co2e, n_co2e, n in by_job.get(job.id, []):
            known = float(co2e) if n_co2e == n and co2e is not None else None
            out.append(
                JobEnergy(job_id, name, node_name or node_id, ALL_DEVICES, float(energy), known)
            )
    return out


def job_families(rows: Iterable[JobEnergy]) -> Iterator[Metric]:
    """``wattwise_job_energy_joules_total`` and ``wattwise_job_co2e_grams_total``."""
    energy = CounterMetricFamily(
        "wattwise_job_energy_joules",
        "Energy of each engine job per node and device (J; device=all: finished tasks "
        "of a running job)",
        labels=JOB_LABELS,
    )
    carbon = CounterMetricFamily(
        "wattwise_job_co2e_grams",
        "Carbon of each engine job per node and device (gCO2e; a finished job's CO2e "
        "shared out by device energy)",
        labels=JOB_LABELS,
    )
    for row in rows:
        energy.add_metric(row.labels, row.energy_j)
        if row.co2e_g is not None:
            carbon.add_metric(row.labels, row.co2e_g)
    yield energy
    yield carbon


def node_families(devices: Iterable[DeviceState]) -> Iterator[Metric]:
    """Node energy and power under Kepler's names, from the API's power sampler.

    CPU-side RAPL zones (package, core, uncore, dram; the estimate's ``cpu`` and
    ``dram`` too) go to ``wattwise_node_cpu_*`` with a ``zone`` label, GPUs to
    ``wattwise_node_gpu_*``, the platform (psys) to ``wattwise_node_platform_*``.
    """
    common = ["node_name", "zone", "path", "source", "estimated"]
    gpu_labels = ["node_name", "device", "source", "estimated"]
    cpu_j = CounterMetricFamily(
        "wattwise_node_cpu_joules",
        "Energy of the node's CPU-side zones since the server started (J)",
        labels=common,
    )
    cpu_w = GaugeMetricFamily(
        "wattwise_node_cpu_watts", "Latest power of the node's CPU-side zones (W)", labels=common
    )
    gpu_j = CounterMetricFamily(
        "wattwise_node_gpu_joules",
        "Energy of each GPU of the node since the server started (J)",
        labels=gpu_labels,
    )
    gpu_w = GaugeMetricFamily(
        "wattwise_node_gpu_watts", "Latest power of each GPU of the node (W)", labels=gpu_labels
    )
    plat_j = CounterMetricFamily(
        "wattwise_node_platform_joules",
        "Energy of the node's platform (RAPL psys) since the server started (J)",
        labels=common,
    )
    plat_w = GaugeMetricFamily(
        "wattwise_node_platform_watts", "Latest power of the node's platform (W)", labels=common
    )
    for dev in devices:
        d = dev.device
        estimated = str(d.estimated).lower()
        if d.kind == "gpu":
            values = [dev.node, d.name, d.source, estimated]
            joules, watts = gpu_j, gpu_w
        elif d.kind in _CPU_ZONES:
            values = [dev.node, _CPU_ZONES[d.kind], d.name, d.source, estimated]
            joules, watts = cpu_j, cpu_w
        elif d.kind in _PLATFORM_ZONES:
            values = [dev.node, _PLATFORM_ZONES[d.kind], d.name, d.source, estimated]
            joules, watts = plat_j, plat_w
        else:  # a kind with no Kepler family: still in wattwise_device_energy_joules_total
            continue
        joules.add_metric(values, dev.energy_j)
        if dev.power_w is not None:
            watts.add_metric(values, dev.power_w)
    yield from (cpu_j, cpu_w, gpu_j, gpu_w, plat_j, plat_w)


class _Collector(Collector):
    def __init__(self, state: AppState) -> None:
        self.state = state

    def collect(self) -> Iterator[Metric]:
        labels = ["node", "device", "kind", "source", "estimated"]
        energy = CounterMetricFamily(
            "wattwise_device_energy_joules",
            "Energy each device used since the server started (J)",
            labels=labels,
        )
        power = GaugeMetricFamily(
            "wattwise_device_power_watts", "Latest power of each device (W)", labels=labels
        )
        node_power: dict[str, float] = {}
        for dev in self.state.telemetry.devices():
            d = dev.device
            values = [dev.node, d.name, d.kind, d.source, str(d.estimated).lower()]
            energy.add_metric(values, dev.energy_j)
            if dev.power_w is not None:
                power.add_metric(values, dev.power_w)
                if d.in_total:
                    node_power[dev.node] = node_power.get(dev.node, 0.0) + dev.power_w
        yield energy
        yield power
        node = GaugeMetricFamily(
            "wattwise_node_power_watts", "Latest total power of each node (W)", labels=["node"]
        )
        for name, watts in node_power.items():
            node.add_metric([name], watts)
        yield node
        yield from node_families(self.state.telemetry.devices())

        counts = self.state.jobs.counts()
        jobs = GaugeMetricFamily("wattwise_jobs", "Jobs per status", labels=["status"])
        for status in JOB_STATUSES:
            jobs.add_metric([status], counts.get(status, 0))
        yield jobs
        done, _ = self.state.jobs.list_jobs(10**6, 0, "done")
        yield CounterMetricFamily(
            "wattwise_jobs_energy_joules",
            "Energy of finished jobs (J)",
            value=sum(j.energy_j or 0.0 for j in done),
        )
        yield CounterMetricFamily(
            "wattwise_jobs_co2e_grams",
            "Carbon of finished jobs (gCO2e)",
            value=sum(j.co2e_g or 0.0 for j in done),
        )
        yield CounterMetricFamily(
            "wattwise_jobs_co2e_saved_grams",
            "Carbon saved by finished jobs against starting on arrival (gCO2e)",
            value=sum(
                (j.baseline_co2e_g or 0.0) - (j.co2e_g or 0.0)
                for j in done
                if j.baseline_co2e_g is not None and j.co2e_g is not None
            ),
        )

        with self.state.store.engine.connect() as conn:
            rows = conn.execute(
                select(RunRow.status, func.count(RunRow.id), func.sum(RunRow.energy_j)).group_by(
                    RunRow.status
                )
            ).all()
        runs = GaugeMetricFamily("wattwise_runs", "Stored runs per status", labels=["status"])
        run_energy = CounterMetricFamily(
            "wattwise_runs_energy_joules", "Energy of stored runs (J)", labels=["status"]
        )
        for status, count, total in rows:
            runs.add_metric([status], int(count))
            run_energy.add_metric([status], float(total or 0.0))
        yield runs
        yield run_energy
        yield from job_families(job_energy(self.state.store.engine))

        grid = self.state.grid
        intensity = GaugeMetricFamily(
            "wattwise_grid_intensity_g_per_kwh", "Grid carbon intensity now (gCO2e/kWh)"
        )
        now = grid.intensity_at(grid.clock.now_s()) if grid is not None else None
        if now is not None:
            intensity.add_metric([], now)
        yield intensity


def collector(state: AppState) -> Collector:
    """The collector behind ``/metrics`` (also read by :mod:`wattwise.api.otel`)."""
    return _Collector(state)


def render(state: AppState) -> bytes:
    """The metrics page for ``state``."""
    registry = CollectorRegistry(auto_describe=False)
    registry.register(collector(state))
    return generate_latest(registry)
