"""Measured runs: list (paginated), detail with devices and windows, power samples.

An unknown run is 404; a store that fails (disk, lock, corrupt file) answers 503 with
the store's one-line message, as the jobs routes do.
"""

from __future__ import annotations

from typing import Annotated

from fastapi import APIRouter, Depends, HTTPException, Path, Query
from starlette.concurrency import run_in_threadpool

from wattwise.api.models import DeviceOut, Page, PowerPoint, RunDetail, RunOut, WindowOut
from wattwise.api.state import AppState, get_state
from wattwise.errors import StoreError
from wattwise.store import RunRecord
from wattwise.store.errors import RunNotFoundError
from wattwise.store.status import RunStatus

router = APIRouter(
    prefix="/api/v1/runs",
    tags=["runs"],
    responses={503: {"description": "the store failed (its message says why)"}},
)

RunId = Annotated[int, Path(ge=1, le=2**62, description="run id")]
_STATUS_PATTERN = "^(" + "|".join(RunStatus) + ")$"


def _unavailable(err: StoreError) -> HTTPException:
    return HTTPException(status_code=503, detail=str(err))


def _run(r: RunRecord) -> RunOut:
    return RunOut(
        id=r.id,
        name=r.name,
        kind=r.kind,
        command=r.command,
        status=r.status,
        exit_code=r.exit_code,
        host=r.host,
        started_s=r.started_s,
        ended_s=r.ended_s,
        duration_s=r.duration_s,
        energy_j=r.energy_j,
        avg_power_w=r.avg_power_w,
        peak_power_w=r.peak_power_w,
        co2e_g=r.co2e_g,
        intensity_source=r.intensity_source,
        estimated=r.estimated,
        meta=r.meta,
    )


@router.get("", response_model=Page[RunOut], summary="List measured runs, newest first")
async def list_runs(
    state: Annotated[AppState, Depends(get_state)],
    limit: Annotated[int, Query(ge=1, le=500)] = 50,
    offset: Annotated[int, Query(ge=0, le=10**9)] = 0,
    status: Annotated[str | None, Query(pattern=_STATUS_PATTERN)] = None,
) -> Page[RunOut]:
    def work() -> Page[RunOut]:
        try:
            rows = state.store.list_runs(limit=limit, offset=offset, status=status)
            total = state.store.count_runs(status)
        except StoreError as err:
            raise _unavailable(err) from None
        return Page(items=[_run(r) for r in rows], total=total, limit=limit, offset=offset)

    return await run_in_threadpool(work)


def _get(state: AppState, run_id: int) -> RunRecord:
    try:
        return state.store.get_run(run_id)
    except RunNotFoundError:
        raise HTTPException(status_code=404, detail=f"no run {run_id}") from None
    except StoreError as err:
        raise _unavailable(err) from None


@router.get(
    "/{run_id}",
    response_model=RunDetail,
    responses={404: {"description": "no such run"}},
    summary="One run with its devices and windows",
)
async def get_run(state: Annotated[AppState, Depends(get_state)], run_id: RunId) -> RunDetail:
    r = await run_in_threadpool(_get, state, run_id)
    return RunDetail(
        **_run(r).model_dump(),
        devices=[DeviceOut(**vars(d)) for d in r.devices],
        windows=[WindowOut(**vars(w)) for w in r.windows],
    )


@router.get(
    "/{run_id}/samples",
    response_model=list[PowerPoint],
    responses={404: {"description": "no such run"}},
    summary="Power timeline of a run (W)",
)
async def run_samples(
    state: Annotated[AppState, Depends(get_state)], run_id: RunId
) -> list[PowerPoint]:
    def work() -> list[PowerPoint]:
        _get(state, run_id)
        try:
            samples = state.store.samples(run_id)
        except StoreError as err:
            raise _unavailable(err) from None
        return [PowerPoint(t_s=t, power_w=p) for t, p in samples]

    return await run_in_threadpool(work)
