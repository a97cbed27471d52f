"""``wattwise measure -- CMD ARGS...``: run a command, meter it, report and store it.

The command keeps its stdin, stdout and stderr; wattwise's table goes to stderr
(``--json`` prints one JSON object on stdout after the command's own output). The exit
status is the command's, or 128+N when signal N killed it.

Start-up is part of what ``measure`` costs (bench/meter.py holds it to 0.25 s beyond the
child), so this path imports neither Typer (it builds pydantic adapters for every
option) nor NumPy nor Rich: :func:`parse_fast` reads the options, and Typer is only
loaded for ``--help`` and for command lines :func:`parse_fast` hands back to it (an
unknown option, a bad value, no command), so usage errors read as everywhere else.
Every option is one line in :class:`MeasureArgs`; both parsers are built from it.
"""

from __future__ import annotations

import json
import os
import select
import signal
import subprocess
import sys
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field, fields
from pathlib import Path
from types import FrameType
from typing import TYPE_CHECKING, Any

from wattwise.errors import ConfigError

if TYPE_CHECKING:
    import typer

CHECKPOINT_EVERY_S = 5.0
_FORWARDED = (signal.SIGINT, signal.SIGTERM, signal.SIGHUP, signal.SIGQUIT)
_HELP = "Run CMD and report its energy (J, per device), power and CO₂e."
_CMD_HELP = "the command and its arguments, after --"
_TB_HELP = "also write TensorBoard event files to DIR"


def _option(flag: str, kind: type, help: str) -> Any:
    """One ``measure`` option: ``kind`` is bool (a flag), float, str or Path."""
    default = False if kind is bool else None
    return field(default=default, metadata={"flag": flag, "kind": kind, "help": help})


@dataclass(frozen=True)
class MeasureArgs:
    """What ``wattwise measure`` was asked. Add an option as one more ``_option`` line."""

    cmd: tuple[str, ...]
    as_json: bool = _option("--json", bool, "print one JSON object on stdout")
    interval: float | None = _option("--interval", float, "sampling interval, s (default 0.5)")
    zone: str | None = _option("--zone", str, "grid zone for CO₂e (static annual average)")
    # RUF009 knows only a few types as immutable; every default here is False or None.
    carbon: Path | None = _option("--carbon", Path, "carbon-intensity trace CSV for CO₂e")  # noqa: RUF009
    intensity: float | None = _option("--intensity", float, "fixed intensity, gCO₂e/kWh")
    cpu_tdp: float | None = _option("--cpu-tdp", float, "CPU TDP for the estimate, W")
    name: str | None = _option("--name", str, "run name (default: CMD)")
    no_store: bool = _option("--no-store", bool, "do not record the run")
    mlflow: bool = _option("--mlflow", bool, "also log the run to MLflow ($MLFLOW_TRACKING_URI)")
    wandb: bool = _option("--wandb", bool, "also log the run to an offline W&B run")
    tensorboard: Path | None = _option("--tensorboard", Path, _TB_HELP)  # noqa: RUF009


def option_fields() -> list[Any]:
    """The dataclass fields of :class:`MeasureArgs` that are command-line options."""
    return [f for f in fields(MeasureArgs) if "flag" in f.metadata]


def parse_fast(argv: Sequence[str]) -> MeasureArgs | None:
    """``measure``'s arguments without Typer, as Typer would read them (options end at
    ``--`` or at the first word that is not one; ``--opt value`` or ``--opt=value``; the
    last of a repeated option wins). ``None`` when Typer must answer instead: ``--help``,
    an unknown option, a value that does not convert, or no command."""
    by_flag = {f.metadata["flag"]: f for f in option_fields()}
    values: dict[str, Any] = {}
    i = 0
    while i < len(argv):
        token = argv[i]
        if token == "--":
            i += 1
            break
        if not token.startswith("-") or token == "-":
            break
        flag, has_inline, inline = token.partition("=")
        spec = by_flag.get(flag)
        if spec is None:
            return None
        kind = spec.metadata["kind"]
        if kind is bool:
            if has_inline:
                return None
            values[spec.name] = True
            i += 1
            continue
        if has_inline:
            raw, i = inline, i + 1
        elif i + 1 < len(argv):
            raw, i = argv[i + 1], i + 2
        else:
            return None
        try:
            values[spec.name] = kind(raw)
        except ValueError:
            return None
    if i >= len(argv):
        return None
    return MeasureArgs(cmd=tuple(argv[i:]), **values)


def register(app: typer.Typer) -> None:
    app.command("measure", context_settings={"allow_interspersed_args": False}, help=_HELP)(
        typer_command()
    )


def typer_command() -> Callable[..., None]:
    """The Typer command, its parameters generated from :class:`MeasureArgs`."""
    import inspect
    from typing import Annotated

    import typer

    def measure_command(**values: Any) -> None:
        cmd = tuple(values.pop("cmd") or ())
        raise typer.Exit(run(MeasureArgs(cmd=cmd, **values)))

    kw = inspect.Parameter.KEYWORD_ONLY
    cmd_type: Any = Annotated[list[str], typer.Argument(help=_CMD_HELP)]
    params = [inspect.Parameter("cmd", kw, annotation=cmd_type)]
    for f in option_fields():
        kind = f.metadata["kind"]
        value_type: Any = kind if kind is bool else kind | None
        option = typer.Option(f.metadata["flag"], help=f.metadata["help"])
        params.append(
            inspect.Parameter(
                f.name, kw, default=f.default, annotation=Annotated[value_type, option]
            )
        )
    measure_command.__signature__ = inspect.Signature(params)  # type: ignore[attr-defined]
    measure_command.__annotations__ = {p.name: p.annotation for p in params}
    return measure_command


def main_fast(argv: Sequence[str]) -> int | None:
    """Run ``measure`` from its arguments without Typer; ``None``: let Typer parse them."""
    args = parse_fast(argv)
    return None if args is None else run(args)


def run(args: MeasureArgs) -> int:
    """Meter ``args.cmd``, report and store it; returns the exit status to leave with."""
    from wattwise.config import check_number, load_config
    from wattwise.meter import Meter
    from wattwise.session import carbon_provider, estimate_settings_from_config

    cmd = list(args.cmd)
    if not cmd:
        raise ConfigError("no command given", hint="usage: wattwise measure [OPTIONS] -- CMD ARGS")
    # The flags are held to the same limits as config.toml's keys (one rule, config.LIMITS).
    if args.interval is not None:
        check_number("interval_s", args.interval, "--interval")
    if args.cpu_tdp is not None:
        check_number("cpu_tdp_w", args.cpu_tdp, "--cpu-tdp")
    # Resolve carbon and settings before running anything: a bad file fails fast.
    provider = carbon_provider(args.zone, args.carbon, args.intensity)
    settings = estimate_settings_from_config(args.cpu_tdp)
    interval_s = args.interval or load_config().interval_s or 0.5
    store = None if args.no_store else _open_store()
    run_name = args.name or Path(cmd[0]).name

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
    if args.as_json:
        sys.stdout.flush()
        print(json.dumps(report))
    else:
        _print_table(report)
    if args.mlflow or args.wandb or args.tensorboard is not None:
        _log_to_trackers(args, result, run_id)
    return exit_code


def _log_to_trackers(args: MeasureArgs, result: Any, run_id: int | None) -> None:
    """The run, already stored, also goes to the trackers asked for; a tracker that
    fails (not installed, folder not writable) is one warning line, never the exit code."""
    from dataclasses import replace

    from wattwise.errors import WattwiseError
    from wattwise.integrations.trackers import Tracker, log_run

    if run_id is not None:
        result = replace(result, meta={**result.meta, "run_id": run_id})
    asked: list[tuple[Tracker, dict[str, Any]]] = []
    if args.mlflow:
        asked.append((Tracker.MLFLOW, {}))
    if args.wandb:
        asked.append((Tracker.WANDB, {}))
    if args.tensorboard is not None:
        asked.append((Tracker.TENSORBOARD, {"log_dir": args.tensorboard}))
    for tracker, options in asked:
        try:
            logged = log_run(result, tracker, **options)
        except WattwiseError as err:
            print(f"wattwise: warning: not logged to {tracker.value}: {err}", file=sys.stderr)
            continue
        print(f"wattwise: logged to {tracker.value}: {logged.location}", file=sys.stderr)


def _open_store() -> Any:
    from wattwise.store.journal import open_run_writer

    return open_run_writer()


def _run_child(cmd: list[str], meter: Any, window: str, store: Any, run_id: int | None) -> int:
    started: list[subprocess.Popen[bytes]] = []
    pending: list[int] = []

    def forward(signum: int, _frame: FrameType | None) -> None:
        # The child decides how to die; we record what it cost either way. A signal
        # that comes while it is being started is sent the moment it exists.
        if not started:
            pending.append(signum)
        elif started[0].returncode is None:
            started[0].send_signal(signum)

    def checkpoint() -> None:
        if store is not None:
            so_far = meter.peek(window)
            store.checkpoint(run_id, so_far.energy_j, so_far.duration_s)

    previous = {s: signal.signal(s, forward) for s in _FORWARDED}
    try:
        try:
            child = subprocess.Popen(cmd)
        except FileNotFoundError:
            print(f"wattwise: error: command not found: {cmd[0]}", file=sys.stderr)
            return 127
        except PermissionError:
            print(f"wattwise: error: permission denied: {cmd[0]}", file=sys.stderr)
            return 126
        started.append(child)
        for signum in pending:
            child.send_signal(signum)
        code = _wait(child, CHECKPOINT_EVERY_S, checkpoint)
    finally:
        for s, handler in previous.items():
            signal.signal(s, handler)
    return 128 - code if code < 0 else code


def _wait(child: subprocess.Popen[bytes], every_s: float, tick: Callable[[], None]) -> int:
    """The child's return code, reaped the moment it exits; ``tick()`` every ``every_s``.

    Waits on a pidfd (Linux 5.3+): no polling, so no latency after the child ends and no
    wake-ups while it runs except the ticks. Elsewhere ``Popen.wait`` with a timeout of
    ``every_s`` (it polls, backing off up to 50 ms). Signals (forwarded to the child)
    interrupt neither: Python resumes the wait after running the handler.
    """
    try:
        pidfd = os.pidfd_open(child.pid)
    except (AttributeError, OSError):
        pidfd = None
    if pidfd is None:
        while True:
            try:
                return child.wait(timeout=every_s)
            except subprocess.TimeoutExpired:
                tick()
    try:
        poller = select.poll()
        poller.register(pidfd, select.POLLIN)
        while not poller.poll(every_s * 1000):
            tick()
    finally:
        os.close(pidfd)
    return child.wait()


def _with_carbon(raw: Any, provider: Any) -> Any:
    from wattwise.carbon import with_carbon
    from wattwise.errors import WattwiseError

    try:
        return with_carbon(raw, provider)
    except WattwiseError as err:
        print(f"wattwise: warning: no CO₂e figure: {err}", file=sys.stderr)
        return raw


def _print_table(report: dict[str, Any]) -> None:
    from wattwise.cli import format as fmt

    rows = [
        (
            d["name"] if d["in_total"] else f"{d['name']} (inside another, not summed)",
            d["kind"],
            fmt.energy(d["energy_j"]),
            d["source"],
            fmt.how(d["estimated"]),
        )
        for d in report["devices"]
    ]
    total = ("total", "", fmt.energy(report["energy_j"]), "", fmt.how(report["estimated"]))
    lines = [
        f"wattwise measure: {' '.join(report['command'])}",
        fmt.text_table(("device", "kind", "energy", "source", "how"), rows, total),
        f"duration {fmt.seconds(report['duration_s'])} · average {fmt.power(report['avg_power_w'])}"
        f" · peak {fmt.power(report['peak_power_w'])} · {fmt.grams(report['co2e_g'])}"
        f" · exit code {report['exit_code']}"
        + (f" · run {report['run_id']}" if report["run_id"] is not None else ""),
    ]
    if report.get("intensity_source"):
        lines.append(f"carbon intensity: {report['intensity_source']}")
    print("\n".join(lines), file=sys.stderr)
