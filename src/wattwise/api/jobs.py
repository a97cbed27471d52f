"""Where the API gets jobs from: a small protocol with two implementations.

:class:`JobBoard` keeps jobs in memory for a process that runs them itself (the
demo's scheduler feeds it). :class:`StoreOnlyJobs` is what the API uses when no
engine runs in the process: it lists the jobs the engine persisted in the store
(``wattwise.store.jobs``, when present) and refuses submissions with 503, since
nothing would run them.
"""

from __future__ import annotations

import itertools
import threading
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any, Protocol

from wattwise.api.models import JobOut, JobSubmit


class JobNotFound(LookupError):
    """No job with that id."""


class JobConflict(RuntimeError):
    """The job is in a state that forbids this (e.g. cancelling a finished job)."""


class NoEngine(RuntimeError):
    """Nothing in this process can run jobs."""


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


_FINAL = {"done", "failed", "cancelled"}


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


class StoreOnlyJobs:
    """Jobs read from the store alone; submit and cancel need a running engine (503)."""

    def __init__(self, store_url: str | None = None) -> None:
        self._store_url = store_url

    def _stored(self) -> list[JobOut]:
        # The engine persists jobs in wattwise.store.jobs; until it exists there are none.
        import importlib

        try:
            stored = importlib.import_module("wattwise.store.jobs")
        except ImportError:
            return []
        lister = getattr(stored, "list_jobs", None)
        if lister is None:
            return []
        out: list[JobOut] = []
        for row in lister(self._store_url):
            data = row.to_dict() if hasattr(row, "to_dict") else dict(row)
            try:
                out.append(JobOut.model_validate(data))
            except ValueError:
                continue
        return out

    def list_jobs(self, limit: int, offset: int, status: str | None) -> tuple[list[JobOut], int]:
        jobs = [j for j in self._stored() if status is None or j.status == status]
        return jobs[offset : offset + limit], len(jobs)

    def get_job(self, job_id: str) -> JobOut:
        for job in self._stored():
            if job.id == job_id:
                return job
        raise JobNotFound(job_id)

    def submit(self, spec: JobSubmit) -> JobOut:
        raise NoEngine("no engine runs in this process: start `wattwise serve` to run jobs")

    def cancel(self, job_id: str) -> JobOut:
        self.get_job(job_id)
        raise NoEngine("no engine runs in this process: start `wattwise serve` to cancel jobs")

    def counts(self) -> dict[str, int]:
        out: dict[str, int] = {}
        for job in self._stored():
            out[job.status] = out.get(job.status, 0) + 1
        return out
