from __future__ import annotations

from pathlib import Path

import pytest

from tests.meter.fakes import FakeRapl
from wattwise.errors import WattwiseError
from wattwise.meter import Meter, WindowError
from wattwise.meter.sources.rapl import RaplSource


@pytest.fixture
def rapl(tmp_path: Path) -> FakeRapl:
    fake = FakeRapl(tmp_path)
    fake.zone("intel-rapl:0", "package-0", 0)
    return fake


def test_nested_and_overlapping_windows(rapl: FakeRapl, tmp_path: Path) -> None:
    meter = Meter([RaplSource(tmp_path)], sample=False)
    meter.begin("outer")
    rapl.set("intel-rapl:0", 1_000_000)
    meter.begin("a")
    rapl.set("intel-rapl:0", 3_000_000)
    meter.begin("b")  # overlaps a
    rapl.set("intel-rapl:0", 6_000_000)
    a = meter.end("a")
    rapl.set("intel-rapl:0", 10_000_000)
    b = meter.end("b")
    outer = meter.end("outer")
    assert a.energy_j == pytest.approx(5.0)
    assert b.energy_j == pytest.approx(7.0)
    assert outer.energy_j == pytest.approx(10.0)


def test_window_misuse_is_a_clear_error(rapl: FakeRapl, tmp_path: Path) -> None:
    meter = Meter([RaplSource(tmp_path)], sample=False)
    with pytest.raises(WindowError, match="not begun"):
        meter.end("nope")
    meter.begin("x")
    with pytest.raises(WindowError, match="already open"):
        meter.begin("x")
    with pytest.raises(WattwiseError):
        Meter([RaplSource(tmp_path)], interval_s=0)


def test_background_sampler_gives_a_power_timeline(rapl: FakeRapl, tmp_path: Path) -> None:
    import time

    meter = Meter([RaplSource(tmp_path)], interval_s=0.02)
    meter.begin("w")
    for i in range(1, 6):
        time.sleep(0.05)
        rapl.set("intel-rapl:0", i * 1_000_000)
    m = meter.end("w")
    meter.close()
    assert len(m.timeline) >= 5
    assert sum(s.energy_j for s in m.timeline) == pytest.approx(m.energy_j)
    assert m.peak_power_w is not None and m.peak_power_w >= m.avg_power_w
    assert m.to_dict()["energy_j"] == pytest.approx(5.0)


def test_peek_does_not_close(rapl: FakeRapl, tmp_path: Path) -> None:
    meter = Meter([RaplSource(tmp_path)], sample=False)
    meter.begin("w")
    rapl.set("intel-rapl:0", 2_000_000)
    assert meter.peek("w").energy_j == pytest.approx(2.0)
    assert meter.is_open("w")
    rapl.set("intel-rapl:0", 3_000_000)
    assert meter.end("w").energy_j == pytest.approx(3.0)
