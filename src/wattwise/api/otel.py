"""The ``/metrics`` series as OpenTelemetry metrics, for an OTLP (or other) pipeline.

``instrument(state, meter_provider)`` registers one observable instrument per series
family that ``/metrics`` exports (:mod:`wattwise.api.metrics`): Prometheus counters
become observable counters, gauges observable gauges, with the same name (without
``_total``), description, unit and labels as attributes. Each export reads the
same collector once (answers are shared for ``max_age_s``), so both views agree.
Needs ``opentelemetry-sdk`` (or any OpenTelemetry API implementation); the exporter
(OTLP, console, ...) is the caller's ``MeterProvider``'s.
"""

from __future__ import annotations

import threading
import time
from collections.abc import Callable, Iterable
from typing import TYPE_CHECKING, Any

from wattwise.errors import ConfigError

if TYPE_CHECKING:
    from prometheus_client.core import Metric

    from wattwise.api.state import AppState

_UNITS = {"joules": "J", "watts": "W", "grams": "g", "g_per_kwh": "g/kWh"}


def _unit(name: str) -> str:
    for suffix, unit in _UNITS.items():
        if name.endswith(suffix):
            return unit
    return "1"


class _Snapshot:
    """The collector's families, read at most once per ``max_age_s``."""

    def __init__(self, collect: Callable[[], Iterable[Metric]], max_age_s: float) -> None:
        self.collect, self.max_age_s = collect, max_age_s
        self._lock = threading.Lock()
        self._at = -float("inf")
        self._families: dict[str, Metric] = {}

    def families(self) -> dict[str, Metric]:
        with self._lock:
            now = time.monotonic()
            if now - self._at > self.max_age_s:
                self._families = {f.name: f for f in self.collect()}
                self._at = now
            return self._families


def instrument(state: AppState, meter_provider: Any = None, *, max_age_s: float = 1.0) -> list[str]:
    """Register the API's series on ``meter_provider`` (default: the global one).

    Returns the instrument names. Raises ConfigError when OpenTelemetry is missing.
    """
    try:
        from opentelemetry import metrics
        from opentelemetry.metrics import CallbackOptions, Observation
    except ImportError:
        raise ConfigError(
            "OpenTelemetry is not installed", hint="pip install opentelemetry-sdk"
        ) from None
    from wattwise.api.metrics import collector

    source = collector(state)
    snapshot = _Snapshot(source.collect, max_age_s)
    meter = (meter_provider or metrics.get_meter_provider()).get_meter("wattwise")
    names: list[str] = []
    for family in source.collect():

        def observe(_: CallbackOptions, name: str = family.name) -> Iterable[Observation]:
            found = snapshot.families().get(name)
            if found is None:
                return []
            return [
                Observation(s.value, dict(s.labels))
                for s in found.samples
                if not s.name.endswith("_created")
            ]

        make = (
            meter.create_observable_counter
            if family.type == "counter"
            else meter.create_observable_gauge
        )
        make(
            family.name,
            callbacks=[observe],
            unit=_unit(family.name),
            description=family.documentation,
        )
        names.append(family.name)
    return names
