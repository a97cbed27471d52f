"""The head: the loop that turns the stored queue into tasks on a cluster and results.

Each tick: refresh the node list (re-plan when nodes join or leave), collect finished
tasks (energy, carbon, status to the store), stop jobs clients cancelled, take newly
queued jobs from the store, ask the policy when and where each should start (never
later than its latest safe start), and dispatch what is due: short jobs bound for the
same node go out together as one batch. A task lost with its node runs again on
another node; interruptible jobs resume from their checkpoint folder.

:class:`Engine` orchestrates the tick; each job of it is a part: ``nodes``
(:class:`NodeRegistry`: live nodes and meters), ``intake`` (:class:`Intake`: the queue
and the plan), ``dispatch`` (:class:`BatchDispatcher`: task items and batches),
``results`` (:class:`ResultCollector`: task and job ends, energy and carbon) and
``suspension`` (:class:`SuspensionReview`: pauses for cleaner hours). They share the
table of tracked jobs and of batches in flight (``engine.jobs_state``).

The queue is the store: a restarted head requeues the tasks its predecessor had
running and re-plans the rest, so no submitted job is lost. Units: s (UTC epoch s).
"""

from __future__ import annotations

import logging
import threading
import time
import uuid
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from pathlib import Path

from wattwise.engine import ray_backend as rb
from wattwise.engine.backend import Backend, Cancelled, Finished, NodeLost, TaskRaised, task_token
from wattwise.engine.carbon import CarbonAccountant, PlanningSignal
from wattwise.engine.dispatch import BatchDispatcher
from wattwise.engine.intake import Intake
from wattwise.engine.jobs_state import InFlight, InFlightTable, Jobs, TaskRef, TrackedJob
from wattwise.engine.node_meter import NodeTotals
from wattwise.engine.nodes import NodeRegistry
from wattwise.engine.predictions import RuntimePlanner
from wattwise.engine.results import ResultCollector
from wattwise.engine.scheduler import NodeView, Scheduler, make_engine_policy
from wattwise.engine.suspension import SuspensionReview
from wattwise.schedule.model import NodeGroup
from wattwise.schedule.policies.base import Policy
from wattwise.store.jobs import JobCompletion, JobStore, TaskOutcome

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


class Engine:
    """Runs the queue in the store on a cluster (``config.backend``, default Ray). One
    head per store at a time."""

    def __init__(self, config: EngineConfig | None = None) -> None:
        self.config = cfg = config or EngineConfig()
        self.store = JobStore(cfg.store_url)
        self.backend: Backend = cfg.backend or rb.RayBackend(
            cfg.address, cfg.num_cpus, cfg.labels, cfg.ray_host
        )
        self.signal = cfg.signal or PlanningSignal()
        self.scheduler = Scheduler(
            cfg.policy or make_engine_policy("asap"),
            self.signal.forecast,
            hour_s=cfg.hour_s,
            origin_s=cfg.clock_origin_s,
            horizon_h=cfg.forecast_horizon_h,
            node_groups=cfg.node_groups,
        )
        self.head_id = uuid.uuid4().hex[:16]
        self.carbon = CarbonAccountant(self.signal)
        self.predictions = RuntimePlanner(self.store)  # predict14: runtimes from history
        if cfg.home is not None:
            self.home = cfg.home
        else:
            from wattwise.config import home

            self.home = home()
        self._jobs: Jobs = {}
        self._inflight = InFlightTable()
        self.nodes = NodeRegistry(
            self.backend,
            self.store,
            meter=cfg.meter,
            meter_sources=cfg.meter_sources,
            meter_interval_s=cfg.meter_interval_s,
            refresh_s=cfg.node_refresh_s,
        )
        self.intake = Intake(
            self.store, self.scheduler, self.predictions, self._jobs, tick_s=cfg.tick_s
        )
        self.results = ResultCollector(self.store, self.carbon, self.predictions, self._jobs)
        self.dispatcher = BatchDispatcher(
            self.store,
            self.backend,
            self.scheduler,
            self.nodes,
            self._jobs,
            self._inflight,
            self.results.fail,
            head_id=self.head_id,
            home=self.home,
            store_url=cfg.store_url,
            batch_runtime_s=cfg.batch_runtime_s,
            batch_max=cfg.batch_max,
        )
        self.suspension = SuspensionReview(
            self.store, self.backend, self.scheduler, self.nodes, self._jobs, self._inflight
        )
        self._replan = True
        self._last_plan = 0.0
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
            handles = self._inflight.handles()
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
            self.backend.wait(self._inflight.handles(), seconds)
        else:
            time.sleep(seconds)

    # -- one tick ----------------------------------------------------------------

    def tick(self) -> bool:
        """One pass of the loop; returns whether anything happened."""
        now = time.time()
        busy = False
        if self.nodes.due(now):
            self._sync_nodes()
        if self.nodes.starting and self.nodes.check_meters():
            self._replan = True
        busy |= self._harvest()
        if now - self._last_cancel_check >= 0.25:
            self._last_cancel_check = now
            busy |= self._cancel_requested()
        full = now - self.intake.last_sweep_s >= self.config.sweep_s
        busy |= self._load_queue(full=full)
        if (
            self._replan
            or now - self._last_plan >= self.config.replan_interval_s
            or self.scheduler.replan_due(now)
        ):
            self._plan([j for j in self._jobs.values() if j.todo and not j.running])
            self._replan = False
            self._last_plan = now
        # After planning: a job planned "now" is due.
        busy |= self.dispatcher.dispatch(time.time(), self.node_views())
        if self.config.suspend and now - self._last_suspend_check >= self.config.suspend_check_s:
            self._last_suspend_check = now
            busy |= self.suspension.review(now)
        return busy

    def replan(self) -> None:
        """Re-plan every job not yet started (e.g. forecasts changed)."""
        self.scheduler.refresh_forecast()
        self._replan = True

    # -- nodes -------------------------------------------------------------------

    def _sync_nodes(self, force: bool = False) -> None:
        change = self.nodes.sync(force=force)
        if change is None:
            return
        for node_id in change.gone:  # tasks on a node that left are lost: requeue them
            for tasks in self._inflight.take_node(node_id):
                self._lost(tasks, f"node {node_id[:12]} died", node_id)
        self._replan = True

    def wait_for_meters(self, timeout_s: float = 120.0) -> None:
        """Block until every node's meter runs (or ``timeout_s`` passes)."""
        if self.nodes.wait_for_meters(timeout_s):
            self._replan = True

    def node_views(self) -> list[NodeView]:
        """The nodes that take jobs now, with what is free on each."""
        return self.nodes.node_views(self._inflight.used(self._jobs))

    # -- queue and plan ----------------------------------------------------------

    def _load_queue(self, full: bool) -> bool:
        new = self.intake.load(full)
        if new:
            self._plan(new)
        return bool(new)

    def _plan(self, jobs: Sequence[TrackedJob]) -> None:
        if not jobs:
            return
        now = time.time()
        views = self.node_views()
        if not views and self.nodes.starting:
            self._replan = True  # plan once the first node's meter runs
            return
        self.intake.plan(jobs, views, now)

    # -- results -----------------------------------------------------------------

    def _harvest(self) -> bool:
        if not self._inflight:
            return False
        ready = self.backend.wait(self._inflight.handles(), 0.0)
        if not ready:
            return False
        outcomes: list[TaskOutcome] = []
        for handle in ready:
            tasks = self._inflight.pop(handle)
            if tasks is None:  # lost with its node while this pass ran
                continue
            end = self.backend.outcome(handle)
            if isinstance(end, Finished):
                outcomes += [self.results.record(r, self.nodes.get(r.node_id)) for r in end.results]
                continue
            if isinstance(end, Cancelled):
                outcomes += self.results.cancelled(tasks)
                continue
            node = tasks[0].node_id
            dead = isinstance(end, NodeLost) or node not in self.nodes
            if dead:
                # The cluster's node table can lag behind the task error: stop using it now.
                self.nodes.mark_dead(node)
                self._sync_nodes(force=True)
            else:  # the worker died, its tasks may not have: stop them first
                self.backend.kill_tasks(node, [task_token(self.head_id, t.task_id) for t in tasks])
            if not dead and isinstance(end, TaskRaised):
                # The task's own code raised on a live node: running it again would
                # fail the same way (the worker stops its processes before it raises).
                self.results.fail([TaskRef(t.job_id, t.task_id) for t in tasks], end.message)
                continue
            self._lost(tasks, end.message, node if dead else None)
        self.store.finish_tasks(outcomes)
        if self.suspension.finish():
            self._replan = True
        self.results.complete_finished()
        return True

    def _lost(self, tasks: Sequence[InFlight], why: str, dead_node: str | None) -> None:
        """Tasks that vanished with their node or worker: run them again elsewhere."""
        self._replan = True
        self.results.lost(tasks, why, dead_node)

    def _cancel_requested(self) -> bool:
        ids = self.store.cancel_requested_running()
        if not ids:
            return False
        for job_id in ids:
            job = self._jobs.get(job_id)
            if job is not None:
                job.cancelled = True
                job.todo.clear()
        for handle in self._inflight.only_of(ids):
            self.backend.cancel(handle)  # a batch shared with other jobs runs out
        self.results.complete_finished()
        # Jobs this head does not run (a previous head's) are closed here.
        orphans = [i for i in ids if i not in self._jobs]
        self.store.complete_jobs(
            [JobCompletion(i, "cancelled", error="cancelled") for i in orphans]
        )
        return True

    # -- figures -----------------------------------------------------------------

    def node_totals(self) -> dict[str, NodeTotals]:
        """Each live node's metered totals, by node id."""
        return self.backend.node_totals()

    def meter_cpu_s(self) -> float:
        """CPU time the node meters used. Units: s."""
        return self.backend.meter_cpu_s()

    @property
    def policy(self) -> Policy:
        """The policy the scheduler runs now (``scheduler.use`` may switch it)."""
        return self.scheduler.policy

    @property
    def idle(self) -> bool:
        """No job in flight or waiting in this head."""
        return not self._inflight and not self._jobs
