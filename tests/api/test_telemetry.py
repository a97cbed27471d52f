"""The power monitor turns cumulative energy into power per device."""

from __future__ import annotations

import time

from wattwise.api.clock import Clock
from wattwise.api.telemetry import PowerMonitor, Telemetry
from wattwise.meter import Device, EnergySource


class CountingSource(EnergySource):
    """A counter that gains 10 J per read on 'fake:cpu'."""

    source = "fake"

    def __init__(self) -> None:
        self.energy_j = 0.0

    def devices(self) -> list[Device]:
        return [Device("fake:cpu", "cpu", "fake", False)]

    def read_j(self) -> dict[str, float]:
        self.energy_j += 10.0
        return {"fake:cpu": self.energy_j}


def test_monitor_reports_power_from_energy_deltas() -> None:
    telemetry = Telemetry()
    monitor = PowerMonitor(telemetry, [CountingSource()], node="n1")
    monitor.sample()
    assert telemetry.devices() == []  # one read gives no interval yet
    time.sleep(0.05)
    monitor.sample()
    (dev,) = telemetry.devices()
    assert dev.node == "n1" and dev.energy_j == 10.0
    assert dev.power_w is not None and 10.0 / 0.5 < dev.power_w < 10.0 / 0.04


def test_monitor_thread_starts_and_stops() -> None:
    telemetry = Telemetry()
    monitor = PowerMonitor(telemetry, [CountingSource()], interval_s=0.02).start()
    deadline = time.time() + 5
    while not telemetry.devices() and time.time() < deadline:
        time.sleep(0.01)
    monitor.stop()
    assert telemetry.devices()[0].energy_j >= 10.0


def test_ring_buffer_keeps_the_latest_points() -> None:
    telemetry = Telemetry()
    dev = Device("d", "cpu", "fake", False)
    for i in range(700):
        telemetry.add("n", dev, float(i), 1.0, 1.0)
    ((_, _, points),) = telemetry.series()
    assert len(points) == 600 and points[0][0] == 100.0
    assert telemetry.devices()[0].energy_j == 700.0


def test_accelerated_clock() -> None:
    clock = Clock(origin_s=1000.0, speed=600.0)
    assert clock.wall_seconds(600.0) == 1.0
    assert 1000.0 <= clock.now_s() < 1000.0 + 600.0 * 5
    try:
        Clock(speed=0)
    except ValueError as err:
        assert "positive" in str(err)
    else:
        raise AssertionError("speed 0 accepted")
