"""Live views: nodes and their devices, recent power, grid signals, savings summary."""

from __future__ import annotations

import socket
import time
from typing import Annotated, Any

from fastapi import APIRouter, Depends, Query
from starlette.concurrency import run_in_threadpool

from wattwise.api.models import (
    DeviceLive,
    GridOut,
    GridWindow,
    LivePower,
    NodeOut,
    PowerPoint,
    PowerSeries,
    SummaryOut,
)
from wattwise.api.state import AppState, get_state

router = APIRouter(prefix="/api/v1", tags=["live"])


@router.get("/nodes", response_model=list[NodeOut], summary="Nodes and their devices' power")
async def nodes(state: Annotated[AppState, Depends(get_state)]) -> list[NodeOut]:
    by_node: dict[str, NodeOut] = {}
    cluster: list[dict[str, Any]] = state.nodes_info() if state.nodes_info else []
    for info in cluster:
        by_node[str(info["name"])] = NodeOut(
            name=str(info["name"]),
            alive=bool(info.get("alive", True)),
            cpus=info.get("cpus"),
            gpus=info.get("gpus"),
            devices=[],
        )
    for dev in state.telemetry.devices():
        node = by_node.setdefault(dev.node, NodeOut(name=dev.node, alive=True, devices=[]))
        node.devices.append(
            DeviceLive(
                name=dev.device.name,
                kind=dev.device.kind,
                source=dev.device.source,
                estimated=dev.device.estimated,
                in_total=dev.device.in_total,
                power_w=dev.power_w,
                energy_j=dev.energy_j,
            )
        )
    if not by_node:
        by_node[socket.gethostname()] = NodeOut(name=socket.gethostname(), alive=True, devices=[])
    for node in by_node.values():
        # Sum only devices that count toward the total (no double counting of sub-devices).
        counted = [d.power_w for d in node.devices if d.power_w is not None and d.in_total]
        node.power_w = sum(counted) if counted else None
    return list(by_node.values())


@router.get("/power", response_model=LivePower, summary="Recent power per node and device (W)")
async def power(
    state: Annotated[AppState, Depends(get_state)],
    since_s: Annotated[float, Query(ge=0, le=1e11, description="only samples after this")] = 0.0,
) -> LivePower:
    return LivePower(
        now_s=time.time(),
        series=[
            PowerSeries(
                node=node, device=device, points=[PowerPoint(t_s=t, power_w=p) for t, p in pts]
            )
            for node, device, pts in state.telemetry.series(since_s)
        ],
    )


def _windows(state: AppState) -> list[GridWindow]:
    items, _ = state.jobs.list_jobs(1000, 0, None)
    out = []
    for job in items:
        start = job.started_s or job.planned_start_s
        if start is None or job.status == "cancelled":
            continue
        end = job.ended_s or job.planned_end_s or start
        out.append(
            GridWindow(job_id=job.id, name=job.name, status=job.status, start_s=start, end_s=end)
        )
    return out


@router.get(
    "/grid",
    response_model=GridOut,
    summary="Carbon intensity, its forecast and the windows the scheduler chose",
)
async def grid(
    state: Annotated[AppState, Depends(get_state)],
    back_h: Annotated[float, Query(ge=0, le=168)] = 12.0,
    ahead_h: Annotated[float, Query(ge=0, le=48)] = 24.0,
) -> GridOut:
    if state.grid is None:
        return GridOut(available=False, source="no grid signal configured")
    grid_view = state.grid

    def work() -> GridOut:
        # Off the event loop: the first forecast of a provider's trace takes ~0.5 s.
        return grid_view.snapshot(_windows(state), back_h=back_h, ahead_h=ahead_h)

    return await run_in_threadpool(work)


@router.get(
    "/summary",
    response_model=SummaryOut,
    summary="Energy and CO2 of finished jobs, and what was saved against the baseline",
)
async def summary(state: Annotated[AppState, Depends(get_state)]) -> SummaryOut:
    def work() -> SummaryOut:
        items, _ = state.jobs.list_jobs(10**6, 0, "done")
        energy = sum(j.energy_j or 0.0 for j in items)
        co2 = sum(j.co2e_g or 0.0 for j in items if j.baseline_co2e_g is not None)
        base = sum(j.baseline_co2e_g or 0.0 for j in items if j.co2e_g is not None)
        saved = base - co2
        return SummaryOut(
            jobs=state.jobs.counts(),
            energy_j=energy,
            co2e_g=sum(j.co2e_g or 0.0 for j in items),
            baseline_co2e_g=base,
            saved_co2e_g=saved,
            saved_percent=100.0 * saved / base if base > 0 else None,
            runs_total=state.store.count_runs(),
            estimated=any(j.estimated for j in items),
        )

    return await run_in_threadpool(work)
