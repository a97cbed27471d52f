"""``wattwise demo``: the whole loop on one machine, in a couple of minutes.

It replays a real carbon-intensity trace (California, June 2022, shipped in
``wattwise/data``) on an accelerated clock, serves the API and dashboard, and submits a
queue of real small AI jobs (the scripts in ``examples/jobs`` and an optimize run) to
the engine: a local Ray instance with the carbon-aware policy, or with ``--engine
local`` (or when Ray does not start) :class:`~wattwise.engine.local_runner.LocalRunner`.
It prints a table row as each job finishes: energy, CO₂e, and what it would have
emitted had it started on arrival (:mod:`wattwise.engine.baseline`, via the API's job
backend). Ctrl-C stops it cleanly.
"""

from __future__ import annotations

import contextlib
import json
import math
import signal
import sys
import time
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path
from typing import TYPE_CHECKING, Annotated, Any

import typer

if TYPE_CHECKING:
    from wattwise.api.clock import Clock
    from wattwise.api.grid_view import GridView
    from wattwise.api.models import JobOut
    from wattwise.api.telemetry import Telemetry
    from wattwise.engine.head import Engine
    from wattwise.engine.local_runner import LocalRunner

TRACE_FILE = "carbon_US-CAL-CISO_2022-05_06.csv"
DEFAULT_START = "2022-06-21T10:00"  # 03:00 in California: dirty now, solar from 14:00 UTC
REPO = Path(__file__).resolve().parents[3]
HOUR_S = 3600.0


@dataclass(frozen=True)
class Template:
    """One kind of demo job: ``python ARGS`` run in the repository. ``expected_wall_s``
    is the runtime it declares to the engine. Units: s, h."""

    name: str
    kind: str
    args: tuple[str, ...]
    expected_wall_s: float
    deadline_h: float
    needs: str | None = None  # a path (relative to the repo) that must exist


_INFER, _TRAIN = "examples/jobs/infer.py", "examples/jobs/train.py"
_OPTIMIZE = ("-m", "wattwise.cli.main", "optimize", "examples/digits_mlp.py", "--rounds", "1")
TEMPLATES = (
    Template(
        "train tiny-transformer", "training", (_TRAIN, "examples/tiny_transformer_train.py"), 8, 10
    ),
    Template("infer digits-mlp", "inference", (_INFER, "examples/digits_mlp.py", "5"), 7, 8),
    Template("urgent infer digits", "inference", (_INFER, "examples/digits_mlp.py", "2"), 6, 0),
    Template("train digits-mlp", "training", (_INFER, "examples/digits_mlp.py"), 6, 12),
    Template(
        "optimize digits-mlp",
        "optimize",
        (*_OPTIMIZE, "--no-progress", "--runtimes", "fp32,torch-int8-tensor"),
        40,
        1,
    ),
    Template(
        "embed STS minilm",
        "inference",
        (_INFER, "examples/minilm_sts.py", "1"),
        40,
        12,
        needs="../shared/data/text/sts-dev.csv",
    ),
)
#: How many of TEMPLATES ``make run`` submits by default (MiniLM only on request: it is slow).
DEFAULT_JOBS = 5


class DemoRun:
    """The demo's jobs on one engine (the Ray head or the local runner), read back through
    the API's job backend on the grid clock. The engine works in wall time; the grid is
    compressed into it (:mod:`wattwise.api.replay`)."""

    def __init__(
        self,
        engine: Engine | LocalRunner,
        grid: GridView,
        clock: Clock,
        *,
        wall_end_s: float,
        telemetry: Telemetry | None = None,
    ) -> None:
        from wattwise.api.jobs import EngineJobs
        from wattwise.api.replay import ReplayJobs, ReplayProvider
        from wattwise.engine.client import EngineClient

        self.engine, self.clock, self.wall_end_s = engine, clock, wall_end_s
        self.client = EngineClient()
        self.engine_jobs = EngineJobs(intensity=ReplayProvider(grid, clock))
        self.backend = ReplayJobs(self.engine_jobs, clock)
        self.reported: set[str] = set()
        # The store keeps the jobs of earlier runs; this run reports and totals only
        # the jobs submitted after it started (ids grow).
        newest, _ = self.backend.list_jobs(1, 0, None)
        self.first_id = int(newest[0].id) + 1 if newest else 0
        self.telemetry = telemetry
        self._node_energy: dict[tuple[str, str], tuple[float, float]] = {}
        self._last_sample = 0.0

    def _sample_nodes(self) -> None:
        """Feed each Ray node's metered device energy to the dashboard, once a second."""
        from wattwise.engine.head import Engine
        from wattwise.meter import Device

        now = time.time()
        if not isinstance(self.engine, Engine) or self.telemetry is None:
            return
        if now - self._last_sample < 1.0:
            return
        self._last_sample = now
        names = {n.node_id: n.name for n in self.engine.node_views()}
        for node_id, totals in self.engine.node_totals().items():
            node = names.get(node_id, node_id)
            for name, energy_j in totals.device_j.items():
                source, _, kind = name.partition(":")
                device = Device(name, kind.split("-")[0] or "cpu", source, source == "estimate")
                before = self._node_energy.get((node, name))
                self._node_energy[(node, name)] = (now, energy_j)
                if before is not None and now > before[0]:
                    delta = max(0.0, energy_j - before[1])
                    self.telemetry.add(node, device, now, delta / (now - before[0]), delta)

    def submit(self, t: Template) -> None:
        now = time.time()
        # The demo must end on time: cap every deadline at its last wall second.
        slack = min(t.deadline_h * HOUR_S / self.clock.speed, self.wall_end_s - now)
        spec: dict[str, Any] = {
            "name": t.name,
            "command": [sys.executable, *t.args],
            "cpus": 1,
            "runtime": f"{t.expected_wall_s:g}s",
            "env": {"OMP_NUM_THREADS": "1", "PYTHONUNBUFFERED": "1"},
            "cwd": str(REPO),
            "grace": "3s",
        }
        if slack > 2 * t.expected_wall_s:
            spec["deadline"] = f"{slack - t.expected_wall_s:.1f}s"
        job_id = str(self.client.submit(spec))
        self.backend.runtime_s[job_id] = t.expected_wall_s
        self.backend.extra[job_id] = {"kind": t.kind}

    def _annotate(self, job: JobOut) -> JobOut:
        """Add the job's result line (optimize's choice, else its last line) from its log."""
        from wattwise.config import home

        logs = sorted((home() / "logs").glob(f"job-{job.id}-try*.log"))
        lines = logs[-1].read_text(errors="replace").strip().splitlines() if logs else []
        chosen = [ln for ln in lines if ln.startswith("chose ")]
        result = (chosen or lines or [""])[-1][:160]
        if job.detail and job.status != "done":
            result = f"{job.detail[:80]} {result}".strip()
        self.backend.extra.setdefault(job.id, {})["detail"] = result
        return self.backend.get_job(job.id)

    def step(self) -> list[JobOut]:
        """Tick the engine once; return this run's jobs that just finished, oldest first."""
        self.engine.tick()
        self._sample_nodes()
        finished = []
        for job in self._own_jobs():
            if job.status in {"done", "failed", "cancelled"} and job.id not in self.reported:
                self.reported.add(job.id)
                finished.append(self._annotate(job))
        return sorted(finished, key=lambda j: int(j.id))

    def _own_jobs(self) -> list[JobOut]:
        """This run's jobs, newest first."""
        items, _ = self.backend.list_jobs(1000, 0, None)
        return [j for j in items if int(j.id) >= self.first_id]

    def pending(self) -> int:
        return sum(_unfinished(j.status) for j in self._own_jobs())

    def jobs(self) -> list[JobOut]:
        return list(reversed(self._own_jobs()))

    def stop_all(self, why: str) -> None:
        """Cancel everything not finished and let the engine stop running jobs (grace 3 s)."""
        from wattwise.errors import WattwiseError

        for job in self.jobs():
            if _unfinished(job.status):
                with contextlib.suppress(WattwiseError):
                    self.client.cancel(int(job.id))
                self.backend.extra.setdefault(job.id, {})["detail"] = why
        deadline = time.time() + 15
        while self.pending() and time.time() < deadline:
            self.engine.tick()
            time.sleep(0.05)

    def close(self) -> None:
        from wattwise.engine.head import Engine

        self.engine.shutdown()
        if isinstance(self.engine, Engine):
            from wattwise.engine import ray_backend

            with contextlib.suppress(Exception):  # Ray may already be down after Ctrl-C
                ray_backend.import_ray().shutdown()


def _start_engine(
    kind: str, grid: GridView, clock: Clock, slots: int
) -> tuple[Engine | LocalRunner, str]:
    """The engine the demo runs on, and a line saying which. A Ray that fails to start
    gives the local runner: the demo must not end for it."""
    from wattwise.api.replay import ReplayProvider, replay_forecast
    from wattwise.engine.carbon import PlanningSignal
    from wattwise.engine.local_runner import LocalRunner
    from wattwise.engine.scheduler import make_engine_policy

    provider = ReplayProvider(grid, clock)
    # Planned on the replayed forecast, accounted on the replayed grid; one policy hour
    # is one hour of the trace, however fast the replay runs.
    signal = PlanningSignal(lambda _zone: provider, forecast=replay_forecast(grid, clock))
    hour_s = HOUR_S / clock.speed
    note = ""
    if kind == "ray":
        from wattwise.engine.head import Engine, EngineConfig

        typer.echo("engine: starting a local Ray instance ...")
        engine = Engine(
            EngineConfig(
                num_cpus=slots,
                policy=make_engine_policy("carbon"),
                signal=signal,
                hour_s=hour_s,
            )
        )
        try:
            engine.start()
            return (
                engine,
                f"engine: Ray, {slots} CPUs, carbon-aware policy on the replayed forecast",
            )
        except Exception as err:  # Ray failing to start must not end the demo
            note = f"engine: Ray did not start ({_first_line(err)}); using local subprocesses\n"
            from wattwise.engine import ray_backend

            with contextlib.suppress(Exception):
                ray_backend.import_ray().shutdown()
    local = LocalRunner(
        cpus=slots, policy=make_engine_policy("carbon"), signal=signal, hour_s=hour_s
    )
    local.start()
    return local, f"{note}engine: local metered subprocesses, at most {slots} at once (no Ray)"


# -- printing --------------------------------------------------------------------------------


def _fmt(t_s: float) -> str:
    return datetime.fromtimestamp(t_s, tz=UTC).strftime("%m-%d %H:%M")


_HEADER = (
    f"{'job':<24}{'status':<10}{'grid time':<13}{'waited h':>9}{'run s':>7}"
    f"{'energy J':>10}{'CO2e g':>9}{'at once g':>10}{'saved':>7}  result"
)


def _row(job: JobOut) -> str:
    waited = ((job.started_s or job.submitted_s) - job.submitted_s) / HOUR_S
    saved = ""
    if job.co2e_g is not None and job.baseline_co2e_g:
        saved = f"{100 * (1 - job.co2e_g / job.baseline_co2e_g):.0f}%"

    def num(x: float | None, digits: int) -> str:
        return "-" if x is None else f"{x:.{digits}f}"

    return (
        f"{job.name[:23]:<24}{job.status:<10}{_fmt(job.started_s or job.submitted_s):<13}"
        f"{waited:>9.1f}{num(job.duration_s, 1):>7}{num(job.energy_j, 1):>10}"
        f"{num(job.co2e_g, 4):>9}{num(job.baseline_co2e_g, 4):>10}{saved:>7}  {job.detail[:50]}"
    )


def _totals(jobs: list[JobOut]) -> str:
    done = [j for j in jobs if j.status == "done" and j.co2e_g is not None]
    energy = sum(j.energy_j or 0.0 for j in done)
    co2 = sum(j.co2e_g or 0.0 for j in done)
    base = sum(j.baseline_co2e_g or 0.0 for j in done)
    pct = f"{100 * (base - co2) / base:.0f}%" if base > 0 else "-"
    est = " (estimated energy: no hardware counter here)" if any(j.estimated for j in done) else ""
    return (
        f"total: {len(done)} jobs done, {energy:.1f} J, {co2:.4f} gCO2e; all at once "
        f"{base:.4f} gCO2e; saved {base - co2:.4f} gCO2e ({pct}){est}"
    )


# -- the command -------------------------------------------------------------------------------


def demo(
    duration: Annotated[
        float, typer.Option("--duration", help="stop after this many wall seconds", min=5)
    ] = 150.0,
    jobs: Annotated[
        int, typer.Option("--jobs", help="how many jobs to submit", min=1, max=50)
    ] = DEFAULT_JOBS,
    speed: Annotated[
        float, typer.Option("--speed", help="grid seconds per wall second", min=1)
    ] = 600.0,
    start: Annotated[
        str, typer.Option("--start", help="grid time to start at (UTC, in the trace)")
    ] = DEFAULT_START,
    slots: Annotated[int, typer.Option("--slots", help="jobs run at once", min=1)] = 2,
    port: Annotated[int, typer.Option("--port", help="dashboard port (0: any)")] = 8787,
    serve: Annotated[
        bool, typer.Option("--serve", help="keep serving the dashboard until Ctrl-C")
    ] = False,
    engine: Annotated[
        str,
        typer.Option("--engine", help="ray: the engine on local Ray; local: plain subprocesses"),
    ] = "ray",
) -> None:
    """Run the whole loop: replayed grid, dashboard, a queue of real AI jobs, savings table."""
    from importlib.resources import files

    from wattwise.api import create_app
    from wattwise.api.clock import Clock
    from wattwise.api.grid_view import GridView
    from wattwise.api.server import serve_in_thread
    from wattwise.api.telemetry import Telemetry
    from wattwise.errors import ConfigError
    from wattwise.grid import load_intensity
    from wattwise.store import RunStore

    if engine not in ("ray", "local"):
        raise ConfigError(f"--engine must be ray or local, not {engine!r}")
    try:
        origin = datetime.fromisoformat(start).replace(tzinfo=UTC).timestamp()
    except ValueError:
        raise ConfigError(f"--start {start!r} is not an ISO date like {DEFAULT_START}") from None
    trace_path = Path(str(files("wattwise") / "data" / TRACE_FILE))
    trace = load_intensity(trace_path)
    if not trace.start_s + 15 * 24 * HOUR_S <= origin < trace.end_s - 2 * 24 * HOUR_S:
        raise ConfigError(
            f"--start {start} must lie in the trace ({_fmt(trace.start_s)} to "
            f"{_fmt(trace.end_s)} 2022) with 15 days of history and 2 days after"
        )
    clock = Clock(origin_s=origin, speed=speed)
    grid = GridView(clock, f"Electricity Maps US-CAL-CISO 2022 (LCA), {TRACE_FILE}", trace=trace)
    wall_end = time.time() + duration
    typer.echo(
        f"grid: California 2022 carbon trace replayed from {_fmt(origin)} UTC, "
        f"1 s = {speed / 60:g} min; store: {RunStore().url}"
    )
    telemetry = Telemetry()
    runner_engine, line = _start_engine(engine, grid, clock, slots)
    typer.echo(line)
    runner = DemoRun(runner_engine, grid, clock, wall_end_s=wall_end, telemetry=telemetry)
    clock.restart()  # the replay starts now, whatever Ray's start-up took
    # ... and so do the policy's hours: hour 0 is the replay's first hour.
    runner_engine.scheduler.set_origin(clock.to_wall_s(math.floor(origin / HOUR_S) * HOUR_S))
    signal.signal(signal.SIGTERM, _interrupt)  # `kill` stops as cleanly as Ctrl-C
    app = create_app(
        jobs=runner.backend,
        grid=grid,
        nodes_info=runner.engine_jobs.nodes,
        telemetry=telemetry,
    )
    server = serve_in_thread(app, "127.0.0.1", port)
    typer.echo(f"dashboard: http://127.0.0.1:{server.port}/   (API docs: /docs, metrics: /metrics)")
    queue = [t for t in TEMPLATES if t.needs is None or (REPO / t.needs).exists()]
    skipped = [t.name for t in TEMPLATES if t not in queue]
    if skipped:
        typer.echo(f"skipped (data not found beside the repository): {', '.join(skipped)}")
    plan = [queue[i % len(queue)] for i in range(jobs)]
    typer.echo(_HEADER)
    interrupted = False
    try:
        for i, t in enumerate(plan):
            if i:  # arrivals 20 grid minutes apart
                _advance(runner, min(1200.0 / speed, 2.0))
            runner.submit(t)
        while runner.pending() and time.time() < wall_end:
            _advance(runner, 0.2)
        if runner.pending():
            runner.stop_all(f"demo ended after {duration:g} s")
            _advance(runner, 0.0)
        _report(runner.jobs(), grid, speed)
        if serve:
            typer.echo(f"serving http://127.0.0.1:{server.port}/ until Ctrl-C")
            while server.thread.is_alive():
                time.sleep(0.5)
    except KeyboardInterrupt:
        interrupted = True
        runner.stop_all("stopped by Ctrl-C")
        typer.echo("\nstopped: queued jobs cancelled, running ones terminated")
        _advance(runner, 0.0)
        typer.echo(_totals(runner.jobs()))
    finally:
        server.stop()
        runner.close()
    if interrupted:
        raise typer.Exit(130)


def _report(jobs: list[JobOut], grid: GridView, speed: float) -> None:
    """The end of a finished demo: the totals line, the saved comparison, the carbon report."""
    from wattwise.cli.report import render_report
    from wattwise.errors import WattwiseError

    typer.echo(_totals(jobs))
    _write_result(jobs, grid, speed)
    measured = [int(j.id) for j in jobs if j.run_id is not None]
    if measured:
        try:  # `wattwise report --job ...` of this demo's measured jobs
            typer.echo("\n" + render_report(job_ids=measured))
        except WattwiseError as err:
            typer.echo(f"carbon report: {err}")


def _advance(runner: DemoRun, seconds: float) -> None:
    """Step the runner for ``seconds``, printing a row for each job that finishes."""
    end = time.time() + seconds
    while True:
        for done in runner.step():
            typer.echo(_row(done))
        if time.time() >= end:
            return
        time.sleep(min(0.1, max(0.0, end - time.time())))


def _interrupt(signum: int, frame: object) -> None:
    raise KeyboardInterrupt


def _first_line(err: BaseException) -> str:
    text = str(err).strip().splitlines()
    return f"{type(err).__name__}: {text[0] if text else ''}"[:200]


def _write_result(jobs: list[JobOut], grid: GridView, speed: float) -> None:
    """Save the run's comparison as a simulation result the API serves."""
    from wattwise.config import home

    done = [j for j in jobs if j.status == "done" and j.co2e_g is not None]
    rid = "demo-" + datetime.now(tz=UTC).strftime("%Y%m%dT%H%M%SZ")
    folder = home() / "simulations" / rid
    folder.mkdir(parents=True, exist_ok=True)
    result = {
        "kind": "demo",
        "grid": grid.source,
        "speed": speed,
        "policies": {
            "wattwise": {"co2e_g": sum(j.co2e_g or 0.0 for j in done)},
            "all-at-once": {"co2e_g": sum(j.baseline_co2e_g or 0.0 for j in done)},
        },
        "energy_j": sum(j.energy_j or 0.0 for j in done),
        "jobs": [j.model_dump() for j in jobs],
    }
    (folder / "result.json").write_text(json.dumps(result, indent=1), encoding="utf-8")


def register(app: typer.Typer) -> None:
    app.command("demo")(demo)


def _unfinished(public_status: str) -> bool:
    """Still to run or running (queued, waiting, running, suspended): not final."""
    from wattwise.store.status import JobStatus

    return not JobStatus.from_public(public_status).final
