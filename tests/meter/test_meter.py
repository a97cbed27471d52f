from __future__ import annotations

import itertools
from pathlib import Path

import pytest

from tests.meter.fakes import FakeRapl
from wattwise.errors import WattwiseError
from wattwise.meter import Meter, WindowError
from wattwise.meter.sources.base import EnergySource
from wattwise.meter.sources.rapl import RaplSource
from wattwise.meter.types import Device


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


class _Counter(EnergySource):
    """A source whose counters move by a different amount at every read, all reads kept."""

    source = "test"

    def __init__(self) -> None:
        self.reads: list[dict[str, float]] = []

    def devices(self) -> list[Device]:
        return [
            Device("test:pkg", "cpu", "test", estimated=False),
            Device("test:core", "core", "test", estimated=False, part_of="test:pkg"),
        ]

    def read_j(self) -> dict[str, float]:
        n = len(self.reads)
        pkg = float(n * (n + 1) // 2)  # grows by n at read n: every interval differs
        self.reads.append({"test:pkg": pkg, "test:core": pkg / 2})
        return dict(self.reads[-1])


def test_peek_after_many_samples_equals_the_whole_timeline() -> None:
    # A long training peeks every log line: each peek must give what rebuilding the
    # window from every reading since it began gives, however many came before.
    source = _Counter()
    meter = Meter([source], sample=False)
    meter.begin("run")
    first = len(source.reads) - 1
    for i in range(3_000):
        if i % 500 == 0:
            meter.begin(f"epoch-{i}")
            epoch_first = len(source.reads) - 1
        m = meter.peek("run")
        upto = len(source.reads)
        if i % 500 == 499:
            epoch = meter.end(f"epoch-{i - 499}")
            reads = source.reads[epoch_first:]
            assert [s.energy_j for s in epoch.timeline] == [
                b["test:pkg"] - a["test:pkg"] for a, b in itertools.pairwise(reads)
            ]
    reads = source.reads[first:upto]
    expected = [b["test:pkg"] - a["test:pkg"] for a, b in itertools.pairwise(reads)]
    assert len(reads) > 3_000
    assert [s.energy_j for s in m.timeline] == expected
    assert m.energy_j == pytest.approx(sum(expected))
    assert {d.name: d.energy_j for d in m.devices} == {
        "test:pkg": reads[-1]["test:pkg"],
        "test:core": reads[-1]["test:core"],
    }
    assert all(s.power_w > 0 for s in m.timeline)
    end = meter.end("run")
    assert end.timeline[: len(m.timeline)] == m.timeline
    assert len(end.timeline) == len(source.reads) - 1 - first
    assert end.energy_j == pytest.approx(sum(s.energy_j for s in end.timeline))


def test_a_window_after_all_closed_starts_a_fresh_timeline() -> None:
    source = _Counter()
    meter = Meter([source], sample=False)
    with meter.window("a"):
        meter.peek("a")
    meter.begin("b")
    reads_before = len(source.reads)
    m = meter.end("b")
    # One interval, from b's own begin to its end: nothing left over from window a.
    assert len(m.timeline) == 1
    assert m.energy_j == pytest.approx(
        source.reads[reads_before]["test:pkg"] - source.reads[reads_before - 1]["test:pkg"]
    )
