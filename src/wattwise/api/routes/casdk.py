"""Endpoints shaped like the Green Software Foundation's Carbon Aware SDK web API.

``GET /emissions/bylocations`` (and ``/bylocation``), ``GET /emissions/bylocations/best``,
``GET /emissions/forecasts/current`` and ``POST /emissions/forecasts/batch`` take the
SDK's parameters and answer its JSON shapes (``EmissionsData``: ``location``, ``time``,
``rating``, ``duration`` as ``hh:mm:ss``; ``EmissionsForecast``: ``generatedAt``,
``requestedAt``, ``location``, ``dataStartAt``, ``dataEndAt``, ``windowSize``,
``optimalDataPoints``, ``forecastData`` with ``location``, ``timestamp``, ``duration``
in minutes, ``value``), so an SDK client works against ``wattwise serve``. The numbers
come from wattwise's providers and forecaster (:mod:`wattwise.grid.emissions`); the
``X-Wattwise-Source`` header names the provider and method of each answer.

Bad input is a 400 in the SDK's ``ValidationProblemDetails`` shape whose ``detail`` is
one line (an unknown location lists close matches). Reads, the batch included, follow
the API's read rule (:func:`wattwise.api.auth.check_token`).
"""

from __future__ import annotations

import time
from collections.abc import Callable
from datetime import UTC, datetime
from typing import Annotated, Any

from fastapi import APIRouter, Depends, Query, Request
from fastapi.responses import JSONResponse, Response
from starlette.concurrency import run_in_threadpool

from wattwise.api.auth import check_token, is_loopback
from wattwise.api.state import get_state
from wattwise.errors import ProviderError, WattwiseError
from wattwise.grid.emissions import (
    EmissionsPoint,
    Forecast,
    forecast,
    location_provider,
    observed,
    optimal,
)

MAX_LOCATIONS = 50
MAX_BATCH = 100


async def read_guard(request: Request) -> None:
    """The API's rule for reads (the batch is a read sent as POST)."""
    state = get_state(request)
    security = state.security
    if not security.require_token_for_reads and is_loopback(request, security):
        return
    check_token(request, state.token, security)


router = APIRouter(
    prefix="/emissions",
    tags=["carbon aware sdk"],
    dependencies=[Depends(read_guard)],
    responses={
        400: {"description": "bad input (ValidationProblemDetails, one-line detail)"},
        401: {"description": "missing token"},
        403: {"description": "wrong token"},
    },
)


class BadRequest(Exception):
    """A parameter the SDK would refuse: ``field`` and a one-line message."""

    def __init__(self, field: str, message: str, status: int = 400) -> None:
        super().__init__(message)
        self.field, self.message, self.status = field, message, status


def _problem(err: BadRequest) -> JSONResponse:
    title = "One or more validation errors occurred." if err.status == 400 else "Service error"
    return JSONResponse(
        status_code=err.status,
        content={
            "type": "https://tools.ietf.org/html/rfc9110#section-15.5.1",
            "title": title,
            "status": err.status,
            "detail": err.message,
            "errors": {err.field: [err.message]},
        },
    )


def _time(text: str | None, field: str) -> float | None:
    """ISO 8601 (``Z``, an offset, or naive = UTC; a date alone is its midnight)."""
    if text is None or not text.strip():
        return None
    raw = text.strip()
    try:  # an unencoded "+00:00" in a query string arrives as " 00:00"
        stamp = datetime.fromisoformat(raw.replace(" ", "+") if "T" in raw else raw)
    except ValueError:
        raise BadRequest(
            field, f"{field}: cannot read time {text!r}; use ISO 8601, e.g. 2022-06-01T14:00:00Z"
        ) from None
    if stamp.tzinfo is None:
        stamp = stamp.replace(tzinfo=UTC)
    return stamp.timestamp()


def _minutes(value: Any, field: str) -> float | None:
    """A positive whole number of minutes, as seconds."""
    if value is None or (isinstance(value, str) and not value.strip()):
        return None
    try:
        number = int(str(value).strip()) if not isinstance(value, int) else value
    except ValueError:
        raise BadRequest(
            field, f"{field} must be a whole number of minutes, not {value!r}"
        ) from None
    if isinstance(value, bool) or number <= 0 or number > 60 * 24 * 14:
        raise BadRequest(field, f"{field} must be 1 to 20160 minutes, not {value!r}")
    return number * 60.0


def _locations(values: list[str] | None) -> list[str]:
    names = [v for v in (values or []) if v.strip()]
    if not names:
        raise BadRequest("location", "location is required (repeat it for several locations)")
    if len(names) > MAX_LOCATIONS:
        raise BadRequest("location", f"at most {MAX_LOCATIONS} locations per request")
    return names


def _iso(t: float) -> str:
    return datetime.fromtimestamp(t, tz=UTC).isoformat()


def _timespan(seconds: float) -> str:
    """A duration as .NET writes a TimeSpan: ``[d.]hh:mm:ss``."""
    whole = round(seconds)
    days, rest = divmod(whole, 86400)
    hours, rest = divmod(rest, 3600)
    minutes, secs = divmod(rest, 60)
    clock = f"{hours:02d}:{minutes:02d}:{secs:02d}"
    return f"{days}.{clock}" if days else clock


def _data(p: EmissionsPoint) -> dict[str, Any]:
    return {
        "location": p.location,
        "time": _iso(p.time_s),
        "rating": p.value,
        "duration": _timespan(p.duration_s),
    }


def _dto(p: EmissionsPoint) -> dict[str, Any]:
    return {
        "location": p.location,
        "timestamp": _iso(p.time_s),
        "duration": round(p.duration_s / 60.0),
        "value": p.value,
    }


def _forecast_json(f: Forecast) -> dict[str, Any]:
    return {
        "generatedAt": _iso(f.generated_s),
        "requestedAt": _iso(f.requested_s),
        "location": f.location,
        "dataStartAt": _iso(f.data_start_s),
        "dataEndAt": _iso(f.data_end_s),
        "windowSize": round(f.window_s / 60.0),
        "optimalDataPoints": [_dto(p) for p in f.optimal],
        "forecastData": [_dto(p) for p in f.points],
    }


def _header(sources: list[str]) -> dict[str, str]:
    text = " | ".join(dict.fromkeys(sources))
    return {"X-Wattwise-Source": text.encode("ascii", "replace").decode()[:2000]}


async def _answer(field: str, work: Callable[[], tuple[Any, list[str]]]) -> Response:
    try:
        body, sources = await run_in_threadpool(work)
    except BadRequest as err:
        return _problem(err)
    except ProviderError as err:
        return _problem(BadRequest(field, str(err), status=503))
    except WattwiseError as err:
        return _problem(BadRequest(field, str(err)))
    if body == []:
        return Response(status_code=204, headers=_header(sources))
    return JSONResponse(content=body, headers=_header(sources))


def _period(time_: str | None, to_time: str | None, duration: str | None) -> tuple[float, float]:
    start = _time(time_, "time")
    end = _time(to_time, "toTime")
    span = _minutes(duration, "duration")
    if end is not None and start is None:
        raise BadRequest("time", "time must be defined if toTime is defined")
    if start is not None and end is not None and start >= end:
        raise BadRequest("time", "time must be before toTime")
    start = float(int(time.time())) if start is None else start
    if end is None:
        end = start + span if span is not None else start
    return start, end


def _observed(names: list[str], start: float, end: float) -> tuple[list[EmissionsPoint], list[str]]:
    points: list[EmissionsPoint] = []
    sources: list[str] = []
    for name in names:
        try:
            where = location_provider(name)
        except WattwiseError as err:
            raise BadRequest("location", str(err)) from None
        points += observed(where, start, end)
        sources.append(f"{name}: {where.provider.describe()}")
    return points, sources


LocationQuery = Annotated[
    list[str] | None,
    Query(
        description="grid zone (DE), cloud region (azure:eastus, eastus, aws:eu-central-1) "
        "or PROVIDER:ZONE; repeat for several"
    ),
]
TimeQuery = Annotated[str | None, Query(description="start, ISO 8601 (default: now)")]
ToTimeQuery = Annotated[
    str | None, Query(alias="toTime", description="end, ISO 8601 (default: time)")
]
DurationQuery = Annotated[
    str | None, Query(description="minutes from time, when toTime is not given")
]


@router.get("/bylocations", summary="Observed intensity by locations (EmissionsData[])")
async def by_locations(
    location: LocationQuery = None,
    time_: Annotated[str | None, Query(alias="time", description="start, ISO 8601")] = None,
    to_time: ToTimeQuery = None,
    duration: DurationQuery = None,
) -> Response:
    def work() -> tuple[Any, list[str]]:
        names = _locations(location)
        points, sources = _observed(names, *_period(time_, to_time, duration))
        return [_data(p) for p in points], sources

    return await _answer("location", work)


@router.get("/bylocation", summary="Observed intensity for one location (EmissionsData[])")
async def by_location(
    location: Annotated[str | None, Query(description="one location")] = None,
    time_: Annotated[str | None, Query(alias="time", description="start, ISO 8601")] = None,
    to_time: ToTimeQuery = None,
    duration: DurationQuery = None,
) -> Response:
    return await by_locations([location] if location else None, time_, to_time, duration)


@router.get("/bylocations/best", summary="The lowest observed intensity among locations")
async def best_by_locations(
    location: LocationQuery = None,
    time_: Annotated[str | None, Query(alias="time", description="start, ISO 8601")] = None,
    to_time: ToTimeQuery = None,
    duration: DurationQuery = None,
) -> Response:
    def work() -> tuple[Any, list[str]]:
        names = _locations(location)
        points, sources = _observed(names, *_period(time_, to_time, duration))
        return [_data(p) for p in optimal(points)], sources

    return await _answer("location", work)


def _one_forecast(
    name: str,
    requested: float,
    start: float | None,
    end: float | None,
    window: float | None,
) -> Forecast:
    try:
        where = location_provider(name)
    except WattwiseError as err:
        raise BadRequest("location", str(err)) from None
    return forecast(where, requested, data_start_s=start, data_end_s=end, window_s=window)


@router.get(
    "/forecasts/current",
    summary="The forecast issued now and its optimal windows (EmissionsForecast[])",
)
async def current_forecast(
    location: LocationQuery = None,
    data_start: Annotated[
        str | None, Query(alias="dataStartAt", description="scope start, ISO 8601")
    ] = None,
    data_end: Annotated[
        str | None, Query(alias="dataEndAt", description="scope end, ISO 8601")
    ] = None,
    window: Annotated[
        str | None,
        Query(alias="windowSize", description="workload length, minutes (default: one step)"),
    ] = None,
) -> Response:
    def work() -> tuple[Any, list[str]]:
        names = _locations(location)
        start = _time(data_start, "dataStartAt")
        end = _time(data_end, "dataEndAt")
        window_s = _minutes(window, "windowSize")
        now = float(int(time.time()))  # whole seconds, as the SDK writes requestedAt
        out = [_one_forecast(n, now, start, end, window_s) for n in names]
        return [_forecast_json(f) for f in out], [
            f"{f.location}: {f.method}; {f.source}" for f in out
        ]

    return await _answer("location", work)


def _batch_item(
    item: Any, index: int
) -> tuple[str, float, float | None, float | None, float | None]:
    if not isinstance(item, dict):
        raise BadRequest(
            f"[{index}]", f"item {index} must be an object with location and requestedAt"
        )
    name = item.get("location")
    if not isinstance(name, str) or not name.strip():
        raise BadRequest(f"[{index}].location", f"item {index}: location is required")
    requested = item.get("requestedAt")
    if not isinstance(requested, str):
        raise BadRequest(f"[{index}].requestedAt", f"item {index}: requestedAt is required")
    when = _time(requested, "requestedAt")
    assert when is not None
    start = item.get("dataStartAt")
    end = item.get("dataEndAt")
    for label, value in (("dataStartAt", start), ("dataEndAt", end)):
        if value is not None and not isinstance(value, str):
            raise BadRequest(f"[{index}].{label}", f"item {index}: {label} must be a time string")
    window = _minutes(item.get("windowSize"), "windowSize")
    return name, when, _time(start, "dataStartAt"), _time(end, "dataEndAt"), window


@router.post(
    "/forecasts/batch",
    summary="Forecasts as they were issued at each requestedAt (EmissionsForecast[])",
    openapi_extra={
        "requestBody": {
            "required": True,
            "content": {
                "application/json": {
                    "schema": {
                        "type": "array",
                        "items": {
                            "type": "object",
                            "required": ["location", "requestedAt"],
                            "properties": {
                                "location": {"type": "string"},
                                "requestedAt": {"type": "string", "format": "date-time"},
                                "dataStartAt": {"type": "string", "format": "date-time"},
                                "dataEndAt": {"type": "string", "format": "date-time"},
                                "windowSize": {"type": "integer", "minimum": 1},
                            },
                        },
                    }
                }
            },
        }
    },
)
async def batch_forecasts(request: Request) -> Response:
    try:
        body = await request.json()
    except ValueError:
        return _problem(BadRequest("body", "the body must be a JSON array of forecast requests"))

    def work() -> tuple[Any, list[str]]:
        if not isinstance(body, list) or not body:
            raise BadRequest("body", "the body must be a non-empty JSON array of forecast requests")
        if len(body) > MAX_BATCH:
            raise BadRequest("body", f"at most {MAX_BATCH} forecast requests per batch")
        items = [_batch_item(item, i) for i, item in enumerate(body)]
        out = [_one_forecast(*item) for item in items]
        sources = [f"{f.location}: {f.method}; {f.source}" for f in out]
        return [_forecast_json(f) for f in out], sources

    return await _answer("body", work)
