"""``/metrics`` in the Prometheus text format, computed at scrape time.

Energy counters (per device since the server started; per finished job; all stored
runs), power gauges per device and node, job counts per status, grid intensity.
"""

from __future__ import annotations

from collections.abc import Iterator

from prometheus_client import CollectorRegistry, generate_latest
from prometheus_client.core import CounterMetricFamily, GaugeMetricFamily, Metric
from prometheus_client.registry import Collector
from sqlalchemy import func, select

from wattwise.api.models import JOB_STATUSES
from wattwise.api.state import AppState
from wattwise.store.tables import RunRow


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

        grid = self.state.grid
        if grid is not None:
            now = grid.intensity_at(grid.clock.now_s())
            if now is not None:
                yield GaugeMetricFamily(
                    "wattwise_grid_intensity_g_per_kwh",
                    "Grid carbon intensity now (gCO2e/kWh)",
                    value=now,
                )


def render(state: AppState) -> bytes:
    """The metrics page for ``state``."""
    registry = CollectorRegistry(auto_describe=False)
    registry.register(_Collector(state))
    return generate_latest(registry)
