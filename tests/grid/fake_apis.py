"""A local stand-in for Electricity Maps v3, WattTime v3 and the UK Carbon Intensity API.

Serves their documented response shapes on 127.0.0.1 from a real trace (values by
hour of year), and can be switched to refuse tokens, reject zones, fail (HTTP 503)
or stall, so every path of the live providers is tested without a real host.
"""

from __future__ import annotations

import base64
import json
import threading
import time
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any
from urllib.parse import parse_qs, urlparse

import numpy as np

EM_TOKEN = "em-good-token"
WT_USER, WT_PASSWORD, WT_TOKEN = "alice", "s3cret", "wt-jwt-token"
LBS_PER_MWH_PER_G_PER_KWH = 1000.0 / 453.59237


def _parse(text: str) -> datetime:
    return datetime.fromisoformat(text.replace("Z", "+00:00"))


def _fmt(t: datetime, minutes_only: bool = False) -> str:
    return t.strftime("%Y-%m-%dT%H:%MZ" if minutes_only else "%Y-%m-%dT%H:%M:%S.000Z")


@dataclass
class FakeState:
    """What the fake does. ``mode``: ok | outage | slow. ``values``: hourly gCO₂/kWh."""

    values: np.ndarray
    mode: str = "ok"
    zones: tuple[str, ...] = ("DE", "GB", "CAISO_NORTH")
    requests: list[str] = field(default_factory=list)
    delay_s: float = 1.0

    def value_at(self, t: datetime) -> float:
        hour = int(t.timestamp() // 3600)
        return float(self.values[hour % self.values.size])


def _handler(state: FakeState) -> type[BaseHTTPRequestHandler]:
    class Handler(BaseHTTPRequestHandler):
        def log_message(self, *args: Any) -> None:  # keep pytest output clean
            return

        def _send(self, code: int, body: Any) -> None:
            data = json.dumps(body).encode()
            self.send_response(code)
            self.send_header("Content-Type", "application/json")
            self.send_header("Content-Length", str(len(data)))
            self.end_headers()
            self.wfile.write(data)

        def do_GET(self) -> None:
            url = urlparse(self.path)
            q = {k: v[0] for k, v in parse_qs(url.query).items()}
            state.requests.append(url.path)
            if state.mode == "outage":
                return self._send(503, {"message": "Service Unavailable"})
            if state.mode == "slow":
                time.sleep(state.delay_s)
            parts = url.path.strip("/").split("/")
            if parts[0] == "em":
                return self._em(parts[1:], q)
            if parts[0] == "wt":
                return self._wt(parts[1:], q)
            if parts[0] == "uk":
                return self._uk(parts[1:])
            return self._send(404, {"message": "no such path"})

        # Electricity Maps v3 -------------------------------------------------
        def _em_row(self, t: datetime) -> dict[str, Any]:
            return {
                "zone": "DE",
                "carbonIntensity": round(state.value_at(t)),
                "datetime": _fmt(t),
                "updatedAt": _fmt(t),
                "createdAt": _fmt(t),
                "emissionFactorType": "lifecycle",
                "isEstimated": False,
                "estimationMethod": None,
            }

        def _em(self, parts: list[str], q: dict[str, str]) -> None:
            if self.headers.get("auth-token") != EM_TOKEN:
                return self._send(401, {"status": "error", "message": "Invalid auth-token"})
            zone = q.get("zone", "")
            if zone not in state.zones:
                return self._send(
                    404, {"status": "error", "message": f"Zone '{zone}' does not exist."}
                )
            now = datetime.now(tz=UTC).replace(minute=0, second=0, microsecond=0)
            what = parts[-1]
            if what == "latest":
                return self._send(200, self._em_row(now))
            if what == "past-range":
                t, end = _parse(q["start"]), _parse(q["end"])
                rows = []
                while t <= end:
                    rows.append(self._em_row(t))
                    t += timedelta(hours=1)
                return self._send(200, {"zone": zone, "data": rows})
            if what == "forecast":
                rows = [self._em_row(now + timedelta(hours=h)) for h in range(24)]
                return self._send(200, {"zone": zone, "forecast": rows, "updatedAt": _fmt(now)})
            return self._send(404, {"status": "error", "message": "unknown endpoint"})

        # WattTime v3 ---------------------------------------------------------
        def _wt(self, parts: list[str], q: dict[str, str]) -> None:
            if parts == ["login"]:
                expected = base64.b64encode(f"{WT_USER}:{WT_PASSWORD}".encode()).decode()
                if self.headers.get("Authorization") != f"Basic {expected}":
                    return self._send(403, {"error": "Unauthorized"})
                return self._send(200, {"token": WT_TOKEN})
            if self.headers.get("Authorization") != f"Bearer {WT_TOKEN}":
                return self._send(401, {"error": "Invalid token"})
            region = q.get("region", "")
            if region not in state.zones:
                return self._send(400, {"error": "Invalid region", "message": f"{region} unknown"})
            meta = {
                "region": region,
                "signal_type": q.get("signal_type"),
                "units": "lbs_co2_per_mwh",
                "data_point_period_seconds": 300,
                "warnings": [],
                "model": {"date": "2023-03-01"},
            }
            if parts == ["v3", "historical"]:
                t, end = _parse(q["start"]), _parse(q["end"])
                data = []
                while t <= end:
                    lbs = state.value_at(t) * LBS_PER_MWH_PER_G_PER_KWH
                    data.append({"point_time": t.isoformat(), "value": round(lbs, 3)})
                    t += timedelta(minutes=5)
                return self._send(200, {"data": data, "meta": meta})
            if parts == ["v3", "forecast"]:
                now = datetime.now(tz=UTC).replace(second=0, microsecond=0)
                now -= timedelta(minutes=now.minute % 5)
                hours = int(q.get("horizon_hours", "24"))
                data = [
                    {
                        "point_time": (now + timedelta(minutes=5 * k)).isoformat(),
                        "value": round(
                            state.value_at(now + timedelta(minutes=5 * k))
                            * LBS_PER_MWH_PER_G_PER_KWH,
                            3,
                        ),
                    }
                    for k in range(hours * 12)
                ]
                return self._send(200, {"data": data, "meta": meta | {"generated_at": _fmt(now)}})
            return self._send(404, {"error": "unknown endpoint"})

        # UK Carbon Intensity API --------------------------------------------
        def _uk_row(self, t: datetime) -> dict[str, Any]:
            now = datetime.now(tz=UTC)
            value = round(state.value_at(t))
            actual = value if t + timedelta(minutes=30) <= now else None
            return {
                "from": _fmt(t, True),
                "to": _fmt(t + timedelta(minutes=30), True),
                "intensity": {"forecast": value + 7, "actual": actual, "index": "moderate"},
            }

        def _uk(self, parts: list[str]) -> None:
            if parts == ["intensity"]:
                now = datetime.now(tz=UTC).replace(second=0, microsecond=0)
                now -= timedelta(minutes=now.minute % 30)
                return self._send(200, {"data": [self._uk_row(now)]})
            if len(parts) == 3 and parts[0] == "intensity":
                t, end = _parse(parts[1]), _parse(parts[2])
                rows = []
                while t < end:
                    rows.append(self._uk_row(t))
                    t += timedelta(minutes=30)
                return self._send(200, {"data": rows})
            return self._send(
                400, {"error": {"code": "400 Bad Request", "message": "Invalid path"}}
            )

    return Handler


class FakeAPIs:
    """Context manager: the fake on a free loopback port; ``url(prefix)`` gives base URLs."""

    def __init__(self, values: np.ndarray) -> None:
        self.state = FakeState(values=values)
        self.server = ThreadingHTTPServer(("127.0.0.1", 0), _handler(self.state))
        self.thread = threading.Thread(
            target=self.server.serve_forever, kwargs={"poll_interval": 0.05}, daemon=True
        )

    def __enter__(self) -> FakeAPIs:
        self.thread.start()
        return self

    def __exit__(self, *exc: object) -> None:
        self.server.shutdown()
        self.server.server_close()

    def url(self, prefix: str) -> str:
        host, port = self.server.server_address[:2]
        return f"http://{host!s}:{port}/{prefix}"
