"""``wattwise demo``: the whole loop on one machine, in a couple of minutes.

It replays a real carbon-intensity trace (California, June 2022, shipped in
``wattwise/data``) on an accelerated clock, serves the API and dashboard, submits a
queue of real small AI jobs built from ``examples/`` (training, inference, an
optimize run), plans each one into the cleanest window its deadline allows (from the
forecast a scheduler would have had), runs it as a metered subprocess, stores it as
a run and prints a table row as each finishes: energy, CO₂e, and the CO₂e it would
have emitted had everything started on arrival. Ctrl-C stops it cleanly.
"""

from __future__ import annotations

import contextlib
import json
import os
import signal
import subprocess
import sys
import time
from dataclasses import dataclass, replace
from datetime import UTC, datetime
from pathlib import Path
from typing import TYPE_CHECKING, Annotated, Any

import typer

from wattwise.units import co2e_grams

if TYPE_CHECKING:
    from wattwise.api.clock import Clock
    from wattwise.api.grid_view import GridView
    from wattwise.api.jobs import JobBoard
    from wattwise.api.models import JobOut
    from wattwise.api.telemetry import Telemetry
    from wattwise.meter import Meter
    from wattwise.store import RunStore

TRACE_FILE = "carbon_US-CAL-CISO_2022-05_06.csv"
DEFAULT_START = "2022-06-21T10:00"  # 03:00 in California: dirty now, solar from 14:00 UTC
REPO = Path(__file__).resolve().parents[3]
HOUR_S = 3600.0


@dataclass(frozen=True)
class Template:
    """One kind of demo job. ``expected_wall_s`` sizes its window in the plan. Units: s, h."""

    name: str
    kind: str
    args: tuple[str, ...]
    expected_wall_s: float
    deadline_h: float
    needs: str | None = None  # a path (relative to the repo) that must exist


TEMPLATES = (
    Template("train tiny-transformer", "training", ("train", "tiny_transformer_train.py"), 8, 10),
    Template("infer digits-mlp", "inference", ("infer", "digits_mlp.py", "5"), 7, 8),
    Template("urgent infer digits", "inference", ("infer", "digits_mlp.py", "2"), 6, 0),
    Template("train digits-mlp", "training", ("fit", "digits_mlp.py"), 6, 12),
    Template("optimize digits-mlp", "optimize", ("optimize", "digits_mlp.py"), 40, 1),
    Template(
        "embed STS minilm",
        "inference",
        ("infer", "minilm_sts.py", "1"),
        40,
        12,
        needs="../shared/data/text/sts-dev.csv",
    ),
)
#: How many of TEMPLATES ``make run`` submits by default (MiniLM only on request: it is slow).
DEFAULT_JOBS = 5


# -- the job processes (run as `python -c "...demo import job_main..." ARGS`) ---------------


def _predictor(workload: Any, model: Any) -> Any:
    import numpy as np
    import torch

    def predict(items: Any) -> Any:
        rows = []
        for i in range(0, len(items), workload.batch_size):
            batch = workload.collate(items[i : i + workload.batch_size])
            tensors = {k: torch.from_numpy(np.asarray(v)) for k, v in batch.items()}
            with torch.no_grad():
                out = workload.forward(model, tensors) if workload.forward else model(**tensors)
            arr = out.detach().float().numpy()
            rows.append(workload.postprocess(arr, batch) if workload.postprocess else arr)
        return np.concatenate(rows)

    return predict


def job_main(argv: list[str]) -> None:
    """Body of one demo job: ``train F``, ``fit F``, ``infer F REPEAT`` or ``optimize F``."""
    action, file = argv[0], str(REPO / "examples" / argv[1])
    if action == "optimize":
        from wattwise.cli import optimize

        app = typer.Typer()
        optimize.register(app)
        app.command("noop", hidden=True)(lambda: None)
        runtimes = "fp32,torch-int8-tensor"
        args = ["optimize", file, "--rounds", "1", "--no-progress", "--runtimes", runtimes]
        app(args, standalone_mode=False)
        return
    import torch

    from wattwise.optimize.workload import load_workload

    torch.manual_seed(0)
    torch.set_num_threads(1)  # jobs share the cores; one thread each avoids oversubscription
    w: Any = load_workload(file)
    if action == "train":
        model = w.model_factory()
        opt = torch.optim.Adam(model.parameters(), lr=w.lr)
        for step in range(w.steps):
            x, y = w.batches(w.batch_size, step)
            opt.zero_grad()
            w.loss(model, x, y).backward()
            opt.step()
        model.eval()
        print(f"{w.steps} steps, {w.metric} {w.evaluate(model):.4f}")
    elif action == "fit":
        model = w.model_factory().eval()  # digits_mlp trains its MLP here
        print(f"trained, {w.metric} {w.evaluate(_predictor(w, model)):.4f}")
    elif action == "infer":
        model = w.model_factory().eval()
        predict = _predictor(w, model)
        repeat = int(argv[2])
        for _ in range(repeat):
            predict(w.inputs)
        print(f"{repeat * len(w.inputs)} items, {w.metric} {w.evaluate(predict):.4f}")
    else:
        raise SystemExit(f"unknown demo job action {action!r}")


# -- the demo's scheduler: plan, start, meter, account ----------------------------------------


@dataclass
class Running:
    job_id: str
    template: Template
    proc: subprocess.Popen[str]
    meter: Meter
    run_id: int
    wall_start_s: float
    log: Path


class DemoLoop:
    """Plans jobs into clean windows on the replay clock and runs up to ``slots`` at once."""

    def __init__(
        self,
        board: JobBoard,
        grid: GridView,
        clock: Clock,
        store: RunStore,
        *,
        slots: int,
        wall_end_s: float,
        logs: Path,
    ) -> None:
        self.board, self.grid, self.clock, self.store = board, grid, clock, store
        self.slots, self.wall_end_s, self.logs = slots, wall_end_s, logs
        self.templates: dict[str, Template] = {}
        self.running: dict[str, Running] = {}
        self.cancelled: list[JobOut] = []  # stopped by stop_all, not yet reported

    def plan(self, job: JobOut, template: Template) -> None:
        """Pick the start in the deadline that minimises forecast intensity over the run."""
        from wattwise.errors import WattwiseError
        from wattwise.grid.window import best_window
        from wattwise.units import TimeSeries

        self.templates[job.id] = template
        now = self.clock.now_s()
        run_s = template.expected_wall_s * self.clock.speed
        # The demo must end on time: no plan may finish after its last wall second.
        latest_end = self.clock.to_sim_s(self.wall_end_s) - run_s
        deadline = min(job.deadline_s or now, latest_end)
        start, note = now, "no slack: starts now"
        times, values = self.grid.forecast_from(now)
        if deadline > now + run_s and times:
            import numpy as np

            series = TimeSeries(np.array(times), np.array(values), "gCO2e/kWh", HOUR_S)
            try:
                window = best_window(series, run_s, earliest_s=now, deadline_s=deadline)
                start = window.start_s
                note = f"planned for forecast {window.mean_intensity:.0f} g/kWh"
            except WattwiseError as err:
                note = f"starts now ({err})"
        status = "waiting" if start > now + 60 else "queued"
        self.board.update(
            job.id, status=status, planned_start_s=start, planned_end_s=start + run_s, detail=note
        )

    def _start(self, job: JobOut) -> None:
        from wattwise.meter import Meter

        t = self.templates[job.id]
        log = self.logs / f"{job.id}.log"
        env = {**os.environ, "OMP_NUM_THREADS": "1", "PYTHONUNBUFFERED": "1"}
        with log.open("w") as out:
            proc = subprocess.Popen(
                job.command,
                env=env,
                stdout=out,
                stderr=subprocess.STDOUT,
                text=True,
                cwd=REPO,
                start_new_session=True,  # Ctrl-C reaches the demo, which stops the jobs itself
            )
        meter = Meter(pid=proc.pid, interval_s=0.5)
        meter.begin(job.id)
        started = self.clock.now_s()
        run_id = self.store.start_run(
            job.name, job.command, kind="job", cpus=job.cpus, meta={"job_id": job.id}
        )
        self.running[job.id] = Running(job.id, t, proc, meter, run_id, time.time(), log)
        self.board.update(job.id, status="running", started_s=started, node=os.uname().nodename)

    def _finish(self, r: Running, status: str) -> JobOut:
        m = r.meter.end(r.job_id)
        r.meter.close()
        ended = self.clock.now_s()
        job = self.board.get_job(r.job_id)
        started = job.started_s or ended
        sim_run_s = max(ended - started, 1.0)
        mean = self.grid.mean_intensity(started, started + sim_run_s)
        # The carbon-agnostic baseline: the same work, started the moment it arrived.
        base_mean = self.grid.mean_intensity(job.submitted_s, job.submitted_s + sim_run_s)
        co2 = None if mean is None else co2e_grams(m.energy_j, mean)
        base = None if base_mean is None else co2e_grams(m.energy_j, base_mean)
        out_lines = r.log.read_text(errors="replace").strip().splitlines()
        # The result line: optimize's choice, or the job's last line.
        chosen = [ln for ln in out_lines if ln.startswith("chose ")]
        detail = (chosen or out_lines or [""])[-1][:160]
        source = f"{TRACE_FILE} replayed at {_fmt(started)}"
        self.store.finish_run(
            r.run_id,
            replace(m, name=job.name, co2e_g=co2, intensity_source=source),
            status="completed" if status == "done" else status,
            exit_code=r.proc.returncode,
            meta={"job_id": job.id, "baseline_co2e_g": base, "grid_time_s": started},
        )
        return self.board.update(
            r.job_id,
            status=status,
            ended_s=ended,
            duration_s=m.duration_s,
            energy_j=m.energy_j,
            co2e_g=co2,
            baseline_co2e_g=base,
            estimated=m.estimated,
            run_id=r.run_id,
            detail=detail if status == "done" else f"exit {r.proc.returncode}: {detail}",
        )

    def step(self) -> list[JobOut]:
        """Advance once: finish, release and start jobs. Returns jobs that just finished."""
        finished, self.cancelled = self.cancelled, []
        for job_id, r in list(self.running.items()):
            if r.proc.poll() is not None:
                del self.running[job_id]
                status = "done" if r.proc.returncode == 0 else "failed"
                finished.append(self._finish(r, status))
            elif self.board.get_job(job_id).status == "cancelled":
                self._stop(r)
                del self.running[job_id]
        now = self.clock.now_s()
        ready = []
        for job in self.board.all():
            if job.status == "waiting" and (job.planned_start_s or 0) <= now:
                job = self.board.update(job.id, status="queued")
            if job.status == "queued":
                ready.append(job)
        ready.sort(key=lambda j: (j.planned_start_s or j.submitted_s, j.submitted_s))
        for job in ready[: max(0, self.slots - len(self.running))]:
            self._start(job)
        return finished

    def pending(self) -> int:
        return sum(j.status in {"queued", "waiting", "running"} for j in self.board.all())

    def submit(self, t: Template) -> None:
        from wattwise.api.models import JobSubmit

        kind: Any = t.kind
        spec = JobSubmit(name=t.name, command=_job_command(t), deadline_h=t.deadline_h, kind=kind)
        self.plan(self.board.add(spec), t)

    def jobs(self) -> list[JobOut]:
        return self.board.all()

    def close(self) -> None:
        """Nothing to release: every job has been stopped or finished."""

    def _stop(self, r: Running) -> None:
        try:
            os.killpg(r.proc.pid, signal.SIGTERM)
            r.proc.wait(timeout=5)
        except (ProcessLookupError, subprocess.TimeoutExpired):
            with contextlib.suppress(ProcessLookupError):
                os.killpg(r.proc.pid, signal.SIGKILL)
            r.proc.wait(timeout=5)
        m = r.meter.end(r.job_id)
        r.meter.close()
        self.store.finish_run(r.run_id, m, status="interrupted", meta={"job_id": r.job_id})

    def stop_all(self, why: str) -> None:
        """Stop running jobs and cancel the rest, saying why; the next step reports them."""
        for job_id, r in list(self.running.items()):
            self._stop(r)
            del self.running[job_id]
            self.cancelled.append(
                self.board.update(
                    job_id, status="cancelled", ended_s=self.clock.now_s(), detail=why
                )
            )
        for job in self.board.all():
            if job.status in {"queued", "waiting"}:
                self.cancelled.append(self.board.update(job.id, status="cancelled", detail=why))


class EngineLoop:
    """The same queue on the engine: a local Ray instance, its carbon-aware policy, the
    job queue in the store. The engine works in wall time; the grid is compressed into
    it (:mod:`wattwise.api.replay`) and its jobs are mapped back for the dashboard."""

    def __init__(
        self,
        grid: GridView,
        clock: Clock,
        *,
        slots: int,
        wall_end_s: float,
        telemetry: Telemetry | None = None,
    ) -> None:
        from wattwise.api.jobs import EngineJobs
        from wattwise.api.replay import ReplayJobs, ReplayProvider, replay_forecast
        from wattwise.engine.client import EngineClient
        from wattwise.engine.head import Engine, EngineConfig
        from wattwise.engine.policy import CarbonAwarePolicy

        self.grid, self.clock, self.wall_end_s = grid, clock, wall_end_s
        provider = ReplayProvider(grid, clock)
        policy = CarbonAwarePolicy(forecast=replay_forecast(grid, clock), step_s=900 / clock.speed)
        self.engine = Engine(
            EngineConfig(num_cpus=slots, policy=policy, carbon=lambda zone: provider)
        )
        self.client = EngineClient()
        self.engine_jobs = EngineJobs()
        self.backend = ReplayJobs(self.engine_jobs, clock)
        self.templates: dict[str, Template] = {}
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
        from wattwise.meter import Device

        now = time.time()
        if self.telemetry is None or now - self._last_sample < 1.0:
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

    def start(self) -> None:
        """Start Ray and the head (seconds); raises if Ray cannot start."""
        self.engine.start()

    def submit(self, t: Template) -> None:
        now = time.time()
        # The demo must end on time: cap every deadline at its last wall second.
        slack = min(t.deadline_h * HOUR_S / self.clock.speed, self.wall_end_s - now)
        spec: dict[str, Any] = {
            "name": t.name,
            "command": _job_command(t),
            "cpus": 1,
            "runtime": f"{t.expected_wall_s:g}s",
            "env": {"OMP_NUM_THREADS": "1", "PYTHONUNBUFFERED": "1"},
            "cwd": str(REPO),
            "grace": "3s",
        }
        if slack > 2 * t.expected_wall_s:
            spec["deadline"] = f"{slack - t.expected_wall_s:.1f}s"
        job_id = str(self.client.submit(spec))
        self.templates[job_id] = t
        self.backend.runtime_s[job_id] = t.expected_wall_s
        self.backend.extra[job_id] = {"kind": t.kind}

    def _annotate(self, job: JobOut) -> JobOut:
        """Add the baseline carbon and the job's result line once it has finished."""
        from wattwise.config import home

        extra = self.backend.extra.setdefault(job.id, {})
        if job.energy_j is not None and job.started_s and job.ended_s:
            sim_run_s = max(job.ended_s - job.started_s, 1.0)
            mean = self.grid.mean_intensity(job.submitted_s, job.submitted_s + sim_run_s)
            if mean is not None:
                extra["baseline_co2e_g"] = co2e_grams(job.energy_j, mean)
        logs = sorted((home() / "logs").glob(f"job-{job.id}-try*.log"))
        lines = logs[-1].read_text(errors="replace").strip().splitlines() if logs else []
        chosen = [ln for ln in lines if ln.startswith("chose ")]
        result = (chosen or lines or [""])[-1][:160]
        if job.detail and job.status != "done":
            result = f"{job.detail[:80]} {result}".strip()
        extra["detail"] = result
        return self.backend.get_job(job.id)

    def step(self) -> list[JobOut]:
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
        return sum(j.status in {"queued", "waiting", "running"} for j in self._own_jobs())

    def jobs(self) -> list[JobOut]:
        return list(reversed(self._own_jobs()))

    def stop_all(self, why: str) -> None:
        """Cancel everything not finished and let the head stop running tasks (grace 3 s)."""
        from wattwise.errors import WattwiseError

        for job in self.jobs():
            if job.status in {"queued", "waiting", "running"}:
                with contextlib.suppress(WattwiseError):
                    self.client.cancel(int(job.id))
                self.backend.extra.setdefault(job.id, {})["detail"] = why
        deadline = time.time() + 15
        while self.pending() and time.time() < deadline:
            self.engine.tick()
            time.sleep(0.05)

    def close(self) -> None:
        self.engine.shutdown()
        from wattwise.engine import ray_backend

        with contextlib.suppress(Exception):  # Ray may already be down after Ctrl-C
            ray_backend.import_ray().shutdown()


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


def _job_command(t: Template) -> list[str]:
    code = "import sys; from wattwise.cli.demo import job_main; job_main(sys.argv[1:])"
    return [sys.executable, "-c", code, *t.args]


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
    from wattwise.api.jobs import JobBoard
    from wattwise.api.server import serve_in_thread
    from wattwise.api.telemetry import Telemetry
    from wattwise.config import home
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
    store = RunStore()
    wall_end = time.time() + duration
    typer.echo(
        f"grid: California 2022 carbon trace replayed from {_fmt(origin)} UTC, "
        f"1 s = {speed / 60:g} min; store: {store.url}"
    )
    telemetry = Telemetry()
    runner: DemoLoop | EngineLoop | None = None
    if engine == "ray":
        typer.echo("engine: starting a local Ray instance ...")
        try:
            runner = EngineLoop(grid, clock, slots=slots, wall_end_s=wall_end, telemetry=telemetry)
            runner.start()
            typer.echo(f"engine: Ray, {slots} CPUs, carbon-aware policy on the replayed forecast")
        except Exception as err:  # Ray failing to start must not end the demo
            typer.echo(f"engine: Ray did not start ({_first_line(err)}); using local subprocesses")
            runner = None
    clock.restart()  # the replay starts now, whatever Ray's start-up took
    signal.signal(signal.SIGTERM, _interrupt)  # `kill` stops as cleanly as Ctrl-C
    if runner is None:
        board = JobBoard(now_s=clock.now_s)
        logs = home() / "demo-logs"
        logs.mkdir(parents=True, exist_ok=True)
        local = DemoLoop(board, grid, clock, store, slots=slots, wall_end_s=wall_end, logs=logs)
        submitted_by_api = Template("submitted job", "other", (), 10, 12)
        board.on_submit = lambda job: local.plan(job, submitted_by_api)
        runner = local
        typer.echo(f"engine: local metered subprocesses, at most {slots} at once (no Ray)")
    backend: Any = runner.backend if isinstance(runner, EngineLoop) else runner.board
    nodes_info = runner.engine_jobs.nodes if isinstance(runner, EngineLoop) else None
    app = create_app(jobs=backend, grid=grid, nodes_info=nodes_info, telemetry=telemetry)
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
        typer.echo(_totals(runner.jobs()))
        _write_result(runner.jobs(), grid, speed)
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


def _advance(runner: DemoLoop | EngineLoop, seconds: float) -> None:
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
