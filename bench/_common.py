"""Helpers every benchmark shares: machine description and the results file."""

from __future__ import annotations

import json
import os
import platform
import statistics
import sys
from pathlib import Path
from typing import Any

RESULTS = Path(__file__).resolve().parent / "results"


def machine() -> str:
    from wattwise.meter.cpu_model import cpu_model_name

    return (
        f"{platform.machine()}, {os.cpu_count()} logical CPUs ({cpu_model_name()}), "
        f"Python {platform.python_version()}, {platform.system()} {platform.release()}"
    )


def goal(
    name: str, value: float, unit: str, target: float, lower_is_better: bool = True
) -> dict[str, Any]:
    """One goal entry; ``met`` is computed from the measured value, never typed in."""
    met = value < target if lower_is_better else value >= target
    op = "<" if lower_is_better else ">="
    return {
        "name": name,
        "value": value,
        "unit": unit,
        "goal": f"{op} {target:g} {unit}",
        "met": met,
    }


def median(xs: list[float]) -> float:
    return float(statistics.median(xs))


def write(name: str, goals: list[dict[str, Any]], **extra: Any) -> Path:
    RESULTS.mkdir(parents=True, exist_ok=True)
    out = RESULTS / f"{name}.json"
    doc = {
        "command": f".venv/bin/python bench/{name}.py " + " ".join(sys.argv[1:]),
        "machine": machine(),
        "goals": goals,
        **extra,
    }
    out.write_text(json.dumps(doc, indent=2) + "\n")
    return out
