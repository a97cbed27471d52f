"""Linux RAPL through the powercap sysfs tree.

Layout read (``$WATTWISE_SYSFS_ROOT/sys/class/powercap``)::

    intel-rapl:0/            name=package-0, energy_uj, max_energy_range_uj
    intel-rapl:0/intel-rapl:0:0   name=core
    intel-rapl:0/intel-rapl:0:1   name=uncore
    intel-rapl:0/intel-rapl:0:2   name=dram
    intel-rapl:1/            name=package-1 (second socket) ...
    intel-rapl:2/            name=psys (whole SoC, overlaps the packages)

AMD CPUs expose the same ``intel-rapl`` control type on recent kernels. Counters are
cumulative micro-joules that wrap to zero after ``max_energy_range_uj``; each read
adds the forward difference (plus one range when it went backwards), so a window
spanning any number of wraps is right as long as reads come faster than one wrap.
"""

from __future__ import annotations

import contextlib
import os
from dataclasses import dataclass, replace
from pathlib import Path

from wattwise.errors import DevicePermissionError, HardwareUnavailableError
from wattwise.meter.sources.base import EnergySource
from wattwise.meter.types import Device
from wattwise.units import MICRO

POWERCAP_SUBDIR = "sys/class/powercap"
# A package under full load draws at most a few hundred watts; assume 1 kW so the
# poll interval keeps a safety factor on any real part. Units: W.
_WORST_CASE_DOMAIN_POWER_W = 1000.0
_PERMISSION_HINT = (
    "since Linux 5.10 energy_uj is readable by root only; run as root or "
    "`sudo chmod -R a+r /sys/class/powercap/intel-rapl*`; using the estimate instead"
)


def sysfs_root() -> Path:
    """Where sysfs is mounted (``WATTWISE_SYSFS_ROOT``, default ``/``)."""
    return Path(os.environ.get("WATTWISE_SYSFS_ROOT", "/"))


@dataclass
class _Domain:
    device: Device
    fd: int
    max_range_uj: int
    last_uj: int
    total_uj: int = 0


def _read_int(fd: int) -> int:
    return int(os.pread(fd, 32, 0))


def _kind(domain_name: str) -> str:
    if domain_name.startswith("package"):
        return "cpu"
    return domain_name  # core, uncore, dram, psys


class RaplSource(EnergySource):
    """Energy from RAPL counters. Units: J (counters read in µJ)."""

    source = "rapl"

    def __init__(self, root: Path | None = None) -> None:
        base = (root or sysfs_root()) / POWERCAP_SUBDIR
        zones = sorted(base.glob("intel-rapl:*")) if base.is_dir() else []
        if not zones:
            raise HardwareUnavailableError(f"no RAPL domains under {base}")
        self._domains: list[_Domain] = []
        try:
            for zone in zones:
                self._open_zone(zone, zones)
        except PermissionError as err:
            self.close()
            raise DevicePermissionError(
                f"RAPL counter {err.filename} is not readable", _PERMISSION_HINT
            ) from None
        if not self._domains:
            raise HardwareUnavailableError(f"RAPL domains under {base} have no energy counter")
        self._count_psys_only_without_packages()

    def _count_psys_only_without_packages(self) -> None:
        has_package = any(d.device.kind == "cpu" for d in self._domains)
        for dom in self._domains:
            if dom.device.kind == "psys" and not has_package:
                dom.device = replace(dom.device, part_of=None)

    def _open_zone(self, zone: Path, all_zones: list[Path]) -> None:
        energy_file = zone / "energy_uj"
        if not energy_file.exists():
            return
        domain_name = (zone / "name").read_text().strip() if (zone / "name").exists() else zone.name
        # Zones are listed flat by the glob ("intel-rapl:0:1" sits inside "intel-rapl:0");
        # sub-zones are named after their parent so they are not counted twice.
        # DRAM sits below the package in the tree but is not part of its energy.
        nested = zone.name.count(":") >= 2 and domain_name != "dram"
        parent_id = zone.name.rsplit(":", 1)[0] if nested else None
        parent = None
        if parent_id is not None:
            parent_zone = next((z for z in all_zones if z.name == parent_id), None)
            parent_label = (
                (parent_zone / "name").read_text().strip()
                if parent_zone and (parent_zone / "name").exists()
                else parent_id
            )
            parent = f"rapl:{parent_label}"
        socket = zone.name.split(":")[1]
        label = domain_name if zone.name.count(":") < 2 else f"{domain_name}-{socket}"
        if domain_name == "psys":
            # psys covers the SoC including the packages: report it, don't add it.
            parent = "rapl:package-0"
        fd = os.open(energy_file, os.O_RDONLY)
        try:
            max_range = int((zone / "max_energy_range_uj").read_text())
            first = _read_int(fd)
        except (OSError, ValueError):
            os.close(fd)
            raise
        kind = _kind(domain_name)
        device = Device(
            name=f"rapl:{label}",
            kind=kind,
            source=self.source,
            estimated=False,
            part_of=parent,
            detail=str(zone),
        )
        self._domains.append(_Domain(device, fd, max_range, first))

    def devices(self) -> list[Device]:
        return [d.device for d in self._domains]

    def read_j(self) -> dict[str, float]:
        out: dict[str, float] = {}
        for dom in self._domains:
            now = _read_int(dom.fd)
            delta = now - dom.last_uj
            if delta < 0:  # the counter wrapped past max_energy_range_uj
                delta += dom.max_range_uj
            dom.total_uj += delta
            dom.last_uj = now
            out[dom.device.name] = dom.total_uj * MICRO
        return out

    def max_poll_interval_s(self) -> float | None:
        if not self._domains:
            return None
        smallest_range_j = min(d.max_range_uj for d in self._domains) * MICRO
        return smallest_range_j / _WORST_CASE_DOMAIN_POWER_W

    def close(self) -> None:
        for dom in self._domains:
            with contextlib.suppress(OSError):
                os.close(dom.fd)
        self._domains = []
