"""Cloud regions as grid zones: ``aws:eu-central-1`` -> ``DE``, ``gcp:europe-west4`` -> ``NL``.

The table ``wattwise/data/cloud_regions.csv`` (sources in ``cloud_regions.SOURCE.md``)
gives each region of AWS, Google Cloud and Azure the location its provider states
and the Electricity Maps zone of that location. :func:`cloud_provider` is what
:func:`wattwise.grid.provider.resolve_provider` asks first, so a region is accepted
wherever a zone is: ``aws:us-east-1`` alone is the zone's static average (the
country's where the zone has no row), ``electricitymaps:aws:us-east-1`` is the live
provider asked for the zone itself. Add a region: one row in the table.
"""

from __future__ import annotations

import csv
import difflib
from dataclasses import dataclass
from functools import cache
from importlib import resources
from typing import TYPE_CHECKING

from wattwise.errors import ConfigError

if TYPE_CHECKING:
    from wattwise.grid.provider import IntensityProvider

CLOUDS = ("aws", "gcp", "azure")


@dataclass(frozen=True)
class CloudRegion:
    """One cloud region and the grid zone of its location."""

    provider: str
    region: str
    location: str
    zone: str
    source: str

    @property
    def spec(self) -> str:
        """How a user writes it: ``aws:eu-central-1``."""
        return f"{self.provider}:{self.region}"


@cache
def _table() -> dict[str, CloudRegion]:
    text = (
        resources.files("wattwise").joinpath("data/cloud_regions.csv").read_text(encoding="utf-8")
    )
    table: dict[str, CloudRegion] = {}
    for row in csv.DictReader(text.splitlines()):
        region = CloudRegion(
            provider=row["provider"].strip().lower(),
            region=row["region"].strip().lower(),
            location=row["location"].strip(),
            zone=row["zone"].strip().upper(),
            source=row["source"].strip(),
        )
        table[region.spec] = region
    return table


def list_regions() -> list[CloudRegion]:
    """Every region in the shipped table, sorted by ``provider:region``."""
    return [v for _, v in sorted(_table().items())]


def is_cloud_spec(spec: str) -> bool:
    """Does ``spec`` name a cloud region (``aws:...``, ``gcp:...``, ``azure:...``)?"""
    prefix, sep, _ = spec.strip().partition(":")
    return bool(sep) and prefix.strip().lower() in CLOUDS


def cloud_region(spec: str) -> CloudRegion:
    """The region ``spec`` names (case-insensitive). Unknown: ConfigError with close matches."""
    prefix, _, name = spec.strip().partition(":")
    key = f"{prefix.strip().lower()}:{name.strip().lower()}"
    table = _table()
    found = table.get(key)
    if found is not None:
        return found
    close = difflib.get_close_matches(key, list(table), n=3, cutoff=0.6)
    hint = (
        f"did you mean {', '.join(close)}?"
        if close
        else f"known {prefix.strip().lower()} regions are listed in wattwise/data/cloud_regions.csv"
    )
    raise ConfigError(f"unknown cloud region {spec.strip()!r}", hint=hint)


def grid_zone(spec: str) -> str:
    """The grid zone ``spec`` stands for: a cloud region's zone, else ``spec`` itself.

    ``electricitymaps:aws:us-east-1`` gives ``US-MIDA-PJM`` too (the part after a live
    provider's prefix is read the same way).
    """
    text = spec.strip()
    if is_cloud_spec(text):
        return cloud_region(text).zone
    _, sep, rest = text.partition(":")
    if sep and is_cloud_spec(rest):
        return cloud_region(rest).zone
    return rest.strip() if sep else text.upper()


def cloud_provider(spec: str) -> IntensityProvider | None:
    """The provider for a zone spec that names a cloud region; ``None`` for any other spec."""
    text = spec.strip()
    prefix, sep, rest = text.partition(":")
    if is_cloud_spec(text):
        return _static(cloud_region(text))
    if sep and is_cloud_spec(rest):
        from wattwise.grid.live import live_provider

        region = cloud_region(rest)
        return live_provider(f"{prefix.strip()}:{region.zone}")
    return None


def _static(region: CloudRegion) -> IntensityProvider:
    from wattwise.grid.provider import StaticProvider
    from wattwise.grid.static import static_intensity

    where = f"{region.spec} ({region.location}) is in grid zone {region.zone}"
    try:
        return StaticProvider(static_intensity(region.zone), note=where)
    except ConfigError:  # a sub-national zone with no row: its country's, said so
        from wattwise.grid.live.provider import static_fallback

        entry = static_fallback(region.zone)
        return StaticProvider(entry, note=f"{where}, which has no static row: {entry.zone} used")
