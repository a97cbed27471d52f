"""``wattwise simulate``: replay a job trace against real carbon traces, per policy."""

from __future__ import annotations

import datetime as dt
import json
import sys
from collections.abc import Callable
from pathlib import Path
from typing import Any

import typer

from wattwise.cli.options import DEFAULT_MAX_GAP, FillOpt, MaxGapOpt, gap_fill
from wattwise.errors import ConfigError
from wattwise.units import SECONDS_PER_HOUR, parse_duration_s


def parse_slack(text: str) -> float:
    """``24h``, ``90m``, ``2d``, ``1h30m``, ``3600s`` or a bare number of hours, read by
    the one duration parser (:func:`wattwise.units.parse_duration_s`). Units: h."""
    return parse_duration_s(text, "--slack", bare_unit_s=SECONDS_PER_HOUR) / SECONDS_PER_HOUR


def parse_start(text: str) -> float:
    """A UTC instant such as ``2022-03-01`` or ``2022-03-01T06:00Z``. Units: epoch s."""
    try:
        at = dt.datetime.fromisoformat(text.strip())
    except ValueError:
        raise ConfigError(
            f"cannot read start {text!r}", hint="write a UTC time, e.g. 2022-03-01T00:00Z"
        ) from None
    if at.tzinfo is None:
        at = at.replace(tzinfo=dt.UTC)
    return at.timestamp()


def register(app: typer.Typer) -> None:
    @app.command("simulate")
    def simulate_cmd(
        jobs: Path = typer.Option(..., "--jobs", help="Job trace CSV: arrival_time,length,cpus."),
        carbon: str = typer.Option(..., "--carbon", help="Carbon trace(s), comma-separated."),
        cluster: Path | None = typer.Option(
            None, "--cluster", help="Cluster YAML/TOML; without it capacity is unlimited."
        ),
        slack: str = typer.Option("24h", "--slack", help="How long a job may wait (24h, 90m)."),
        policy: str = typer.Option("all", "--policy", help="Policy name or 'all'."),
        as_json: bool = typer.Option(False, "--json", help="Print one JSON object."),
        plot: Path | None = typer.Option(None, "--plot", help="Write PNG plots to this folder."),
        wrap: bool = typer.Option(
            False, "--wrap", help="Repeat the carbon data where the jobs outrun it."
        ),
        time_unit: str = typer.Option("h", "--time-unit", help="Trace time unit: h, min or s."),
        emission: str = typer.Option("lca", "--emission", help="lca or direct."),
        start: str | None = typer.Option(
            None,
            "--start",
            help="UTC time of the trace's hour 0 (default: the carbon data's first hour); "
            "forecasts see the 28 days before it.",
        ),
        fill: FillOpt = "none",
        max_gap: MaxGapOpt = DEFAULT_MAX_GAP,
    ) -> None:
        """Simulate scheduling policies on a job trace and real grid carbon traces."""
        from wattwise.schedule.cluster import load_cluster
        from wattwise.schedule.policies import POLICY_NAMES
        from wattwise.schedule.scenario import build_scenario, compare, load_carbon, start_hour
        from wattwise.schedule.traces import read_job_trace

        slack_h = parse_slack(slack)
        start_s = parse_start(start) if start is not None else None
        names = list(POLICY_NAMES) if policy == "all" else [p.strip() for p in policy.split(",")]
        for n in names:
            if n not in POLICY_NAMES:
                raise ConfigError(
                    f"unknown policy {n!r}", hint=f"choose from {', '.join(POLICY_NAMES)} or all"
                )
        batch = read_job_trace(jobs, time_unit=time_unit, slack_h=slack_h)
        cl = load_cluster(cluster) if cluster is not None else None
        carbon_paths = [c.strip() for c in carbon.split(",") if c.strip()]
        if not carbon_paths:
            raise ConfigError("--carbon needs at least one file")
        read_notes: dict[str, list[str]] = {}
        data = load_carbon(carbon_paths, emission, gap_fill(fill, max_gap), read_notes)
        # Without a cluster every grid is its own scenario; a cluster spans its zones.
        groups = [{z: data[z]} for z in data] if cl is None else [data]
        results: dict[str, dict[str, Any]] = {}
        from rich.console import Console
        from rich.progress import Progress

        err = Console(stderr=True)
        with Progress(console=err, transient=True, disable=as_json) as bar:
            for carbon_set in groups:
                offset = 0 if start_s is None else start_hour(carbon_set, start_s)
                said = [n for z in carbon_set for n in read_notes.get(z, [])]
                scn = build_scenario(batch, carbon_set, cl, wrap, offset, said)

                def progress_for(name: str, zone: str = scn.zone) -> Callable[[float], None]:
                    task = bar.add_task(f"{zone} {name}", total=1.0)
                    return lambda frac: bar.update(task, completed=frac)

                results[scn.zone] = compare(scn, names, progress_for).as_dict()
        saved = _save_result(
            results, jobs=str(jobs), carbon=carbon_paths, cluster=cluster, slack_h=slack_h
        )
        print(f"wattwise: result saved to {saved}", file=sys.stderr)
        if plot is not None:
            _plots(results, plot)
        if as_json:
            out: dict[str, Any] = (
                next(iter(results.values())) if len(results) == 1 else {"grids": results}
            )
            typer.echo(json.dumps(out, indent=2))
            return
        _table(results)

    _ = simulate_cmd


def _save_result(
    results: dict[str, dict[str, Any]],
    *,
    jobs: str,
    carbon: list[str],
    cluster: Path | None,
    slack_h: float,
) -> Path:
    """Keep the comparison under $WATTWISE_HOME/simulations/<id>/ for the API and dashboard."""
    from datetime import UTC, datetime

    from wattwise.config import home

    rid = "simulate-" + datetime.now(tz=UTC).strftime("%Y%m%dT%H%M%S%fZ")
    folder = home() / "simulations" / rid
    folder.mkdir(parents=True, exist_ok=True)
    doc = {
        "kind": "simulate",
        "jobs": jobs,
        "carbon": carbon,
        "cluster": str(cluster) if cluster is not None else None,
        "slack_h": slack_h,
        "grids": results,
    }
    path = folder / "result.json"
    path.write_text(json.dumps(doc, indent=1), encoding="utf-8")
    return path


def _table(results: dict[str, dict[str, Any]]) -> None:
    from rich.console import Console
    from rich.table import Table

    console = Console()
    if not console.is_terminal:
        console = Console(width=170)  # piped: keep every column whole
    for zone, res in results.items():
        t = Table(title=f"{zone}: policies side by side")
        cols = [
            ("kgCO2e", "co2e_kg", "{:.2f}"),
            ("saved vs FIFO", "saved_vs_fifo", "{:.1%}"),
            ("kWh", "energy_kwh", "{:.1f}"),
            ("work/kWh", "work_per_kwh", "{:.1f}"),
            ("util", "utilisation", "{:.0%}"),
            ("mean wait h", "mean_wait_h", "{:.2f}"),
            ("p95 wait h", "p95_wait_h", "{:.2f}"),
            ("missed", "deadline_misses", "{}"),
            ("solar self-use", "solar_self_consumption", "{:.0%}"),
            ("rejected", "rejected", "{}"),
        ]
        t.add_column("policy", no_wrap=True)
        for head, _, _ in cols:
            t.add_column(head, justify="right")
        rows = dict(res["policies"])
        if res.get("oracle"):
            label = "oracle (LP bound)" if "bound" in res["oracle"] else "oracle (bound)"
            rows[label] = res["oracle"]
        for name, m in rows.items():
            cells = []
            for _, key, fmt in cols:
                v = m.get(key)
                cells.append("-" if v is None else fmt.format(v))
            t.add_row(name, *cells)
        console.print(t)
        for note in [*res.get("notes", []), *filter(None, [res.get("oracle_note")])]:
            console.print(f"note: {note}")


def _plots(results: dict[str, dict[str, Any]], folder: Path) -> None:
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    folder.mkdir(parents=True, exist_ok=True)
    for zone, res in results.items():
        rows = dict(res["policies"])
        if res.get("oracle"):
            rows["oracle"] = res["oracle"]
        names = list(rows)
        fig, axes = plt.subplots(1, 2, figsize=(11, 4))
        axes[0].bar(names, [rows[n]["co2e_kg"] for n in names], color="#3a7d44")
        axes[0].set_ylabel("kgCO2e")
        axes[0].set_title(f"{zone}: carbon per policy")
        waited = [n for n in names if "mean_wait_h" in rows[n]]  # a bound has no waits
        axes[1].bar(waited, [rows[n]["mean_wait_h"] for n in waited], color="#55768c")
        axes[1].set_ylabel("mean wait (h)")
        axes[1].set_title("waiting time")
        for ax in axes:
            ax.tick_params(axis="x", rotation=45)
        fig.tight_layout()
        fig.savefig(folder / f"simulate_{zone}.png", dpi=100)
        plt.close(fig)
