"""Which stored runs a report covers: one run, the runs of engine jobs, or runs since a time."""

from __future__ import annotations

import datetime as dt
import time
from collections.abc import Sequence

from wattwise.errors import ConfigError, StoreError
from wattwise.report.build import RunContext
from wattwise.store.jobs import JobStore, NodeRecord
from wattwise.store.runs import RunRecord, RunStore

#: At most this many runs in one ``--since`` report.
MAX_RUNS = 100_000


def parse_since(text: str, now_s: float | None = None) -> float:
    """``--since``: an ISO time (UTC unless it says otherwise) or a duration ago (``6h``)."""
    from wattwise.units import parse_duration_s

    now = time.time() if now_s is None else now_s
    try:
        when = dt.datetime.fromisoformat(text.strip())
    except ValueError:
        try:
            return now - parse_duration_s(text, "--since")
        except ConfigError:
            raise ConfigError(
                f"--since {text!r} is neither a time nor a duration",
                hint="use e.g. --since 2026-01-31T09:00 or --since 6h",
            ) from None
    if when.tzinfo is None:
        when = when.replace(tzinfo=dt.UTC)
    return when.timestamp()


def _context(run: RunRecord, nodes: dict[str, NodeRecord], zone: str | None) -> RunContext:
    node = nodes.get(run.host)
    job_id = run.meta.get("job_id")
    return RunContext(
        run,
        job_id=int(job_id) if isinstance(job_id, int) else None,
        zone=run.meta.get("zone") or (node.zone if node else None) or zone,
        node_group=node.node_type if node else None,
    )


def _nodes(jobs: JobStore) -> dict[str, NodeRecord]:
    return {n.name: n for n in jobs.list_nodes()}


def run_contexts(
    *,
    run_ids: Sequence[int] = (),
    job_ids: Sequence[int] = (),
    since_s: float | None = None,
    zone: str | None = None,
    url: str | None = None,
) -> list[RunContext]:
    """The runs to report, oldest first; ``zone`` is the configured grid zone (for PUE)."""
    runs = RunStore(url)
    jobs = JobStore(runs.url)
    nodes = _nodes(jobs)
    records: list[RunRecord] = [runs.get_run(i) for i in run_ids]
    for job_id in job_ids:
        job = jobs.get_job(job_id)
        if job.run_id is None:
            raise StoreError(
                f"job {job_id} has no measured run (status {job.status})",
                hint="only a job that ran has energy to report",
            )
        records.append(runs.get_run(job.run_id))
    if since_s is not None:
        listed = [r for r in runs.list_runs(limit=MAX_RUNS) if r.started_s >= since_s]
        if not listed:
            when = dt.datetime.fromtimestamp(since_s, tz=dt.UTC).isoformat(timespec="seconds")
            raise StoreError(f"no runs since {when}", hint="`wattwise runs` lists stored runs")
        records += [runs.get_run(r.id) for r in listed if r.status != "running"]
    unique = sorted({r.id: r for r in records}.values(), key=lambda r: (r.started_s, r.id))
    return [_context(r, nodes, zone) for r in unique]
