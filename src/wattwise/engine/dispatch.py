"""What the head sends to the cluster, and how: the tasks the scheduler starts, built
into worker items and grouped into batches.

:class:`BatchDispatcher` takes the scheduler's starts, records each task attempt in
the store, builds its :class:`~wattwise.engine.worker.TaskItem` (environment with the
job's id, attempt, shard, task token, node name and node type; checkpoint folder and
``WATTWISE_RESUME`` for interruptible jobs; log path; a ``power: carbon`` job's GPU power plan from
``engine.power``) and submits them: jobs that declare a runtime of at most
``batch_runtime_s`` and need no GPU, bound for the same node, go out together (up to
``batch_max`` a batch); any other task alone. A batch the backend refuses is split
until the job at fault is found; that job fails alone. Units: s, cores, GPUs.
"""

from __future__ import annotations

import logging
import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from pathlib import Path

from wattwise.engine.backend import Backend, one_line, task_token
from wattwise.engine.jobs_state import InFlight, InFlightTable, Jobs, Member, TaskRef, TrackedJob
from wattwise.engine.nodes import NodeRegistry
from wattwise.engine.power import UNKNOWN_RUNTIME_S, PowerPlan, plan_for_job
from wattwise.engine.scheduler import NodeView, Scheduler
from wattwise.engine.spec import JobSpec
from wattwise.engine.worker import TaskItem
from wattwise.store.jobs import JobStore, NewTask
from wattwise.store.runs import RunStore

log = logging.getLogger("wattwise.engine")

#: Fails tasks that cannot succeed, noting why (``ResultCollector.fail``).
FailTasks = Callable[[Sequence[TaskRef], str], None]


@dataclass(frozen=True)
class BatchKey:
    """What tasks share one batch: short jobs by node; a long one (``task_id``) alone."""

    node_id: str
    task_id: int | None


@dataclass(frozen=True, eq=False)
class _Chosen:
    """A shard the scheduler starts on ``node_id``."""

    job: TrackedJob
    shard: int
    node_id: str


class BatchDispatcher:
    """Starts the tasks ``scheduler`` chooses for the jobs in ``jobs`` on ``nodes``
    through ``backend``; batches in flight go to ``inflight``; a job whose batch cannot
    be submitted goes to ``fail``.

    ``head_id``: this head (task tokens, the store's task rows); ``home``: logs and
    default checkpoints go under it; ``store_url``: where past runs (power profiles)
    are read.
    """

    def __init__(
        self,
        store: JobStore,
        backend: Backend,
        scheduler: Scheduler,
        nodes: NodeRegistry,
        jobs: Jobs,
        inflight: InFlightTable,
        fail: FailTasks,
        *,
        head_id: str,
        home: Path,
        store_url: str | None,
        batch_runtime_s: float,
        batch_max: int,
    ) -> None:
        self.store = store
        self.backend = backend
        self.scheduler = scheduler
        self.nodes = nodes
        self.jobs = jobs
        self.inflight = inflight
        self.fail = fail
        self.head_id = head_id
        self.home = home
        self.store_url = store_url
        self.batch_runtime_s = batch_runtime_s
        self.batch_max = batch_max
        self._runs: RunStore | None = None  # past runs, read for power profiles

    def dispatch(self, now: float, views: Sequence[NodeView]) -> bool:
        """Start what the scheduler starts now on ``views``; whether anything started."""
        # The scheduler decides what starts where (queue order, guard, reservations).
        holding = {i: 0 if j.cancelled else len(j.todo) for i, j in self.jobs.items()}
        starts = self.scheduler.dispatch(now, views, holding)
        chosen: list[_Chosen] = []
        for start in starts:
            job = self.jobs[start.job_id]
            chosen.append(_Chosen(job, job.todo.pop(0), start.node_id))
        if not chosen:
            return False
        live = self.nodes.live
        tasks = [
            NewTask(c.job.record.id, c.shard, c.job.attempt, c.node_id, live[c.node_id].name)
            for c in chosen
        ]
        started = self.store.start_tasks(tasks, self.head_id)
        for c in chosen:
            if c.job.record.id in started:
                c.job.segment_started_s, c.job.resume_at_s, c.job.resume_latest_s = now, None, None
        batches: dict[BatchKey, list[Member]] = {}
        ids_left = {job_id: list(ids) for job_id, ids in started.items()}
        for c in chosen:
            ids = ids_left.get(c.job.record.id)
            if not ids:  # cancelled by a client meanwhile
                self.jobs.pop(c.job.record.id, None)
                continue
            task_id = ids.pop(0)
            key = BatchKey(c.node_id, None if self.short(c.job.spec) else task_id)
            batches.setdefault(key, []).append(Member(c.job, c.shard, task_id))
        for key, members in batches.items():
            for i in range(0, len(members), self.batch_max):
                self._submit_or_fail(key.node_id, members[i : i + self.batch_max])
        return True

    def short(self, spec: JobSpec) -> bool:
        """May share a batch with other jobs: declared short and CPU-only."""
        return (
            spec.runtime_s is not None and spec.runtime_s <= self.batch_runtime_s and spec.gpus == 0
        )

    def _submit_or_fail(self, node: str, members: list[Member]) -> None:
        """Submit a batch; a job that cannot be dispatched fails alone, the head goes on."""
        try:
            self._submit(node, members)
        except Exception as err:
            if len(members) > 1:  # find the job at fault: submit each on its own
                for member in members:
                    self._submit_or_fail(node, [member])
                return
            job, task_id = members[0].job, members[0].task_id
            why = f"could not dispatch: {one_line(err)}"
            log.error("job %d %s", job.record.id, why)
            job.todo.clear()
            self.fail([TaskRef(job.record.id, task_id)], why)

    def _submit(self, node: str, members: list[Member]) -> None:
        items = [self.item(m, node) for m in members]
        cpus = sum(m.job.spec.cpus for m in members)
        gpus = sum(m.job.spec.gpus for m in members)
        handle = self.backend.submit(items, node, cpus, gpus)
        self.inflight.add(
            handle, [InFlight(m.task_id, m.job.record.id, m.shard, node) for m in members]
        )
        for m in members:
            m.job.running.add(m.task_id)
            m.job.nodes.add(node)

    def item(self, member: Member, node_id: str) -> TaskItem:
        """What the worker runs for one task on ``node_id``: argv, environment, log,
        checkpoint, power."""
        job, shard, task_id = member.job, member.shard, member.task_id
        spec, job_id = job.spec, job.record.id
        shard_value = spec.shards[shard] if spec.shards else None
        env = {
            **spec.env,
            "WATTWISE_JOB_ID": str(job_id),
            "WATTWISE_ATTEMPT": str(job.attempt),
            "WATTWISE_JOB_TOKEN": task_token(self.head_id, task_id),
        }
        # Where it runs, so a job can size its work to the node (and a log says where).
        node = self.nodes.live.get(node_id)
        if node is not None:
            env["WATTWISE_NODE"] = node.name
            env["WATTWISE_NODE_TYPE"] = node.node_type or ""
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
            die_with_worker=not self.short(spec),
            power=power,
        )

    def _run_store(self) -> RunStore:
        if self._runs is None:
            self._runs = RunStore(self.store_url)
        return self._runs

    def _power_plan(self, job: TrackedJob) -> tuple[PowerPlan | None, str | None]:
        """Carbon-aware GPU power for a ``power: carbon`` job (``engine.power``): the
        plan, and a note on why there is none."""
        spec = job.spec
        if spec.power != "carbon":
            return None, None
        node = job.placement.node_ids[0] if job.placement and job.placement.node_ids else None
        info = self.nodes.get(node) if node else None
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
