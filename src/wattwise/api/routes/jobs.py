"""Jobs: submit, list (paginated), get, cancel. Backed by the engine or the store.

A store that fails (disk, lock, corrupt file) answers 503 with the store's one-line
message; 409 is kept for a request the job's state forbids.
"""

from __future__ import annotations

from typing import Annotated

from fastapi import APIRouter, Depends, HTTPException, Path, Query
from starlette.concurrency import run_in_threadpool

from wattwise.api.jobs import InvalidJob, JobConflict, JobNotFound
from wattwise.api.models import JOB_STATUSES, JobOut, JobSubmit, Page
from wattwise.api.state import AppState, get_state
from wattwise.errors import StoreError

router = APIRouter(
    prefix="/api/v1/jobs",
    tags=["jobs"],
    responses={503: {"description": "the store failed (its message says why)"}},
)


def _unavailable(err: StoreError) -> HTTPException:
    return HTTPException(status_code=503, detail=str(err))


JobId = Annotated[str, Path(min_length=1, max_length=64, pattern=r"^[\w.:-]+$")]


@router.get("", response_model=Page[JobOut], summary="List jobs, newest first")
async def list_jobs(
    state: Annotated[AppState, Depends(get_state)],
    limit: Annotated[int, Query(ge=1, le=500)] = 50,
    offset: Annotated[int, Query(ge=0, le=10**9)] = 0,
    status: Annotated[str | None, Query(pattern="^(" + "|".join(JOB_STATUSES) + ")$")] = None,
) -> Page[JobOut]:
    try:
        items, total = await run_in_threadpool(state.jobs.list_jobs, limit, offset, status)
    except StoreError as err:
        raise _unavailable(err) from err
    return Page(items=items, total=total, limit=limit, offset=offset)


@router.post(
    "",
    response_model=JobOut,
    status_code=201,
    responses={422: {"description": "the engine rejected the spec"}},
    summary="Submit a job",
)
async def submit_job(state: Annotated[AppState, Depends(get_state)], spec: JobSubmit) -> JobOut:
    try:
        return await run_in_threadpool(state.jobs.submit, spec)
    except InvalidJob as err:
        raise HTTPException(status_code=422, detail=str(err)) from err
    except StoreError as err:
        raise _unavailable(err) from err


@router.get(
    "/{job_id}",
    response_model=JobOut,
    responses={404: {"description": "no such job"}},
    summary="One job",
)
async def get_job(state: Annotated[AppState, Depends(get_state)], job_id: JobId) -> JobOut:
    try:
        return await run_in_threadpool(state.jobs.get_job, job_id)
    except JobNotFound as err:
        raise HTTPException(status_code=404, detail=f"no job {job_id}") from err
    except StoreError as err:
        raise _unavailable(err) from err


@router.post(
    "/{job_id}/cancel",
    response_model=JobOut,
    responses={
        404: {"description": "no such job"},
        409: {"description": "already finished"},
    },
    summary="Cancel a queued, waiting or running job",
)
async def cancel_job(state: Annotated[AppState, Depends(get_state)], job_id: JobId) -> JobOut:
    try:
        return await run_in_threadpool(state.jobs.cancel, job_id)
    except JobNotFound as err:
        raise HTTPException(status_code=404, detail=f"no job {job_id}") from err
    except JobConflict as err:
        raise HTTPException(status_code=409, detail=str(err)) from err
    except StoreError as err:
        raise _unavailable(err) from err
