"""``wattwise measure -- CMD ARGS...``: run a command, meter it, report and store it.

The command keeps its stdin, stdout and stderr; wattwise's table goes to stderr
(``--json`` prints one JSON object on stdout after the command's own output). The exit
status is the command's, or 128+N when signal N killed it.
"""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import time
from pathlib import Path
from types import FrameType
from typing import Annotated, Any

import typer

from wattwise.errors import ConfigError

CHECKPOINT_EVERY_S = 5.0
_FORWARDED = (signal.SIGINT, signal.SIGTERM, signal.SIGHUP, signal.SIGQUIT)


def register(app: typer.Typer) -> None:
    app.command(
        "measure",
        context_settings={"allow_interspersed_args": False},
        help="Run CMD and report its energy (J, per device), power and CO₂e.",
    )(measure_command)


def measure_command(
    cmd: Annotated[list[str], typer.Argument(help="the command and its arguments, after --")],
    as_json: Annotated[
        bool, typer.Option("--json", help="print one JSON object on stdout")
    ] = False,
    interval: Annotated[
        float | None, typer.Option("--interval", help="sampling interval, s (default 0.5)")
    ] = None,
    zone: Annotated[
        str | None, typer.Option("--zone", help="grid zone for CO₂e (static annual average)")
    ] = None,
    carbon: Annotated[
        Path | None, typer.Option("--carbon", help="carbon-intensity trace CSV for CO₂e")
    ] = None,
    intensity: Annotated[
        float | None, typer.Option("--intensity", help="fixed intensity, gCO₂e/kWh")
    ] = None,
    cpu_tdp: Annotated[
        float | None, typer.Option("--cpu-tdp", help="CPU TDP for the estimate, W")
    ] = None,
    name: Annotated[str | None, typer.Option("--name", help="run name (default: CMD)")] = None,
    no_store: Annotated[bool, typer.Option("--no-store", help="do not record the run")] = False,
) -> None:
    from wattwise.config import check_number, load_config
    from wattwise.meter import Meter
    from wattwise.session import carbon_provider, estimate_settings_from_config

    if not cmd:
        raise ConfigError("no command given", hint="usage: wattwise measure [OPTIONS] -- CMD ARGS")
    # The flags are held to the same limits as config.toml's keys (one rule, config.LIMITS).
    if interval is not None:
        check_number("interval_s", interval, "--interval")
    if cpu_tdp is not None:
        check_number("cpu_tdp_w", cpu_tdp, "--cpu-tdp")
    # Resolve carbon and settings before running anything: a bad file fails fast.
    provider = carbon_provider(zone, carbon, intensity)
    settings = estimate_settings_from_config(cpu_tdp)
    interval_s = interval or load_config().interval_s or 0.5
    store = None if no_store else _open_store()
    run_name = name or Path(cmd[0]).name

    meter = Meter(pid=os.getpid(), children_only=True, estimate=settings, interval_s=interval_s)
    for warning in meter.warnings:
        print(f"wattwise: warning: {warning}", file=sys.stderr)
    run_id = store.start_run(run_name, cmd) if store else None
    meter.begin(run_name)
    exit_code = _run_child(cmd, meter, run_name, store, run_id)
    raw = meter.end(run_name)
    meter.close()
    result = _with_carbon(raw, provider)
    if store is not None and run_id is not None:
        status = "completed" if exit_code == 0 else "failed"
        store.finish_run(run_id, result, status=status, exit_code=exit_code)
    report = {**result.to_dict(), "exit_code": exit_code, "command": cmd, "run_id": run_id}
    if as_json:
        sys.stdout.flush()
        print(json.dumps(report))
    else:
        _print_table(report)
    raise typer.Exit(exit_code)


def _open_store() -> Any:
    from wattwise.store.journal import open_run_writer

    return open_run_writer()


def _run_child(cmd: list[str], meter: Any, window: str, store: Any, run_id: int | None) -> int:
    try:
        child = subprocess.Popen(cmd)
    except FileNotFoundError:
        print(f"wattwise: error: command not found: {cmd[0]}", file=sys.stderr)
        return 127
    except PermissionError:
        print(f"wattwise: error: permission denied: {cmd[0]}", file=sys.stderr)
        return 126

    def forward(signum: int, _frame: FrameType | None) -> None:
        # The child decides how to die; we record what it cost either way.
        if child.poll() is None:
            child.send_signal(signum)

    previous = {s: signal.signal(s, forward) for s in _FORWARDED}
    try:
        last_checkpoint = time.monotonic()
        while True:
            try:
                code = child.wait(timeout=1.0)
                break
            except subprocess.TimeoutExpired:
                if store is not None and time.monotonic() - last_checkpoint >= CHECKPOINT_EVERY_S:
                    so_far = meter.peek(window)
                    store.checkpoint(run_id, so_far.energy_j, so_far.duration_s)
                    last_checkpoint = time.monotonic()
    finally:
        for s, handler in previous.items():
            signal.signal(s, handler)
    return 128 - code if code < 0 else code


def _with_carbon(raw: Any, provider: Any) -> Any:
    from wattwise.carbon import with_carbon
    from wattwise.errors import WattwiseError

    try:
        return with_carbon(raw, provider)
    except WattwiseError as err:
        print(f"wattwise: warning: no CO₂e figure: {err}", file=sys.stderr)
        return raw


def _print_table(report: dict[str, Any]) -> None:
    from rich.console import Console
    from rich.table import Table

    from wattwise.cli import format as fmt

    console = Console(stderr=True)
    table = Table(title=f"wattwise measure: {' '.join(report['command'])}", title_justify="left")
    for column in ("device", "kind", "energy", "source", "how"):
        table.add_column(column)
    for d in report["devices"]:
        label = d["name"] if d["in_total"] else f"{d['name']} (inside another, not summed)"
        table.add_row(
            label, d["kind"], fmt.energy(d["energy_j"]), d["source"], fmt.how(d["estimated"])
        )
    table.add_section()
    table.add_row("total", "", fmt.energy(report["energy_j"]), "", fmt.how(report["estimated"]))
    console.print(table)
    console.print(
        f"duration {fmt.seconds(report['duration_s'])} · average {fmt.power(report['avg_power_w'])}"
        f" · peak {fmt.power(report['peak_power_w'])} · {fmt.grams(report['co2e_g'])}"
        f" · exit code {report['exit_code']}"
        + (f" · run {report['run_id']}" if report["run_id"] is not None else "")
    )
    if report.get("intensity_source"):
        console.print(f"carbon intensity: {report['intensity_source']}", style="dim")
