"""The Python API clients (the CLI, the HTTP API) use: submit, list, inspect, cancel.

Clients only talk to the store; the head (``wattwise serve``) picks queued jobs up
from there, so submitting works while the head is down and from many processes at
once. Units: s (times UTC epoch seconds).
"""

from __future__ import annotations

import time
from collections.abc import Mapping, Sequence
from typing import Any

from wattwise.engine.predictions import submit_predictions
from wattwise.engine.spec import JobSpec, NodeSizes, check_resources, parse_spec
from wattwise.store.jobs import JobRecord, JobStore, TaskRecord


class EngineClient:
    """Submit and manage jobs in the store at ``url`` (default: the wattwise store)."""

    def __init__(self, url: str | None = None, store: JobStore | None = None) -> None:
        self.store = store or JobStore(url)

    def submit(self, spec: JobSpec | Mapping[str, Any], *, submitted_s: float | None = None) -> int:
        """Validate and queue one job; returns its id. A bad spec raises ``SpecError``."""
        return self.submit_many([spec], submitted_s=submitted_s)[0]

    def submit_many(
        self, specs: Sequence[JobSpec | Mapping[str, Any]], *, submitted_s: float | None = None
    ) -> list[int]:
        """Validate every spec first, then queue them all in one transaction."""
        now = time.time() if submitted_s is None else submitted_s
        largest = self.largest_node()
        parsed = [s if isinstance(s, JobSpec) else parse_spec(dict(s), now, largest) for s in specs]
        for p in parsed:
            check_resources(p.cpus, p.gpus, largest)
        # Planned runtime and latest start by its upper bound (wattwise.engine.predictions).
        dicts = [p.to_dict() for p in parsed]
        plans = submit_predictions(self.store, dicts, now)
        return self.store.submit_many(
            [(d, now, latest) for d, (_, latest) in zip(dicts, plans, strict=True)],
            [pred.to_dict() for pred, _ in plans],
        )

    def largest_node(self) -> NodeSizes | None:
        """The most CPUs and GPUs of a live node the head last saw (None: no head ran yet)."""
        live = [n for n in self.store.list_nodes() if n.alive]
        if not live:
            return None
        return NodeSizes(max(n.cpus for n in live), max(n.gpus for n in live))

    def list_jobs(
        self, status: str | Sequence[str] | None = None, limit: int | None = 50, offset: int = 0
    ) -> list[JobRecord]:
        """Newest first."""
        return self.store.list_jobs(status=status, limit=limit, offset=offset)

    def get_job(self, job_id: int) -> JobRecord:
        """Raises ``JobNotFoundError`` (one line) for an unknown id."""
        return self.store.get_job(job_id)

    def tasks(self, job_id: int) -> list[TaskRecord]:
        """Every task attempt of a job (node, status, energy), oldest first."""
        self.store.get_job(job_id)
        return self.store.tasks(job_id)

    def cancel(self, job_id: int) -> JobRecord:
        """Cancel now if not started; a running job is stopped by the head (SIGTERM, grace)."""
        return self.store.request_cancel(job_id)


def submit(spec: JobSpec | Mapping[str, Any], url: str | None = None) -> int:
    return EngineClient(url).submit(spec)


def list_jobs(
    status: str | None = None, limit: int = 50, url: str | None = None
) -> list[JobRecord]:
    return EngineClient(url).list_jobs(status, limit)


def cancel(job_id: int, url: str | None = None) -> JobRecord:
    return EngineClient(url).cancel(job_id)
