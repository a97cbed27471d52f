"""How each task ended, and each job: what the head writes to the store when they do.

:class:`ResultCollector` turns a worker's :class:`~wattwise.engine.worker.TaskResult`
into a :class:`~wattwise.store.jobs.TaskOutcome` (status, energy, and carbon by the
zone's provider in the head's planning signal, so its CO₂e and ``intensity_source``
come from the signal the job was planned on), records what a task's end means for its
job (a shard done, a failure, a cancel, a pause), fails tasks that cannot succeed,
requeues tasks lost with their node or worker (up to ``max_attempts``), and completes
the jobs whose tasks all ended: one :class:`~wattwise.store.jobs.JobCompletion` each,
its energy as one measurement (:func:`job_measurement`), handed to the runtime
planner to learn from. Units: J, gCO₂e, s (UTC epoch s).
"""

from __future__ import annotations

import dataclasses
import logging
from collections.abc import Sequence

from wattwise.engine.backend import NodeInfo
from wattwise.engine.carbon import CarbonAccountant
from wattwise.engine.jobs_state import InFlight, Jobs, TaskEnergy, TaskRef, TrackedJob
from wattwise.engine.power import limits_meta
from wattwise.engine.predictions import RuntimePlanner
from wattwise.engine.worker import TaskResult
from wattwise.meter.types import DeviceEnergy, Measurement, PowerSample
from wattwise.store.jobs import JobCompletion, JobStore, TaskOutcome

log = logging.getLogger("wattwise.engine")


class ResultCollector:
    """Task and job ends of the jobs in ``jobs`` (the head's table, shared), into
    ``store``; carbon by ``carbon``; finished jobs told to ``predictions``."""

    def __init__(
        self, store: JobStore, carbon: CarbonAccountant, predictions: RuntimePlanner, jobs: Jobs
    ) -> None:
        self.store = store
        self.carbon = carbon
        self.predictions = predictions
        self.jobs = jobs

    def record(self, res: TaskResult, node: NodeInfo | None) -> TaskOutcome:
        """A task that ran on ``node`` (``None``: it left since): its outcome for the
        store; its job learns what the task did."""
        job = self.jobs.get(res.job_id)
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
                job.energies.append(TaskEnergy(res.energy, co2e, source, where))
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

    def cancelled(self, tasks: Sequence[InFlight]) -> list[TaskOutcome]:
        """A batch cancelled before its worker ran it: its tasks' outcomes; their jobs
        are cancelled."""
        for t in tasks:
            job = self.jobs.get(t.job_id)
            if job is not None:
                job.running.discard(t.task_id)
                job.cancelled = True
        return [TaskOutcome(t.task_id, "cancelled", error="cancelled") for t in tasks]

    def fail(self, tasks: Sequence[TaskRef], why: str) -> None:
        """Tasks that cannot succeed: fail them and their jobs, noting ``why``."""
        self.store.finish_tasks([TaskOutcome(t.task_id, "failed", error=why) for t in tasks])
        for t in tasks:
            job = self.jobs.get(t.job_id)
            if job is not None:
                job.running.discard(t.task_id)
                job.failed = job.failed or why
        self.complete_finished()

    def lost(self, tasks: Sequence[InFlight], why: str, dead_node: str | None) -> None:
        """Tasks that vanished with their node (``dead_node``, kept away from their job
        from now on) or worker: run them again elsewhere, up to ``max_attempts``."""
        self.store.finish_tasks([TaskOutcome(t.task_id, "lost", error=why) for t in tasks])
        for t in tasks:
            job = self.jobs.get(t.job_id)
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
        self.complete_finished()

    def complete_finished(self) -> None:
        """Close every job with no task running that is cancelled, failed or has all its
        shards done; it leaves the head's table."""
        completions: list[JobCompletion] = []
        for job_id, job in list(self.jobs.items()):
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
                    measurement=job_measurement(job),
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
            del self.jobs[job_id]
        if completions:
            self.store.complete_jobs(completions)
            self.predictions.finished(completions)  # predict14: learn from how they went


def job_measurement(job: TrackedJob) -> Measurement | None:
    """All of a job's task energies as one measurement, carbon summed (``None`` when
    any task's carbon is unknown)."""
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
