"""Several carbon-intensity providers in priority order: the first that answers serves.

``providers = ["electricitymaps", "watttime:CAISO_NORTH", "trace:grid.csv", "static"]``
in ``config.toml`` (or ``resolve_provider(providers=[...])``) builds a
:class:`ProviderChain`. Each entry is

* a live provider, ``NAME`` or ``NAME:ZONE`` (``electricitymaps``, ``watttime``,
  ``ukci``; see :mod:`wattwise.grid.live`): without a zone it takes the zone asked for
  (``--zone``, else the config's ``zone``; WattTime its balancing area where known,
  ``US-CAL-CISO`` -> ``CAISO_NORTH``). A live link answers with live data or its
  own cache; where it would fall back to the static average it fails instead, so the
  next link answers;
* ``trace:FILE``: a carbon trace, replayed by time of year outside its span. A trace
  is one grid's data: in the config's chain it stands for the config's ``zone`` and is
  left out of the chain for any other zone;
* ``static`` or ``static:ZONE``: the zone's annual average (never fails);
* ``fixed:G_PER_KWH``: a constant.

A link that fails (bad token, outage, no coverage) is skipped with a one-line warning
on the ``wattwise.grid`` logger, and ``describe()`` names the link that served the last
answer and why the ones before it did not.
"""

from __future__ import annotations

import logging
import math
import threading
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from typing import TYPE_CHECKING, TypeVar, cast

from wattwise.errors import ConfigError, ProviderError, WattwiseError

if TYPE_CHECKING:
    from wattwise.grid.provider import IntensityProvider
    from wattwise.units import TimeSeries

log = logging.getLogger("wattwise.grid")
#: A failure already warned about is not warned again for this long (a server builds a
#: chain per request; the log gets one line per failure and quarter of an hour). Units: s.
WARN_AGAIN_S = 900.0
_warned: dict[str, float] = {}
_warned_lock = threading.Lock()
T = TypeVar("T")

_FORMS = "NAME[:ZONE] (electricitymaps, watttime, ukci), trace:FILE, static[:ZONE] or fixed:G"


@dataclass(frozen=True)
class Link:
    """One provider of a chain and the entry that made it."""

    spec: str
    provider: IntensityProvider


@dataclass(frozen=True)
class Answer:
    """Which link served, and why each link before it did not."""

    link: Link
    failures: tuple[str, ...]


class ProviderChain:
    """IntensityProvider over ``links`` in priority order (see the module docstring).

    ``warn`` receives each failure's one-line message (default: a warning on the
    ``wattwise.grid`` logger, once per distinct message every :data:`WARN_AGAIN_S`).
    """

    def __init__(self, links: Sequence[Link], warn: Callable[[str], None] | None = None) -> None:
        if not links:
            raise ConfigError("providers is empty", hint=f"list one or more of {_FORMS}")
        self.links = tuple(links)
        self._warn = warn or self._log_once
        self.answer: Answer | None = None

    @staticmethod
    def _log_once(message: str) -> None:
        import time

        now = time.monotonic()
        with _warned_lock:
            last = _warned.get(message)
            if last is not None and now - last < WARN_AGAIN_S:
                return
            if len(_warned) > 1000:
                _warned.clear()
            _warned[message] = now
        log.warning("%s", message)

    @property
    def order(self) -> str:
        return " > ".join(link.spec for link in self.links)

    @property
    def served_by(self) -> str | None:
        """The entry that served the last answer (``None`` before the first)."""
        return self.answer.link.spec if self.answer is not None else None

    def describe(self) -> str:
        answer = self.answer
        if answer is None:
            return f"provider chain {self.order}: not asked yet"
        label = (
            f"{answer.link.provider.describe()} [served by {answer.link.spec}, chain {self.order}]"
        )
        return f"{label}; {'; '.join(answer.failures)}" if answer.failures else label

    def _first(self, ask: Callable[[IntensityProvider], T]) -> T:
        failures: list[str] = []
        for i, link in enumerate(self.links):
            try:
                value = ask(link.provider)
            except WattwiseError as err:
                failures.append(f"{link.spec} failed: {err}")
                following = self.links[i + 1].spec if i + 1 < len(self.links) else None
                then = f"; trying {following}" if following else ""
                self._warn(f"wattwise: grid provider {link.spec} failed ({err}){then}")
                continue
            self.answer = Answer(link, tuple(failures))
            return value
        raise ProviderError(
            f"every provider in the chain failed: {'; '.join(failures)}",
            hint="add static (the zone's annual average) as the last entry of providers",
        )

    def series(self, start_s: float, end_s: float) -> TimeSeries:
        """Intensity from the first link that covers ``[start_s, end_s]``. Units: gCO₂e/kWh."""
        return self._first(lambda p: p.series(start_s, end_s))

    def now(self) -> tuple[float, float]:
        """(time, intensity) now from the first link that answers. Units: epoch s, gCO₂e/kWh."""
        import time

        from wattwise.grid.live import LiveProvider

        def ask(p: IntensityProvider) -> tuple[float, float]:
            if isinstance(p, LiveProvider):
                return p.now()
            t = time.time()
            return t, float(p.series(t, t + 1.0).values[0])

        return self._first(ask)

    def forecast(self, issue_s: float, horizon_h: int) -> tuple[TimeSeries, str]:
        """:func:`~wattwise.grid.provider.forecast_series` from the first link that answers."""
        from wattwise.grid.provider import forecast_series

        return self._first(lambda p: forecast_series(p, issue_s, horizon_h))


def _link(entry: str, zone: str | None, emission: str) -> Link:
    from wattwise.grid.live import LiveProvider, live_prefixes, live_zone
    from wattwise.grid.provider import (
        FixedProvider,
        StaticProvider,
        TraceProvider,
        zone_provider,
    )
    from wattwise.grid.static import WORLD, static_intensity

    text = entry.strip()
    name, _, rest = text.partition(":")
    name, rest = name.strip().lower(), rest.strip()
    if name in live_prefixes():
        if not rest and not zone and name not in ("ukci", "carbonintensity"):
            raise ConfigError(
                f"providers entry {text!r} needs a zone",
                hint=f"write {name}:ZONE, or set zone in config.toml (or pass --zone)",
            )
        spec = text if rest else f"{name}:{_zone_for(name, zone or '', live_zone)}"
        provider = zone_provider(spec)
        if isinstance(provider, LiveProvider):
            provider = provider.without_static()
        return Link(spec, provider)
    if name == "trace":
        if not rest:
            raise ConfigError(f"providers entry {text!r} names no file", hint="write trace:FILE")
        from wattwise.grid.trace import Emission, load_intensity

        column = cast("Emission", emission)
        trace = load_intensity(rest, emission=column)
        return Link(text, TraceProvider(trace=trace, path=rest, replay=True, emission=column))
    if name == "static":
        where = rest or zone
        if not where:
            return Link("static", StaticProvider(static_intensity(WORLD), note="no zone given"))
        if ":" in where and not _is_cloud(where):
            raise ConfigError(f"providers entry {text!r}: {where!r} is not a static zone")
        return Link(f"static:{where}", zone_provider(where))
    if name == "fixed":
        try:
            value = float(rest)
        except ValueError:
            value = math.nan
        if not math.isfinite(value) or value < 0:
            raise ConfigError(f"providers entry {text!r}: fixed needs a value >= 0 gCO2e/kWh")
        return Link(text, FixedProvider(value))
    raise ConfigError(f"unknown providers entry {text!r}", hint=f"use {_FORMS}")


def _zone_for(name: str, zone: str, live_zone: Callable[[str, str], str]) -> str:
    """The zone a zone-less live entry asks for (a cloud region stays a region)."""
    return zone if _is_cloud(zone) else live_zone(name, zone)


def _is_cloud(spec: str) -> bool:
    from wattwise.grid.regions import is_cloud_spec

    return is_cloud_spec(spec)


def is_plain_zone(zone: str) -> bool:
    """A zone a chain can serve: a static zone or cloud region, not ``PROVIDER:ZONE``."""
    return ":" not in zone or _is_cloud(zone)


def chain_provider(
    entries: Sequence[str],
    zone: str | None = None,
    *,
    emission: str = "lca",
    warn: Callable[[str], None] | None = None,
    trace_zone: str | None = None,
) -> ProviderChain:
    """The chain ``entries`` describe, for ``zone`` where an entry names none.

    ``trace_zone`` is the zone ``trace:`` entries stand for (the config's ``zone``);
    for another ``zone`` they are left out. Raises ConfigError (one line) for an
    unknown or malformed entry.
    """
    if isinstance(entries, str):
        raise ConfigError("providers must be a list of entries, not a string")
    from wattwise.grid.regions import grid_zone

    foreign = (
        trace_zone is not None and zone is not None and grid_zone(zone) != grid_zone(trace_zone)
    )
    kept = [e for e in entries if not (foreign and e.strip().lower().startswith("trace:"))]
    if entries and not kept:
        raise ConfigError(
            f"providers lists only traces, which stand for zone {trace_zone}, not {zone}",
            hint="add a live provider or static to providers",
        )
    return ProviderChain([_link(e, zone, emission) for e in kept], warn=warn)
