"""Find the energy sources this machine has, and say why the others are missing."""

from __future__ import annotations

import os
from collections.abc import Callable, Collection
from dataclasses import dataclass, field
from types import ModuleType

from wattwise.errors import ConfigError, DevicePermissionError, WattwiseError
from wattwise.meter.sources.base import EnergySource
from wattwise.meter.sources.estimate import EstimateSettings, EstimateSource

ALL_SOURCES = ("rapl", "nvml", "amdsmi", "estimate")


@dataclass
class Detection:
    """Sources found, sources not found (with the reason), and warnings to show the user."""

    sources: list[EnergySource] = field(default_factory=list)
    missing: dict[str, str] = field(default_factory=dict)
    warnings: list[str] = field(default_factory=list)


def detect_sources(
    *,
    pid: int | None = None,
    children_only: bool = False,
    node: bool = False,
    estimate: EstimateSettings | None = None,
    only: Collection[str] | None = None,
    nvml_module: ModuleType | None = None,
    amdsmi_module: ModuleType | None = None,
) -> Detection:
    """Open every available source. The estimate covers the CPU when RAPL cannot.

    ``only`` restricts detection (e.g. ``{"estimate"}``; default: the comma list in
    ``WATTWISE_SOURCES`` if set, else all); ``pid`` is the root of the process tree the
    estimate follows (default: this process), ``children_only`` leaves the root out;
    ``node=True`` estimates the whole machine instead of a process tree.
    """
    from wattwise.meter.sources.amd import AmdSmiSource
    from wattwise.meter.sources.nvml import NvmlSource
    from wattwise.meter.sources.rapl import RaplSource

    if only is None and os.environ.get("WATTWISE_SOURCES"):
        only = [s.strip() for s in os.environ["WATTWISE_SOURCES"].split(",") if s.strip()]
    wanted = set(only) if only is not None else set(ALL_SOURCES)
    unknown = wanted - set(ALL_SOURCES)
    if unknown:
        raise ConfigError(
            f"unknown energy source(s): {', '.join(sorted(unknown))}",
            hint=f"choose from {', '.join(ALL_SOURCES)}",
        )
    found = Detection()
    openers: list[tuple[str, Callable[[], EnergySource]]] = [
        ("rapl", RaplSource),
        ("nvml", lambda: NvmlSource(nvml_module)),
        ("amdsmi", lambda: AmdSmiSource(amdsmi_module)),
    ]
    for name, opener in openers:
        if name not in wanted:
            found.missing[name] = "not requested"
            continue
        try:
            found.sources.append(opener())
        except DevicePermissionError as err:
            found.missing[name] = str(err)
            found.warnings.append(f"{name}: {err}")
        except WattwiseError as err:
            found.missing[name] = str(err)
    has_cpu_counter = any(s.source == "rapl" for s in found.sources)
    if "estimate" in wanted and not has_cpu_counter and node:
        from wattwise.meter.sources.node_estimate import NodeEstimateSource

        found.sources.append(NodeEstimateSource(estimate))
    elif "estimate" in wanted and not has_cpu_counter:
        found.sources.append(
            EstimateSource(pid=pid, settings=estimate, children_only=children_only)
        )
    elif "estimate" in wanted:
        found.missing["estimate"] = "not needed: RAPL measures the CPU"
    return found
