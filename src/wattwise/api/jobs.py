"""Where the API gets jobs from: a small protocol with two implementations.

:class:`JobBoard` keeps jobs in memory for a process that runs them itself.
:class:`EngineJobs` is the default: the engine's client, which reads and writes the
job queue in the store, so it works whether or not a head (``wattwise serve``, or the
demo's local runner) is running.
"""

from __future__ import annotations

import itertools
import threading
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any, Protocol

from wattwise.api.models import ActualOut, JobOut, JobSubmit, PredictedOut
from wattwise.store.status import TERMINAL, JobStatus

if TYPE_CHECKING:
    from wattwise.grid import IntensityProvider


class JobNotFound(LookupError):
    """No job with that id."""


class JobConflict(RuntimeError):
    """The job is in a state that forbids this (e.g. cancelling a finished job)."""


class InvalidJob(ValueError):
    """The engine rejected the job spec (a one-line reason)."""


class JobBackend(Protocol):
    def list_jobs(self, limit: int, offset: int, status: str | None) -> tuple[list[JobOut], int]:
        """A page of jobs, newest first, and the total matching ``status``."""
        ...

    def get_job(self, job_id: str) -> JobOut: ...

    def submit(self, spec: JobSubmit) -> JobOut: ...

    def cancel(self, job_id: str) -> JobOut: ...

    def counts(self) -> dict[str, int]:
        """Number of jobs per status."""
        ...


_FINAL = {s.public for s in TERMINAL}


@dataclass
class JobBoard:
    """Thread-safe in-memory jobs. ``on_submit`` is called with each new job (outside the lock)."""

    now_s: Callable[[], float] = time.time
    on_submit: Callable[[JobOut], None] | None = None
    _jobs: dict[str, JobOut] = field(default_factory=dict)
    _lock: threading.Lock = field(default_factory=threading.Lock)
    _ids: itertools.count[int] = field(default_factory=lambda: itertools.count(1))

    def add(self, spec: JobSubmit, **extra: Any) -> JobOut:
        """Queue a job without calling ``on_submit`` (the owner's own submissions)."""
        now = self.now_s()
        with self._lock:
            job = JobOut(
                id=f"job-{next(self._ids)}",
                name=spec.name,
                kind=spec.kind,
                command=list(spec.command),
                status="queued",
                cpus=spec.cpus,
                submitted_s=now,
                deadline_s=now + spec.deadline_h * 3600.0,
                **extra,
            )
            self._jobs[job.id] = job
            return job

    def submit(self, spec: JobSubmit) -> JobOut:
        job = self.add(spec)
        if self.on_submit is not None:
            self.on_submit(job)
        return self.get_job(job.id)

    def update(self, job_id: str, **changes: Any) -> JobOut:
        with self._lock:
            job = self._jobs.get(job_id)
            if job is None:
                raise JobNotFound(job_id)
            job = job.model_copy(update=changes)
            self._jobs[job_id] = job
            return job

    def get_job(self, job_id: str) -> JobOut:
        with self._lock:
            job = self._jobs.get(job_id)
        if job is None:
            raise JobNotFound(job_id)
        return job

    def all(self) -> list[JobOut]:
        with self._lock:
            return list(self._jobs.values())

    def list_jobs(self, limit: int, offset: int, status: str | None) -> tuple[list[JobOut], int]:
        jobs = [j for j in reversed(self.all()) if status is None or j.status == status]
        return jobs[offset : offset + limit], len(jobs)

    def cancel(self, job_id: str) -> JobOut:
        with self._lock:
            job = self._jobs.get(job_id)
            if job is None:
                raise JobNotFound(job_id)
            if job.status in _FINAL:
                raise JobConflict(f"{job_id} is already {job.status}")
            job = job.model_copy(update={"status": "cancelled", "ended_s": self.now_s()})
            self._jobs[job_id] = job
            return job

    def counts(self) -> dict[str, int]:
        out: dict[str, int] = {}
        for job in self.all():
            out[job.status] = out.get(job.status, 0) + 1
        return out


class EngineJobs:
    """Jobs through the engine's client, which talks to the store alone.

    Submitting works with no head running: the job waits ``queued`` in the store until
    ``wattwise serve`` picks it up. Statuses go by their public name
    (:attr:`JobStatus.public`: ``succeeded`` is shown as ``done``).
    """

    def __init__(
        self,
        store_url: str | None = None,
        intensity: IntensityProvider | None = None,
    ) -> None:
        from wattwise.engine.client import EngineClient

        self.client = EngineClient(store_url)
        # The grid the jobs ran on (gCO₂e/kWh, in the jobs' clock), for the baseline.
        self.intensity = intensity
        self._baselines: dict[int, float | None] = {}

    def _baseline(self, rec: Any) -> float | None:
        """What the job would have emitted had it started on arrival
        (:mod:`wattwise.engine.baseline`). Units: gCO₂e."""
        if self.intensity is None or rec.status != JobStatus.SUCCEEDED or not rec.energy_j:
            return None
        if not (rec.started_s and rec.ended_s):
            return None
        if rec.id not in self._baselines:
            from wattwise.engine.baseline import RanJob, all_at_once_co2e_g
            from wattwise.errors import WattwiseError

            power = self.client.store.runs.samples(rec.run_id) if rec.run_id else []
            job = RanJob(rec.energy_j, rec.submitted_s, rec.started_s, rec.ended_s, tuple(power))
            try:
                series = self.intensity.series(*job.arrival_window())
                self._baselines[rec.id] = all_at_once_co2e_g(job, series)
            except WattwiseError:  # no intensity data for those hours
                self._baselines[rec.id] = None
        return self._baselines[rec.id]

    def _node_names(self) -> dict[str, str]:
        return {n.node_id: n.name for n in self.client.store.list_nodes()}

    def _out(self, rec: Any, names: dict[str, str] | None = None) -> JobOut:
        spec = rec.spec or {}
        command = spec.get("command") or [spec.get("entry") or ""]
        duration = rec.ended_s - rec.started_s if rec.ended_s and rec.started_s else None
        predicted = PredictedOut.model_validate(rec.predicted) if rec.predicted else None
        runtime_s = spec.get("runtime_s") or (predicted.runtime_s if predicted else None)
        planned_end = (
            rec.planned_start_s + float(runtime_s)
            if rec.planned_start_s is not None and runtime_s
            else None
        )
        return JobOut(
            id=str(rec.id),
            name=rec.name,
            kind=str(spec.get("kind", "other")),
            command=[str(c) for c in command],
            status=JobStatus(rec.status).public,
            cpus=float(spec.get("cpus") or 1.0),
            node=(names or {}).get(rec.planned_nodes[0], rec.planned_nodes[0])
            if rec.planned_nodes
            else None,
            submitted_s=rec.submitted_s,
            deadline_s=rec.deadline_s,
            planned_start_s=rec.planned_start_s,
            planned_end_s=planned_end,
            started_s=rec.started_s,
            ended_s=rec.ended_s,
            duration_s=duration,
            energy_j=rec.energy_j,
            co2e_g=rec.co2e_g,
            baseline_co2e_g=self._baseline(rec),
            estimated=True if rec.estimated is None else bool(rec.estimated),
            run_id=rec.run_id,
            detail=rec.error or "",
            predicted=predicted,
            actual=ActualOut.model_validate(rec.actual) if rec.actual else None,
        )

    @staticmethod
    def _id(job_id: str) -> int:
        if not job_id.isdigit() or len(job_id) > 18:
            raise JobNotFound(job_id)
        return int(job_id)

    def list_jobs(self, limit: int, offset: int, status: str | None) -> tuple[list[JobOut], int]:
        wanted = JobStatus.from_public(status) if status else None
        rows = self.client.list_jobs(wanted, limit=limit, offset=offset)
        names = self._node_names() if rows else {}
        return [self._out(r, names) for r in rows], self.client.store.count_jobs(wanted)

    def get_job(self, job_id: str) -> JobOut:
        from wattwise.store.jobs import JobNotFoundError

        try:
            return self._out(self.client.get_job(self._id(job_id)), self._node_names())
        except JobNotFoundError:
            raise JobNotFound(job_id) from None

    def submit(self, spec: JobSubmit) -> JobOut:
        from wattwise.engine.spec import SpecError

        body: dict[str, Any] = {"name": spec.name, "command": spec.command, "cpus": spec.cpus}
        if spec.deadline_h > 0:
            body["deadline"] = f"{spec.deadline_h * 3600:.3f}s"  # plain digits: no 1e+06
        try:
            job_id = self.client.submit(body)
        except SpecError as err:
            raise InvalidJob(str(err)) from None
        return self.get_job(str(job_id))

    def cancel(self, job_id: str) -> JobOut:
        """A finished job is a :class:`JobConflict`; a failing store raises ``StoreError``."""
        from wattwise.store.jobs import JobConflictError, JobNotFoundError

        try:
            return self._out(self.client.cancel(self._id(job_id)))
        except JobNotFoundError:
            raise JobNotFound(job_id) from None
        except JobConflictError as err:
            raise JobConflict(str(err)) from None

    def counts(self) -> dict[str, int]:
        out = {}
        for status in JobStatus:
            n = self.client.store.count_jobs(status)
            if n:
                out[status.public] = n
        return out

    def nodes(self) -> list[dict[str, Any]]:
        """Cluster nodes the head recorded (name, alive, cpus, gpus)."""
        return [
            {"name": n.name, "alive": n.alive, "cpus": n.cpus, "gpus": n.gpus}
            for n in self.client.store.list_nodes()
        ]
