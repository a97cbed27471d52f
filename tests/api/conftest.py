"""Fixtures: an app over a temporary store, a fixed token, a jobs board and the demo's trace."""

from __future__ import annotations

from collections.abc import Iterator
from importlib.resources import files
from pathlib import Path

import pytest
from fastapi import FastAPI
from fastapi.testclient import TestClient

from wattwise.api import create_app
from wattwise.api.clock import Clock
from wattwise.api.grid_view import GridView
from wattwise.api.jobs import JobBoard
from wattwise.api.telemetry import Telemetry
from wattwise.grid import load_intensity
from wattwise.meter import Device, DeviceEnergy, Measurement, PowerSample
from wattwise.store import RunStore

TOKEN = "test-token-123"
LOOPBACK = ("127.0.0.1", 50000)
REMOTE = ("203.0.113.7", 50000)  # TEST-NET-3: never loopback
BASE_URL = "http://localhost:8787"  # a Host the API answers (TestClient's own is refused)
TRACE = Path(str(files("wattwise") / "data" / "carbon_US-CAL-CISO_2022-05_06.csv"))
ORIGIN_S = 1655805600.0  # 2022-06-21 10:00 UTC, inside the trace


def measurement(name: str, start_s: float, energy_j: float, n_samples: int = 3) -> Measurement:
    devices = (
        DeviceEnergy("estimate:cpu", "cpu", "estimate", True, energy_j * 0.8),
        DeviceEnergy("estimate:dram", "dram", "estimate", True, energy_j * 0.2),
    )
    per = energy_j / n_samples
    timeline = tuple(
        PowerSample(t_s=start_s + i + 1, power_w=per, energy_j=per) for i in range(n_samples)
    )
    return Measurement(name, start_s, start_s + n_samples, devices, timeline, co2e_g=0.5)


@pytest.fixture
def store_url(wattwise_home: Path) -> str:
    return f"sqlite:///{wattwise_home / 'api-test.db'}"


@pytest.fixture
def store(store_url: str) -> RunStore:
    return RunStore(store_url)


@pytest.fixture
def telemetry() -> Telemetry:
    t = Telemetry()
    cpu = Device("estimate:cpu", "cpu", "estimate", True)
    t.add("node-a", cpu, 1000.0, 12.5, 12.5)
    t.add("node-a", cpu, 1001.0, 14.0, 14.0)
    return t


@pytest.fixture
def clock() -> Clock:
    return Clock(origin_s=ORIGIN_S, speed=1.0)


@pytest.fixture
def grid(clock: Clock) -> GridView:
    return GridView(clock, "test trace", trace=load_intensity(TRACE))


@pytest.fixture
def board(clock: Clock) -> JobBoard:
    return JobBoard(now_s=clock.now_s)


@pytest.fixture
def app(
    store_url: str, wattwise_home: Path, board: JobBoard, telemetry: Telemetry, grid: GridView
) -> FastAPI:
    return create_app(
        store_url,
        home=wattwise_home,
        jobs=board,
        telemetry=telemetry,
        grid=grid,
        token=TOKEN,
        monitor_power=False,
    )


@pytest.fixture
def client(app: FastAPI) -> Iterator[TestClient]:
    with TestClient(app, client=LOOPBACK, base_url=BASE_URL) as c:
        yield c


@pytest.fixture
def remote(app: FastAPI) -> Iterator[TestClient]:
    with TestClient(app, client=REMOTE, base_url=BASE_URL) as c:
        yield c


AUTH = {"Authorization": f"Bearer {TOKEN}"}
