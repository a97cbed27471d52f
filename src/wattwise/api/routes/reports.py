"""Optimize reports and scheduling-simulation results, read from files under WATTWISE_HOME.

``optimize/<id>/report.json`` is written by ``wattwise optimize``;
``simulations/<id>/result.json`` by the scheduling simulator. Both are served as
they are (their shapes are documented in ARCHITECTURE.md by their writers).
"""

from __future__ import annotations

import json
from pathlib import Path as FsPath
from typing import Annotated, Any

from fastapi import APIRouter, Depends, HTTPException, Path, Query
from starlette.concurrency import run_in_threadpool

from wattwise.api.models import Page, ReportRef
from wattwise.api.state import AppState, get_state

router = APIRouter(prefix="/api/v1", tags=["reports"])

ReportId = Annotated[str, Path(min_length=1, max_length=128, pattern=r"^[\w][\w.-]*$")]
_KINDS = {"optimize": ("optimize", "report.json"), "simulations": ("simulations", "result.json")}


def _refs(home: FsPath, kind: str) -> list[ReportRef]:
    folder, name = _KINDS[kind]
    root = home / folder
    if not root.is_dir():
        return []
    refs = []
    for path in root.glob(f"*/{name}"):
        try:
            modified = path.stat().st_mtime
        except OSError:
            continue
        refs.append(
            ReportRef(id=path.parent.name, kind=kind, modified_s=modified, title=path.parent.name)
        )
    refs.sort(key=lambda r: r.modified_s, reverse=True)
    return refs


def _read(home: FsPath, kind: str, report_id: str) -> dict[str, Any]:
    folder, name = _KINDS[kind]
    path = home / folder / report_id / name
    try:
        data = json.loads(path.read_text(encoding="utf-8"))
    except FileNotFoundError:
        raise HTTPException(status_code=404, detail=f"no {kind} report {report_id}") from None
    except (OSError, ValueError) as err:
        raise HTTPException(
            status_code=500, detail=f"{path}: unreadable report ({err.__class__.__name__})"
        ) from None
    if not isinstance(data, dict):
        return {"data": data}
    return data


def _list(state: AppState, kind: str, limit: int, offset: int) -> Page[ReportRef]:
    refs = _refs(state.home, kind)
    return Page(items=refs[offset : offset + limit], total=len(refs), limit=limit, offset=offset)


Limit = Annotated[int, Query(ge=1, le=500)]
Offset = Annotated[int, Query(ge=0, le=10**9)]


@router.get("/optimize", response_model=Page[ReportRef], summary="List optimize reports")
async def list_optimize(
    state: Annotated[AppState, Depends(get_state)], limit: Limit = 50, offset: Offset = 0
) -> Page[ReportRef]:
    return await run_in_threadpool(_list, state, "optimize", limit, offset)


@router.get(
    "/optimize/{report_id}",
    response_model=dict[str, Any],
    responses={404: {"description": "no such report"}},
    summary="One optimize report (Pareto front and recipes)",
)
async def get_optimize(
    state: Annotated[AppState, Depends(get_state)], report_id: ReportId
) -> dict[str, Any]:
    return await run_in_threadpool(_read, state.home, "optimize", report_id)


@router.get(
    "/simulations", response_model=Page[ReportRef], summary="List scheduling-simulation results"
)
async def list_simulations(
    state: Annotated[AppState, Depends(get_state)], limit: Limit = 50, offset: Offset = 0
) -> Page[ReportRef]:
    return await run_in_threadpool(_list, state, "simulations", limit, offset)


@router.get(
    "/simulations/{report_id}",
    response_model=dict[str, Any],
    responses={404: {"description": "no such result"}},
    summary="One simulation result (policies compared)",
)
async def get_simulation(
    state: Annotated[AppState, Depends(get_state)], report_id: ReportId
) -> dict[str, Any]:
    return await run_in_threadpool(_read, state.home, "simulations", report_id)
