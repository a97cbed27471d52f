"""HTTP for live providers: httpx with timeouts and retries, and an on-disk point cache.

Retries cover what may pass (connection errors, timeouts, HTTP 429 and 5xx) with
exponential back-off; a 4xx answer (bad token, unknown zone) fails at once with the
provider's own message. Every failure is a :class:`~wattwise.errors.ProviderError`.

The cache keeps the intensity points each provider returned, per provider and zone,
under ``$WATTWISE_HOME/cache/grid/``, so a later outage can still be answered from
what was seen before.
"""

from __future__ import annotations

import json
import os
import re
import time
from collections.abc import Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import httpx
import numpy as np

from wattwise.errors import ProviderError

DEFAULT_TIMEOUT_S = 10.0
DEFAULT_RETRIES = 3
DEFAULT_BACKOFF_S = 0.5
MAX_CACHED_POINTS = 200_000  # newest kept: about two years of WattTime's 5-minute points


@dataclass(frozen=True)
class HttpSettings:
    """Timeout per request (s), attempts in all, first back-off (s, doubles each try)."""

    timeout_s: float = DEFAULT_TIMEOUT_S
    attempts: int = DEFAULT_RETRIES
    backoff_s: float = DEFAULT_BACKOFF_S


def _error_detail(response: httpx.Response) -> str:
    try:
        body = response.json()
    except ValueError:
        return response.text.strip()[:200]
    if isinstance(body, dict):
        for key in ("message", "error", "detail"):
            if key in body:
                return str(body[key])[:200]
    return str(body)[:200]


def get_json(
    url: str,
    *,
    provider: str,
    params: Mapping[str, str] | None = None,
    headers: Mapping[str, str] | None = None,
    auth: tuple[str, str] | None = None,
    settings: HttpSettings = HttpSettings(),
) -> Any:
    """GET ``url`` and decode JSON, retrying transient failures. Raises ProviderError."""
    last = "no attempt made"
    for attempt in range(max(1, settings.attempts)):
        if attempt:
            time.sleep(settings.backoff_s * 2 ** (attempt - 1))
        try:
            response = httpx.get(
                url,
                params=dict(params or {}),
                headers=dict(headers or {}),
                auth=auth,
                timeout=settings.timeout_s,
            )
        except httpx.TimeoutException:
            last = f"timed out after {settings.timeout_s:g} s"
            continue
        except httpx.HTTPError as err:
            last = f"cannot connect ({type(err).__name__})"
            continue
        if response.status_code in (401, 403):
            raise ProviderError(
                f"{provider}: access refused (HTTP {response.status_code}: "
                f"{_error_detail(response)})",
                hint="check the token or credentials",
            )
        if response.status_code == 429 or response.status_code >= 500:
            last = f"HTTP {response.status_code} ({_error_detail(response)})"
            continue
        if response.status_code >= 400:
            raise ProviderError(
                f"{provider}: request refused (HTTP {response.status_code}: "
                f"{_error_detail(response)})",
                hint="check the zone or region name",
            )
        try:
            return response.json()
        except ValueError:
            raise ProviderError(f"{provider}: answer is not JSON") from None
    raise ProviderError(
        f"{provider}: unavailable after {max(1, settings.attempts)} attempts ({last})"
    )


def cache_dir() -> Path:
    """``$WATTWISE_HOME/cache/grid`` (:func:`wattwise.config.home`)."""
    from wattwise.config import home

    return home() / "cache" / "grid"


def _cache_path(provider: str, zone: str) -> Path:
    safe = re.sub(r"[^A-Za-z0-9_.-]", "_", f"{provider}-{zone}")
    return cache_dir() / f"{safe}.json"


@dataclass(frozen=True)
class CachedPoints:
    """Points seen before. Units: epoch s, gCO₂e/kWh; ``fetched_at_s`` epoch s."""

    times_s: np.ndarray
    values: np.ndarray
    fetched_at_s: float


def save_points(provider: str, zone: str, times_s: np.ndarray, values: np.ndarray) -> None:
    """Merge points into the cache (newer values win). Cache write failures are ignored
    on purpose: the live answer is still good, only the fallback gets older."""
    path = _cache_path(provider, zone)
    old = load_points(provider, zone)
    merged: dict[float, float] = {}
    if old is not None:
        merged.update(zip(old.times_s.tolist(), old.values.tolist(), strict=True))
    merged.update(zip(np.asarray(times_s).tolist(), np.asarray(values).tolist(), strict=True))
    keys = sorted(merged)[-MAX_CACHED_POINTS:]
    payload = {"fetched_at_s": time.time(), "times_s": keys, "values": [merged[k] for k in keys]}
    from wattwise.config import open_private

    try:
        tmp = path.with_suffix(f".{os.getpid()}.tmp")  # one writer per temp file
        # Folders 0700, file 0600, like everything else under the home.
        with os.fdopen(open_private(tmp), "w", encoding="utf-8") as f:
            f.write(json.dumps(payload))
        tmp.replace(path)
    except OSError:
        return


def load_points(provider: str, zone: str) -> CachedPoints | None:
    """Cached points for (provider, zone), or None if there are none or they are unreadable."""
    path = _cache_path(provider, zone)
    try:
        data = json.loads(path.read_text(encoding="utf-8"))
        times = np.asarray(data["times_s"], dtype=np.float64)
        values = np.asarray(data["values"], dtype=np.float64)
        fetched = float(data["fetched_at_s"])
    except (OSError, ValueError, KeyError, TypeError):
        return None
    if times.size == 0 or times.size != values.size:
        return None
    return CachedPoints(times_s=times, values=values, fetched_at_s=fetched)
