"""The FastAPI app: ``create_app(store_url, ...)`` wires store, jobs, telemetry and grid."""

from __future__ import annotations

from collections.abc import AsyncIterator, Callable
from contextlib import asynccontextmanager
from importlib import import_module
from pathlib import Path
from typing import Any

from fastapi import APIRouter, Depends, FastAPI, Request
from fastapi.exceptions import RequestValidationError
from fastapi.responses import FileResponse, JSONResponse, Response
from fastapi.staticfiles import StaticFiles
from starlette.concurrency import run_in_threadpool

from wattwise.api.auth import ApiSecurity, HostGuard, check_token, load_or_create_token
from wattwise.api.grid_view import GridView
from wattwise.api.jobs import EngineJobs, JobBackend
from wattwise.api.state import AppState
from wattwise.api.telemetry import PowerMonitor, Telemetry
from wattwise.store import RunStore

STATIC_DIR = Path(__file__).parent / "static"


def _describe(err: dict[str, Any]) -> str:
    where = ".".join(str(p) for p in err.get("loc", ()) if p != "body") or "request"
    return f"{where}: {err.get('msg', 'invalid')}"


async def _validation_error(request: Request, exc: Exception) -> Response:
    assert isinstance(exc, RequestValidationError)
    errors = [
        {"loc": list(e.get("loc", ())), "msg": e.get("msg", ""), "type": e.get("type", "")}
        for e in exc.errors()
    ]
    message = "; ".join(_describe(e) for e in errors)
    return JSONResponse(status_code=422, content={"detail": errors, "message": message})


def create_app(
    store_url: str | None = None,
    *,
    home: Path | None = None,
    jobs: JobBackend | None = None,
    telemetry: Telemetry | None = None,
    grid: GridView | None = None,
    token: str | None = None,
    monitor_power: bool = True,
    power_interval_s: float = 1.0,
    nodes_info: Callable[[], list[dict[str, Any]]] | None = None,
    security: ApiSecurity | None = None,
) -> FastAPI:
    """Build the API and dashboard.

    ``jobs`` is where jobs come from (see :class:`wattwise.api.jobs.JobBackend`); the
    default is the engine's client over the store's job queue (a head started by
    ``wattwise serve`` runs them; without one they wait ``queued``). With
    ``grid`` defaults to the user's configured grid on the real clock. With
    ``monitor_power`` a thread samples this machine's energy sources every
    ``power_interval_s`` for the live power chart and ``/metrics``. ``token`` defaults
    to the one in ``$WATTWISE_HOME/api_token`` (created on first start, mode 0600).
    ``security`` (default: ``config.toml``'s, bound to loopback) says who reads without
    the token and which Host names are answered (see :mod:`wattwise.api.auth`).
    """
    from wattwise.config import home as default_home

    home = home or default_home()
    security = security or ApiSecurity.from_config()
    store = RunStore(store_url)
    if grid is None:
        grid = GridView.from_config()
    if jobs is None:
        engine_jobs = EngineJobs(store_url, intensity=grid.as_provider())
        jobs, nodes_info = engine_jobs, nodes_info or engine_jobs.nodes
    elif isinstance(jobs, EngineJobs) and jobs.intensity is None:
        jobs.intensity = grid.as_provider()  # baselines on this app's grid
    state = AppState(
        store=store,
        jobs=jobs,
        telemetry=telemetry or Telemetry(),
        token=token or load_or_create_token(home),
        home=home,
        grid=grid,
        nodes_info=nodes_info,
        security=security,
    )

    @asynccontextmanager
    async def lifespan(app: FastAPI) -> AsyncIterator[None]:
        if monitor_power:
            from wattwise.meter import detect_sources

            sources = detect_sources().sources
            state.monitor = PowerMonitor(
                state.telemetry, sources, interval_s=power_interval_s
            ).start()
        try:
            yield
        finally:
            if state.monitor is not None:
                state.monitor.stop()

    app = FastAPI(
        title="wattwise",
        version="0.1",
        description="Energy and carbon of AI workloads: runs, jobs, nodes, grid signals, "
        "optimize reports and simulations. Writes, and reads from outside loopback, need "
        "`Authorization: Bearer <token>` (token in `$WATTWISE_HOME/api_token`); "
        "`api_require_token_for_reads` asks for it on every read.",
        lifespan=lifespan,
    )
    app.state.wattwise = state
    app.add_exception_handler(RequestValidationError, _validation_error)
    app.add_middleware(HostGuard, security=security)

    async def guard(request: Request) -> None:
        check_token(request, state.token, security)

    from wattwise.api.routes import jobs as jobs_routes
    from wattwise.api.routes import live, reports, runs

    api = APIRouter(
        dependencies=[Depends(guard)],
        responses={401: {"description": "missing token"}, 403: {"description": "wrong token"}},
    )
    for module in (runs, jobs_routes, live, reports):
        api.include_router(module.router)

    @api.get("/metrics", tags=["metrics"], summary="Prometheus metrics", response_class=Response)
    async def metrics() -> Response:
        from prometheus_client import CONTENT_TYPE_LATEST

        from wattwise.api.metrics import render

        body = await run_in_threadpool(render, state)
        return Response(content=body, media_type=CONTENT_TYPE_LATEST)

    app.include_router(api)
    app.include_router(import_module("wattwise.api.routes.casdk").router)  # Carbon Aware SDK

    @app.get("/", include_in_schema=False)
    async def dashboard() -> FileResponse:
        return FileResponse(STATIC_DIR / "index.html")

    app.mount("/static", StaticFiles(directory=STATIC_DIR), name="static")
    return app
