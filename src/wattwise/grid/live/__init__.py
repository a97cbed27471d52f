"""Live carbon-intensity providers: Electricity Maps, WattTime, UK Carbon Intensity.

A zone spec ``PROVIDER:ZONE`` selects one, e.g. ``electricitymaps:DE``,
``watttime:CAISO_NORTH``, ``ukci:GB``. To add a provider: write a client with
``fetch(start_s, end_s)`` and ``latest()`` in :mod:`.clients` and list its prefix
in ``_CLIENTS`` below.
"""

from __future__ import annotations

from collections.abc import Callable

from wattwise.errors import ConfigError
from wattwise.grid.live.clients import ElectricityMaps, LiveClient, UKCarbonIntensity, WattTime
from wattwise.grid.live.http import HttpSettings
from wattwise.grid.live.provider import LiveProvider

# WattTime regions are balancing areas, not countries: map the ones we know.
_WATTTIME_STATIC = {
    "CAISO_NORTH": "US-CAL-CISO",
    "CAISO_SOUTH": "US-CAL-CISO",
    "CAISO": "US-CAL-CISO",
}

_CLIENTS: dict[str, Callable[[str, HttpSettings], LiveClient]] = {
    "electricitymaps": lambda zone, s: ElectricityMaps(zone, settings=s),
    "em": lambda zone, s: ElectricityMaps(zone, settings=s),
    "watttime": lambda zone, s: WattTime(zone, settings=s),
    "wt": lambda zone, s: WattTime(zone, settings=s),
    "ukci": lambda zone, s: UKCarbonIntensity(zone or "GB", settings=s),
    "carbonintensity": lambda zone, s: UKCarbonIntensity(zone or "GB", settings=s),
}


def live_zone(prefix: str, zone: str) -> str:
    """The zone to ask ``prefix``'s provider for a grid zone: WattTime names balancing
    areas (``US-CAL-CISO`` -> ``CAISO_NORTH``); the others take the zone as it is."""
    if prefix.strip().lower() in ("watttime", "wt"):
        for region, grid in _WATTTIME_STATIC.items():
            if grid == zone.strip().upper():
                return region
    return zone


def live_prefixes() -> tuple[str, ...]:
    """The provider names a live spec may start with (``electricitymaps``, ``wt``, ...)."""
    return tuple(sorted(_CLIENTS))


def live_provider(spec: str, settings: HttpSettings | None = None) -> LiveProvider:
    """A :class:`LiveProvider` for ``PROVIDER:ZONE``. Raises ConfigError for a bad spec."""
    prefix, _, zone = spec.partition(":")
    make = _CLIENTS.get(prefix.strip().lower())
    if make is None:
        known = ", ".join(sorted(_CLIENTS))
        raise ConfigError(
            f"unknown live provider {prefix!r} in {spec!r}", hint=f"use one of: {known}"
        )
    zone = zone.strip()
    if not zone and prefix.strip().lower() not in ("ukci", "carbonintensity"):
        raise ConfigError(
            f"no zone in {spec!r}", hint="write PROVIDER:ZONE, e.g. electricitymaps:DE"
        )
    client = make(zone, settings or HttpSettings())
    fallback = _WATTTIME_STATIC.get(zone.upper()) if isinstance(client, WattTime) else None
    if isinstance(client, WattTime) and fallback is None:
        fallback = "WORLD"
    return LiveProvider(client, fallback_zone=fallback)


__all__ = [
    "ElectricityMaps",
    "HttpSettings",
    "LiveClient",
    "LiveProvider",
    "UKCarbonIntensity",
    "WattTime",
    "live_prefixes",
    "live_provider",
    "live_zone",
]
