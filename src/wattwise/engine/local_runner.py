"""Run the store's job queue on this machine without Ray: each job one metered subprocess.

The engine's fallback where Ray is missing or does not start (``wattwise demo
--engine local``). It plays the head's part on one local node: it plans and starts
queued jobs with the head's :class:`~wattwise.engine.scheduler.Scheduler` (the same
long-lived policy, hourly re-plans and dispatch rules; never later than the latest safe
start), runs due ones as their own process groups within ``cpus``, meters each
with the :class:`~wattwise.meter.Meter` that ``wattwise measure`` uses (estimate
settings from the config, carbon by :func:`wattwise.carbon.with_carbon` with the
planning signal's provider), stops
cancelled ones (SIGTERM, the job's grace, SIGKILL) and completes them in the store.
So clients, the API and ``wattwise runs`` see the same jobs, tasks, logs and runs as
with the head. One task and one attempt per job: sharded jobs need the engine on Ray.
Units: s (UTC epoch s), cores.
"""

from __future__ import annotations

import contextlib
import os
import signal
import subprocess
import time
import uuid
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Any

from wattwise.engine.carbon import PlanningSignal
from wattwise.engine.scheduler import (
    NodeView,
    PendingJob,
    Scheduler,
    make_engine_policy,
)
from wattwise.engine.spec import JobSpec
from wattwise.errors import WattwiseError
from wattwise.store.jobs import (
    JobCompletion,
    JobRecord,
    JobStore,
    NewTask,
    NodeRecord,
    TaskOutcome,
    WaitingPlan,
)

if TYPE_CHECKING:
    from wattwise.meter import Measurement, Meter
    from wattwise.schedule.policies.base import Policy

NODE_ID = "local"


@dataclass
class _Task:
    """A job running here: its process group, its meter, and when to SIGKILL it."""

    record: JobRecord
    spec: JobSpec
    task_id: int
    proc: subprocess.Popen[bytes]
    meter: Meter
    log_path: Path
    started_s: float
    kill_at: float | None = None  # set by a cancel: SIGKILL after the grace


class LocalRunner:
    """The store's queue run as local subprocesses, at most ``cpus`` cores at once."""

    def __init__(
        self,
        store_url: str | None = None,
        *,
        cpus: float,
        policy: Policy | None = None,
        signal: PlanningSignal | None = None,
        interval_s: float = 0.5,
        home: Path | None = None,
        hour_s: float = 3600.0,
    ) -> None:
        from wattwise.config import home as default_home

        self.store = JobStore(store_url)
        self.cpus = cpus
        self.signal = signal or PlanningSignal()
        self.scheduler = Scheduler(
            policy or make_engine_policy("asap"), self.signal.forecast, hour_s=hour_s
        )
        self.interval_s = interval_s
        self.home = home or default_home()
        self.head_id = f"local-{uuid.uuid4().hex[:12]}"
        self._provider: Any = None
        self._waiting: dict[int, tuple[JobRecord, JobSpec]] = {}
        self._running: dict[int, _Task] = {}
        self._max_seen_id = 0
        self._node_name = os.uname().nodename

    # -- life cycle --------------------------------------------------------------

    def start(self) -> None:
        """Take over the queue as a new head does: another head's running tasks are lost
        and requeued, waiting jobs re-planned."""
        self.store.recover(self.head_id)
        now = time.time()
        node = NodeRecord(NODE_ID, self._node_name, None, None, self.cpus, 0.0, True, now)
        self.store.upsert_nodes([node])
        self._take(self.store.pending())

    def shutdown(self, stop_running: bool = True) -> None:
        """Stop (``stop_running``: SIGTERM, grace, SIGKILL) and record the running jobs."""
        if stop_running:
            for task in self._running.values():
                self._signal(task, signal.SIGTERM)
                task.kill_at = time.monotonic() + task.spec.grace_s
            while self._running:  # _harvest sends SIGKILL once a job's grace is over
                self._harvest()
                time.sleep(0.05)

    @property
    def idle(self) -> bool:
        """No job running or waiting here."""
        return not self._running and not self._waiting

    def node_views(self) -> list[NodeView]:
        used = sum(t.spec.cpus for t in self._running.values())
        return [NodeView(NODE_ID, self._node_name, self.cpus, 0.0, self.cpus - used, 0.0)]

    # -- one tick ----------------------------------------------------------------

    def tick(self) -> bool:
        """One pass: finish exited jobs, stop cancelled ones, plan new, start due ones."""
        busy = self._harvest()
        busy |= self._cancel_requested()
        busy |= self._take(self.store.pending_after(self._max_seen_id))
        if self.scheduler.replan_due(time.time()):  # the hourly call of a replanning policy
            self._plan([r for r, _ in self._waiting.values()])
        return self._dispatch(time.time()) or busy

    def _take(self, records: list[JobRecord]) -> bool:
        new = [r for r in records if r.id not in self._waiting and r.id not in self._running]
        if not new:
            return False
        self._max_seen_id = max(self._max_seen_id, *(r.id for r in new))
        specs = {r.id: JobSpec.from_dict(r.spec) for r in new}
        refused: list[JobCompletion] = []
        for r in new:
            spec = specs[r.id]
            if spec.n_tasks > 1 or spec.cpus > self.cpus:
                # No node will ever join this one: say so rather than wait forever.
                why = f"needs {spec.cpus:g} CPUs; this machine runs {self.cpus:g}"
                if spec.n_tasks > 1:
                    why = "sharded jobs need the engine on Ray (run without --engine local)"
                refused.append(JobCompletion(r.id, "failed", error=f"not run locally: {why}"))
                continue
            self._waiting[r.id] = (r, spec)
        self.store.complete_jobs(refused)
        self._plan([r for r in new if r.id in self._waiting])
        return True

    def _plan(self, records: list[JobRecord]) -> None:
        """Plan ``records`` (new ones are the policy's arrivals) and store the plans."""
        now = time.time()
        views = []
        for r in records:
            spec = self._waiting[r.id][1]
            views.append(
                PendingJob(
                    job_id=r.id,
                    cpus=spec.cpus,
                    gpus=spec.gpus,
                    n_tasks=spec.n_tasks,
                    submitted_s=r.submitted_s,
                    latest_start_s=r.latest_start_s,
                    runtime_s=spec.runtime_s,
                    node_type=spec.node_type,
                    zone=spec.zone,
                    priority=spec.priority,
                )
            )
        plans: list[WaitingPlan] = []
        for p in self.scheduler.plan(views, self.node_views(), now):
            if p.job_id in self._waiting and p.node_ids and p.start_s > now:
                plans.append(WaitingPlan(p.job_id, p.start_s, p.node_ids))
        self.store.set_plans(plans)

    def _dispatch(self, now: float) -> bool:
        holding = {i: 1 for i in self._waiting} | {i: 0 for i in self._running}
        started = False
        for start in self.scheduler.dispatch(now, self.node_views(), holding):
            record, spec = self._waiting.pop(start.job_id)
            ids = self.store.start_tasks(
                [NewTask(record.id, 0, record.attempts + 1, NODE_ID, self._node_name)],
                self.head_id,
            )
            if not ids:  # cancelled by a client meanwhile
                continue
            self._launch(record, spec, ids[record.id][0])
            started = True
        return started

    def _launch(self, record: JobRecord, spec: JobSpec, task_id: int) -> None:
        from wattwise.meter import Meter
        from wattwise.session import estimate_settings_from_config

        attempt = record.attempts + 1
        log_path = self.home / "logs" / f"job-{record.id}-try{attempt}.log"
        env = {
            **os.environ,
            **spec.env,
            "WATTWISE_JOB_ID": str(record.id),
            "WATTWISE_ATTEMPT": str(attempt),
            "WATTWISE_NODE": self._node_name,
            "WATTWISE_NODE_TYPE": "",  # one untyped local node
        }
        now = time.time()
        try:
            if spec.interruptible or spec.checkpoint_dir:
                ck = spec.checkpoint_dir or str(self.home / "checkpoints" / f"job-{record.id}")
                Path(ck).mkdir(parents=True, exist_ok=True)
                env["WATTWISE_CHECKPOINT_DIR"] = ck
                env["WATTWISE_RESUME"] = "1" if spec.interruptible and attempt > 1 else "0"
            log_path.parent.mkdir(parents=True, exist_ok=True)
            with log_path.open("wb") as out:
                proc = subprocess.Popen(
                    spec.argv(),
                    env=env,
                    cwd=spec.cwd,
                    stdin=subprocess.DEVNULL,
                    stdout=out,
                    stderr=subprocess.STDOUT,
                    start_new_session=True,  # cancel reaches the job's children too
                )
        except OSError as err:
            what = err.filename or (spec.argv() or ["?"])[0]
            self._fail_to_start(record, task_id, f"cannot start: {err.strerror or err}: {what}")
            return
        meter = Meter(
            pid=proc.pid, interval_s=self.interval_s, estimate=estimate_settings_from_config()
        )
        meter.begin(str(task_id))
        self._running[record.id] = _Task(record, spec, task_id, proc, meter, log_path, now)

    def _fail_to_start(self, record: JobRecord, task_id: int, why: str) -> None:
        self.store.finish_tasks([TaskOutcome(task_id, "failed", error=why)])
        self.store.complete_jobs([JobCompletion(record.id, "failed", error=why, exit_code=None)])

    # -- results -----------------------------------------------------------------

    def _harvest(self) -> bool:
        ended = [t for t in self._running.values() if t.proc.poll() is not None]
        now = time.monotonic()
        for task in self._running.values():
            if task.kill_at is not None and now >= task.kill_at and task.proc.poll() is None:
                self._signal(task, signal.SIGKILL)
        for task in ended:
            del self._running[task.record.id]
            self._finish(task, cancelled=task.kill_at is not None)
        return bool(ended)

    def _cancel_requested(self) -> bool:
        wanted = [i for i in self.store.cancel_requested_running() if i in self._running]
        for job_id in wanted:
            task = self._running[job_id]
            if task.kill_at is None:
                self._signal(task, signal.SIGTERM)
                task.kill_at = time.monotonic() + task.spec.grace_s
        return bool(wanted)

    @staticmethod
    def _signal(task: _Task, sig: signal.Signals) -> None:
        with contextlib.suppress(ProcessLookupError, PermissionError):
            os.killpg(task.proc.pid, sig)

    def _finish(self, task: _Task, *, cancelled: bool) -> None:
        raw = task.meter.end(str(task.task_id))
        task.meter.close()
        measurement, source = self._with_carbon(raw)
        code = task.proc.returncode
        if cancelled:
            status, error = "cancelled", "cancelled"
        elif code == 0:
            status, error = "succeeded", None
        else:
            status, error = "failed", f"exited with status {code} (log: {task.log_path})"
        self.store.finish_tasks(
            [
                TaskOutcome(
                    task_id=task.task_id,
                    status=status,
                    started_s=task.started_s,
                    ended_s=raw.end_s,
                    exit_code=code,
                    energy_j=measurement.energy_j,
                    co2e_g=measurement.co2e_g,
                    error=error,
                    detail={
                        "log": str(task.log_path),
                        "intensity_source": source,
                        "estimated": measurement.estimated,
                    },
                )
            ]
        )
        self.store.complete_jobs(
            [
                JobCompletion(
                    job_id=task.record.id,
                    status=status,
                    measurement=measurement,
                    command=task.spec.argv(),
                    host=self._node_name,
                    cpus=task.spec.cpus,
                    exit_code=code if status == "failed" else 0,
                    error=error,
                    meta={"attempts": task.record.attempts + 1, "tasks": 1, "runner": "local"},
                )
            ]
        )

    def _with_carbon(self, raw: Measurement) -> tuple[Measurement, str]:
        """The measurement with its gCO₂e, as ``wattwise measure`` adds it; without one
        (no intensity data) the energy is kept and the reason returned."""
        from wattwise.carbon import with_carbon

        if self._provider is None:
            try:  # as the head resolves a node without a zone label
                self._provider = self.signal.provider(None)
            except WattwiseError as err:
                self._provider = f"no intensity: {err}"
        if isinstance(self._provider, str):
            return raw, self._provider
        try:
            out = with_carbon(raw, self._provider)
        except WattwiseError as err:
            return raw, f"no intensity: {err}"
        return out, out.intensity_source or ""
