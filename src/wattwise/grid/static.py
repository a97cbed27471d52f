"""Annual-average carbon intensity per country or grid zone, from a shipped table.

The table ``wattwise/data/grid_static.csv`` names the year, the accounting basis and
the source of every row: Ember/Energy Institute 2023 life-cycle figures via Our World
in Data where we have them, the means of the shared Electricity Maps traces (LCA) for
their zones, and OWID's 2021 figures (as shipped by CodeCarbon) for the other large
grids. ``WORLD`` (Ember, 2022) is the fallback when nothing better is known. Zone ids
follow Electricity Maps (ISO 3166 alpha-2 for countries, ``US-CAL-CISO`` style for
sub-national grids). Add a row there to add a zone.
"""

from __future__ import annotations

import csv
from dataclasses import dataclass
from functools import cache
from importlib import resources

from wattwise.errors import ConfigError

WORLD = "WORLD"


@dataclass(frozen=True)
class StaticIntensity:
    """One annual average. Units: g_per_kwh in gCO₂e/kWh (life-cycle)."""

    zone: str
    g_per_kwh: float
    year: int
    source: str
    name: str = ""


@cache
def _table() -> dict[str, StaticIntensity]:
    text = resources.files("wattwise").joinpath("data/grid_static.csv").read_text(encoding="utf-8")
    table: dict[str, StaticIntensity] = {}
    for row in csv.DictReader(text.splitlines()):
        zone = row["zone"].strip().upper()
        table[zone] = StaticIntensity(
            zone=zone,
            g_per_kwh=float(row["g_per_kwh"]),
            year=int(row["year"]),
            source=row["source"].strip(),
            name=row["name"].strip(),
        )
    return table


def list_zones() -> list[StaticIntensity]:
    """Every zone in the shipped table, sorted by zone id."""
    return [v for _, v in sorted(_table().items())]


def static_intensity(zone: str) -> StaticIntensity:
    """Annual average for ``zone`` (case-insensitive). Raises ConfigError if unknown."""
    key = zone.strip().upper()
    try:
        return _table()[key]
    except KeyError:
        raise ConfigError(
            f"no static carbon intensity for zone {zone!r}",
            hint="`wattwise grid zones` lists them; or give a carbon file or a fixed value",
        ) from None
