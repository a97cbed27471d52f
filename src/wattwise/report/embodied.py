"""Embodied (manufacturing) CO₂e of the devices a run used, from a sourced table.

``data/embodied.csv`` holds one public figure per row (kgCO₂e per device, or per GB
for memory, and the lifetime it is amortised over); ``data/embodied.SOURCE.md``
names each row's source. A run's share of a device is its time share,
``duration / lifetime`` (the whole device counted as reserved for the run). A device
whose model is unknown or has no row is *unknown*, never zero.

The store keeps each device's name and kind, not its model, so the model comes from
the user (``--device-model NAME=MODEL``) or, for a run recorded on this host, from
this host (CPU model from /proc/cpuinfo, installed memory, NVIDIA GPU names).
"""

from __future__ import annotations

import csv
import re
import socket
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from functools import lru_cache
from importlib import resources
from types import ModuleType

from wattwise.errors import ConfigError, DataFormatError

SECONDS_PER_YEAR = 365.25 * 24 * 3600.0
TABLE = "wattwise/data/embodied.csv"
SOURCES = "wattwise/data/embodied.SOURCE.md"


@dataclass(frozen=True)
class EmbodiedFigure:
    """One row of the table. Units: kgCO₂e per ``per`` (``device`` or ``GB``), years."""

    pattern: re.Pattern[str]
    kind: str
    per: str
    embodied_kgco2e: float
    lifetime_years: float
    label: str
    source_id: str


@lru_cache(maxsize=1)
def embodied_table() -> tuple[EmbodiedFigure, ...]:
    text = resources.files("wattwise").joinpath("data/embodied.csv").read_text("utf-8")
    return parse_table(text, TABLE)


def parse_table(text: str, where: str) -> tuple[EmbodiedFigure, ...]:
    """Rows of an embodied table (CSV, ``#`` comments); a bad row is a DataFormatError."""
    lines = text.splitlines()
    body = [(n, line) for n, line in enumerate(lines, start=1) if not line.startswith("#")]
    reader = csv.DictReader(line for _, line in body)
    out = []
    for (number, _), row in zip(body[1:], reader, strict=False):
        try:
            figure = EmbodiedFigure(
                re.compile(row["pattern"], re.IGNORECASE),
                row["kind"],
                row["per"],
                float(row["embodied_kgco2e"]),
                float(row["lifetime_years"]),
                row["label"],
                row["source_id"],
            )
        except (KeyError, TypeError, ValueError, re.error) as err:
            raise DataFormatError(where, f"bad row ({err})", line=number) from None
        bad = figure.per not in ("device", "GB") or not (
            0 < figure.embodied_kgco2e < 1e6 and 0 < figure.lifetime_years < 100
        )
        if bad or not figure.source_id:
            raise DataFormatError(
                where, "per must be device or GB, figures finite and > 0, a source_id", number
            )
        out.append(figure)
    return tuple(out)


@dataclass(frozen=True)
class HostInfo:
    """What this host says about its hardware, for runs recorded here."""

    hostname: str
    cpu_model: str | None = None
    memory_gb: float | None = None
    gpu_models: Mapping[str, str] = field(default_factory=dict)  # device name -> model

    @classmethod
    def current(cls, *, with_gpus: bool, nvml_module: ModuleType | None = None) -> HostInfo:
        """Read this host (file reads; NVML only when ``with_gpus``; a stand-in ``nvml_module``)."""
        import psutil

        from wattwise.meter.cpu_model import cpu_model_name

        cpu = cpu_model_name()
        gpus: dict[str, str] = {}
        if with_gpus:
            gpus = _nvml_models(nvml_module)
        return cls(
            hostname=socket.gethostname(),
            cpu_model=None if cpu == "unknown" else cpu,
            memory_gb=psutil.virtual_memory().total / 1e9,
            gpu_models=gpus,
        )


def _nvml_models(nvml_module: ModuleType | None = None) -> dict[str, str]:
    """``{"nvml:gpu-0": "NVIDIA A100-SXM4-40GB", ...}``; empty without NVML."""
    from wattwise.errors import WattwiseError

    try:
        from wattwise.meter.sources.nvml import NvmlSource

        source = NvmlSource(nvml_module)
    except (WattwiseError, ImportError, OSError):
        return {}
    try:
        return {d.name: d.detail.split(";")[0].strip() for d in source.devices()}
    finally:
        close = getattr(source, "close", None)
        if callable(close):
            close()


@dataclass(frozen=True)
class DeviceEmbodied:
    """A device's embodied CO₂e over one run. ``co2e_g`` None = unknown (``reason`` says why).

    Units: kgCO₂e (``embodied_kgco2e``: the whole device), years, g (``co2e_g``: the run's share).
    """

    device: str
    kind: str
    model: str | None
    model_from: str
    co2e_g: float | None
    embodied_kgco2e: float | None = None
    lifetime_years: float | None = None
    time_share: float | None = None
    source_id: str | None = None
    label: str | None = None
    reason: str = ""

    @property
    def known(self) -> bool:
        return self.co2e_g is not None


@dataclass(frozen=True)
class DeviceUse:
    """A device a run used, as the store has it."""

    name: str
    kind: str


def parse_device_models(values: Sequence[str]) -> dict[str, str]:
    """``["nvml:gpu-0=NVIDIA A100", "estimate:dram=64GB"]`` -> {device: model}."""
    out: dict[str, str] = {}
    for value in values:
        name, sep, model = value.partition("=")
        if not sep or not name.strip() or not model.strip():
            raise ConfigError(
                f"--device-model {value!r} is not DEVICE=MODEL",
                hint='e.g. nvml:gpu-0="NVIDIA A100"; `wattwise show RUN` names the devices',
            )
        out[name.strip()] = model.strip()
    return out


def _gb(text: str) -> float | None:
    found = re.fullmatch(r"\s*([0-9]+(?:\.[0-9]+)?)\s*(GB|GiB|TB)?\s*", text, re.IGNORECASE)
    if not found:
        return None
    value = float(found.group(1))
    unit = (found.group(2) or "GB").lower()
    return value * {"gb": 1.0, "gib": 1.073741824, "tb": 1000.0}[unit]


def device_embodied(
    device: DeviceUse,
    duration_s: float,
    *,
    run_host: str,
    host: HostInfo | None,
    models: Mapping[str, str],
    table: Sequence[EmbodiedFigure] | None = None,
) -> DeviceEmbodied:
    """The embodied CO₂e of ``device`` over a run of ``duration_s`` seconds on ``run_host``."""
    rows = embodied_table() if table is None else table
    model, model_from = _model(device, run_host, host, models)
    if model is None:
        return DeviceEmbodied(
            device.name, device.kind, None, model_from, None,
            reason=f"model unknown ({model_from}; give --device-model {device.name}=MODEL)",
        )  # fmt: skip
    for row in rows:
        if row.kind != device.kind:
            continue
        if row.per == "GB":
            size = _gb(model)
            if size is None:
                continue
            amount = row.embodied_kgco2e * size
        elif row.pattern.search(model):
            amount = row.embodied_kgco2e
        else:
            continue
        share = duration_s / (row.lifetime_years * SECONDS_PER_YEAR)
        return DeviceEmbodied(
            device.name, device.kind, model, model_from, amount * 1000.0 * share,
            embodied_kgco2e=amount, lifetime_years=row.lifetime_years, time_share=share,
            source_id=row.source_id, label=row.label,
        )  # fmt: skip
    return DeviceEmbodied(
        device.name, device.kind, model, model_from, None,
        reason=f"no public embodied figure for {model!r} ({SOURCES})",
    )  # fmt: skip


def _model(
    device: DeviceUse, run_host: str, host: HostInfo | None, models: Mapping[str, str]
) -> tuple[str | None, str]:
    """The device's model (for memory: its capacity, e.g. ``"64 GB"``) and where it came from."""
    if device.name in models:
        return models[device.name], "--device-model"
    if host is None or host.hostname != run_host:
        return None, f"run recorded on host {run_host!r}, not this one"
    if device.kind == "cpu" and host.cpu_model:
        return host.cpu_model, "this host's /proc/cpuinfo"
    if device.kind == "dram" and host.memory_gb:
        return f"{host.memory_gb:.1f} GB", "this host's installed memory"
    if device.kind == "gpu" and device.name in host.gpu_models:
        return host.gpu_models[device.name], "this host's NVML device name"
    return None, f"this host does not name its {device.kind} model"
