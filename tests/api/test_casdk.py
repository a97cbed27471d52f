"""The Carbon Aware SDK-shaped endpoints against the SDK's documented shapes and bad input."""

from __future__ import annotations

import json
from datetime import datetime
from pathlib import Path
from typing import Any

import numpy as np
import pytest
from fastapi.testclient import TestClient

from tests.api.conftest import AUTH, TRACE
from wattwise.grid import forecast_series, load_intensity, resolve_provider

FIXTURES = Path(__file__).parent / "casdk_fixtures"
H = 3600.0
T0 = "2022-06-21T10:00:00Z"  # inside the shipped California trace
T0_S = 1655805600.0


@pytest.fixture(autouse=True)
def _trace_for_california(wattwise_home: Path) -> None:
    """The user's grid is California, from the shipped trace; other zones static."""
    (wattwise_home / "config.toml").write_text(
        f'zone = "US-CAL-CISO"\nproviders = ["trace:{TRACE}", "static"]\n', encoding="utf-8"
    )


def _fixture(name: str) -> Any:
    return json.loads((FIXTURES / name).read_text(encoding="utf-8"))


def _same_shape(ours: Any, theirs: Any, where: str = "$") -> None:
    """Same keys at every level and the same JSON types (numbers are numbers)."""
    if isinstance(theirs, dict):
        assert isinstance(ours, dict), where
        assert set(ours) == set(theirs), f"{where}: {sorted(ours)} != {sorted(theirs)}"
        for key in theirs:
            _same_shape(ours[key], theirs[key], f"{where}.{key}")
    elif isinstance(theirs, list):
        assert isinstance(ours, list), where
        for item in ours:
            _same_shape(item, theirs[0], f"{where}[]")
    elif isinstance(theirs, bool | str):
        assert type(ours) is type(theirs), where
    else:
        assert isinstance(ours, int | float) and not isinstance(ours, bool), where
    if isinstance(theirs, str) and "T" in theirs and theirs[:4].isdigit():
        datetime.fromisoformat(ours)  # a timestamp answers as one


def test_bylocations_answers_emissions_data(client: TestClient) -> None:
    r = client.get(
        "/emissions/bylocations",
        params={"location": ["westus", "DE"], "time": T0, "toTime": "2022-06-21T13:00:00Z"},
    )
    assert r.status_code == 200, r.text
    body = r.json()
    _same_shape(body, _fixture("emissions_data.json"))
    trace = load_intensity(TRACE)
    west = [p for p in body if p["location"] == "US-CAL-CISO"]
    assert [p["time"] for p in west] == [
        "2022-06-21T10:00:00+00:00",
        "2022-06-21T11:00:00+00:00",
        "2022-06-21T12:00:00+00:00",
    ]
    assert [p["rating"] for p in west] == [trace.at(T0_S + k * H) for k in range(3)]
    assert {p["duration"] for p in west} == {"01:00:00"}
    (de,) = [p for p in body if p["location"] == "DE"]
    assert de["duration"] == "03:00:00"  # a static average holds over the whole period
    assert "trace" in r.headers["x-wattwise-source"] and "static" in r.headers["x-wattwise-source"]


def test_best_is_the_lowest_rating_among_locations(client: TestClient) -> None:
    params = {"location": ["westus", "DE", "FR"], "time": T0, "toTime": "2022-06-21T16:00:00Z"}
    every = client.get("/emissions/bylocations", params=params).json()
    r = client.get("/emissions/bylocations/best", params=params)
    assert r.status_code == 200
    best = r.json()
    _same_shape(best, _fixture("emissions_data.json"))
    lowest = min(p["rating"] for p in every)
    assert best and all(p["rating"] == lowest for p in best)
    assert len(best) == sum(p["rating"] == lowest for p in every)


def test_bylocation_single_and_duration(client: TestClient) -> None:
    r = client.get(
        "/emissions/bylocation", params={"location": "westus", "time": T0, "duration": 120}
    )
    assert r.status_code == 200
    assert [p["time"][11:16] for p in r.json()] == ["10:00", "11:00"]  # 10:00 to 12:00
    now = client.get(
        "/emissions/bylocation", params={"location": "westus", "time": "2022-06-21T10:30:00Z"}
    )
    assert [p["time"][11:16] for p in now.json()] == ["10:00"]  # the point covering it


def test_current_forecast_has_the_sdk_shape(client: TestClient) -> None:
    r = client.get("/emissions/forecasts/current", params={"location": "DE", "windowSize": 30})
    assert r.status_code == 200, r.text
    body = r.json()
    _same_shape(body, _fixture("emissions_forecast.json"))
    (f,) = body
    assert f["location"] == "DE" and f["windowSize"] == 30
    assert "." not in f["requestedAt"]  # whole seconds
    assert all(p["duration"] == 30 and p["location"] == "DE" for p in f["forecastData"])
    # a static average is one step for the whole day: windows still slide by the hour,
    # all equal, so every one is optimal
    assert len(f["forecastData"]) == 24
    assert {p["value"] for p in f["forecastData"]} == {381.0}
    assert f["optimalDataPoints"] == f["forecastData"]


def test_batch_forecasts_are_the_walk_forward_forecast_windowed(client: TestClient) -> None:
    request = _fixture("forecast_batch_request.json")
    r = client.post("/emissions/forecasts/batch", json=request)
    assert r.status_code == 200, r.text
    body = r.json()
    _same_shape(body, _fixture("emissions_forecast.json"))
    first, second = body
    assert (first["location"], first["windowSize"]) == ("westus", 120)
    assert first["requestedAt"] == first["generatedAt"] == "2022-06-21T10:00:00+00:00"
    assert (first["dataStartAt"], first["dataEndAt"]) == (
        "2022-06-21T12:00:00+00:00",
        "2022-06-21T18:00:00+00:00",
    )
    # the 2 h windows from 12:00 stepping an hour, ending by 18:00, on wattwise's forecast
    series, method = forecast_series(resolve_provider(zone="azure:westus"), T0_S, 24)
    assert "walk-forward" in method and "walk-forward" in r.headers["x-wattwise-source"]
    starts = [T0_S + k * H for k in range(2, 7)]
    expected = [series.mean(t, t + 2 * H) for t in starts]
    got = [p["value"] for p in first["forecastData"]]
    assert [p["timestamp"][11:16] for p in first["forecastData"]] == [
        "12:00", "13:00", "14:00", "15:00", "16:00"
    ]  # fmt: skip
    assert np.allclose(got, expected)
    assert [p["value"] for p in first["optimalDataPoints"]] == [min(got)]
    # without scope or window: the whole forecast, one point per hour
    assert second["windowSize"] == 60 and len(second["forecastData"]) == 24


def test_a_start_of_now_begins_at_the_forecasts_first_hour(client: TestClient) -> None:
    """Clients ask dataStartAt=now; the forecaster's first point is the next whole hour."""
    item = {
        "location": "westus",
        "requestedAt": "2022-06-21T10:05:00Z",
        "dataStartAt": "2022-06-21T10:04:59Z",
        "dataEndAt": "2022-06-21T14:00:00Z",
        "windowSize": 60,
    }
    (f,) = client.post("/emissions/forecasts/batch", json=[item]).json()
    assert f["dataStartAt"] == "2022-06-21T11:00:00+00:00"
    assert [p["timestamp"][11:16] for p in f["forecastData"]] == ["11:00", "12:00", "13:00"]
    item["dataStartAt"] = "2022-06-21T09:00:00Z"  # more than a step before: refused
    r = client.post("/emissions/forecasts/batch", json=[item])
    assert r.status_code == 400 and "outside the forecast" in r.json()["detail"]


def test_a_batch_issued_in_the_traces_last_hour_is_answered(client: TestClient) -> None:
    """Regression: requestedAt in the trace's last hour was a 500."""
    item = {"location": "westus", "requestedAt": "2022-06-30T23:30:00Z"}
    r = client.post("/emissions/forecasts/batch", json=[item])
    assert r.status_code == 200, r.text
    assert r.json()[0]["forecastData"][0]["timestamp"] == "2022-07-01T00:00:00+00:00"


def test_window_longer_than_the_scope_gives_no_points(client: TestClient) -> None:
    item = {
        "location": "westus",
        "requestedAt": T0,
        "dataStartAt": "2022-06-21T12:00:00Z",
        "dataEndAt": "2022-06-21T13:00:00Z",
        "windowSize": 180,
    }
    (f,) = client.post("/emissions/forecasts/batch", json=[item]).json()
    assert f["forecastData"] == [] and f["optimalDataPoints"] == []


def _bad(r: Any, field: str, *words: str) -> str:
    assert r.status_code == 400, r.text
    body = r.json()
    assert body["status"] == 400 and field in body["errors"]
    detail = body["detail"]
    assert "\n" not in detail and "Traceback" not in detail
    for word in words:
        assert word in detail, detail
    return str(detail)


def test_unknown_location_lists_close_matches(client: TestClient) -> None:
    r = client.get("/emissions/bylocations", params={"location": "eastuss", "time": T0})
    detail = _bad(r, "location", "unknown location 'eastuss'", "did you mean", "azure:eastus")
    assert detail.count("did you mean") == 1
    r = client.get("/emissions/forecasts/current", params={"location": "aws:eu-central-9"})
    _bad(r, "location", "eu-central-1")
    r = client.post("/emissions/forecasts/batch", json=[{"location": "Germny", "requestedAt": T0}])
    _bad(r, "location", "unknown location 'Germny'")


@pytest.mark.parametrize(
    ("path", "params", "field", "words"),
    [
        ("/emissions/bylocations", {}, "location", ["location is required"]),
        ("/emissions/bylocations", {"location": "DE", "time": "yesterday"}, "time", ["ISO 8601"]),
        ("/emissions/bylocations", {"location": "DE", "toTime": T0}, "time", ["must be defined"]),
        (
            "/emissions/bylocations/best",
            {"location": "DE", "time": T0, "toTime": T0},
            "time",
            ["before toTime"],
        ),
        ("/emissions/bylocations", {"location": "DE", "duration": "-4"}, "duration", ["minutes"]),
        (
            "/emissions/bylocations",
            {"location": "DE", "time": "1990-01-01", "toTime": "2090-01-01"},
            "location",
            ["longer than 366 days"],
        ),
        ("/emissions/forecasts/current", {"location": "DE", "windowSize": "0"}, "windowSize", []),
        ("/emissions/forecasts/current", {"location": "DE", "windowSize": "-30"}, "windowSize", []),
        ("/emissions/forecasts/current", {"location": "DE", "windowSize": "ten"}, "windowSize", []),
        (
            "/emissions/forecasts/current",
            {"location": "DE", "dataStartAt": "2022-13-01T00:00:00Z"},
            "dataStartAt",
            ["cannot read time"],
        ),
        (
            "/emissions/forecasts/current",
            {"location": "DE", "dataStartAt": "2001-01-01T00:00:00Z"},
            "location",
            ["outside the forecast"],
        ),
    ],
)
def test_bad_query_is_a_one_line_400(
    client: TestClient, path: str, params: dict[str, str], field: str, words: list[str]
) -> None:
    _bad(client.get(path, params=params), field, *words)


@pytest.mark.parametrize(
    ("body", "words"),
    [
        ({"location": "DE"}, ["non-empty JSON array"]),
        ([], ["non-empty JSON array"]),
        (["DE"], ["must be an object"]),
        ([{"location": "DE"}], ["requestedAt is required"]),
        ([{"requestedAt": T0}], ["location is required"]),
        ([{"location": "westus", "requestedAt": T0, "windowSize": 0}], ["windowSize"]),
        (
            [{"location": "westus", "requestedAt": T0, "dataStartAt": "2022-06-21T15:00:00Z",
              "dataEndAt": "2022-06-21T12:00:00Z"}],
            ["dataStartAt must be before dataEndAt"],
        ),
    ],
)  # fmt: skip
def test_bad_batch_is_a_one_line_400(client: TestClient, body: Any, words: list[str]) -> None:
    r = client.post("/emissions/forecasts/batch", json=body)
    assert r.status_code == 400, r.text
    detail = r.json()["detail"]
    assert "\n" not in detail and all(w in detail for w in words), detail


def test_batch_body_that_is_not_json(client: TestClient) -> None:
    r = client.post(
        "/emissions/forecasts/batch",
        content=b"{not json",
        headers={"content-type": "application/json"},
    )
    assert r.status_code == 400 and "JSON array" in r.json()["detail"]


def test_reads_follow_the_api_read_rule(client: TestClient, remote: TestClient) -> None:
    params = {"location": "DE"}
    assert client.get("/emissions/bylocations", params=params).status_code == 200
    assert remote.get("/emissions/bylocations", params=params).status_code == 401
    assert remote.get("/emissions/bylocations", params=params, headers=AUTH).status_code == 200
    batch = [{"location": "DE", "requestedAt": T0}]
    # the batch is a read sent as POST: loopback needs no token, elsewhere it does
    assert client.post("/emissions/forecasts/batch", json=batch).status_code == 200
    assert remote.post("/emissions/forecasts/batch", json=batch).status_code == 401
    assert remote.post("/emissions/forecasts/batch", json=batch, headers=AUTH).status_code == 200


def test_the_endpoints_are_in_the_openapi_document(client: TestClient) -> None:
    paths = client.get("/openapi.json").json()["paths"]
    assert {
        "/emissions/bylocations",
        "/emissions/bylocations/best",
        "/emissions/forecasts/current",
        "/emissions/forecasts/batch",
    } <= set(paths)
    names = {p["name"] for p in paths["/emissions/forecasts/current"]["get"]["parameters"]}
    assert names == {"location", "dataStartAt", "dataEndAt", "windowSize"}
