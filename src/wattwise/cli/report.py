"""``wattwise report RUN | --job ID | --since T``: the carbon of stored runs, for people.

Parses options, calls :mod:`wattwise.report`, prints Markdown, HTML or JSON.
"""

from __future__ import annotations

import json
from collections.abc import Sequence
from typing import Annotated

import typer

from wattwise.errors import ConfigError

FORMATS = ("md", "html", "json")


def register(app: typer.Typer) -> None:
    app.command(
        "report",
        help="Carbon report of a run, engine jobs or runs since a time: energy, PUE, "
        "operational and embodied CO₂e, SCI, a carbon statement.",
    )(report_command)


def report_command(
    run_id: Annotated[int | None, typer.Argument(help="run id, from `wattwise runs`")] = None,
    job: Annotated[
        list[int] | None, typer.Option("--job", help="engine job id (repeat for several)")
    ] = None,
    since: Annotated[
        str | None,
        typer.Option("--since", help="runs started since a UTC time or a duration ago (6h)"),
    ] = None,
    fmt: Annotated[str, typer.Option("--format", help="md, html or json")] = "md",
    pue: Annotated[
        float | None, typer.Option("--pue", help="PUE (>= 1) instead of the configured one")
    ] = None,
    market_factor: Annotated[
        float | None,
        typer.Option("--market-factor", help="contract emission factor, gCO2e/kWh (market-based)"),
    ] = None,
    unit: Annotated[
        str | None, typer.Option("--unit", help="functional unit name: item, step, token, job ...")
    ] = None,
    units: Annotated[
        float | None, typer.Option("--units", help="how many functional units the work produced")
    ] = None,
    device_model: Annotated[
        list[str] | None,
        typer.Option(
            "--device-model", help="DEVICE=MODEL for embodied CO2e (e.g. nvml:gpu-0=A100)"
        ),
    ] = None,
) -> None:
    chosen = sum(x is not None and x != [] for x in (run_id, job, since))
    if chosen != 1:
        raise ConfigError(
            "give exactly one of RUN, --job ID or --since T",
            hint="e.g. `wattwise report 3`, `report --job 7` or `report --since 1d`",
        )
    if fmt not in FORMATS:
        raise ConfigError(f"--format must be one of {', '.join(FORMATS)}, not {fmt!r}")
    print(
        render_report(
            run_ids=[run_id] if run_id is not None else [],
            job_ids=job or [],
            since=since,
            fmt=fmt,
            pue=pue,
            market=market_factor,
            unit=unit,
            units=units,
            device_models=device_model or [],
        )
    )


def render_report(
    *,
    run_ids: Sequence[int] = (),
    job_ids: Sequence[int] = (),
    since: str | None = None,
    fmt: str = "md",
    pue: float | None = None,
    market: float | None = None,
    unit: str | None = None,
    units: float | None = None,
    device_models: Sequence[str] = (),
) -> str:
    """The report as text in ``fmt`` (also what the demo prints for its jobs)."""
    from wattwise.config import load_config
    from wattwise.report import FunctionalUnit, build_report, market_factor
    from wattwise.report.embodied import HostInfo, parse_device_models
    from wattwise.report.render import html_page, markdown
    from wattwise.report.select import parse_since, run_contexts

    config = load_config()
    models = parse_device_models(device_models)
    since_s = parse_since(since) if since is not None else None
    contexts = run_contexts(run_ids=run_ids, job_ids=job_ids, since_s=since_s, zone=config.zone)
    if run_ids:
        selection, default_unit = f"run {run_ids[0]}", "run"
    elif job_ids:
        selection = ("job " if len(job_ids) == 1 else "jobs ") + ", ".join(map(str, job_ids))
        default_unit = "job"
    else:
        selection, default_unit = f"runs since {since}", "run"
    report = build_report(
        contexts,
        selection=selection,
        unit=FunctionalUnit.of(unit, units, default_unit, len(contexts)),
        pue_settings=config.pue,
        pue_override=pue,
        market=market_factor(market, config.market_factor_g_per_kwh),
        host=HostInfo.current(
            with_gpus=any(d.kind == "gpu" for c in contexts for d in c.run.devices)
        ),
        models=models,
    )
    if fmt == "json":
        return json.dumps(report.to_dict())
    return html_page(report) if fmt == "html" else markdown(report)
