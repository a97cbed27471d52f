"""Live power per node and device: a sampler thread over the meter's sources.

Each sample reads every source's cumulative energy (J) and turns the difference to
the previous read into power (W). The last few minutes stay in a ring buffer that
``/api/v1/power`` and ``/metrics`` read.
"""

from __future__ import annotations

import socket
import threading
import time
from collections import deque
from collections.abc import Sequence
from dataclasses import dataclass, field

from wattwise.meter import Device, EnergySource


@dataclass
class DeviceState:
    node: str
    device: Device
    energy_j: float = 0.0  # cumulative since the monitor started
    power_w: float | None = None
    points: deque[tuple[float, float]] = field(default_factory=lambda: deque(maxlen=600))


class Telemetry:
    """Thread-safe store of device power. Nodes other than this host may be fed by ``add``."""

    def __init__(self) -> None:
        self._lock = threading.Lock()
        self._devices: dict[tuple[str, str], DeviceState] = {}

    def add(self, node: str, device: Device, t_s: float, power_w: float, energy_j: float) -> None:
        """Record one sample: power over the last interval and the energy it added."""
        with self._lock:
            key = (node, device.name)
            state = self._devices.get(key)
            if state is None:
                state = self._devices[key] = DeviceState(node, device)
            state.energy_j += max(0.0, energy_j)
            state.power_w = power_w
            state.points.append((t_s, power_w))

    def devices(self) -> list[DeviceState]:
        with self._lock:
            return [
                DeviceState(s.node, s.device, s.energy_j, s.power_w, deque(s.points))
                for s in self._devices.values()
            ]

    def series(self, since_s: float = 0.0) -> list[tuple[str, str, list[tuple[float, float]]]]:
        with self._lock:
            return [
                (s.node, s.device.name, [p for p in s.points if p[0] > since_s])
                for s in self._devices.values()
            ]


class PowerMonitor:
    """Samples ``sources`` every ``interval_s`` into ``telemetry`` until ``stop``."""

    def __init__(
        self,
        telemetry: Telemetry,
        sources: Sequence[EnergySource],
        *,
        interval_s: float = 1.0,
        node: str | None = None,
    ) -> None:
        self.telemetry = telemetry
        self.sources = list(sources)
        self.interval_s = interval_s
        self.node = node or socket.gethostname()
        self._devices = {d.name: d for s in self.sources for d in s.devices()}
        self._stop = threading.Event()
        self._thread: threading.Thread | None = None
        self._last: tuple[float, dict[str, float]] | None = None

    def _read(self) -> dict[str, float]:
        energy: dict[str, float] = {}
        for source in self.sources:
            energy.update(source.read_j())
        return energy

    def sample(self) -> None:
        """Take one sample now (the thread calls this; tests may too)."""
        now, energy = time.monotonic(), self._read()
        if self._last is not None:
            then, before = self._last
            dt = now - then
            if dt > 0:
                for name, device in self._devices.items():
                    delta = energy.get(name, 0.0) - before.get(name, 0.0)
                    self.telemetry.add(self.node, device, time.time(), max(0.0, delta) / dt, delta)
        self._last = (now, energy)

    def _loop(self) -> None:
        self.sample()
        while not self._stop.wait(self.interval_s):
            self.sample()

    def start(self) -> PowerMonitor:
        if self._thread is None:
            self._thread = threading.Thread(target=self._loop, name="wattwise-power", daemon=True)
            self._thread.start()
        return self

    def stop(self) -> None:
        self._stop.set()
        if self._thread is not None:
            self._thread.join(timeout=5)
        for source in self.sources:
            source.close()
