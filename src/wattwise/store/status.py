"""The states of runs, jobs and task attempts, defined once.

The values are the strings the store holds and the CLI shows; being ``StrEnum``
members they compare equal to those strings and serialise as them. Plain module
(no SQLAlchemy), so the measure command's journal and the API models import it cheaply.
"""

from __future__ import annotations

from enum import StrEnum


class RunStatus(StrEnum):
    """A measured run (``runs.status``)."""

    RUNNING = "running"
    COMPLETED = "completed"
    FAILED = "failed"
    INTERRUPTED = "interrupted"


class JobStatus(StrEnum):
    """A job in the queue (``jobs.status``): queued -> waiting (planned) -> running -> final.

    ``suspended``: an interruptible job the head paused for cleaner hours; it is pending
    again, with its resume time as its planned start.
    """

    QUEUED = "queued"
    WAITING = "waiting"
    RUNNING = "running"
    SUSPENDED = "suspended"
    SUCCEEDED = "succeeded"
    FAILED = "failed"
    CANCELLED = "cancelled"

    @property
    def final(self) -> bool:
        """True once nothing will change it again."""
        return self in TERMINAL

    @property
    def public(self) -> str:
        """The name the HTTP API and the dashboard use: ``done`` for ``succeeded``.

        The API's JSON spoke of ``done`` before the engine's queue existed; clients
        depend on it, so it stays, mapped here and nowhere else.
        """
        return "done" if self is JobStatus.SUCCEEDED else self.value

    @classmethod
    def from_public(cls, name: str) -> JobStatus:
        """Inverse of :attr:`public`; ``ValueError`` for an unknown name."""
        return cls.SUCCEEDED if name == "done" else cls(name)


#: States nothing changes again.
TERMINAL: tuple[JobStatus, ...] = (JobStatus.SUCCEEDED, JobStatus.FAILED, JobStatus.CANCELLED)
#: States a job can still be planned in (not yet dispatched).
PENDING: tuple[JobStatus, ...] = (JobStatus.QUEUED, JobStatus.WAITING, JobStatus.SUSPENDED)
#: The names the HTTP API accepts and answers, in lifecycle order.
PUBLIC_JOB_STATUSES: tuple[str, ...] = tuple(s.public for s in JobStatus)


class TaskStatus(StrEnum):
    """One attempt of one task on one node (``job_tasks.status``)."""

    RUNNING = "running"
    SUCCEEDED = "succeeded"
    FAILED = "failed"
    LOST = "lost"
    CANCELLED = "cancelled"
    SUSPENDED = "suspended"  # stopped by the head to resume later, from its checkpoint
