"""The head: the loop that turns the stored queue into Ray tasks and results.

Each tick: refresh the node list (re-plan when nodes join or leave), collect finished
tasks (energy, carbon, status to the store), stop jobs clients cancelled, take newly
queued jobs from the store, ask the policy when and where each should start (never
later than its latest safe start), and dispatch what is due: short jobs bound for the
same node go out together as one Ray task (batch dispatch). A task lost with its node
runs again on another node; interruptible jobs resume from their checkpoint folder.

The queue is the store: a restarted head requeues the tasks its predecessor had
running and re-plans the rest, so no submitted job is lost. Units: s (UTC epoch s).
"""

from __future__ import annotations

import dataclasses
import logging
import threading
import time
import uuid
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import NamedTuple

from wattwise.engine import ray_backend as rb
from wattwise.engine.backend import (
    Backend,
    BatchHandle,
    Cancelled,
    Finished,
    NodeInfo,
    NodeLost,
    TaskRaised,
    task_token,
)
from wattwise.engine.backend import one_line as _one_line
from wattwise.engine.carbon import CarbonAccountant, PlanningSignal
from wattwise.engine.node_meter import JobEnergy, NodeTotals
from wattwise.engine.power import UNKNOWN_RUNTIME_S, PowerPlan, limits_meta, plan_for_job
from wattwise.engine.predictions import RuntimePlanner
from wattwise.engine.scheduler import (
    NodeView,
    PendingJob,
    Placement,
    Scheduler,
    make_engine_policy,
)
from wattwise.engine.spec import JobSpec
from wattwise.engine.worker import TaskItem, TaskResult
from wattwise.errors import WattwiseError
from wattwise.meter.types import DeviceEnergy, Measurement, PowerSample
from wattwise.schedule.model import NodeGroup
from wattwise.schedule.policies.base import Policy
from wattwise.schedule.suspend import RESTART_OVERHEAD_S, advise
from wattwise.store.jobs import (
    TERMINAL,
    JobCompletion,
    JobRecord,
    JobStore,
    NewTask,
    TaskOutcome,
)
from wattwise.store.runs import RunStore
from wattwise.store.status import JobStatus
from wattwise.units import iso_utc

log = logging.getLogger("wattwise.engine")


@dataclass
class EngineConfig:
    """How the head runs. Units: s, cores."""

    store_url: str | None = None
    #: Ray address to join; ``None`` starts an embedded local Ray instance.
    address: str | None = None
    #: Where the embedded instance listens (default loopback; ``0.0.0.0``: everywhere).
    ray_host: str = rb.LOOPBACK
    #: CPUs of the embedded instance (``None``: Ray counts them).
    num_cpus: int | None = None
    #: Labels of the embedded node (``wattwise.io/zone`` etc.).
    labels: dict[str, str] | None = None
    #: The ``wattwise.schedule`` policy the scheduler keeps for the head's life (default
    #: ``fifo``; ``scheduler.make_engine_policy`` makes one by name or alias).
    policy: Policy | None = None
    #: Wall seconds per policy hour (below 3600: compressed time, ``bench/engine_parity``).
    hour_s: float = 3600.0
    #: Hour 0 of the policy's clock (default: the start of the hour the head starts in).
    clock_origin_s: float | None = None
    #: Policy hours in each forecast row the policy sees.
    forecast_horizon_h: int = 48
    #: Per node type, the power and speed model the policy scores groups with.
    node_groups: dict[str, NodeGroup] | None = None
    meter: bool = True
    meter_interval_s: float = 0.5
    #: Builds each node's energy sources on that node (default: detect them).
    meter_sources: rb.SourcesFactory | None = None
    #: What the head plans with and accounts carbon by, per zone (default: each zone's
    #: ``resolve_provider``; ``PlanningSignal.from_trace`` for ``serve --carbon FILE``).
    signal: PlanningSignal | None = None
    #: Jobs expecting to run at most this long may share one Ray task. Units: s.
    batch_runtime_s: float = 60.0
    batch_max: int = 64
    replan_interval_s: float = 300.0
    node_refresh_s: float = 1.0
    #: Full re-read of the queue (catches rows other databases commit out of id order).
    sweep_s: float = 10.0
    tick_s: float = 0.02
    #: Job logs and checkpoints go under here (default: ``$WATTWISE_HOME``).
    home: Path | None = None
    #: How often running interruptible jobs are reviewed for a pause. Units: s.
    suspend_check_s: float = 60.0
    #: Suspend-resume of interruptible jobs toward cleaner hours (``schedule.suspend``).
    suspend: bool = True
    #: The cluster (``engine.backend``); default: a ``RayBackend`` on ``address``
    #: (or an embedded instance with ``num_cpus``, ``labels``, ``ray_host``).
    backend: Backend | None = None


@dataclass(frozen=True)
class _TaskEnergy:
    """One finished task's share of a job's energy, its carbon and where it ran."""

    energy: JobEnergy
    co2e_g: float | None
    intensity_source: str
    node_name: str


@dataclass
class _Job:
    """What the head tracks of a job it has taken from the queue."""

    record: JobRecord
    spec: JobSpec
    attempt: int
    todo: list[int]  # shard indices still to dispatch
    placement: Placement | None = None
    running: set[int] = field(default_factory=set)  # task ids in flight
    done: set[int] = field(default_factory=set)  # shards that succeeded
    energies: list[_TaskEnergy] = field(default_factory=list)
    nodes: set[str] = field(default_factory=set)
    failed: str | None = None
    exit_code: int | None = None
    cancelled: bool = False
    power_limits_w: list[float] = field(default_factory=list)  # what its GPUs were set to
    power_note: str | None = None
    # Suspend-resume (interruptible jobs): segments run so far, work they did (s), the
    # current segment's start, a pause asked of the node, and when to resume.
    segments: int = 0
    worked_s: float = 0.0
    segment_started_s: float | None = None
    suspending: bool = False
    resume_at_s: float | None = None
    resume_latest_s: float | None = None


@dataclass(frozen=True)
class _InFlight:
    task_id: int
    job_id: int
    shard: int
    node_id: str


class _BatchKey(NamedTuple):
    """What tasks share one batch: short jobs by node; a long one (``task_id``) alone."""

    node_id: str
    task_id: int | None


class Engine:
    """Runs the queue in the store on a cluster (``config.backend``, default Ray). One
    head per store at a time."""

    def __init__(self, config: EngineConfig | None = None) -> None:
        self.config = config or EngineConfig()
        self.store = JobStore(self.config.store_url)
        cfg = self.config
        self.backend: Backend = cfg.backend or rb.RayBackend(
            cfg.address, cfg.num_cpus, cfg.labels, cfg.ray_host
        )
        self.signal = self.config.signal or PlanningSignal()
        self.scheduler = Scheduler(
            self.config.policy or make_engine_policy("asap"),
            self.signal.forecast,
            hour_s=self.config.hour_s,
            origin_s=self.config.clock_origin_s,
            horizon_h=self.config.forecast_horizon_h,
            node_groups=self.config.node_groups,
        )
        self.policy = self.scheduler.policy
        self.head_id = uuid.uuid4().hex[:16]
        self.carbon = CarbonAccountant(self.signal)
        self.predictions = RuntimePlanner(self.store)  # predict14: runtimes from history
        if self.config.home is not None:
            self.home = self.config.home
        else:
            from wattwise.config import home

            self.home = home()
        self._jobs: dict[int, _Job] = {}
        self._runs: RunStore | None = None  # past runs, read for power profiles
        self._inflight: dict[BatchHandle, list[_InFlight]] = {}
        self._nodes: dict[str, NodeInfo] = {}
        self._meter_starting: set[str] = set()  # nodes whose meter is starting
        self._meter_ready: set[str] = set()
        self._dead: set[str] = set()  # nodes whose tasks died with them
        self._max_seen_id = 0
        self._replan = True
        self._last_nodes = 0.0
        self._last_plan = 0.0
        self._last_sweep = 0.0
        self._last_cancel_check = 0.0
        self._last_suspend_check = 0.0
        self._started = False
        self.recovered = 0

    # -- life cycle --------------------------------------------------------------

    def start(self) -> None:
        """Connect to the cluster, requeue what a previous head left running, read the nodes."""
        self.backend.connect()
        self.recovered = self.store.recover(self.head_id)
        self._sync_nodes(force=True)
        self.wait_for_meters()
        self._load_queue(full=True)
        self._started = True

    def shutdown(self, stop_running: bool = False) -> None:
        """Stop the head; the store keeps every job for the next head, which requeues
        what was running. ``stop_running`` first stops the running tasks (SIGTERM, their
        grace, SIGKILL) so they do not go on beside their requeued copies on a shared
        cluster; interruptible jobs can checkpoint in the grace period."""
        if stop_running and self._inflight:
            handles = list(self._inflight)
            for handle in handles:
                self.backend.cancel(handle)
            grace = max((j.spec.grace_s for j in self._jobs.values()), default=0.0)
            deadline = time.monotonic() + grace + 2.0
            while handles and time.monotonic() < deadline:
                done = set(self.backend.wait(handles, deadline - time.monotonic()))
                handles = [h for h in handles if h not in done]
        self._inflight.clear()
        self.backend.close()
        self.predictions.close()  # predict14
        self._started = False

    def run(
        self,
        stop: threading.Event | None = None,
        until: Callable[[], bool] | None = None,
        timeout_s: float | None = None,
    ) -> bool:
        """Tick until ``stop`` is set, ``until()`` holds, or ``timeout_s`` passes.

        Returns whether ``until`` was met (``True`` when there is none).
        """
        if not self._started:
            self.start()
        deadline = None if timeout_s is None else time.monotonic() + timeout_s
        while True:
            busy = self.tick()
            if until is not None and until():
                return True
            if stop is not None and stop.is_set():
                return until is None
            if deadline is not None and time.monotonic() > deadline:
                return False
            if not busy:
                self._wait(self.config.tick_s)

    def _wait(self, seconds: float) -> None:
        """Sleep, but wake as soon as a task in flight finishes."""
        if self._inflight:
            self.backend.wait(list(self._inflight), seconds)
        else:
            time.sleep(seconds)

    # -- one tick ----------------------------------------------------------------

    def tick(self) -> bool:
        """One pass of the loop; returns whether anything happened."""
        now = time.time()
        busy = False
        if now - self._last_nodes >= self.config.node_refresh_s:
            self._sync_nodes()
        if self._meter_starting:
            self._check_meters()
        busy |= self._harvest()
        if now - self._last_cancel_check >= 0.25:
            self._last_cancel_check = now
            busy |= self._cancel_requested()
        full = now - self._last_sweep >= self.config.sweep_s
        busy |= self._load_queue(full=full)
        if (
            self._replan
            or now - self._last_plan >= self.config.replan_interval_s
            or self.scheduler.replan_due(now)
        ):
            self._plan([j for j in self._jobs.values() if j.todo and not j.running])
            self._replan = False
            self._last_plan = now
        busy |= self._dispatch(time.time())  # after planning: a job planned "now" is due
        if self.config.suspend and now - self._last_suspend_check >= self.config.suspend_check_s:
            self._last_suspend_check = now
            busy |= self._review_suspensions(now)
        return busy

    def replan(self) -> None:
        """Re-plan every job not yet started (e.g. forecasts changed)."""
        self.scheduler.refresh_forecast()
        self._replan = True

    # -- nodes -------------------------------------------------------------------

    def _sync_nodes(self, force: bool = False) -> None:
        self._last_nodes = time.time()
        nodes = {
            n.node_id: n
            for n in self.backend.list_nodes()
            if n.alive and n.node_id not in self._dead
        }
        if not force and nodes.keys() == self._nodes.keys():
            return
        gone = self._nodes.keys() - nodes.keys()
        joined = nodes.keys() - self._nodes.keys()
        self._nodes = nodes
        for node_id in gone:
            self.backend.drop_meter(node_id)
            self._meter_starting.discard(node_id)
            self._meter_ready.discard(node_id)
            self._lose_node(node_id)
        if self.config.meter:
            for node_id in joined:
                self.backend.start_meter(
                    node_id, self.config.meter_sources, self.config.meter_interval_s
                )
                # A node takes jobs once its meter runs, so no job goes unmetered.
                self._meter_starting.add(node_id)
        from wattwise.store.jobs import NodeRecord

        now = time.time()
        self.store.upsert_nodes(
            [
                NodeRecord(n.node_id, n.name, n.node_type, n.zone, n.cpus, n.gpus, True, now)
                for n in nodes.values()
            ]
            + [NodeRecord(i, i[:12], None, None, 0.0, 0.0, False, now) for i in gone]
        )
        if gone or joined:
            log.info("nodes: %d live (+%d, -%d)", len(nodes), len(joined), len(gone))
        self._replan = True

    def _check_meters(self, timeout_s: float = 0.0) -> None:
        for ready in self.backend.meters_ready(timeout_s):
            if ready.node_id not in self._meter_starting:
                continue  # the node left meanwhile
            self._meter_starting.discard(ready.node_id)
            if ready.error is not None:
                # Run jobs there anyway; their tasks will say they have no energy figure.
                log.warning("meter on node %s failed to start: %s", ready.node_id[:12],
                            ready.error)  # fmt: skip
            self._meter_ready.add(ready.node_id)
            self._replan = True

    def wait_for_meters(self, timeout_s: float = 120.0) -> None:
        """Block until every node's meter runs (or ``timeout_s`` passes)."""
        deadline = time.monotonic() + timeout_s
        while self._meter_starting and time.monotonic() < deadline:
            self._check_meters(timeout_s=0.5)

    def _lose_node(self, node_id: str) -> None:
        """Tasks on a node that left are lost: requeue them elsewhere."""
        for handle, tasks in list(self._inflight.items()):
            if tasks and tasks[0].node_id == node_id:
                del self._inflight[handle]
                self._lost(tasks, f"node {node_id[:12]} died", node_id)

    def node_views(self) -> list[NodeView]:
        used_cpu: dict[str, float] = {}
        used_gpu: dict[str, float] = {}
        for tasks in self._inflight.values():
            for t in tasks:
                job = self._jobs.get(t.job_id)
                if job is not None:
                    used_cpu[t.node_id] = used_cpu.get(t.node_id, 0.0) + job.spec.cpus
                    used_gpu[t.node_id] = used_gpu.get(t.node_id, 0.0) + job.spec.gpus
        return [
            NodeView(
                node_id=n.node_id,
                name=n.name,
                cpus=n.cpus,
                gpus=n.gpus,
                free_cpus=n.cpus - used_cpu.get(n.node_id, 0.0),
                free_gpus=n.gpus - used_gpu.get(n.node_id, 0.0),
                node_type=n.node_type,
                zone=n.zone,
            )
            for n in self._nodes.values()
            if not self.config.meter or n.node_id in self._meter_ready
        ]

    # -- queue and plan ----------------------------------------------------------

    def _load_queue(self, full: bool) -> bool:
        if full:
            self._last_sweep = time.time()
            records = self.store.pending()
            live = {r.id for r in records}
            # Jobs a client cancelled before they started leave the head's plan.
            for job_id in [i for i, j in self._jobs.items() if not j.running and i not in live]:
                if self.store.get_job(job_id).status in TERMINAL:
                    del self._jobs[job_id]
        else:
            records = self.store.pending_after(self._max_seen_id)
        new: list[JobRecord] = []
        for r in records:
            if r.id in self._jobs:
                continue
            self._max_seen_id = max(self._max_seen_id, r.id)
            try:
                spec = JobSpec.from_dict(r.spec)
            except Exception as err:  # a stored spec this version refuses: fail it alone
                self._fail_queued(r.id, f"cannot run this job: {_one_line(err, named=False)}")
                continue
            if r.attempts >= spec.max_attempts:  # its tries ran out under earlier heads
                last = f" (last: {r.error})" if r.error else ""
                self._fail_queued(
                    r.id, f"tried {r.attempts} times, max_attempts is {spec.max_attempts}{last}"
                )
                continue
            new.append(r)
            done = set()
            if r.attempts > 0:  # resumed after a head restart: keep shards that succeeded
                done = {t.shard for t in self.store.tasks(r.id) if t.status == "succeeded"}
            todo = [i for i in range(spec.n_tasks) if i not in done]
            job = _Job(r, spec, r.attempts + 1, todo, done=done)
            if r.status == JobStatus.SUSPENDED and r.planned_start_s is not None:
                job.segments, job.resume_at_s = 1, r.planned_start_s
                job.resume_latest_s = r.planned_start_s  # its own bound, set when paused
            self._jobs[r.id] = job
        if new:
            self._plan([self._jobs[r.id] for r in new])
        return bool(new)

    def _fail_queued(self, job_id: int, why: str) -> None:
        log.error("job %d failed: %s", job_id, why)
        self.store.complete_jobs([JobCompletion(job_id, "failed", error=why)])

    def _pending_view(self, job: _Job) -> PendingJob:
        # predict14: plan with the predicted runtime; latest start by its upper bound.
        job.record, runtime_s = self.predictions.plan(job.record, job.spec)
        r = job.record
        upper = (r.predicted or {}).get("runtime_upper_s")
        hold = None
        if job.resume_at_s is not None:  # a paused job waits for its cleaner hours
            assert job.resume_latest_s is not None
            hold = min(job.resume_at_s, job.resume_latest_s)
        return PendingJob(
            job_id=r.id,
            cpus=job.spec.cpus,
            gpus=job.spec.gpus,
            n_tasks=len(job.todo),
            submitted_s=r.submitted_s,
            latest_start_s=r.latest_start_s,
            runtime_s=runtime_s,
            node_type=job.spec.node_type,
            zone=job.spec.zone,
            excluded_nodes=tuple(r.excluded_nodes),
            priority=job.spec.priority,
            runtime_upper_s=float(upper) if isinstance(upper, int | float) else None,
            hold_until_s=hold,
        )

    def _plan(self, jobs: Sequence[_Job]) -> None:
        if not jobs:
            return
        now = time.time()
        views = self.node_views()
        if not views and self._meter_starting:
            self._replan = True  # plan once the first node's meter runs
            return
        pending = [self._pending_view(j) for j in jobs]
        # The scheduler clamps every start to the latest safe start and falls back to it
        # when the policy raises; it also returns jobs whose plan moved (pull-forward).
        placements = self.scheduler.plan(pending, views, now)
        waiting: list[tuple[int, float, list[str]]] = []
        for p in placements:
            job = self._jobs.get(p.job_id)
            if job is None:
                continue
            job.placement = p
            if not p.node_ids:
                self.store.note(job.record.id, p.reason or "no node can take this job")
            elif job.resume_at_s is not None:
                pass  # stays `suspended` in the store until it runs again
            elif p.start_s > now + self.config.tick_s:
                waiting.append((job.record.id, p.start_s, list(p.node_ids)))
        self.store.set_plans(waiting)

    # -- dispatch ----------------------------------------------------------------

    def _dispatch(self, now: float) -> bool:
        # The scheduler decides what starts where (queue order, guard, reservations).
        holding = {i: 0 if j.cancelled else len(j.todo) for i, j in self._jobs.items()}
        starts = self.scheduler.dispatch(now, self.node_views(), holding)
        chosen: list[tuple[_Job, int, str]] = []
        for start in starts:
            job = self._jobs[start.job_id]
            chosen.append((job, job.todo.pop(0), start.node_id))
        if not chosen:
            return False
        started = self.store.start_tasks(
            [
                NewTask(job.record.id, shard, job.attempt, node, self._nodes[node].name)
                for job, shard, node in chosen
            ],
            self.head_id,
        )
        for job, _, _ in chosen:
            if job.record.id in started:
                job.segment_started_s, job.resume_at_s, job.resume_latest_s = now, None, None
        batches: dict[_BatchKey, list[tuple[_Job, int, int]]] = {}
        ids_left = {job_id: list(ids) for job_id, ids in started.items()}
        for job, shard, node in chosen:
            ids = ids_left.get(job.record.id)
            if not ids:  # cancelled by a client meanwhile
                self._jobs.pop(job.record.id, None)
                continue
            task_id = ids.pop(0)
            key = _BatchKey(node, None if self._short(job.spec) else task_id)
            batches.setdefault(key, []).append((job, shard, task_id))
        for key, members in batches.items():
            for i in range(0, len(members), self.config.batch_max):
                self._submit_or_fail(key.node_id, members[i : i + self.config.batch_max])
        return True

    def _submit_or_fail(self, node: str, members: list[tuple[_Job, int, int]]) -> None:
        """Submit a batch; a job that cannot be dispatched fails alone, the head goes on."""
        try:
            self._submit(node, members)
        except Exception as err:
            if len(members) > 1:  # find the job at fault: submit each on its own
                for member in members:
                    self._submit_or_fail(node, [member])
                return
            job, _, task_id = members[0]
            why = f"could not dispatch: {_one_line(err)}"
            log.error("job %d %s", job.record.id, why)
            job.todo.clear()
            self._fail_tasks([(job.record.id, task_id)], why)

    def _short(self, spec: JobSpec) -> bool:
        """May share a Ray task with other jobs: declared short and CPU-only."""
        return (
            spec.runtime_s is not None
            and spec.runtime_s <= self.config.batch_runtime_s
            and spec.gpus == 0
        )

    def _item(self, job: _Job, shard: int, task_id: int) -> TaskItem:
        spec, job_id = job.spec, job.record.id
        shard_value = spec.shards[shard] if spec.shards else None
        env = {
            **spec.env,
            "WATTWISE_JOB_ID": str(job_id),
            "WATTWISE_ATTEMPT": str(job.attempt),
            "WATTWISE_JOB_TOKEN": task_token(self.head_id, task_id),
        }
        if shard_value is not None:
            env["WATTWISE_SHARD"] = shard_value
            env["WATTWISE_SHARD_INDEX"] = str(shard)
        checkpoint = None
        if spec.interruptible or spec.checkpoint_dir:
            base = spec.checkpoint_dir or str(self.home / "checkpoints" / f"job-{job_id}")
            checkpoint = base if shard_value is None else f"{base}/shard-{shard}"
            env["WATTWISE_CHECKPOINT_DIR"] = checkpoint
            resumed = job.attempt > 1 or job.segments > 0
            env["WATTWISE_RESUME"] = "1" if spec.interruptible and resumed else "0"
        suffix = f"-shard{shard}" if shard_value is not None else ""
        power, why = self._power_plan(job)
        if why is not None and why != job.power_note:
            job.power_note = why
            self.store.note(job_id, why)
        return TaskItem(
            task_id=task_id,
            job_id=job_id,
            key=f"{job_id}/{shard}/{job.attempt}/{task_id}",
            shard=shard,
            argv=tuple(spec.argv(shard_value)),
            env=env,
            cwd=spec.cwd,
            log_path=str(self.home / "logs" / f"job-{job_id}{suffix}-try{job.attempt}.log"),
            checkpoint_dir=checkpoint,
            grace_s=spec.grace_s,
            die_with_worker=not self._short(spec),
            power=power,
        )

    def _run_store(self) -> RunStore:
        if self._runs is None:
            self._runs = RunStore(self.config.store_url)
        return self._runs

    def _power_plan(self, job: _Job) -> tuple[PowerPlan | None, str | None]:
        """Carbon-aware GPU power for a ``power: carbon`` job (``engine.power``)."""
        spec = job.spec
        if spec.power != "carbon":
            return None, None
        node = job.placement.node_ids[0] if job.placement and job.placement.node_ids else None
        info = self._nodes.get(node) if node else None
        return plan_for_job(
            command=spec.argv(spec.shards[0] if spec.shards else None),
            gpus=spec.gpus,
            policy=spec.power,
            eta=spec.power_eta,
            deadline_s=spec.deadline_s,
            expected_runtime_s=spec.runtime_s or UNKNOWN_RUNTIME_S,
            zone=info.zone if info is not None else None,
            now_s=time.time(),
            history=self._run_store().list_runs(limit=500, status="completed"),
            forecast=self.scheduler.forecast,
        )

    def _submit(self, node: str, members: list[tuple[_Job, int, int]]) -> None:
        items = [self._item(job, shard, task_id) for job, shard, task_id in members]
        cpus = sum(job.spec.cpus for job, _, _ in members)
        gpus = sum(job.spec.gpus for job, _, _ in members)
        handle = self.backend.submit(items, node, cpus, gpus)
        self._inflight[handle] = [
            _InFlight(task_id, job.record.id, shard, node) for job, shard, task_id in members
        ]
        for job, _, task_id in members:
            job.running.add(task_id)
            job.nodes.add(node)

    # -- results -----------------------------------------------------------------

    def _harvest(self) -> bool:
        if not self._inflight:
            return False
        ready = self.backend.wait(list(self._inflight), 0.0)
        if not ready:
            return False
        outcomes: list[TaskOutcome] = []
        for handle in ready:
            tasks = self._inflight.pop(handle, None)
            if tasks is None:
                continue
            end = self.backend.outcome(handle)
            if isinstance(end, Finished):
                outcomes += [self._result(res) for res in end.results]
                continue
            if isinstance(end, Cancelled):
                outcomes += [TaskOutcome(t.task_id, "cancelled", error="cancelled") for t in tasks]
                for t in tasks:
                    self._task_ended(t.job_id, t.task_id)
                continue
            node = tasks[0].node_id
            dead = isinstance(end, NodeLost) or node not in self._nodes
            if dead:
                # The cluster's node table can lag behind the task error: stop using it now.
                self._dead.add(node)
                self._sync_nodes(force=True)
            else:  # the worker died, its tasks may not have: stop them first
                self.backend.kill_tasks(node, [task_token(self.head_id, t.task_id) for t in tasks])
            if not dead and isinstance(end, TaskRaised):
                # The task's own code raised on a live node: running it again would
                # fail the same way (the worker stops its processes before it raises).
                self._fail_tasks([(t.job_id, t.task_id) for t in tasks], end.message)
                continue
            self._lost(tasks, end.message, node if dead else None)
        self.store.finish_tasks(outcomes)
        self._finish_suspensions()
        self._complete_finished()
        return True

    def _result(self, res: TaskResult) -> TaskOutcome:
        job = self._jobs.get(res.job_id)
        node = self._nodes.get(res.node_id)
        zone = node.zone if node is not None else None
        co2e, source = (None, "")
        if res.energy is not None:
            co2e, source = self.carbon.co2e(res.energy, zone)
        if res.cancelled and job is not None and job.suspending:
            status = "suspended"
        elif res.cancelled:
            status = "cancelled"
        elif res.exit_code == 0 and res.error is None:
            status = "succeeded"
        else:
            status = "failed"
        if res.power_note and job is not None:
            job.power_note = res.power_note
            self.store.note(res.job_id, res.power_note)
        if job is not None:
            job.power_limits_w += res.power_limits_w
            job.running.discard(res.task_id)
            if res.energy is not None:
                where = node.name if node else res.node_id
                job.energies.append(_TaskEnergy(res.energy, co2e, source, where))
            shard = res.shard
            if status == "suspended":
                job.todo.append(shard)
            elif status == "succeeded":
                job.done.add(shard)
            elif status == "cancelled":
                job.cancelled = True
            elif job.failed is None:
                job.failed = res.error or f"exited with status {res.exit_code}"
                job.exit_code = res.exit_code
        return TaskOutcome(
            task_id=res.task_id,
            status=status,
            started_s=res.started_s,
            ended_s=res.ended_s,
            exit_code=res.exit_code,
            energy_j=res.energy.energy_j if res.energy is not None else None,
            co2e_g=co2e,
            error=res.error,
            detail={
                "cpu_s": res.cpu_s,
                "log": res.log_path,
                "intensity_source": source,
                "estimated": res.energy.estimated if res.energy is not None else None,
            },
        )

    def _task_ended(self, job_id: int, task_id: int) -> None:
        job = self._jobs.get(job_id)
        if job is not None:
            job.running.discard(task_id)
            job.cancelled = True

    def _fail_tasks(self, tasks: Sequence[tuple[int, int]], why: str) -> None:
        """(job id, task id) that cannot succeed: fail them and their jobs, noting ``why``."""
        self.store.finish_tasks([TaskOutcome(task_id, "failed", error=why) for _, task_id in tasks])
        for job_id, task_id in tasks:
            job = self._jobs.get(job_id)
            if job is not None:
                job.running.discard(task_id)
                job.failed = job.failed or why
        self._complete_finished()

    def _lost(self, tasks: Sequence[_InFlight], why: str, dead_node: str | None) -> None:
        """Tasks that vanished with their node or worker: run them again elsewhere."""
        self.store.finish_tasks([TaskOutcome(t.task_id, "lost", error=why) for t in tasks])
        for t in tasks:
            job = self._jobs.get(t.job_id)
            if job is None:
                continue
            job.running.discard(t.task_id)
            if job.attempt >= job.spec.max_attempts:
                job.failed = job.failed or f"lost {job.attempt} times (last: {why})"
                continue
            if t.shard not in job.todo:
                job.todo.append(t.shard)
            if not job.running:
                job.attempt += 1
                if self.store.requeue(t.job_id, exclude_node=dead_node, error=why):
                    excluded = [*job.record.excluded_nodes]
                    if dead_node and dead_node not in excluded:
                        excluded.append(dead_node)
                    job.record = dataclasses.replace(job.record, excluded_nodes=excluded)
                else:
                    job.cancelled = True
        log.warning("%d task(s) lost: %s", len(tasks), why)
        self._replan = True
        self._complete_finished()

    def _cancel_requested(self) -> bool:
        ids = self.store.cancel_requested_running()
        if not ids:
            return False
        wanted = set(ids)
        for job_id in ids:
            job = self._jobs.get(job_id)
            if job is not None:
                job.cancelled = True
                job.todo.clear()
        for handle, tasks in self._inflight.items():
            if {t.job_id for t in tasks} <= wanted and any(t.job_id in wanted for t in tasks):
                self.backend.cancel(handle)  # a batch shared with other jobs runs out
        self._complete_finished()
        # Jobs this head does not run (a previous head's) are closed here.
        orphans = [i for i in ids if i not in self._jobs]
        self.store.complete_jobs(
            [JobCompletion(i, "cancelled", error="cancelled") for i in orphans]
        )
        return True

    # -- suspend and resume -------------------------------------------------------

    def _review_suspensions(self, now: float) -> bool:
        """Pause running interruptible jobs with enough cleaner hours before their deadline.

        ``schedule.suspend.advise`` decides on the policy's forecast for the job's zone;
        the job's one task is stopped (SIGTERM: it checkpoints, then grace, SIGKILL) and
        it waits, ``suspended``, for its resume hour or its latest safe start.
        """
        forecast = self.scheduler.forecast
        if forecast is None:
            return False
        paused = False
        for job in self._jobs.values():
            spec = job.spec
            if (
                not spec.interruptible
                or spec.deadline_s is None
                or spec.runtime_s is None
                or spec.n_tasks != 1
                or len(job.running) != 1
                or job.suspending
                or job.cancelled
                or job.segment_started_s is None
            ):
                continue
            refs = [
                ref
                for ref, ts in self._inflight.items()
                if any(t.job_id == job.record.id for t in ts)
            ]
            if len(refs) != 1 or len(self._inflight[refs[0]]) != 1:
                continue  # shares a Ray task with other jobs: not stopped alone
            node = self._nodes.get(self._inflight[refs[0]][0].node_id)
            remaining = max(spec.runtime_s - job.worked_s - (now - job.segment_started_s), 0.0)
            try:
                signal = forecast(node.zone if node else None, now, spec.deadline_s)
                advice = advise(remaining, now, spec.deadline_s, signal)
            except WattwiseError as err:
                log.warning("job %d: no suspend advice: %s", job.record.id, err)
                continue
            if not advice.suspend or advice.resume_at_s is None:
                continue
            job.suspending = True
            job.resume_at_s = advice.resume_at_s
            job.resume_latest_s = spec.deadline_s - remaining - RESTART_OVERHEAD_S
            log.info("job %d: pausing until %s (%s)", job.record.id,
                     iso_utc(advice.resume_at_s), advice.reason)  # fmt: skip
            self.backend.cancel(refs[0])
            paused = True
        return paused

    def _finish_suspensions(self) -> None:
        for job in self._jobs.values():
            if not job.suspending or job.running:
                continue
            job.suspending = False
            if job.segment_started_s is not None:
                job.worked_s += time.time() - job.segment_started_s
            job.segment_started_s = None
            job.segments += 1
            assert job.resume_at_s is not None
            note = f"suspended for cleaner hours; resumes by {iso_utc(job.resume_at_s)}"
            if not self.store.suspend(job.record.id, job.resume_at_s, note):
                job.cancelled = True  # a client cancelled it meanwhile
            self._replan = True

    def _complete_finished(self) -> None:
        completions: list[JobCompletion] = []
        for job_id, job in list(self._jobs.items()):
            if job.running:
                continue
            if job.cancelled:
                status, error = "cancelled", "cancelled"
            elif job.failed is not None:
                status, error = "failed", job.failed
            elif len(job.done) >= job.spec.n_tasks:
                status, error = "succeeded", None
            else:
                continue
            completions.append(
                JobCompletion(
                    job_id=job_id,
                    status=status,
                    measurement=_job_measurement(job),
                    command=job.spec.argv()
                    if not job.spec.shards
                    else job.spec.argv(job.spec.shards[0]),
                    host=",".join(sorted({e.node_name for e in job.energies})),
                    cpus=job.spec.cpus,
                    exit_code=job.exit_code if status == "failed" else 0,
                    error=error,
                    meta={
                        "attempts": job.attempt,
                        "tasks": job.spec.n_tasks,
                        "gpus": job.spec.gpus,
                        "segments": job.segments + 1,
                        **limits_meta(job.power_limits_w),
                        **({"power_note": job.power_note} if job.power_note else {}),
                    },
                )
            )
            del self._jobs[job_id]
        if completions:
            self.store.complete_jobs(completions)
            self.predictions.finished(completions)  # predict14: learn from how they went

    # -- figures -----------------------------------------------------------------

    def node_totals(self) -> dict[str, NodeTotals]:
        """Each live node's metered totals, by node id."""
        return self.backend.node_totals()

    def meter_cpu_s(self) -> float:
        """CPU time the node meters used. Units: s."""
        return self.backend.meter_cpu_s()

    @property
    def idle(self) -> bool:
        """No job in flight or waiting in this head."""
        return not self._inflight and not self._jobs


def _job_measurement(job: _Job) -> Measurement | None:
    """All of a job's task energies as one measurement, carbon summed."""
    if not job.energies:
        return None
    devices: dict[str, DeviceEnergy] = {}
    timeline: list[PowerSample] = []
    co2e: float | None = 0.0
    sources: set[str] = set()
    for part in job.energies:
        energy, c, source = part.energy, part.co2e_g, part.intensity_source
        for d in energy.devices:
            prev = devices.get(d.name)
            total = d.energy_j + (prev.energy_j if prev is not None else 0.0)
            devices[d.name] = dataclasses.replace(d, energy_j=total)
        timeline += energy.timeline
        co2e = None if c is None or co2e is None else co2e + c
        if source:
            sources.add(source)
    return Measurement(
        name=job.record.name,
        start_s=min(e.energy.start_s for e in job.energies),
        end_s=max(e.energy.end_s for e in job.energies),
        devices=tuple(devices.values()),
        timeline=tuple(sorted(timeline, key=lambda s: s.t_s)),
        co2e_g=co2e,
        intensity_source="; ".join(sorted(sources)) or None,
    )
