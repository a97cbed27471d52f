"""Everyday equivalents of a mass of CO₂e, from the sourced table ``data/equivalents.csv``."""

from __future__ import annotations

import csv
from dataclasses import dataclass
from functools import lru_cache
from importlib import resources

SOURCES = "wattwise/data/equivalents.SOURCE.md"


@dataclass(frozen=True)
class Equivalent:
    """``amount`` of ``unit`` emits as much as the report's total. Units: g per unit."""

    name: str
    unit: str
    g_co2e_per_unit: float
    source_id: str
    amount: float = 0.0


@lru_cache(maxsize=1)
def factors() -> tuple[Equivalent, ...]:
    text = resources.files("wattwise").joinpath("data/equivalents.csv").read_text("utf-8")
    rows = csv.DictReader(line for line in text.splitlines() if not line.startswith("#"))
    return tuple(
        Equivalent(r["name"], r["unit"], float(r["g_co2e_per_unit"]), r["source_id"]) for r in rows
    )


def equivalents(total_co2e_g: float | None) -> list[Equivalent]:
    """What ``total_co2e_g`` grams of CO₂e amount to; empty when the total is unknown."""
    if total_co2e_g is None:
        return []
    return [
        Equivalent(f.name, f.unit, f.g_co2e_per_unit, f.source_id, total_co2e_g / f.g_co2e_per_unit)
        for f in factors()
    ]
