"""The labelled estimate, for machines with no energy counter.

Formula (documented in README, every figure it yields says ``estimated: true``)::

    E_cpu  = (TDP_W / hardware_threads) x CPU_time_s of the measured process tree
    E_dram = dram_w_per_gib x RSS_GiB of the tree, integrated over wall time

TDP and thread count come from the CPU model (``wattwise/data/cpu_tdp.csv``, with
sources) or from the user (``--cpu-tdp``, config ``cpu_tdp_w`` / ``cpu_threads``).
``dram_w_per_gib`` defaults to 0.375 W/GiB (about 3 W per 8 GiB DDR4 module under
load, an assumption to be overridden where a better figure is known). DRAM power
scales with what the tree holds resident, never with a fixed whole-machine guess.
"""

from __future__ import annotations

import os
import time
from dataclasses import dataclass

from wattwise.meter.cpu_model import CpuPower, cpu_model_name, lookup_cpu_power
from wattwise.meter.process_tree import ProcessTree
from wattwise.meter.sources.base import EnergySource
from wattwise.meter.types import Device

DEFAULT_DRAM_W_PER_GIB = 0.375
_GIB = 1024**3


@dataclass(frozen=True)
class EstimateSettings:
    """User overrides for the estimate. ``None`` means: use the CPU table."""

    cpu_tdp_w: float | None = None
    cpu_threads: int | None = None
    dram_w_per_gib: float = DEFAULT_DRAM_W_PER_GIB


def resolve_cpu_power(settings: EstimateSettings) -> CpuPower:
    """CPU power figure from the table, with the user's overrides applied."""
    table = lookup_cpu_power(cpu_model_name())
    if settings.cpu_tdp_w is None:
        return table
    threads = settings.cpu_threads or (table.threads if table.threads > 1 else os.cpu_count() or 1)
    return CpuPower(table.model, settings.cpu_tdp_w, threads, "user setting cpu_tdp_w")


class EstimateSource(EnergySource):
    """Estimated CPU and DRAM energy of a process tree. Units: J."""

    source = "estimate"

    def __init__(
        self,
        pid: int | None = None,
        settings: EstimateSettings | None = None,
        *,
        children_only: bool = False,
    ) -> None:
        self.settings = settings or EstimateSettings()
        self.cpu = resolve_cpu_power(self.settings)
        root = pid if pid is not None else os.getpid()
        self._tree = ProcessTree(root, include_root=not children_only)
        first = self._tree.usage()
        self._cpu_s0 = first.cpu_s
        self._last_rss = first.rss_bytes
        self._last_t = time.monotonic()
        self._dram_j = 0.0
        cpu_detail = (
            f"{self.cpu.model}: {self.cpu.tdp_w:g} W / {self.cpu.threads} threads "
            f"x CPU time of {'children of ' if children_only else ''}pid {root} "
            f"and descendants ({self.cpu.source})"
        )
        self._devices = [
            Device("estimate:cpu", "cpu", self.source, True, detail=cpu_detail),
            Device(
                "estimate:dram",
                "dram",
                self.source,
                True,
                detail=f"{self.settings.dram_w_per_gib:g} W/GiB x resident memory of the tree",
            ),
        ]

    @property
    def pid(self) -> int:
        return self._tree.pid

    def devices(self) -> list[Device]:
        return list(self._devices)

    def read_j(self) -> dict[str, float]:
        usage = self._tree.usage()
        now = time.monotonic()
        # Trapezoid over the interval: RSS is a level, not a counter.
        mean_gib = 0.5 * (usage.rss_bytes + self._last_rss) / _GIB
        self._dram_j += self.settings.dram_w_per_gib * mean_gib * (now - self._last_t)
        self._last_rss, self._last_t = usage.rss_bytes, now
        cpu_j = (usage.cpu_s - self._cpu_s0) * self.cpu.watts_per_thread
        return {"estimate:cpu": cpu_j, "estimate:dram": self._dram_j}

    def record_exact_cpu_s(self, cpu_s: float) -> None:
        """Exact CPU time of the tree since it started, once it has exited. Units: s."""
        self._tree.record_exact_cpu_s(cpu_s)
