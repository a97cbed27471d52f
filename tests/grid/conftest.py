"""Shared fixtures for grid tests: the real traces in ../shared/data."""

from __future__ import annotations

from pathlib import Path

import pytest

from tests.conftest import shared_data_dir, shared_file

CARBON = shared_data_dir() / "carbon"
SOLAR = shared_data_dir() / "solar" / "solar_example.csv"
GRIDS = (
    "US-CAL-CISO_2022",
    "ES_2022",
    "NO_2022",
    "DE-LU_2023",
    "GB_2023",
    "IN-WE_2023",
)


def carbon_file(name: str, whole_module: bool = False) -> Path:
    return shared_file("carbon", f"{name}_hourly.csv", whole_module=whole_module)


@pytest.fixture
def write_csv(tmp_path: Path):  # type: ignore[no-untyped-def]
    """Write text to a CSV in tmp_path and return its path."""

    def _write(text: str, name: str = "trace.csv") -> Path:
        p = tmp_path / name
        p.write_text(text, encoding="utf-8")
        return p

    return _write
