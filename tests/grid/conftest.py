"""Shared fixtures for grid tests: the real traces in ../shared/data."""

from __future__ import annotations

import os
from pathlib import Path

import pytest

REPO = Path(__file__).resolve().parents[2]


def shared_data() -> Path:
    override = os.environ.get("WATTWISE_SHARED_DATA")
    return Path(override) if override else REPO / ".." / "shared" / "data"


CARBON = shared_data() / "carbon"
SOLAR = shared_data() / "solar" / "solar_example.csv"
GRIDS = (
    "US-CAL-CISO_2022",
    "ES_2022",
    "NO_2022",
    "DE-LU_2023",
    "GB_2023",
    "IN-WE_2023",
)


def carbon_file(name: str) -> Path:
    path = CARBON / f"{name}_hourly.csv"
    if not path.exists():
        pytest.skip(f"shared data missing: {path}", allow_module_level=True)
    return path


@pytest.fixture
def write_csv(tmp_path: Path):  # type: ignore[no-untyped-def]
    """Write text to a CSV in tmp_path and return its path."""

    def _write(text: str, name: str = "trace.csv") -> Path:
        p = tmp_path / name
        p.write_text(text, encoding="utf-8")
        return p

    return _write
