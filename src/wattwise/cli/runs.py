"""``wattwise runs``, ``wattwise show RUN``, ``wattwise export``: what has been measured."""

from __future__ import annotations

import csv
import json
import sys
from pathlib import Path
from typing import Annotated, Any

import typer

from wattwise.errors import ConfigError, StoreError

EXPORT_FIELDS = (
    "id",
    "name",
    "kind",
    "status",
    "exit_code",
    "host",
    "started_s",
    "ended_s",
    "duration_s",
    "energy_j",
    "avg_power_w",
    "peak_power_w",
    "co2e_g",
    "estimated",
    "intensity_source",
    "command",
)


def register(app: typer.Typer) -> None:
    app.command("runs", help="List measured runs, newest first.")(runs_command)
    app.command("show", help="One run: devices, and its windows ranked by share of energy.")(
        show_command
    )
    app.command("export", help="Export runs to CSV or Parquet.")(export_command)


def runs_command(
    as_json: Annotated[bool, typer.Option("--json", help="print JSON on stdout")] = False,
    limit: Annotated[int, typer.Option("--limit", min=1, help="how many runs")] = 20,
    status: Annotated[
        str | None, typer.Option("--status", help="running|completed|failed|interrupted")
    ] = None,
) -> None:
    from wattwise.store import RunStore

    runs = RunStore().list_runs(limit=limit, status=status)
    if as_json:
        print(json.dumps([r.to_dict() for r in runs]))
        return
    from rich.console import Console
    from rich.table import Table

    from wattwise.cli import format as fmt

    table = Table(title="wattwise runs", title_justify="left")
    for column in ("id", "name", "status", "started (UTC)", "duration", "energy", "CO₂e", "how"):
        table.add_column(column)
    for r in runs:
        table.add_row(
            str(r.id),
            r.name,
            r.status + (f" ({r.exit_code})" if r.exit_code not in (None, 0) else ""),
            fmt.timestamp(r.started_s, short=True),
            fmt.seconds(r.duration_s),
            fmt.energy(r.energy_j),
            fmt.grams(r.co2e_g),
            fmt.how(r.estimated),
        )
    Console().print(table)


def show_command(
    run_id: Annotated[int, typer.Argument(help="run id, from `wattwise runs`")],
    as_json: Annotated[bool, typer.Option("--json", help="print JSON on stdout")] = False,
) -> None:
    from wattwise.store import RunStore

    run = RunStore().get_run(run_id)
    total = run.energy_j or 0.0
    ranked = sorted(run.windows, key=lambda w: w.energy_j, reverse=True)
    if as_json:
        out = run.to_dict()
        out["windows"] = [
            {**w.__dict__, "share": (w.energy_j / total if total > 0 else None)} for w in ranked
        ]
        print(json.dumps(out))
        return
    from rich.console import Console
    from rich.table import Table

    from wattwise.cli import format as fmt

    console = Console()
    console.print(
        f"run {run.id} [bold]{run.name}[/] {run.status}"
        + (f" (exit {run.exit_code})" if run.exit_code is not None else "")
        + f" · {fmt.timestamp(run.started_s)} UTC · {fmt.seconds(run.duration_s)}"
        f" · {fmt.energy(run.energy_j)} ({fmt.how(run.estimated)}) · {fmt.grams(run.co2e_g)}"
    )
    if run.command:
        console.print(f"command: {' '.join(run.command)}", style="dim")
    devices = Table(title="devices", title_justify="left")
    for column in ("device", "kind", "energy", "source", "how"):
        devices.add_column(column)
    for d in run.devices:
        devices.add_row(
            d.name if d.in_total else f"{d.name} (not summed)",
            d.kind,
            fmt.energy(d.energy_j),
            d.source,
            fmt.how(d.estimated),
        )
    console.print(devices)
    if ranked:
        windows = Table(title="where the energy went (windows)", title_justify="left")
        for column in ("window", "energy", "share of run", "duration"):
            windows.add_column(column)
        for w in ranked:
            share = f"{100 * w.energy_j / total:.1f}%" if total > 0 else "-"
            windows.add_row(w.name, fmt.energy(w.energy_j), share, fmt.seconds(w.end_s - w.start_s))
        console.print(windows)
    if run.intensity_source:
        console.print(f"carbon intensity: {run.intensity_source}", style="dim")


def _rows(runs: list[Any]) -> list[dict[str, Any]]:
    rows = []
    for r in runs:
        d = r.to_dict()
        row = {k: d[k] for k in EXPORT_FIELDS}
        row["command"] = " ".join(d["command"] or [])
        rows.append(row)
    return rows


def export_command(
    out: Annotated[Path, typer.Option("--out", "-o", help="output file (.csv or .parquet)")],
    fmt_name: Annotated[
        str | None, typer.Option("--format", help="csv or parquet (default: from --out suffix)")
    ] = None,
    limit: Annotated[
        int, typer.Option("--limit", min=1, help="at most this many runs")
    ] = 1_000_000,
) -> None:
    from wattwise.store import RunStore

    kind = (fmt_name or out.suffix.lstrip(".") or "csv").lower()
    if kind not in ("csv", "parquet"):
        raise ConfigError(f"unknown export format {kind!r}", hint="use --format csv or parquet")
    rows = _rows(RunStore().list_runs(limit=limit))
    try:
        if kind == "csv":
            with open(out, "w", newline="", encoding="utf-8") as fh:
                writer = csv.DictWriter(fh, fieldnames=EXPORT_FIELDS)
                writer.writeheader()
                writer.writerows(rows)
        else:
            _write_parquet(rows, out)
    except OSError as err:
        raise StoreError(f"cannot write {out}: {err.strerror}") from None
    print(f"exported {len(rows)} runs to {out}", file=sys.stderr)


def _write_parquet(rows: list[dict[str, Any]], out: Path) -> None:
    try:
        import pyarrow as pa
        import pyarrow.parquet as pq
    except ImportError:
        raise ConfigError(
            "Parquet export needs pyarrow", hint="pip install 'wattwise[export]'"
        ) from None
    columns = {f: [row[f] for row in rows] for f in EXPORT_FIELDS}
    pq.write_table(pa.table(columns), out)
