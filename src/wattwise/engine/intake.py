"""Which queued jobs the head takes on, and when and where each is planned to start.

:class:`Intake` reads the store's queue (jobs queued since the last id seen; a full
sweep catches rows committed out of id order and drops jobs a client cancelled before
they started), fails alone a job whose stored spec no longer validates or whose tries
ran out under earlier heads, and tracks the rest (:class:`TrackedJob`; a job resumed
after a head restart keeps the shards that succeeded, a paused one its resume time).
:meth:`Intake.plan` asks the scheduler for their placements, each planned with its
predicted runtime (``RuntimePlanner``) and never later than its latest safe start,
and writes the plans of jobs that wait to the store. Units: s (UTC epoch s), cores.
"""

from __future__ import annotations

import logging
import time
from collections.abc import Sequence

from wattwise.engine.backend import one_line
from wattwise.engine.jobs_state import Jobs, TrackedJob
from wattwise.engine.predictions import RuntimePlanner
from wattwise.engine.scheduler import NodeView, PendingJob, Scheduler
from wattwise.engine.spec import JobSpec
from wattwise.store.jobs import TERMINAL, JobCompletion, JobStore, WaitingPlan
from wattwise.store.status import JobStatus

log = logging.getLogger("wattwise.engine")


class Intake:
    """The queue in ``store`` into the head's table ``jobs`` and ``scheduler``'s plan.

    ``tick_s``: a job planned to start within one tick is not recorded as waiting.
    """

    def __init__(
        self,
        store: JobStore,
        scheduler: Scheduler,
        predictions: RuntimePlanner,
        jobs: Jobs,
        *,
        tick_s: float,
    ) -> None:
        self.store = store
        self.scheduler = scheduler
        self.predictions = predictions
        self.jobs = jobs
        self.tick_s = tick_s
        self.max_seen_id = 0
        self.last_sweep_s = 0.0

    def load(self, full: bool) -> list[TrackedJob]:
        """Take the jobs queued since the last call (``full``: every pending one); the
        jobs newly tracked, to plan."""
        if full:
            self.last_sweep_s = time.time()
            records = self.store.pending()
            live = {r.id for r in records}
            # Jobs a client cancelled before they started leave the head's plan.
            for job_id in [i for i, j in self.jobs.items() if not j.running and i not in live]:
                if self.store.get_job(job_id).status in TERMINAL:
                    del self.jobs[job_id]
        else:
            records = self.store.pending_after(self.max_seen_id)
        new: list[TrackedJob] = []
        for r in records:
            if r.id in self.jobs:
                continue
            self.max_seen_id = max(self.max_seen_id, r.id)
            try:
                spec = JobSpec.from_dict(r.spec)
            except Exception as err:  # a stored spec this version refuses: fail it alone
                self._fail(r.id, f"cannot run this job: {one_line(err, named=False)}")
                continue
            if r.attempts >= spec.max_attempts:  # its tries ran out under earlier heads
                last = f" (last: {r.error})" if r.error else ""
                self._fail(
                    r.id, f"tried {r.attempts} times, max_attempts is {spec.max_attempts}{last}"
                )
                continue
            done = set()
            if r.attempts > 0:  # resumed after a head restart: keep shards that succeeded
                done = {t.shard for t in self.store.tasks(r.id) if t.status == "succeeded"}
            todo = [i for i in range(spec.n_tasks) if i not in done]
            job = TrackedJob(r, spec, r.attempts + 1, todo, done=done)
            if r.status == JobStatus.SUSPENDED and r.planned_start_s is not None:
                job.segments, job.resume_at_s = 1, r.planned_start_s
                job.resume_latest_s = r.planned_start_s  # its own bound, set when paused
            self.jobs[r.id] = job
            new.append(job)
        return new

    def _fail(self, job_id: int, why: str) -> None:
        log.error("job %d failed: %s", job_id, why)
        self.store.complete_jobs([JobCompletion(job_id, "failed", error=why)])

    def pending_view(self, job: TrackedJob) -> PendingJob:
        """What the scheduler plans ``job`` with: its predicted runtime, the latest start
        its upper bound leaves, and a paused job's hold."""
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

    def plan(self, jobs: Sequence[TrackedJob], views: Sequence[NodeView], now: float) -> None:
        """Plan ``jobs`` on the nodes ``views``; each job's placement (and that of any
        job whose plan moved) is kept, the waiting ones' written to the store."""
        pending = [self.pending_view(j) for j in jobs]
        # The scheduler clamps every start to the latest safe start and falls back to it
        # when the policy raises; it also returns jobs whose plan moved (pull-forward).
        placements = self.scheduler.plan(pending, views, now)
        waiting: list[WaitingPlan] = []
        for p in placements:
            job = self.jobs.get(p.job_id)
            if job is None:
                continue
            job.placement = p
            if not p.node_ids:
                self.store.note(job.record.id, p.reason or "no node can take this job")
            elif job.resume_at_s is not None:
                pass  # stays `suspended` in the store until it runs again
            elif p.start_s > now + self.tick_s:
                waiting.append(WaitingPlan(job.record.id, p.start_s, p.node_ids))
        self.store.set_plans(waiting)
