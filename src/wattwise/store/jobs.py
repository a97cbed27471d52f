"""The job queue: jobs, their task attempts and the nodes that ran them.

The queue lives here, not in the engine's memory, so a restarted head loses no job:
clients insert ``queued`` rows (one short transaction each, safe from many processes
at once under SQLite WAL), the head moves them through ``waiting`` (planned for a
later start) and ``running`` to ``succeeded``, ``failed`` or ``cancelled``. Every
transition is a conditional ``UPDATE ... WHERE status IN (...)`` so a client's cancel
and the head's dispatch never both win.

Units in column names: ``_s`` seconds (times UTC epoch seconds), ``_j`` joules,
``_g`` grams CO₂e.
"""

from __future__ import annotations

import time
from collections.abc import Sequence
from contextlib import AbstractContextManager
from dataclasses import asdict, dataclass
from typing import Any, cast

from sqlalchemy import Table, bindparam, case, func, insert, select, update
from sqlalchemy.orm import Session

from wattwise.errors import StoreError, WattwiseError
from wattwise.meter.types import Measurement
from wattwise.store import run_rows
from wattwise.store.db import transaction
from wattwise.store.runs import RunStore, SessionExecutor
from wattwise.store.status import PENDING, TERMINAL, JobStatus, RunStatus, TaskStatus
from wattwise.store.tables import JobRow, NodeRow, TaskRow

__all__ = [
    "TERMINAL",
    "JobCompletion",
    "JobConflictError",
    "JobNotFoundError",
    "JobOutcome",
    "JobRecord",
    "JobStatus",
    "JobStore",
    "NewTask",
    "NodeRecord",
    "TaskOutcome",
    "TaskRecord",
    "TaskStatus",
]


@dataclass(frozen=True)
class JobRecord:
    """One job as clients see it. Units: s (epoch), J, gCO₂e."""

    id: int
    name: str
    status: JobStatus
    spec: dict[str, Any]
    submitted_s: float
    deadline_s: float | None
    latest_start_s: float
    planned_start_s: float | None
    planned_nodes: list[str]
    started_s: float | None
    ended_s: float | None
    cancel_requested: bool
    attempts: int
    tasks_total: int
    tasks_done: int
    energy_j: float | None
    co2e_g: float | None
    estimated: bool | None
    run_id: int | None
    exit_code: int | None
    error: str | None
    excluded_nodes: list[str]
    #: What the head planned the job with (``wattwise.predict.runtime.PredictedRuntime``
    #: as a dict: runtime_s, runtime_upper_s, power_w, source) and, once it succeeded,
    #: how it went (``ActualRuntime``: runtime_s, power_w, the error). Units: s, W.
    predicted: dict[str, Any] | None = None
    actual: dict[str, Any] | None = None

    def to_dict(self) -> dict[str, Any]:
        return asdict(self)


@dataclass(frozen=True)
class JobOutcome:
    """What the runtime predictor reads of an ended job. Units: s (epoch), J.

    ``first_start_s``/``last_end_s``: earliest start and latest end of its succeeded
    task attempts; ``suspended_s``: summed length of the segments the head suspended.
    """

    job_id: int
    status: JobStatus
    spec: dict[str, Any]
    ended_s: float | None
    energy_j: float | None
    predicted: dict[str, Any] | None
    actual: dict[str, Any] | None
    first_start_s: float | None = None
    last_end_s: float | None = None
    suspended_s: float = 0.0


@dataclass(frozen=True)
class TaskRecord:
    """One task attempt. Units: s (epoch), J, gCO₂e."""

    id: int
    job_id: int
    shard: int
    attempt: int
    node_id: str
    node_name: str
    head_id: str
    status: TaskStatus
    dispatched_s: float
    started_s: float | None
    ended_s: float | None
    exit_code: int | None
    energy_j: float | None
    co2e_g: float | None
    error: str | None
    detail: dict[str, Any]

    def to_dict(self) -> dict[str, Any]:
        return asdict(self)


@dataclass(frozen=True)
class NodeRecord:
    node_id: str
    name: str
    node_type: str | None
    zone: str | None
    cpus: float
    gpus: float
    alive: bool
    last_seen_s: float


@dataclass(frozen=True)
class WaitingPlan:
    """Where and when a job still waiting is planned to start. Units: epoch s."""

    job_id: int
    start_s: float
    node_ids: tuple[str, ...]


@dataclass(frozen=True)
class NewTask:
    """A task the head is about to dispatch."""

    job_id: int
    shard: int
    attempt: int
    node_id: str
    node_name: str = ""


@dataclass(frozen=True)
class TaskOutcome:
    """How a task attempt ended. Units: s (epoch), J, gCO₂e."""

    task_id: int
    status: str  # a TaskStatus value
    started_s: float | None = None
    ended_s: float | None = None
    exit_code: int | None = None
    energy_j: float | None = None
    co2e_g: float | None = None
    error: str | None = None
    detail: dict[str, Any] | None = None


@dataclass(frozen=True)
class JobCompletion:
    """A job's end: its final status and, when anything ran, its energy as a run.

    ``measurement`` (a :class:`~wattwise.meter.types.Measurement`, co2e filled in) is
    stored as a run of kind ``job`` so ``wattwise runs`` lists it.
    """

    job_id: int
    status: str  # a final JobStatus value (one of TERMINAL)
    measurement: Measurement | None = None
    command: list[str] | None = None
    host: str = ""
    cpus: float | None = None
    exit_code: int | None = None
    error: str | None = None
    meta: dict[str, Any] | None = None


def _job_run(c: JobCompletion, name: str) -> run_rows.FinishedRun:
    """The run that records a finished job's energy (kind ``job``)."""
    assert c.measurement is not None
    return run_rows.FinishedRun(
        name=name,
        measurement=c.measurement,
        kind="job",
        command=c.command,
        status=RunStatus.COMPLETED if c.status == JobStatus.SUCCEEDED else RunStatus.FAILED,
        exit_code=c.exit_code,
        host=c.host,
        pid=0,
        cpus=c.cpus,
        meta={"job_id": c.job_id, **(c.meta or {})},
    )


class JobNotFoundError(StoreError):
    """No job has this id."""


class JobConflictError(WattwiseError):
    """The job's state forbids the request (cancelling a finished job).

    Not a :class:`StoreError`: the store worked, the request was wrong, so the API
    answers 409 for this and 503 for a store that failed.
    """


def _job_status(name: str) -> JobStatus:
    try:
        return JobStatus(name)
    except ValueError:
        raise StoreError(
            f"unknown job status {name!r}", hint=f"one of {', '.join(JobStatus)}"
        ) from None


def _job(row: JobRow) -> JobRecord:
    return JobRecord(
        id=row.id,
        name=row.name,
        status=JobStatus(row.status),
        spec=dict(row.spec),
        submitted_s=row.submitted_s,
        deadline_s=row.deadline_s,
        latest_start_s=row.latest_start_s,
        planned_start_s=row.planned_start_s,
        planned_nodes=list(row.planned_nodes or []),
        started_s=row.started_s,
        ended_s=row.ended_s,
        cancel_requested=bool(row.cancel_requested),
        attempts=row.attempts,
        tasks_total=row.tasks_total,
        tasks_done=row.tasks_done,
        energy_j=row.energy_j,
        co2e_g=row.co2e_g,
        estimated=row.estimated,
        run_id=row.run_id,
        exit_code=row.exit_code,
        error=row.error,
        excluded_nodes=list(row.excluded_nodes or []),
        predicted=dict(row.predicted) if row.predicted else None,
        actual=dict(row.actual) if row.actual else None,
    )


def _outcome_columns() -> Any:
    return select(
        JobRow.id,
        JobRow.status,
        JobRow.spec,
        JobRow.ended_s,
        JobRow.energy_j,
        JobRow.predicted,
        JobRow.actual,
    )


def _outcome(
    row: Any, first: float | None = None, last: float | None = None, suspended: float = 0.0
) -> JobOutcome:
    return JobOutcome(
        job_id=row.id,
        status=JobStatus(row.status),
        spec=dict(row.spec),
        ended_s=row.ended_s,
        energy_j=row.energy_j,
        predicted=dict(row.predicted) if row.predicted else None,
        actual=dict(row.actual) if row.actual else None,
        first_start_s=first,
        last_end_s=last,
        suspended_s=suspended,
    )


def _task(row: TaskRow) -> TaskRecord:
    return TaskRecord(
        id=row.id,
        job_id=row.job_id,
        shard=row.shard,
        attempt=row.attempt,
        node_id=row.node_id,
        node_name=row.node_name,
        head_id=row.head_id,
        status=TaskStatus(row.status),
        dispatched_s=row.dispatched_s,
        started_s=row.started_s,
        ended_s=row.ended_s,
        exit_code=row.exit_code,
        energy_j=row.energy_j,
        co2e_g=row.co2e_g,
        error=row.error,
        detail=dict(row.detail or {}),
    )


class JobStore:
    """Jobs, task attempts and nodes in the wattwise database (same one as the runs)."""

    def __init__(self, url: str | None = None) -> None:
        # RunStore resolves the URL (env, config, default) and creates all tables.
        self.runs = RunStore(url)
        self.url = self.runs.url
        self._engine = self.runs.engine

    def _session(self) -> AbstractContextManager[Session]:
        return transaction(self._engine, str(self.url), "job store")

    # -- clients -----------------------------------------------------------------

    def submit(self, spec: dict[str, Any], *, submitted_s: float, latest_start_s: float) -> int:
        """Queue one validated job (``JobSpec.to_dict()``); returns its id."""
        return self.submit_many([(spec, submitted_s, latest_start_s)])[0]

    def submit_many(
        self,
        jobs: Sequence[tuple[dict[str, Any], float, float]],
        predicted: Sequence[dict[str, Any] | None] | None = None,
    ) -> list[int]:
        """Queue several jobs in one transaction: (spec dict, submitted_s, latest_start_s),
        with the prediction each was planned with (``predicted``, in order) if any."""
        plans = list(predicted) if predicted is not None else [None] * len(jobs)
        if len(plans) != len(jobs):
            raise StoreError(f"{len(jobs)} jobs but {len(plans)} predictions")
        rows = [
            JobRow(
                name=str(spec.get("name", "job")),
                spec=spec,
                status=JobStatus.QUEUED,
                submitted_s=submitted_s,
                deadline_s=spec.get("deadline_s"),
                latest_start_s=latest_start_s,
                tasks_total=max(1, len(spec.get("shards") or ())),
                planned_nodes=[],
                excluded_nodes=[],
                predicted=plan,
            )
            for (spec, submitted_s, latest_start_s), plan in zip(jobs, plans, strict=True)
        ]
        with self._session() as session:
            session.add_all(rows)
            session.flush()
            return [r.id for r in rows]

    def get_job(self, job_id: int) -> JobRecord:
        with self._session() as session:
            row = session.get(JobRow, job_id)
            if row is None:
                raise JobNotFoundError(f"no job {job_id}", hint="`wattwise jobs` lists jobs")
            return _job(row)

    def list_jobs(
        self,
        *,
        status: str | Sequence[str] | None = None,
        limit: int | None = 50,
        offset: int = 0,
        newest_first: bool = True,
    ) -> list[JobRecord]:
        query = select(JobRow)
        if status is not None:
            wanted = [status] if isinstance(status, str) else list(status)
            query = query.where(JobRow.status.in_([_job_status(s) for s in wanted]))
        query = query.order_by(JobRow.id.desc() if newest_first else JobRow.id)
        if limit is not None:
            query = query.limit(limit)
        with self._session() as session:
            return [_job(r) for r in session.scalars(query.offset(offset)).all()]

    def count_jobs(self, status: str | None = None) -> int:
        query = select(func.count(JobRow.id))
        if status is not None:
            query = query.where(JobRow.status == _job_status(status))
        with self._session() as session:
            return int(session.scalar(query) or 0)

    def tasks(self, job_id: int) -> list[TaskRecord]:
        with self._session() as session:
            rows = session.scalars(
                select(TaskRow).where(TaskRow.job_id == job_id).order_by(TaskRow.id)
            ).all()
            return [_task(r) for r in rows]

    def request_cancel(self, job_id: int) -> JobRecord:
        """Cancel a job: at once if it has not started, else ask the head to stop it."""
        now = time.time()
        with self._session() as session:
            row = session.get(JobRow, job_id)
            if row is None:
                raise JobNotFoundError(f"no job {job_id}", hint="`wattwise jobs` lists jobs")
            if row.status in TERMINAL:
                raise JobConflictError(f"job {job_id} is already {row.status}; nothing to cancel")
            if row.status in PENDING:
                row.status = JobStatus.CANCELLED
                row.ended_s = now
                row.error = "cancelled before it started"
            row.cancel_requested = True
            session.flush()
            return _job(row)

    # -- the head ----------------------------------------------------------------

    def pending(self, statuses: Sequence[str] = PENDING) -> list[JobRecord]:
        """Jobs not yet dispatched, oldest first."""
        return self.list_jobs(status=list(statuses), limit=None, newest_first=False)

    def pending_after(self, job_id: int) -> list[JobRecord]:
        """Queued jobs with an id above ``job_id`` (new since the head last looked)."""
        query = (
            select(JobRow)
            .where(JobRow.status == JobStatus.QUEUED, JobRow.id > job_id)
            .order_by(JobRow.id)
        )
        with self._session() as session:
            return [_job(r) for r in session.scalars(query).all()]

    def set_plans(self, plans: Sequence[WaitingPlan]) -> None:
        """Record the planned start and nodes of jobs still waiting to start."""
        if not plans:
            return
        with self._session() as session:
            for plan in plans:
                session.execute(
                    update(JobRow)
                    .where(
                        JobRow.id == plan.job_id,
                        JobRow.status.in_((JobStatus.QUEUED, JobStatus.WAITING)),
                    )
                    .values(
                        status=JobStatus.WAITING,
                        planned_start_s=plan.start_s,
                        planned_nodes=list(plan.node_ids),
                    )
                )

    def start_tasks(self, tasks: Sequence[NewTask], head_id: str) -> dict[int, list[int]]:
        """Insert task attempts and mark their jobs ``running`` (bulk statements).

        Skips jobs a client cancelled meanwhile. Returns task ids per job started.
        """
        if not tasks:
            return {}
        now = time.time()
        by_job: dict[int, list[NewTask]] = {}
        for t in tasks:
            by_job.setdefault(t.job_id, []).append(t)
        with self._session() as session:
            rows = session.execute(
                select(JobRow.id, JobRow.attempts, JobRow.started_s).where(
                    JobRow.id.in_(list(by_job)),
                    JobRow.cancel_requested.is_(False),
                    JobRow.status.in_((*PENDING, JobStatus.RUNNING)),
                )
            ).all()
            if not rows:
                return {}
            session.execute(
                update(JobRow),
                [
                    {
                        "id": job_id,
                        "status": JobStatus.RUNNING,
                        "attempts": max(attempts, *(t.attempt for t in by_job[job_id])),
                        "started_s": started_s if started_s is not None else now,
                    }
                    for job_id, attempts, started_s in rows
                ],
            )
            chosen = [t for job_id, _, _ in rows for t in by_job[job_id]]
            ids = session.scalars(
                insert(TaskRow).returning(TaskRow.id, sort_by_parameter_order=True),
                [
                    {
                        "job_id": t.job_id,
                        "shard": t.shard,
                        "attempt": t.attempt,
                        "node_id": t.node_id,
                        "node_name": t.node_name,
                        "head_id": head_id,
                        "status": TaskStatus.RUNNING,
                        "dispatched_s": now,
                        "detail": {},
                    }
                    for t in chosen
                ],
            ).all()
        started: dict[int, list[int]] = {}
        for t, task_id in zip(chosen, ids, strict=True):
            started.setdefault(t.job_id, []).append(int(task_id))
        return started

    def finish_tasks(self, outcomes: Sequence[TaskOutcome]) -> None:
        """Record how task attempts ended (bulk statements, one transaction)."""
        if not outcomes:
            return
        bad = [o.status for o in outcomes if o.status not in set(TaskStatus)]
        if bad:
            raise StoreError(f"unknown task status {bad[0]!r}; one of {', '.join(TaskStatus)}")
        now = time.time()
        with self._session() as session:
            job_of = dict(
                session.execute(
                    select(TaskRow.id, TaskRow.job_id).where(
                        TaskRow.id.in_([o.task_id for o in outcomes])
                    )
                ).all()
            )
            known = [o for o in outcomes if o.task_id in job_of]
            if not known:
                return
            session.execute(
                update(TaskRow),
                [
                    {
                        "id": o.task_id,
                        "status": o.status,
                        "started_s": o.started_s,
                        "ended_s": o.ended_s if o.ended_s is not None else now,
                        "exit_code": o.exit_code,
                        "energy_j": o.energy_j,
                        "co2e_g": o.co2e_g,
                        "error": o.error,
                        "detail": o.detail or {},
                    }
                    for o in known
                ],
            )
            done: dict[int, int] = {}
            for o in known:
                if o.status == TaskStatus.SUCCEEDED:
                    done[job_of[o.task_id]] = done.get(job_of[o.task_id], 0) + 1
            if done:
                table = cast(Table, JobRow.__table__)
                session.execute(
                    update(table)
                    .where(table.c.id == bindparam("job"))
                    .values(tasks_done=table.c.tasks_done + bindparam("n")),
                    [{"job": job_id, "n": n} for job_id, n in done.items()],
                )

    def requeue(self, job_id: int, *, exclude_node: str | None = None, error: str) -> bool:
        """Put a running job back in the queue (its node died or its head restarted)."""
        with self._session() as session:
            row = session.get(JobRow, job_id)
            if row is None or row.status in TERMINAL:
                return False
            if row.cancel_requested:
                row.status, row.ended_s, row.error = JobStatus.CANCELLED, time.time(), "cancelled"
                return False
            row.status = JobStatus.QUEUED
            row.planned_start_s = None
            row.error = error
            if exclude_node and exclude_node not in (row.excluded_nodes or []):
                row.excluded_nodes = [*(row.excluded_nodes or []), exclude_node]
            return True

    def suspend(self, job_id: int, resume_at_s: float, note: str) -> bool:
        """A running job the head paused: pending again, planned for ``resume_at_s``."""
        with self._session() as session:
            row = session.get(JobRow, job_id)
            if row is None or row.status in TERMINAL:
                return False
            if row.cancel_requested:
                row.status, row.ended_s, row.error = JobStatus.CANCELLED, time.time(), "cancelled"
                return False
            row.status = JobStatus.SUSPENDED
            row.planned_start_s = resume_at_s
            row.error = note
            return True

    def complete_jobs(self, completions: Sequence[JobCompletion]) -> dict[int, int | None]:
        """Close jobs and store each one's energy as a run (bulk, one transaction).

        Returns the run id per job (``None`` where nothing was measured).
        """
        for c in completions:
            if c.status not in TERMINAL:
                raise StoreError(f"complete_jobs needs a final status, got {c.status!r}")
        if not completions:
            return {}
        now = time.time()
        with self._session() as session:
            open_jobs = dict(
                session.execute(
                    select(JobRow.id, JobRow.name).where(
                        JobRow.id.in_([c.job_id for c in completions]),
                        JobRow.status.notin_(TERMINAL),
                    )
                ).all()
            )
            todo = [c for c in completions if c.job_id in open_jobs]
            measured = [c for c in todo if c.measurement is not None]
            runs = [_job_run(c, open_jobs[c.job_id]) for c in measured]
            run_ids = run_rows.insert_finished_runs(SessionExecutor(session), runs)
            run_of: dict[int, int | None] = {c.job_id: None for c in todo}
            run_of.update({c.job_id: i for c, i in zip(measured, run_ids, strict=True)})
            updates = []
            for c in todo:
                m = c.measurement
                updates.append(
                    {
                        "id": c.job_id,
                        "status": c.status,
                        "ended_s": now,
                        "run_id": run_of[c.job_id],
                        "exit_code": c.exit_code,
                        "error": c.error,
                        "energy_j": m.energy_j if m is not None else None,
                        "co2e_g": m.co2e_g if m is not None else None,
                        "estimated": m.estimated if m is not None else None,
                    }
                )
            if updates:
                session.execute(update(JobRow), updates)
        return run_of

    # -- predictions (wattwise.predict in the loop) -----------------------------------

    def set_predictions(self, plans: Sequence[tuple[int, dict[str, Any], float]]) -> None:
        """Record (job_id, prediction dict, latest_start_s) for jobs not yet ended."""
        if not plans:
            return
        with self._session() as session:
            open_ids = set(
                session.scalars(
                    select(JobRow.id).where(
                        JobRow.id.in_([job_id for job_id, _, _ in plans]),
                        JobRow.status.notin_(TERMINAL),
                    )
                ).all()
            )
            rows = [
                {"id": job_id, "predicted": predicted, "latest_start_s": latest_start_s}
                for job_id, predicted, latest_start_s in plans
                if job_id in open_ids
            ]
            if rows:
                session.execute(update(JobRow), rows)

    def set_actuals(self, actuals: Sequence[tuple[int, dict[str, Any]]]) -> None:
        """Record (job_id, actual dict) for jobs that ended."""
        if not actuals:
            return
        with self._session() as session:
            session.execute(
                update(JobRow), [{"id": job_id, "actual": actual} for job_id, actual in actuals]
            )

    def job_outcomes(self, job_ids: Sequence[int]) -> list[JobOutcome]:
        """How jobs ended, with the span of their task attempts (two statements per 500
        ids, the spans summed in SQL); unknown ids are left out."""
        out: list[JobOutcome] = []
        ids = list(dict.fromkeys(job_ids))
        ok = TaskRow.status == TaskStatus.SUCCEEDED
        paused = TaskRow.status == TaskStatus.SUSPENDED
        with self._session() as session:
            for i in range(0, len(ids), 500):
                chunk = ids[i : i + 500]
                spans = {
                    job_id: (first, last, suspended or 0.0)
                    for job_id, first, last, suspended in session.execute(
                        select(
                            TaskRow.job_id,
                            func.min(case((ok, TaskRow.started_s))),
                            func.max(case((ok, TaskRow.ended_s))),
                            func.sum(case((paused, TaskRow.ended_s - TaskRow.started_s))),
                        )
                        .where(TaskRow.job_id.in_(chunk))
                        .group_by(TaskRow.job_id)
                    ).all()
                }
                for row in session.execute(_outcome_columns().where(JobRow.id.in_(chunk))).all():
                    first, last, suspended = spans.get(row.id, (None, None, 0.0))
                    out.append(_outcome(row, first, last, float(suspended)))
        return out

    def with_actuals(
        self, limit: int = 5000, names: Sequence[str] | None = None
    ) -> list[JobOutcome]:
        """Succeeded jobs whose actual runtime is recorded, newest first (only those
        named one of ``names``, if given); their spans are not read."""
        query = _outcome_columns().where(
            JobRow.status == JobStatus.SUCCEEDED, JobRow.actual.is_not(None)
        )
        if names is not None:
            query = query.where(JobRow.name.in_(list(names)))
        query = query.order_by(JobRow.id.desc()).limit(limit)
        with self._session() as session:
            return [_outcome(r) for r in session.execute(query).all()]

    def note(self, job_id: int, message: str) -> None:
        """Say why a job is still waiting (shown by ``wattwise job``)."""
        with self._session() as session:
            session.execute(update(JobRow).where(JobRow.id == job_id).values(error=message))

    def cancel_requested_running(self) -> list[int]:
        """Running jobs a client asked to cancel."""
        with self._session() as session:
            return list(
                session.scalars(
                    select(JobRow.id).where(
                        JobRow.cancel_requested.is_(True), JobRow.status == JobStatus.RUNNING
                    )
                ).all()
            )

    def recover(self, head_id: str) -> int:
        """After a head restart: tasks another head dispatched are lost; requeue their jobs.

        Returns how many jobs went back to the queue. Waiting jobs are re-planned too.
        """
        now = time.time()
        with self._session() as session:
            lost = session.scalars(
                select(TaskRow).where(
                    TaskRow.status == TaskStatus.RUNNING, TaskRow.head_id != head_id
                )
            ).all()
            job_ids = {t.job_id for t in lost}
            for t in lost:
                t.status, t.ended_s, t.error = TaskStatus.LOST, now, "head restarted"
            count = 0
            for job_id in job_ids:
                job = session.get(JobRow, job_id)
                if job is None or job.status in TERMINAL:
                    continue
                if job.cancel_requested:
                    job.status, job.ended_s, job.error = JobStatus.CANCELLED, now, "cancelled"
                    continue
                job.status, job.planned_start_s = JobStatus.QUEUED, None
                job.error = "head restarted; requeued"
                count += 1
            session.execute(
                update(JobRow)
                .where(JobRow.status == JobStatus.WAITING)
                .values(status=JobStatus.QUEUED)
            )
            return count

    # -- nodes -------------------------------------------------------------------

    def upsert_nodes(self, nodes: Sequence[NodeRecord]) -> None:
        with self._session() as session:
            for n in nodes:
                session.merge(NodeRow(**asdict(n)))

    def list_nodes(self) -> list[NodeRecord]:
        with self._session() as session:
            rows = session.scalars(select(NodeRow).order_by(NodeRow.name)).all()
            return [
                NodeRecord(
                    r.node_id, r.name, r.node_type, r.zone, r.cpus, r.gpus, r.alive, r.last_seen_s
                )
                for r in rows
            ]
