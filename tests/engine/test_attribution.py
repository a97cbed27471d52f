from __future__ import annotations

import os
import subprocess
import sys
import time

import pytest

from wattwise.engine.attribution import split_interval
from wattwise.engine.node_meter import NodeMeter
from wattwise.meter.sources.base import EnergySource
from wattwise.meter.types import Device


def test_split_by_cpu_time_adds_up() -> None:
    shares, idle = split_interval({"cpu": 30.0, "gpu": 10.0}, {"a": 2.0, "b": 1.0}, ["a", "b"])
    assert shares["a"]["cpu"] == pytest.approx(20.0) and shares["b"]["cpu"] == pytest.approx(10.0)
    assert sum(s["gpu"] for s in shares.values()) == pytest.approx(10.0)
    assert idle == {"cpu": 0.0, "gpu": 0.0}


def test_gpu_goes_by_gpu_use_and_idle_jobs_share_equally() -> None:
    shares, _ = split_interval(
        {"cpu": 4.0, "gpu": 9.0}, {"a": 0.0, "b": 0.0}, ["a", "b"], {"gpu": {"a": 2, "b": 1}}
    )
    assert shares["a"]["gpu"] == pytest.approx(6.0) and shares["b"]["gpu"] == pytest.approx(3.0)
    assert shares["a"]["cpu"] == pytest.approx(2.0) == shares["b"]["cpu"]


def test_no_job_means_unattributed() -> None:
    shares, idle = split_interval({"cpu": 5.0}, {}, [])
    assert shares == {} and idle == {"cpu": 5.0}


class ConstantPower(EnergySource):
    """A counter that grows at a fixed power, like a node drawing a steady 100 W."""

    source = "fake"

    def __init__(self, power_w: float) -> None:
        self.power_w = power_w
        self.t0 = time.monotonic()

    def devices(self) -> list[Device]:
        return [Device("fake:node", "cpu", "fake", False)]

    def read_j(self) -> dict[str, float]:
        return {"fake:node": (time.monotonic() - self.t0) * self.power_w}


def _busy(seconds: float) -> subprocess.Popen[bytes]:
    code = f"import time\nt=time.time()\nwhile time.time()-t<{seconds}: pass"
    return subprocess.Popen([sys.executable, "-c", code])


def _wait_cpu(proc: subprocess.Popen[bytes]) -> float:
    _, _, usage = os.wait4(proc.pid, 0)
    proc.returncode = 0
    return usage.ru_utime + usage.ru_stime


def test_node_meter_splits_measured_node_energy_among_overlapping_jobs() -> None:
    meter = NodeMeter([ConstantPower(100.0)], interval_s=0.05)
    try:
        a, b = _busy(0.6), _busy(0.3)
        meter.register_many([("a", a.pid), ("b", b.pid)])
        eb = meter.finish("b", _wait_cpu(b))
        ea = meter.finish("a", _wait_cpu(a))
        totals = meter.totals()
    finally:
        meter.close()
    assert not ea.estimated and ea.timeline
    union_s = max(ea.end_s, eb.end_s) - min(ea.start_s, eb.start_s)
    assert ea.energy_j + eb.energy_j == pytest.approx(100.0 * union_s, rel=0.01)
    assert ea.energy_j + eb.energy_j == pytest.approx(totals.attributed_j, rel=1e-9)
    assert ea.energy_j > eb.energy_j  # a ran twice as long


def test_estimate_charges_each_job_its_own_cpu_time() -> None:
    meter = NodeMeter([], interval_s=0.05)
    try:
        assert meter.estimates_cpu
        a = _busy(0.4)
        b = subprocess.Popen(["sleep", "0.4"])
        meter.register_many([("a", a.pid), ("b", b.pid)])
        ea = meter.finish("a", _wait_cpu(a))
        eb = meter.finish("b", _wait_cpu(b))
        totals = meter.totals()
    finally:
        meter.close()
    assert ea.estimated and ea.cpu_s > 0.1
    cpu_a = next(d.energy_j for d in ea.devices if d.name == "estimate:cpu")
    cpu_b = next(d.energy_j for d in eb.devices if d.name == "estimate:cpu")
    assert cpu_a > 20 * cpu_b  # the sleeper used almost no CPU
    assert ea.energy_j + eb.energy_j == pytest.approx(totals.attributed_j, rel=1e-9)
    assert totals.device_j["estimate:cpu"] == pytest.approx(cpu_a + cpu_b, rel=1e-9)


def test_finishing_an_unknown_job_says_so() -> None:
    meter = NodeMeter([], sample=False)
    with pytest.raises(KeyError, match="not registered"):
        meter.finish("nope")
    meter.close()
