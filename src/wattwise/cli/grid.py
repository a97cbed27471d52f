"""``wattwise grid ...``: how clean is power here and when.

``zones``, ``now``, ``history``, ``forecast``, ``best-window`` and ``solar``. Every
command names its source; ``--json`` prints one JSON object on stdout and ``--plot
FILE.png`` draws the series. Times are ISO 8601 (naive = UTC), epoch seconds,
``now`` or ``now+6h`` / ``now-2d``.
"""

from __future__ import annotations

import json
import math
import re
import time
from datetime import UTC, datetime
from pathlib import Path
from typing import TYPE_CHECKING, Annotated, Any

import typer

from wattwise.cli.options import DEFAULT_MAX_GAP, FillOpt, MaxGapOpt, gap_fill
from wattwise.errors import ConfigError
from wattwise.units import iso_utc, parse_duration_s

if TYPE_CHECKING:
    from wattwise.grid import IntensityProvider
    from wattwise.units import TimeSeries

grid_app = typer.Typer(
    name="grid",
    help="Carbon intensity now and ahead, the cleanest window, on-site solar.",
    no_args_is_help=True,
)


def register(app: typer.Typer) -> None:
    app.add_typer(grid_app, name="grid")


def parse_time(text: str, option: str, now_s: float | None = None) -> float:
    """ISO 8601 (naive = UTC), epoch seconds, ``now``, ``now+6h``. Units: epoch s."""
    raw = text.strip()
    now = time.time() if now_s is None else now_s
    rel = re.fullmatch(r"now(?:\s*([+-])(.+))?", raw)
    if rel:
        if rel.group(1) is None:
            return now
        sign = 1.0 if rel.group(1) == "+" else -1.0
        return now + sign * parse_duration_s(rel.group(2), option)
    try:
        return float(raw)
    except ValueError:
        pass
    try:
        stamp = datetime.fromisoformat(raw)
    except ValueError:
        raise ConfigError(
            f"{option}: cannot read time {text!r}",
            hint="use ISO 8601 (2024-05-01T14:00, naive = UTC), epoch seconds or now+6h",
        ) from None
    if stamp.tzinfo is None:
        stamp = stamp.replace(tzinfo=UTC)
    return stamp.timestamp()


def _emit(payload: dict[str, Any]) -> None:
    typer.echo(json.dumps(payload, indent=None, allow_nan=False))


def _provider(
    zone: str | None,
    carbon: Path | None,
    intensity: float | None,
    replay: bool,
    emission: str,
    gaps: tuple[str, str] = ("none", DEFAULT_MAX_GAP),
) -> IntensityProvider:
    """The provider asked for; ``gaps`` is ``(--fill, --max-gap)`` for a trace file."""
    from wattwise.grid import resolve_provider

    if emission not in ("lca", "direct"):
        raise ConfigError(f"--emission must be lca or direct, not {emission!r}")
    return resolve_provider(
        zone=zone,
        carbon_file=carbon,
        fixed_g_per_kwh=intensity,
        replay=replay,
        emission=emission,
        fill=gap_fill(*gaps) if carbon is not None else None,
    )


def _series_payload(series: TimeSeries) -> dict[str, Any]:
    return {
        "unit": series.unit,
        "step_s": series.step_s,
        "times": [iso_utc(float(t)) for t in series.times_s],
        "values": [round(float(v), 4) for v in series.values],
    }


def _plot(
    path: Path,
    series: TimeSeries,
    title: str,
    ylabel: str,
    *,
    highlight: list[tuple[float, float]] | None = None,
    extra: tuple[TimeSeries, str] | None = None,
) -> None:
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt
    import numpy as np

    def hours(ts: TimeSeries) -> tuple[Any, Any]:
        t = np.append(ts.times_s, ts.end_s)
        v = np.append(ts.values, ts.values[-1])
        return [datetime.fromtimestamp(float(x), tz=UTC) for x in t], v

    fig, ax = plt.subplots(figsize=(10, 4))
    x, y = hours(series)
    ax.step(x, y, where="post", label=series.unit, linewidth=1.2)
    if extra is not None:
        ex, ey = hours(extra[0])
        ax.step(ex, ey, where="post", label=extra[1], linewidth=1.0, linestyle="--")
    from matplotlib.dates import date2num

    for a, b in highlight or []:
        ax.axvspan(
            float(date2num(datetime.fromtimestamp(a, tz=UTC))),
            float(date2num(datetime.fromtimestamp(b, tz=UTC))),
            color="tab:green",
            alpha=0.25,
        )
    ax.set_title(title)
    ax.set_ylabel(ylabel)
    ax.set_xlabel("time (UTC)")
    ax.grid(alpha=0.3)
    ax.legend(loc="best")
    fig.autofmt_xdate()
    fig.tight_layout()
    try:
        fig.savefig(path, dpi=110)
    except OSError as err:
        raise ConfigError(f"--plot: cannot write {path} ({err.strerror})") from None
    finally:
        plt.close(fig)


# Options shared by the intensity commands.
ZoneOpt = Annotated[
    str | None,
    typer.Option(
        "--zone",
        help="static zone (DE, US-CAL-CISO; see `grid zones`), cloud region "
        "(aws:eu-central-1, gcp:europe-west4, azure:westeurope) or live PROVIDER:ZONE "
        "(electricitymaps:DE, watttime:CAISO_NORTH, ukci:GB)",
    ),
]
CarbonOpt = Annotated[
    Path | None, typer.Option("--carbon", help="carbon-intensity trace CSV (portal or time,value)")
]
IntensityOpt = Annotated[
    float | None, typer.Option("--intensity", help="fixed intensity, gCO₂e/kWh")
]
ReplayOpt = Annotated[
    bool, typer.Option("--replay", help="reuse a trace by time of year outside its span")
]
EmissionOpt = Annotated[
    str, typer.Option("--emission", help="portal column: lca (life-cycle) or direct")
]
JsonOpt = Annotated[bool, typer.Option("--json", help="print one JSON object on stdout")]
PlotOpt = Annotated[Path | None, typer.Option("--plot", help="draw the series to FILE.png")]


@grid_app.command("zones", help="List zones with a static annual average, and their sources.")
def zones_command(as_json: JsonOpt = False) -> None:
    from wattwise.grid import list_zones

    rows = list_zones()
    if as_json:
        _emit(
            {
                "unit": "gCO2e/kWh",
                "zones": [
                    {
                        "zone": z.zone,
                        "name": z.name,
                        "g_per_kwh": z.g_per_kwh,
                        "year": z.year,
                        "source": z.source,
                    }
                    for z in rows
                ],
            }
        )
        return
    for z in rows:
        typer.echo(f"{z.zone:<12} {z.g_per_kwh:>6g} gCO₂e/kWh  {z.year}  {z.name}")
    typer.echo(f"{len(rows)} zones; `wattwise grid zones --json` gives each row's source")


@grid_app.command("now", help="Carbon intensity now, and where the number comes from.")
def now_command(
    zone: ZoneOpt = None,
    carbon: CarbonOpt = None,
    intensity: IntensityOpt = None,
    replay: ReplayOpt = False,
    emission: EmissionOpt = "lca",
    fill: FillOpt = "none",
    max_gap: MaxGapOpt = DEFAULT_MAX_GAP,
    as_json: JsonOpt = False,
) -> None:
    from wattwise.grid.chain import ProviderChain
    from wattwise.grid.live import LiveProvider

    provider = _provider(zone, carbon, intensity, replay, emission, (fill, max_gap))
    if isinstance(provider, LiveProvider | ProviderChain):
        at_s, value = provider.now()
    else:
        at_s = time.time()
        series = provider.series(at_s, at_s + 1.0)
        value = float(series.values[0])
    if as_json:
        from wattwise.grid.regions import grid_zone

        _emit(
            {
                "time": iso_utc(at_s),
                "zone": grid_zone(zone) if zone else None,
                "intensity": value,
                "unit": "gCO2e/kWh",
                "source": provider.describe(),
            }
        )
        return
    typer.echo(f"{value:.1f} gCO₂e/kWh at {iso_utc(at_s)}")
    typer.echo(f"source: {provider.describe()}")


def _default_range(
    provider: IntensityProvider, start: str | None, end: str | None
) -> tuple[float, float]:
    from wattwise.grid import TraceProvider

    if isinstance(provider, TraceProvider) and start is None and end is None:
        return provider.trace.start_s, provider.trace.end_s
    now = time.time()
    start_s = parse_time(start, "--start") if start else now - 86400.0
    end_s = parse_time(end, "--end") if end else (start_s + 86400.0 if start else now)
    if end_s <= start_s:
        raise ConfigError("--end must be after --start")
    return start_s, end_s


@grid_app.command("history", help="Intensity over a period: summary, series (--json), plot.")
def history_command(
    zone: ZoneOpt = None,
    carbon: CarbonOpt = None,
    intensity: IntensityOpt = None,
    replay: ReplayOpt = False,
    emission: EmissionOpt = "lca",
    fill: FillOpt = "none",
    max_gap: MaxGapOpt = DEFAULT_MAX_GAP,
    start: Annotated[
        str | None, typer.Option("--start", help="from (default: trace start / 24 h ago)")
    ] = None,
    end: Annotated[str | None, typer.Option("--end", help="to (default: trace end / now)")] = None,
    as_json: JsonOpt = False,
    plot: PlotOpt = None,
) -> None:
    import numpy as np

    provider = _provider(zone, carbon, intensity, replay, emission, (fill, max_gap))
    start_s, end_s = _default_range(provider, start, end)
    series = provider.series(start_s, end_s)
    values = series.values
    summary = {
        "start": iso_utc(start_s),
        "end": iso_utc(end_s),
        "mean_intensity": float(np.mean(values)),
        "min_intensity": float(np.min(values)),
        "max_intensity": float(np.max(values)),
        "points": len(series),
    }
    if plot is not None:
        _plot(plot, series, f"Carbon intensity — {provider.describe()[:90]}", "gCO₂e/kWh")
    if as_json:
        _emit({**summary, "source": provider.describe(), **_series_payload(series)})
        return
    typer.echo(f"{summary['start']} to {summary['end']}: {len(series)} points")
    typer.echo(
        f"mean {summary['mean_intensity']:.1f}, min {summary['min_intensity']:.1f}, "
        f"max {summary['max_intensity']:.1f} gCO₂e/kWh"
    )
    typer.echo(f"source: {provider.describe()}")


@grid_app.command(
    "forecast",
    help="Forecast from a given instant: the built-in forecaster on a trace (it sees only "
    "the past), or a live provider's own forecast.",
)
def forecast_command(
    zone: ZoneOpt = None,
    carbon: CarbonOpt = None,
    replay: ReplayOpt = False,
    emission: EmissionOpt = "lca",
    fill: FillOpt = "none",
    max_gap: MaxGapOpt = DEFAULT_MAX_GAP,
    at: Annotated[str | None, typer.Option("--at", help="issue time (default: now)")] = None,
    horizon: Annotated[int, typer.Option("--horizon", help="hours ahead")] = 24,
    as_json: JsonOpt = False,
    plot: PlotOpt = None,
) -> None:

    from wattwise.grid import TraceProvider, forecast_series
    from wattwise.grid.forecast import score_forecast

    if horizon < 1 or horizon > 24 * 14:
        raise ConfigError(f"--horizon must be 1..336 hours, not {horizon}")
    provider = _provider(zone, carbon, None, replay, emission, (fill, max_gap))
    issue_s = parse_time(at, "--at") if at else time.time()
    payload: dict[str, Any] = {"issued": iso_utc(issue_s), "horizon_h": horizon}
    forecast, method = forecast_series(provider, issue_s, horizon)
    score = None
    if isinstance(provider, TraceProvider) and not provider.replay:
        score = score_forecast(provider.trace, forecast)
    actual = score.actual if score is not None else None
    if score is not None:
        payload["actual"] = [round(float(v), 4) for v in score.actual.values]
        payload["mape_percent"] = score.mape_percent
        payload["seasonal_naive_mape_percent"] = score.seasonal_naive_mape_percent
    payload.update({"method": method, "source": provider.describe(), **_series_payload(forecast)})
    if plot is not None:
        _plot(
            plot,
            forecast,
            f"Forecast issued {iso_utc(issue_s)}",
            "gCO₂e/kWh",
            extra=(actual, "actual") if actual is not None else None,
        )
    if as_json:
        _emit(payload)
        return
    typer.echo(f"forecast issued {payload['issued']} for {horizon} h ({method})")
    for t, v in zip(payload["times"], payload["values"], strict=True):
        typer.echo(f"  {t}  {v:8.1f} gCO₂e/kWh")
    if "mape_percent" in payload:
        typer.echo(
            f"MAPE against the trace: {payload['mape_percent']:.1f} % "
            f"(seasonal-naive: {payload['seasonal_naive_mape_percent']:.1f} %)"
        )
    typer.echo(f"source: {provider.describe()}")


@grid_app.command(
    "best-window",
    help="The cleanest time to run a job of --duration hours between --earliest and --deadline.",
)
def best_window_command(
    duration: Annotated[float, typer.Option("--duration", help="job length, hours")],
    zone: ZoneOpt = None,
    carbon: CarbonOpt = None,
    intensity: IntensityOpt = None,
    replay: ReplayOpt = False,
    emission: EmissionOpt = "lca",
    fill: FillOpt = "none",
    max_gap: MaxGapOpt = DEFAULT_MAX_GAP,
    earliest: Annotated[
        str | None, typer.Option("--earliest", help="earliest start (default: trace start / now)")
    ] = None,
    deadline: Annotated[
        str | None,
        typer.Option("--deadline", help="latest end (default: trace end / earliest + 24 h)"),
    ] = None,
    interruptible: Annotated[
        bool, typer.Option("--interruptible", help="the job may pause: pick the cleanest steps")
    ] = False,
    as_json: JsonOpt = False,
    plot: PlotOpt = None,
) -> None:
    from wattwise.grid import TraceProvider
    from wattwise.grid.window import choose_window

    if not (math.isfinite(duration) and duration > 0):
        raise ConfigError(f"--duration must be a positive number of hours, not {duration}")
    provider = _provider(zone, carbon, intensity, replay, emission, (fill, max_gap))
    trace_like = isinstance(provider, TraceProvider) and not provider.replay
    if earliest is not None:
        earliest_s = parse_time(earliest, "--earliest")
    else:
        earliest_s = provider.trace.start_s if trace_like else time.time()  # type: ignore[attr-defined]
    if deadline is not None:
        deadline_s = parse_time(deadline, "--deadline")
    else:
        deadline_s = provider.trace.end_s if trace_like else earliest_s + 86400.0  # type: ignore[attr-defined]
    series = provider.series(earliest_s, deadline_s)
    choice = choose_window(series, duration * 3600.0, earliest_s, deadline_s, interruptible)
    periods = list(choice.periods)
    mean, baseline = choice.mean_intensity, choice.baseline_mean_intensity
    payload: dict[str, Any] = {
        "start": iso_utc(choice.start_s),
        "end": iso_utc(choice.end_s),
        "mean_intensity": mean,
    }
    if interruptible:
        payload["periods"] = [{"start": iso_utc(a), "end": iso_utc(b)} for a, b in periods]
    payload.update(
        {
            "unit": "gCO2e/kWh",
            "duration_h": duration,
            "earliest": iso_utc(earliest_s),
            "deadline": iso_utc(deadline_s),
            "baseline_mean_intensity": baseline,
            "saving_percent": choice.saving_percent,
            "source": provider.describe(),
        }
    )
    if plot is not None:
        _plot(plot, series, f"Cleanest {duration:g} h window", "gCO₂e/kWh", highlight=periods)
    if as_json:
        _emit(payload)
        return
    if interruptible:
        typer.echo(f"run in {len(periods)} part(s), mean {mean:.1f} gCO₂e/kWh:")
        for a, b in periods:
            typer.echo(f"  {iso_utc(a)} to {iso_utc(b)}")
    else:
        typer.echo(f"start {payload['start']}, end {payload['end']}: mean {mean:.1f} gCO₂e/kWh")
    if baseline:
        typer.echo(
            f"starting at the earliest time instead: {baseline:.1f} gCO₂e/kWh "
            f"({payload['saving_percent']:.1f} % saved)"
        )
    typer.echo(f"source: {provider.describe()}")


@grid_app.command("solar", help="On-site PV output (W) for a site, from pvlib clear sky.")
def solar_command(
    lat: Annotated[float, typer.Option("--lat", help="latitude, degrees")],
    lon: Annotated[float, typer.Option("--lon", help="longitude, degrees")],
    kwp: Annotated[float, typer.Option("--kwp", help="DC nameplate, kWp")],
    tilt: Annotated[float, typer.Option("--tilt", help="panel tilt, degrees")] = 30.0,
    azimuth: Annotated[
        float, typer.Option("--azimuth", help="panel azimuth, degrees (180 = south)")
    ] = 180.0,
    start: Annotated[
        str | None, typer.Option("--start", help="from (default: today 00:00 UTC)")
    ] = None,
    end: Annotated[str | None, typer.Option("--end", help="to (default: start + 24 h)")] = None,
    step: Annotated[float, typer.Option("--step", help="step, minutes")] = 60.0,
    profile: Annotated[
        Path | None, typer.Option("--profile", help="measured normalised PV profile CSV")
    ] = None,
    column: Annotated[
        str | None, typer.Option("--column", help="profile column (city), e.g. Berlin")
    ] = None,
    as_json: JsonOpt = False,
    plot: PlotOpt = None,
) -> None:
    import numpy as np

    from wattwise.grid.solar import PVSite, describe_profile_use, load_solar_profile, pv_power
    from wattwise.units import joules_to_kwh

    site = PVSite(lat, lon, kwp, tilt_deg=tilt, azimuth_deg=azimuth)
    if start is None:
        now = time.time()
        start_s = now - now % 86400.0
    else:
        start_s = parse_time(start, "--start")
    end_s = parse_time(end, "--end") if end else start_s + 86400.0
    measured = None
    if profile is not None:
        if not column:
            raise ConfigError("--profile needs --column (which city/site column to use)")
        measured = load_solar_profile(profile, column)
    series = pv_power(site, start_s, end_s, step * 60.0, profile=measured)
    model = (
        describe_profile_use(measured, start_s, end_s)
        if measured is not None
        else "clear sky (pvlib Ineichen, PVWatts)"
    )
    energy_kwh = joules_to_kwh(series.integral(series.start_s, series.end_s))
    payload = {
        "start": iso_utc(start_s),
        "end": iso_utc(end_s),
        "energy_kwh": energy_kwh,
        "peak_w": float(np.max(series.values)),
        "model": model,
        **_series_payload(series),
    }
    if plot is not None:
        _plot(plot, series, f"PV output, {kwp:g} kWp at ({lat:g}, {lon:g})", "W")
    if as_json:
        _emit(payload)
        return
    typer.echo(
        f"{payload['start']} to {payload['end']}: {energy_kwh:.2f} kWh, "
        f"peak {payload['peak_w']:.0f} W ({model})"
    )
