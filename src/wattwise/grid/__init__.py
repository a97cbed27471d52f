"""Grid signals: how clean is power here and when.

Carbon intensity from trace files, static annual averages and live APIs, forecasts
where a provider gives none, on-site solar (:mod:`wattwise.grid.solar`, imports
pvlib on use) and the cleanest window to run a job (:mod:`wattwise.grid.window`).
Everything here depends only on :mod:`wattwise.units` and :mod:`wattwise.errors`.
"""

from __future__ import annotations

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
