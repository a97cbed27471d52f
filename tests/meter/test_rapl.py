from __future__ import annotations

import os
from pathlib import Path

import pytest

from tests.meter.fakes import FakeRapl, two_socket_tree
from wattwise.errors import DevicePermissionError, HardwareUnavailableError
from wattwise.meter import Meter, detect_sources
from wattwise.meter.sources.rapl import RaplSource


def test_two_sockets_sum_packages_and_dram_not_cores(tmp_path: Path) -> None:
    rapl = two_socket_tree(tmp_path)
    source = RaplSource(tmp_path)
    meter = Meter([source], sample=False)
    meter.begin("w")
    for socket in (0, 1):
        rapl.set(f"intel-rapl:{socket}", 1_000_000 + 10_000_000)  # +10 J per package
        rapl.set(f"intel-rapl:{socket}:0", 500_000 + 6_000_000)  # +6 J core, inside package
        rapl.set(f"intel-rapl:{socket}:1", 200_000 + 2_000_000)  # +2 J dram, outside package
    m = meter.end("w")
    by_name = {d.name: d for d in m.devices}
    assert by_name["rapl:package-0"].energy_j == pytest.approx(10.0)
    assert by_name["rapl:core-0"].energy_j == pytest.approx(6.0)
    assert not by_name["rapl:core-0"].in_total
    assert by_name["rapl:dram-1"].in_total
    # 2 packages x 10 J + 2 DRAM x 2 J; cores are inside their packages.
    assert m.energy_j == pytest.approx(24.0)
    assert not m.estimated
    assert all(d.source == "rapl" for d in m.devices)


def test_window_spanning_several_wraps_is_exact(tmp_path: Path) -> None:
    rapl = FakeRapl(tmp_path)
    max_uj = 1_000_000  # a 1 J range so the test wraps often
    rapl.zone("intel-rapl:0", "package-0", energy_uj=900_000, max_uj=max_uj)
    meter = Meter([RaplSource(tmp_path)], sample=False)
    meter.begin("w")
    # 3 wraps while the sampler polls (here: explicit reads in between).
    total_uj = 0
    value = 900_000
    for step in (400_000, 700_000, 800_000, 600_000):
        value = (value + step) % max_uj
        total_uj += step
        rapl.set("intel-rapl:0", value)
        meter.sources[0].read_j()
    m = meter.end("w")
    assert m.energy_j == pytest.approx(total_uj / 1e6)


def test_poll_interval_is_shortened_below_wrap_period(tmp_path: Path) -> None:
    FakeRapl(tmp_path).zone("intel-rapl:0", "package-0", max_uj=100_000_000)  # 100 J range
    meter = Meter([RaplSource(tmp_path)], interval_s=5.0, sample=False)
    # 100 J at the assumed worst case of 1 kW wraps in 0.1 s.
    assert meter.interval_s == pytest.approx(0.1)


def test_missing_powercap_is_reported_not_raised(tmp_path: Path) -> None:
    with pytest.raises(HardwareUnavailableError):
        RaplSource(tmp_path)
    os.environ["WATTWISE_SYSFS_ROOT"] = str(tmp_path)
    try:
        found = detect_sources(only={"rapl", "estimate"})
    finally:
        del os.environ["WATTWISE_SYSFS_ROOT"]
    assert "no RAPL domains" in found.missing["rapl"]
    assert [s.source for s in found.sources] == ["estimate"]


def test_zone_without_counter_is_skipped(tmp_path: Path) -> None:
    rapl = FakeRapl(tmp_path)
    rapl.zone("intel-rapl:0", "package-0", 5)
    missing = rapl.zone("intel-rapl:1", "package-1", 5)
    (missing / "energy_uj").unlink()
    source = RaplSource(tmp_path)
    assert [d.name for d in source.devices()] == ["rapl:package-0"]


def test_psys_is_reported_but_not_added_to_packages(tmp_path: Path) -> None:
    rapl = FakeRapl(tmp_path)
    rapl.zone("intel-rapl:0", "package-0", 0)
    rapl.zone("intel-rapl:1", "psys", 0)
    meter = Meter([RaplSource(tmp_path)], sample=False)
    meter.begin("w")
    rapl.set("intel-rapl:0", 3_000_000)
    rapl.set("intel-rapl:1", 5_000_000)
    m = meter.end("w")
    assert m.energy_j == pytest.approx(3.0)


def test_permission_denied_names_the_fix_and_falls_back(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    two_socket_tree(tmp_path)
    real_open = os.open

    def deny_energy(path: str | os.PathLike[str], flags: int, *args: int) -> int:
        if str(path).endswith("energy_uj"):
            raise PermissionError(13, "Permission denied", str(path))
        return real_open(path, flags, *args)

    monkeypatch.setattr(os, "open", deny_energy)
    with pytest.raises(DevicePermissionError) as err:
        RaplSource(tmp_path)
    message = str(err.value)
    assert "\n" not in message and "root" in message and "chmod" in message
    monkeypatch.setenv("WATTWISE_SYSFS_ROOT", str(tmp_path))
    found = detect_sources(only={"rapl", "estimate"})
    assert [s.source for s in found.sources] == ["estimate"]
    assert found.warnings and "rapl" in found.warnings[0]
