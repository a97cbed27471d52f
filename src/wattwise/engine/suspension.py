"""Which running interruptible jobs to pause for cleaner hours, and the pause's close.

:class:`SuspensionReview` looks at each running interruptible one-task job with a
runtime (declared, or predicted from its own history: :func:`planned_work_s`) and a
deadline whose task runs alone in its batch: ``schedule.suspend.advise``
on the planning forecast for its node's zone (the scheduler's ``forecast``) says
whether its remaining work fits cleaner hours before the deadline. A pause cancels the
batch (SIGTERM: the job checkpoints, then grace, SIGKILL); once its task has ended,
:meth:`SuspensionReview.finish` adds the segment's work, records the job ``suspended``
with its resume time, and the planner holds it until then or its latest safe start
(deadline − remaining − restart overhead), whichever comes first. Units: s (UTC
epoch s).
"""

from __future__ import annotations

import logging
import time

from wattwise.engine.backend import Backend
from wattwise.engine.jobs_state import InFlightTable, Jobs, TrackedJob
from wattwise.engine.nodes import NodeRegistry
from wattwise.engine.scheduler import Scheduler
from wattwise.errors import WattwiseError
from wattwise.predict.runtime import Source
from wattwise.schedule.suspend import RESTART_OVERHEAD_S, advise
from wattwise.store.jobs import JobStore
from wattwise.units import iso_utc

log = logging.getLogger("wattwise.engine")


def planned_work_s(job: TrackedJob) -> float | None:
    """The work a pause must leave room for: the declared runtime, else the upper bound
    predicted from the job's own history (a pause then still meets the deadline at the
    predictor's coverage). A cold start is a guess: such a job is never paused. Units: s."""
    if job.spec.runtime_s is not None:
        return job.spec.runtime_s
    predicted = job.record.predicted or {}
    upper = predicted.get("runtime_upper_s")
    if predicted.get("source") == Source.HISTORY and isinstance(upper, int | float):
        return float(upper)
    return None


class SuspensionReview:
    """Pauses of the jobs in ``jobs`` running in ``inflight`` on ``nodes``, decided on
    ``scheduler.forecast``, asked of ``backend``, recorded in ``store``."""

    def __init__(
        self,
        store: JobStore,
        backend: Backend,
        scheduler: Scheduler,
        nodes: NodeRegistry,
        jobs: Jobs,
        inflight: InFlightTable,
    ) -> None:
        self.store = store
        self.backend = backend
        self.scheduler = scheduler
        self.nodes = nodes
        self.jobs = jobs
        self.inflight = inflight

    def review(self, now: float) -> bool:
        """Pause running interruptible jobs with enough cleaner hours before their
        deadline; whether any was asked to pause."""
        forecast = self.scheduler.forecast
        if forecast is None:
            return False
        paused = False
        for job in self.jobs.values():
            spec = job.spec
            work_s = planned_work_s(job)
            if (
                not spec.interruptible
                or spec.deadline_s is None
                or work_s is None
                or spec.n_tasks != 1
                or len(job.running) != 1
                or job.suspending
                or job.cancelled
                or job.segment_started_s is None
            ):
                continue
            handle = self.inflight.sole_batch(job.record.id)
            if handle is None:
                continue  # shares a batch with other jobs: not stopped alone
            node = self.nodes.get(self.inflight.tasks(handle)[0].node_id)
            remaining = max(work_s - job.worked_s - (now - job.segment_started_s), 0.0)
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
            self.backend.cancel(handle)
            paused = True
        return paused

    def finish(self) -> bool:
        """Close the pauses whose task has ended: the job is ``suspended`` in the store
        (or cancelled, if a client cancelled it meanwhile); whether any closed (the
        plan changes)."""
        closed = False
        for job in self.jobs.values():
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
            closed = True
        return closed
