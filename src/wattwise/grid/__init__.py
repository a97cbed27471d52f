"""Grid signals: how clean is power here and when.

Carbon intensity from trace files, static annual averages and live APIs, forecasts
where a provider gives none, on-site solar (:mod:`wattwise.grid.solar`, imports
pvlib on use) and the cleanest window to run a job (:mod:`wattwise.grid.window`).
Everything here depends only on :mod:`wattwise.units` and :mod:`wattwise.errors`.
"""

from __future__ import annotations

from importlib import import_module
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from wattwise.grid.forecast import (
        mape_percent,
        persistence_forecasts,
        seasonal_naive_forecasts,
        walk_forward_forecasts,
    )
    from wattwise.grid.provider import (
        FixedProvider,
        IntensityProvider,
        StaticProvider,
        TraceProvider,
        forecast_series,
        resolve_provider,
    )
    from wattwise.grid.static import StaticIntensity, list_zones, static_intensity
    from wattwise.grid.trace import INTENSITY_UNIT, load_intensity
    from wattwise.grid.window import SlotPlan, Window, best_window, cleanest_slots, window_mean

# Names load on first use: `wattwise measure` with a zone or a fixed intensity needs the
# static table only, and must not pay for NumPy, pvlib or the forecaster at start-up.
_LAZY = {
    "FixedProvider": "provider",
    "INTENSITY_UNIT": "trace",
    "IntensityProvider": "provider",
    "SlotPlan": "window",
    "StaticIntensity": "static",
    "StaticProvider": "provider",
    "TraceProvider": "provider",
    "Window": "window",
    "best_window": "window",
    "cleanest_slots": "window",
    "forecast_series": "provider",
    "list_zones": "static",
    "load_intensity": "trace",
    "mape_percent": "forecast",
    "persistence_forecasts": "forecast",
    "resolve_provider": "provider",
    "seasonal_naive_forecasts": "forecast",
    "static_intensity": "static",
    "walk_forward_forecasts": "forecast",
    "window_mean": "window",
}


def __getattr__(name: str) -> Any:
    module = _LAZY.get(name)
    if module is None:
        raise AttributeError(f"module 'wattwise.grid' has no attribute {name!r}")
    return getattr(import_module(f"wattwise.grid.{module}"), name)


__all__ = [
    "INTENSITY_UNIT",
    "FixedProvider",
    "IntensityProvider",
    "SlotPlan",
    "StaticIntensity",
    "StaticProvider",
    "TraceProvider",
    "Window",
    "best_window",
    "cleanest_slots",
    "forecast_series",
    "list_zones",
    "load_intensity",
    "mape_percent",
    "persistence_forecasts",
    "resolve_provider",
    "seasonal_naive_forecasts",
    "static_intensity",
    "walk_forward_forecasts",
    "window_mean",
]
