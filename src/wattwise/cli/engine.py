"""``wattwise serve | submit | jobs | job | cancel``: run the head, queue and manage jobs.

``serve`` runs the head loop on an embedded local Ray instance (or ``--address`` to
join a cluster) and the HTTP API when ``wattwise.api`` is installed. The other
commands only touch the store, so they work whether or not a head is running.
"""

from __future__ import annotations

import json
import sys
import time
from pathlib import Path
from typing import Annotated, Any

import typer

from wattwise.errors import ConfigError, EngineError
from wattwise.store.status import JobStatus

DEFAULT_PORT = 8787


def register(app: typer.Typer) -> None:
    app.command("serve", help="Run the head: scheduler loop on Ray, store, HTTP API.")(
        serve_command
    )
    app.command(
        "submit",
        context_settings={"allow_interspersed_args": False},
        help="Queue a job: `submit job.yaml` or `submit --cpus 2 --deadline 6h -- CMD ARGS`.",
    )(submit_command)
    app.command("jobs", help="List jobs, newest first.")(jobs_command)
    app.command("job", help="One job: status, plan, tasks per node, energy and CO₂e.")(job_command)
    app.command("cancel", help="Cancel a job (a running one gets SIGTERM, then SIGKILL).")(
        cancel_command
    )


def serve_command(
    address: Annotated[
        str | None, typer.Option("--address", help="Ray cluster to join (default: start one)")
    ] = None,
    port: Annotated[int, typer.Option("--port", help="HTTP API port")] = DEFAULT_PORT,
    host: Annotated[str, typer.Option("--host", help="HTTP API address")] = "127.0.0.1",
    num_cpus: Annotated[
        int | None, typer.Option("--num-cpus", min=1, help="CPUs of the embedded Ray node")
    ] = None,
    zone: Annotated[
        str | None, typer.Option("--zone", help="grid zone label of the embedded node")
    ] = None,
    node_type: Annotated[
        str | None, typer.Option("--node-type", help="node-type label of the embedded node")
    ] = None,
    carbon: Annotated[
        Path | None, typer.Option("--carbon", help="carbon-intensity trace for forecasts")
    ] = None,
    policy: Annotated[
        str,
        typer.Option(
            "--policy",
            help="a schedule policy (wattwise, lowest-window, fifo, ...); carbon = "
            "lowest-window, asap = fifo",
        ),
    ] = "carbon",
    no_api: Annotated[bool, typer.Option("--no-api", help="do not serve the HTTP API")] = False,
    no_meter: Annotated[bool, typer.Option("--no-meter", help="do not meter jobs")] = False,
    require_token_for_reads: Annotated[
        bool,
        typer.Option("--require-token-for-reads", help="API: the token for every read, too"),
    ] = False,
    ray_host: Annotated[
        str | None,
        typer.Option(
            "--ray-host",
            help="address the embedded Ray listens on (default 127.0.0.1: this machine "
            "only; this machine's IP so other nodes can join; 0.0.0.0: all interfaces)",
        ),
    ] = None,
) -> None:
    import threading

    from wattwise.engine.carbon import PlanningSignal
    from wattwise.engine.head import Engine, EngineConfig
    from wattwise.engine.ray_backend import LABEL_TYPE, LABEL_ZONE, LOOPBACK
    from wattwise.engine.scheduler import make_engine_policy, policy_names

    if policy not in policy_names():
        names = ", ".join(policy_names())
        raise ConfigError(f"--policy must be one of {names}; got {policy!r}")
    if not 0 < port < 65536:
        raise ConfigError(f"--port must be 1-65535, got {port}")
    if address is not None and ray_host is not None:
        raise ConfigError(
            "--ray-host sets where the embedded Ray listens; with --address, Ray runs "
            "elsewhere (set its address with `ray start --node-ip-address`)"
        )
    _check_ray_host(ray_host)
    labels = {k: v for k, v in ((LABEL_ZONE, zone), (LABEL_TYPE, node_type)) if v}
    if address is not None and labels:
        raise ConfigError(
            "--zone/--node-type label the embedded node; with --address, label "
            "nodes with `ray start --labels`"
        )
    # One signal for planning and for each job's CO2e: the trace replayed, else each
    # zone's provider (a bad trace fails here, before Ray starts).
    planning = PlanningSignal.from_trace(carbon) if carbon is not None else PlanningSignal()
    listener = None if no_api else _bind_api(host, port)  # a busy port fails before Ray
    engine = Engine(
        EngineConfig(
            address=address,
            num_cpus=num_cpus,
            labels=labels or None,
            policy=make_engine_policy(policy),
            signal=planning,
            meter=not no_meter,
            ray_host=ray_host or LOOPBACK,
        )
    )
    engine.start()
    where = address or f"local Ray ({len(engine.node_views())} node)"
    print(f"wattwise: head {engine.head_id} on {where}; store {engine.store.url}", file=sys.stderr)
    if engine.recovered:
        print(
            f"wattwise: requeued {engine.recovered} job(s) a previous head left running",
            file=sys.stderr,
        )
    stop = threading.Event()
    server = None if listener is None else _api_server(engine, listener, require_token_for_reads)
    if server is not None:
        print(f"wattwise: HTTP API on {server.url}", file=sys.stderr)
    import signal

    def _stop(signum: int, _frame: object) -> None:
        stop.set()

    # Ray's own handlers would leave the loop mid-tick; stop between ticks instead.
    signal.signal(signal.SIGINT, _stop)
    signal.signal(signal.SIGTERM, _stop)
    import ray

    try:
        engine.run(stop=stop)
    except (ray.exceptions.RayError, ConnectionError) as err:
        first = (str(err).strip().splitlines() or [type(err).__name__])[0]
        raise EngineError(
            f"lost the Ray cluster{' at ' + address if address else ''}: {first}",
            hint="jobs stay queued in the store; start `wattwise serve` again",
        ) from None
    finally:
        print("wattwise: stopping; running jobs are requeued by the next head", file=sys.stderr)
        if server is not None:
            server.stop()
        engine.shutdown(stop_running=stop.is_set())
        if address is None:
            ray.shutdown()


def _check_ray_host(host: str | None) -> None:
    """``--ray-host`` must be an IP address (Ray takes it as the node's address)."""
    import ipaddress

    if host is None or host in ("*", "localhost"):
        return
    try:
        ipaddress.ip_address(host)
    except ValueError:
        raise ConfigError(
            f"--ray-host must be an IP address of this machine, got {host!r}",
            hint="127.0.0.1: this machine only; 0.0.0.0: all interfaces",
        ) from None


def _bind_api(host: str, port: int) -> Any:
    """The API's listening socket when ``wattwise.api`` is installed, else ``None``."""
    from importlib.util import find_spec

    if find_spec("uvicorn") is None or find_spec("fastapi") is None:
        print("wattwise: note: HTTP API not installed; running the engine only", file=sys.stderr)
        return None
    from wattwise.api.server import bind_listener

    return bind_listener(host, port)


def _api_server(engine: Any, listener: Any, require_token_for_reads: bool) -> Any:
    """The API on ``listener``, over the engine's store (HTTP submit/cancel go there)."""
    from wattwise.api.server import serve_api

    return serve_api(
        listener,
        engine.store.url,
        nodes_info=lambda: _nodes_info(engine),
        require_token_for_reads=require_token_for_reads,
    )


def _nodes_info(engine: Any) -> list[dict[str, Any]]:
    return [
        {
            "id": n.node_id,
            "name": n.name,
            "zone": n.zone,
            "node_type": n.node_type,
            "cpus": n.cpus,
            "free_cpus": n.free_cpus,
            "gpus": n.gpus,
        }
        for n in engine.node_views()
    ]


def submit_command(
    cmd: Annotated[
        list[str] | None, typer.Argument(help="job.yaml, or the command after --")
    ] = None,
    cpus: Annotated[float | None, typer.Option("--cpus", help="cores per task")] = None,
    gpus: Annotated[int | None, typer.Option("--gpus", help="GPUs per task")] = None,
    deadline: Annotated[
        str | None, typer.Option("--deadline", help="finish within (6h) or by (ISO time)")
    ] = None,
    slack: Annotated[
        str | None, typer.Option("--slack", help="how long it may wait beyond its runtime")
    ] = None,
    runtime: Annotated[
        str | None, typer.Option("--runtime", help="expected runtime (30m), for the plan")
    ] = None,
    name: Annotated[str | None, typer.Option("--name", help="job name")] = None,
    interruptible: Annotated[
        bool, typer.Option("--interruptible", help="may be stopped and resumed from checkpoint")
    ] = False,
    zone: Annotated[str | None, typer.Option("--zone", help="run only in this zone")] = None,
    node_type: Annotated[
        str | None, typer.Option("--node-type", help="run only on this node type")
    ] = None,
    shards: Annotated[
        str | None, typer.Option("--shards", help="comma-separated inputs: one task each")
    ] = None,
    as_json: Annotated[bool, typer.Option("--json", help="print JSON on stdout")] = False,
) -> None:
    from wattwise.engine.client import EngineClient
    from wattwise.engine.spec import SpecError, load_spec_data

    args = list(cmd or [])
    data: dict[str, Any] = {}
    if len(args) > 1 and args[0].endswith((".yaml", ".yml", ".json")):
        raise ConfigError(
            f"unexpected {args[1]!r} after the job file",
            hint="options go first: wattwise submit [OPTIONS] job.yaml",
        )
    if len(args) == 1 and args[0].endswith((".yaml", ".yml", ".json")):
        data = load_spec_data(Path(args[0]))
        source = args[0]
    elif args:
        data["command"] = args
        source = "command line"
    else:
        raise ConfigError(
            "nothing to submit", hint="usage: wattwise submit job.yaml | submit [OPTIONS] -- CMD"
        )
    flags = {
        "cpus": cpus,
        "gpus": gpus,
        "deadline": deadline,
        "slack": slack,
        "runtime": runtime,
        "name": name,
        "zone": zone,
        "node_type": node_type,
        "shards": shards.split(",") if shards else None,
        "interruptible": True if interruptible else None,
    }
    data.update({k: v for k, v in flags.items() if v is not None})
    try:
        job_id = EngineClient().submit(data)
    except SpecError as err:
        raise SpecError(f"{source}: {err.message}") from None
    job = EngineClient().get_job(job_id)
    if as_json:
        print(json.dumps(job.to_dict()))
        return
    print(f"submitted job {job_id} ({job.name}); latest start {_when(job.latest_start_s)}")


def jobs_command(
    status: Annotated[
        str | None,
        typer.Option("--status", help="|".join(JobStatus)),
    ] = None,
    limit: Annotated[int, typer.Option("--limit", min=1, help="how many jobs")] = 20,
    as_json: Annotated[bool, typer.Option("--json", help="print JSON on stdout")] = False,
) -> None:
    from wattwise.cli import format as fmt
    from wattwise.engine.client import EngineClient

    jobs = EngineClient().list_jobs(status, limit)
    if as_json:
        print(json.dumps([j.to_dict() for j in jobs]))
        return
    if not jobs:
        print("no jobs" + (f" with status {status}" if status else ""))
        return
    from rich.console import Console
    from rich.table import Table

    table = Table(box=None)
    for col in ("id", "name", "status", "submitted", "start", "tasks", "energy", "CO₂e"):
        table.add_column(col)
    for j in jobs:
        start = j.started_s or j.planned_start_s
        table.add_row(
            str(j.id),
            j.name,
            j.status,
            fmt.timestamp(j.submitted_s),
            fmt.timestamp(start) if start else "-",
            f"{j.tasks_done}/{j.tasks_total}",
            _energy(j.energy_j, j.estimated),
            fmt.grams(j.co2e_g),
        )
    Console().print(table)


def job_command(
    job_id: Annotated[int, typer.Argument(help="job id (see `wattwise jobs`)")],
    as_json: Annotated[bool, typer.Option("--json", help="print JSON on stdout")] = False,
) -> None:
    from wattwise.cli import format as fmt
    from wattwise.engine.client import EngineClient

    client = EngineClient()
    job = client.get_job(job_id)
    tasks = client.tasks(job_id)
    if as_json:
        print(json.dumps({**job.to_dict(), "tasks": [t.to_dict() for t in tasks]}))
        return
    spec = job.spec
    command = spec.get("command") or [spec.get("entry")]
    lines = [
        f"job {job.id}  {job.name}  {job.status}",
        f"  command      {' '.join(str(c) for c in command)}",
        f"  resources    {spec.get('cpus')} cpus, {spec.get('gpus')} gpus per task, "
        f"{job.tasks_total} task(s)",
        f"  submitted    {fmt.timestamp(job.submitted_s)}",
        f"  deadline     {fmt.timestamp(job.deadline_s)}",
        f"  latest start {fmt.timestamp(job.latest_start_s)}",
    ]
    if job.planned_start_s is not None and job.status == "waiting":
        lines.append(f"  planned      {fmt.timestamp(job.planned_start_s)}")
    lines += [
        f"  started      {fmt.timestamp(job.started_s)}",
        f"  ended        {fmt.timestamp(job.ended_s)}",
        f"  energy       {_energy(job.energy_j, job.estimated)}",
        f"  CO₂e         {fmt.grams(job.co2e_g)}",
    ]
    lines += _prediction_lines(job.predicted, job.actual, job.estimated)
    if job.run_id is not None:
        lines.append(f"  run          {job.run_id} (`wattwise show {job.run_id}`)")
    if job.error:
        lines.append(f"  note         {job.error}")
    print("\n".join(lines))
    for t in tasks:
        took = (t.ended_s - t.started_s) if t.ended_s and t.started_s else None
        print(
            f"  task shard {t.shard} try {t.attempt} on {t.node_name or t.node_id[:12]}: "
            f"{t.status}, {fmt.seconds(took)}, {fmt.energy(t.energy_j)}"
            + (f" ({t.error})" if t.error else "")
        )


def _prediction_lines(
    predicted: dict[str, Any] | None, actual: dict[str, Any] | None, estimated: bool | None
) -> list[str]:
    """What the job was planned with and, once it ended, what it took (its power is
    the job's energy over its runtime: estimated where the energy is)."""
    from wattwise.cli import format as fmt

    lines = []
    if predicted:
        source = predicted["source"]
        basis = f"history of {predicted.get('n', 0)} run(s)" if source == "history" else source
        lines.append(
            f"  predicted    {fmt.seconds(predicted['runtime_s'])} (upper "
            f"{fmt.seconds(predicted['runtime_upper_s'])}), {fmt.power(predicted['power_w'])}"
            f"; {basis}"
        )
    if actual:
        err = actual.get("runtime_abs_error_s")
        off = ""
        if err is not None:
            within = "within" if actual.get("within_upper") else "past"
            off = f"; off by {fmt.seconds(err)}, {within} the upper bound"
        power = fmt.power(actual.get("power_w"))
        if actual.get("power_w") is not None:
            power += f" {fmt.how(bool(estimated))}"
        lines.append(f"  actual       {fmt.seconds(actual['runtime_s'])}, {power}{off}")
    return lines


def cancel_command(job_id: Annotated[int, typer.Argument(help="job id")]) -> None:
    from wattwise.engine.client import EngineClient

    job = EngineClient().cancel(job_id)
    if job.status == "cancelled":
        print(f"cancelled job {job_id}")
    else:
        print(f"job {job_id} is running; the head will stop it (SIGTERM, then SIGKILL)")


def _energy(j: float | None, estimated: bool | None) -> str:
    from wattwise.cli import format as fmt

    if j is None:
        return "-"
    return f"{fmt.energy(j)} ({fmt.how(bool(estimated))})"


def _when(epoch_s: float) -> str:
    from wattwise.cli import format as fmt

    return "now" if epoch_s <= time.time() + 1 else fmt.timestamp(epoch_s) + " UTC"
