"""What the routes read: the store, jobs, telemetry, grid view, reports, the token."""

from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from fastapi import Request

from wattwise.api.auth import ApiSecurity
from wattwise.api.grid_view import GridView
from wattwise.api.jobs import JobBackend
from wattwise.api.telemetry import PowerMonitor, Telemetry
from wattwise.store import RunStore


@dataclass
class AppState:
    store: RunStore
    jobs: JobBackend
    telemetry: Telemetry
    token: str
    home: Path
    grid: GridView | None = None
    monitor: PowerMonitor | None = None
    nodes_info: Any = None  # callable -> list[dict] of cluster nodes, when an engine gives one
    security: ApiSecurity = field(default_factory=ApiSecurity)
    extra: dict[str, Any] = field(default_factory=dict)


def get_state(request: Request) -> AppState:
    state: AppState = request.app.state.wattwise
    return state
