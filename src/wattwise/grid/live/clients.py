"""Clients for three live carbon-intensity APIs, each returning plain points.

* Electricity Maps v3 (``auth-token`` header): average intensity, life-cycle or
  direct; ``/carbon-intensity/past-range`` for the past, ``/forecast`` ahead,
  ``/latest`` now.
* WattTime v3 (``/login`` with HTTP basic auth, then a bearer token): marginal
  operating emissions rate ``co2_moer`` in lbs/MWh, converted to gCO₂/kWh;
  ``/v3/historical`` for the past, ``/v3/forecast`` ahead.
* UK Carbon Intensity API (no key): GB national intensity per half hour,
  ``/intensity/{from}/{to}`` (actual where known, else the API's own forecast).

Each client's ``fetch(start_s, end_s)`` returns sorted ``(times_s, values)`` in
gCO₂e/kWh and raises :class:`~wattwise.errors.ProviderError` on any failure. Base
URLs can be pointed elsewhere (a proxy, or a local fake in tests) with
``WATTWISE_ELECTRICITYMAPS_URL``, ``WATTWISE_WATTTIME_URL``, ``WATTWISE_UKCI_URL``.
"""

from __future__ import annotations

import os
import time
from datetime import UTC, datetime
from typing import Any, Protocol

import numpy as np
import numpy.typing as npt

from wattwise.errors import ProviderError
from wattwise.grid.live.http import HttpSettings, get_json
from wattwise.units import lbs_per_mwh_to_g_per_kwh

Points = tuple[npt.NDArray[np.float64], npt.NDArray[np.float64]]

EM_URL = "https://api.electricitymap.org/v3"
WATTTIME_URL = "https://api.watttime.org"
UKCI_URL = "https://api.carbonintensity.org.uk"


class LiveClient(Protocol):
    key: str  # cache key and spec prefix, e.g. "electricitymaps"
    name: str  # human name, e.g. "Electricity Maps"
    zone: str
    signal: str  # what the number means, e.g. "average, life-cycle"

    def fetch(self, start_s: float, end_s: float) -> Points: ...

    def latest(self) -> tuple[float, float]: ...


def _env(given: str | None, name: str, default: str | None = None) -> str | None:
    return given if given is not None else os.environ.get(name) or default


def _iso(seconds: float, minutes_only: bool = False) -> str:
    stamp = datetime.fromtimestamp(seconds, tz=UTC)
    return stamp.strftime("%Y-%m-%dT%H:%MZ" if minutes_only else "%Y-%m-%dT%H:%M:%SZ")


def _parse_time(text: Any, provider: str) -> float:
    try:
        return datetime.fromisoformat(str(text).replace("Z", "+00:00")).timestamp()
    except ValueError:
        raise ProviderError(f"{provider}: unexpected time {text!r} in the answer") from None


def _number(value: Any, provider: str) -> float:
    if isinstance(value, bool) or not isinstance(value, int | float):
        raise ProviderError(f"{provider}: unexpected intensity {value!r} in the answer")
    if value < 0:
        raise ProviderError(f"{provider}: negative intensity {value!r} in the answer")
    return float(value)


def _points(pairs: list[tuple[float, float]], provider: str) -> Points:
    if not pairs:
        raise ProviderError(f"{provider}: the answer holds no data for the period")
    merged = dict(sorted(pairs))
    times = np.asarray(list(merged), dtype=np.float64)
    return times, np.asarray(list(merged.values()), dtype=np.float64)


def _field(body: Any, key: str, provider: str) -> Any:
    if not isinstance(body, dict) or key not in body:
        raise ProviderError(f"{provider}: unexpected answer (no {key!r} field)")
    return body[key]


class ElectricityMaps:
    """Electricity Maps API v3 for one zone (``DE``, ``US-CAL-CISO`` ...)."""

    key = "electricitymaps"
    name = "Electricity Maps"

    def __init__(
        self,
        zone: str,
        token: str | None = None,
        *,
        emission: str = "lifecycle",
        base_url: str | None = None,
        settings: HttpSettings = HttpSettings(),
    ) -> None:
        self.zone = zone
        self.token = (
            token if token is not None else os.environ.get("WATTWISE_ELECTRICITYMAPS_TOKEN")
        )
        self.emission = emission
        self.signal = f"average, {'life-cycle' if emission == 'lifecycle' else 'direct'}"
        self.base_url = (
            base_url or os.environ.get("WATTWISE_ELECTRICITYMAPS_URL") or EM_URL
        ).rstrip("/")
        self.settings = settings

    def _get(self, path: str, **params: str) -> Any:
        if not self.token:
            raise ProviderError(
                "Electricity Maps: no API token",
                hint="set WATTWISE_ELECTRICITYMAPS_TOKEN",
            )
        return get_json(
            f"{self.base_url}{path}",
            provider=self.name,
            params={"zone": self.zone, "emissionFactorType": self.emission, **params},
            headers={"auth-token": self.token},
            settings=self.settings,
        )

    def _rows(self, rows: Any) -> list[tuple[float, float]]:
        if not isinstance(rows, list):
            raise ProviderError(f"{self.name}: unexpected answer (a list was expected)")
        out = []
        for row in rows:
            value = _field(row, "carbonIntensity", self.name)
            if value is None:  # the API leaves hours it has no data for as null
                continue
            out.append(
                (
                    _parse_time(_field(row, "datetime", self.name), self.name),
                    _number(value, self.name),
                )
            )
        return out

    def fetch(self, start_s: float, end_s: float) -> Points:
        now = time.time()
        pairs: list[tuple[float, float]] = []
        if start_s < now:
            # Hourly rows start on the hour: ask from the hour holding start_s.
            first = start_s - start_s % 3600
            body = self._get(
                "/carbon-intensity/past-range", start=_iso(first), end=_iso(min(end_s, now))
            )
            pairs += self._rows(_field(body, "data", self.name))
        if end_s > now:
            body = self._get("/carbon-intensity/forecast")
            pairs += self._rows(_field(body, "forecast", self.name))
        return _points(pairs, self.name)

    def latest(self) -> tuple[float, float]:
        rows = self._rows([self._get("/carbon-intensity/latest")])
        if not rows:
            raise ProviderError(f"{self.name}: no current value for zone {self.zone}")
        return rows[0]


class WattTime:
    """WattTime API v3 marginal emissions (``co2_moer``) for one region."""

    key = "watttime"
    name = "WattTime"
    signal = "marginal (MOER)"

    def __init__(
        self,
        region: str,
        username: str | None = None,
        password: str | None = None,
        *,
        base_url: str | None = None,
        settings: HttpSettings = HttpSettings(),
    ) -> None:
        self.zone = region
        self.username = (
            username if username is not None else os.environ.get("WATTWISE_WATTTIME_USER")
        )
        self.password = (
            password if password is not None else os.environ.get("WATTWISE_WATTTIME_PASSWORD")
        )
        self.base_url = (
            base_url or os.environ.get("WATTWISE_WATTTIME_URL") or WATTTIME_URL
        ).rstrip("/")
        self.settings = settings
        self._token: str | None = None

    def _login(self) -> str:
        if not (self.username and self.password):
            raise ProviderError(
                "WattTime: no credentials",
                hint="set WATTWISE_WATTTIME_USER and WATTWISE_WATTTIME_PASSWORD",
            )
        body = get_json(
            f"{self.base_url}/login",
            provider=self.name,
            auth=(self.username, self.password),
            settings=self.settings,
        )
        token = _field(body, "token", self.name)
        if not isinstance(token, str) or not token:
            raise ProviderError("WattTime: login gave no token", hint="check the credentials")
        self._token = token
        return token

    def _get(self, path: str, **params: str) -> Any:
        token = self._token or self._login()
        return get_json(
            f"{self.base_url}{path}",
            provider=self.name,
            params={"region": self.zone, "signal_type": "co2_moer", **params},
            headers={"Authorization": f"Bearer {token}"},
            settings=self.settings,
        )

    def _rows(self, body: Any) -> list[tuple[float, float]]:
        meta = _field(body, "meta", self.name)
        units = meta.get("units", "lbs_co2_per_mwh") if isinstance(meta, dict) else None
        if units in ("lbs_co2_per_mwh", "lbs_per_mwh"):
            factor = lbs_per_mwh_to_g_per_kwh(1.0)
        elif units in ("kg_co2_per_mwh", "g_co2_per_kwh"):
            factor = 1.0
        else:
            raise ProviderError(f"WattTime: unknown units {units!r} in the answer")
        rows = _field(body, "data", self.name)
        if not isinstance(rows, list):
            raise ProviderError("WattTime: unexpected answer (data is not a list)")
        return [
            (
                _parse_time(_field(r, "point_time", self.name), self.name),
                _number(_field(r, "value", self.name), self.name) * factor,
            )
            for r in rows
        ]

    def fetch(self, start_s: float, end_s: float) -> Points:
        now = time.time()
        pairs: list[tuple[float, float]] = []
        if start_s < now:
            first = start_s - start_s % 300  # 5-minute points
            body = self._get("/v3/historical", start=_iso(first), end=_iso(min(end_s, now)))
            pairs += self._rows(body)
        if end_s > now:
            hours = int(np.ceil((end_s - now) / 3600)) + 1  # forecasts start on a 5-min mark
            pairs += self._rows(self._get("/v3/forecast", horizon_hours=str(min(hours, 72))))
        return _points(pairs, self.name)

    def latest(self) -> tuple[float, float]:
        now = time.time()
        times, values = self.fetch(now - 3600, now)
        return float(times[-1]), float(values[-1])


class UKCarbonIntensity:
    """The National Energy System Operator's Carbon Intensity API, GB national."""

    key = "ukci"
    name = "UK Carbon Intensity API"
    signal = "average, direct (GB national)"

    def __init__(
        self,
        zone: str = "GB",
        *,
        base_url: str | None = None,
        settings: HttpSettings = HttpSettings(),
    ) -> None:
        if zone.upper() not in ("GB", "UK", "NATIONAL"):
            raise ProviderError(
                f"UK Carbon Intensity API: unknown zone {zone!r}", hint="it serves GB only"
            )
        self.zone = "GB"
        self.base_url = str(_env(base_url, "WATTWISE_UKCI_URL", UKCI_URL)).rstrip("/")
        self.settings = settings

    def _rows(self, body: Any) -> list[tuple[float, float]]:
        rows = _field(body, "data", self.name)
        if not isinstance(rows, list):
            raise ProviderError(f"{self.name}: unexpected answer (data is not a list)")
        out = []
        for row in rows:
            intensity = _field(row, "intensity", self.name)
            value = intensity.get("actual") if isinstance(intensity, dict) else None
            if value is None and isinstance(intensity, dict):
                value = intensity.get("forecast")
            if value is None:
                continue
            out.append(
                (_parse_time(_field(row, "from", self.name), self.name), _number(value, self.name))
            )
        return out

    def fetch(self, start_s: float, end_s: float) -> Points:
        first = start_s - start_s % 1800  # half-hour periods
        path = f"/intensity/{_iso(first, True)}/{_iso(max(end_s, first + 1800), True)}"
        body = get_json(f"{self.base_url}{path}", provider=self.name, settings=self.settings)
        return _points(self._rows(body), self.name)

    def latest(self) -> tuple[float, float]:
        body = get_json(f"{self.base_url}/intensity", provider=self.name, settings=self.settings)
        times, values = _points(self._rows(body), self.name)
        return float(times[-1]), float(values[-1])
