"""The labelled estimate for a whole node (the Prometheus exporter, node meters).

Same formula as :mod:`wattwise.meter.sources.estimate`, but over the machine's busy
CPU time (user + nice + system + irq + softirq, all CPUs) and used memory, rather than
one process tree's.
"""

from __future__ import annotations

import time

import psutil

from wattwise.meter.sources.base import EnergySource
from wattwise.meter.sources.estimate import EstimateSettings, resolve_cpu_power
from wattwise.meter.types import Device

_GIB = 1024**3


def _busy_cpu_s() -> float:
    t = psutil.cpu_times()
    return float(
        t.user
        + t.system
        + getattr(t, "nice", 0.0)
        + getattr(t, "irq", 0.0)
        + getattr(t, "softirq", 0.0)
    )


class NodeEstimateSource(EnergySource):
    """Estimated CPU and DRAM energy of the whole node. Units: J."""

    source = "estimate"

    def __init__(self, settings: EstimateSettings | None = None) -> None:
        self.settings = settings or EstimateSettings()
        self.cpu = resolve_cpu_power(self.settings)
        self._cpu_s0 = _busy_cpu_s()
        self._last_used = psutil.virtual_memory().used
        self._last_t = time.monotonic()
        self._dram_j = 0.0
        self._devices = [
            Device(
                "estimate:node-cpu",
                "cpu",
                self.source,
                True,
                detail=f"{self.cpu.model}: {self.cpu.tdp_w:g} W / {self.cpu.threads} threads "
                f"x busy CPU time of the node ({self.cpu.source})",
            ),
            Device(
                "estimate:node-dram",
                "dram",
                self.source,
                True,
                detail=f"{self.settings.dram_w_per_gib:g} W/GiB x used memory of the node",
            ),
        ]

    def devices(self) -> list[Device]:
        return list(self._devices)

    def read_j(self) -> dict[str, float]:
        used = psutil.virtual_memory().used
        now = time.monotonic()
        mean_gib = 0.5 * (used + self._last_used) / _GIB
        self._dram_j += self.settings.dram_w_per_gib * mean_gib * (now - self._last_t)
        self._last_used, self._last_t = used, now
        cpu_j = (_busy_cpu_s() - self._cpu_s0) * self.cpu.watts_per_thread
        return {"estimate:node-cpu": cpu_j, "estimate:node-dram": self._dram_j}
