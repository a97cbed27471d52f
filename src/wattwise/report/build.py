"""Build a carbon report from stored runs: energy x PUE, location/market CO₂e, embodied, SCI."""

from __future__ import annotations

import math
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, replace

from wattwise.config import PueSettings, check_number
from wattwise.errors import StoreError
from wattwise.report.embodied import DeviceUse, HostInfo, device_embodied
from wattwise.report.equivalents import equivalents
from wattwise.report.model import DeviceEnergyLine, MarketFactor, Report, RunCarbon
from wattwise.report.pue import resolve_pue
from wattwise.report.sci import FunctionalUnit, sci_g
from wattwise.store.runs import RunRecord

J_PER_KWH = 3.6e6


@dataclass(frozen=True)
class RunContext:
    """A stored run and what the store knows of where it ran (for its PUE)."""

    run: RunRecord
    job_id: int | None = None
    zone: str | None = None
    node_group: str | None = None


def market_factor(flag: float | None, configured: float | None) -> MarketFactor | None:
    """The contract factor from ``--market-factor`` or config; None when neither is set."""
    if flag is not None:
        return MarketFactor(
            check_number("market_factor_g_per_kwh", flag, "--market-factor"), "--market-factor"
        )
    if configured is not None:
        return MarketFactor(configured, "config market_factor_g_per_kwh")
    return None


def _finite(run: RunRecord, field: str, value: float | None) -> float | None:
    """``value`` if it is a finite number >= 0 (or None); a damaged row is a StoreError."""
    if value is not None and not (math.isfinite(value) and value >= 0):
        raise StoreError(
            f"run {run.id}: stored {field} is {value!r}, not a finite number >= 0",
            hint="the run's row is damaged; measure it again",
        )
    return value


def run_carbon(
    ctx: RunContext,
    *,
    pue_settings: PueSettings | None,
    pue_override: float | None,
    market: MarketFactor | None,
    host: HostInfo | None,
    models: Mapping[str, str],
) -> RunCarbon:
    """One run's carbon. A run with no stored energy is refused (it measured nothing)."""
    run = ctx.run
    energy_j = _finite(run, "energy_j", run.energy_j)
    if energy_j is None:
        raise StoreError(
            f"run {run.id} has no energy recorded (status {run.status})",
            hint="report a finished run; `wattwise runs` lists them",
        )
    co2e_g = _finite(run, "co2e_g", run.co2e_g)
    duration = _finite(run, "duration_s", run.duration_s)
    if duration is None:
        duration = max(0.0, (run.ended_s or run.started_s) - run.started_s)
    for d in run.devices:
        _finite(run, f"energy_j of device {d.name}", d.energy_j)
    pue = resolve_pue(pue_settings, zone=ctx.zone, node_group=ctx.node_group, override=pue_override)
    energy_kwh = energy_j / J_PER_KWH
    intensity = co2e_g / energy_kwh if co2e_g is not None and energy_kwh > 0 else None
    operational = None if co2e_g is None else co2e_g * pue.value
    market_g = None if market is None else energy_kwh * pue.value * market.g_per_kwh
    used = [d for d in run.devices if d.in_total]
    embodied = tuple(
        device_embodied(
            DeviceUse(d.name, d.kind), duration, run_host=run.host, host=host, models=models
        )
        for d in used
    )
    return RunCarbon(
        run_id=run.id,
        name=run.name,
        kind=run.kind,
        status=run.status,
        host=run.host,
        job_id=ctx.job_id,
        started_s=run.started_s,
        duration_s=duration,
        energy_kwh=energy_kwh,
        estimated=run.estimated,
        devices=tuple(
            DeviceEnergyLine(d.name, d.kind, d.source, d.estimated, d.energy_j / J_PER_KWH)
            for d in used
        ),
        pue=pue,
        intensity_g_per_kwh=intensity,
        intensity_source=run.intensity_source,
        operational_co2e_g=operational,
        market_co2e_g=market_g,
        embodied=embodied,
    )


def build_report(
    runs: Sequence[RunContext],
    *,
    selection: str,
    unit: FunctionalUnit,
    pue_settings: PueSettings | None = None,
    pue_override: float | None = None,
    market: MarketFactor | None = None,
    host: HostInfo | None = None,
    models: Mapping[str, str] | None = None,
) -> Report:
    """The report over ``runs``; ``unit`` is the functional unit R of the SCI."""
    from wattwise.report.render import statement

    if not runs:
        raise StoreError(
            f"no runs to report for {selection}", hint="`wattwise runs` lists stored runs"
        )
    items = tuple(
        run_carbon(
            ctx,
            pue_settings=pue_settings,
            pue_override=pue_override,
            market=market,
            host=host,
            models=models or {},
        )
        for ctx in runs
    )
    draft = Report(selection, items, unit, market, None, ())
    total = draft.total_co2e_g
    report = replace(draft, sci_g=sci_g(total, unit), equivalents=tuple(equivalents(total)))
    return replace(report, statement=statement(report))
