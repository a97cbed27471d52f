"""The week-long job trace (pai_1k) started on the first of every month, unlimited capacity.

Run: ``.venv/bin/python bench/schedule_weeks.py`` (writes bench/results/schedule_weeks.json).

``bench/schedule.py`` runs pai_1k once per grid, from the first hour of the carbon year,
where the forecaster has no past and falls back to seasonal-naive. A scheduler
deployed on a grid has the grid's history, and one week is a small sample of a year.
Here the same trace starts at 00:00 UTC on the first of each month, on each of the six
grids (72 week-long runs). In January the forecaster has no past, as in
``bench/schedule.py``; from February on it sees the 28 days before the start. Every
policy sees forecasts only; the oracle knows the future. Carbon saved is relative to
FIFO in the same run.
"""

from __future__ import annotations

import datetime as dt
import json
import sys
import time
from pathlib import Path
from typing import Any

import numpy as np

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT / "bench"))

from _common import RESULTS, machine  # noqa: E402
from schedule import DATA, FLAT, GRIDS, SLACK_H, TRACES  # noqa: E402
from wattwise.schedule.policies import BASELINES, make_policy  # noqa: E402
from wattwise.schedule.scenario import (  # noqa: E402
    HISTORY_H,
    build_scenario,
    load_carbon,
    oracle_metrics,
)
from wattwise.schedule.simulator import simulate  # noqa: E402
from wattwise.schedule.traces import read_job_trace  # noqa: E402

TRACE = "pai_1k.csv"
SHIFTING = [b for b in BASELINES if b not in ("fifo", "efficiency")]  # the others save 0


def month_starts(start_s: float, n_hours: int) -> list[tuple[str, int]]:
    """(label, hour index) of 00:00 UTC on the first of each month inside the data."""
    first = dt.datetime.fromtimestamp(start_s, dt.UTC)
    out = []
    for month in range(1, 13):
        at = dt.datetime(first.year, month, 1, tzinfo=dt.UTC)
        h = round((at - first).total_seconds() / 3600)
        if 0 <= h < n_hours - 24 * 10:
            out.append((at.strftime("%b"), h))
    return out


def run_one(jobs: Any, carbon: dict[str, Any], start_h: int) -> dict[str, Any]:
    scn = build_scenario(jobs, carbon, None, wrap=True, start_h=start_h)
    kg = {}
    for name in ("fifo", *SHIFTING, "wattwise"):
        kg[name] = simulate(scn.jobs, scn.cluster, scn.signals, make_policy(name)).metrics.co2e_kg
    oracle = oracle_metrics(scn).co2e_kg
    saved = {k: 100.0 * (1.0 - v / kg["fifo"]) for k, v in kg.items()}
    best = max(SHIFTING, key=lambda k: saved[k])
    return {
        "saved_pct": saved,
        "best_baseline": best,
        "margin_pp": saved["wattwise"] - saved[best],
        "oracle_saved_pct": 100.0 * (1.0 - oracle / kg["fifo"]),
        "gap_to_oracle_pct": 100.0 * (kg["wattwise"] / oracle - 1.0),
    }


def summary(runs: list[dict[str, Any]]) -> dict[str, Any]:
    m = np.array([r["margin_pp"] for r in runs])
    gap = np.array([r["gap_to_oracle_pct"] for r in runs])
    return {
        "runs": len(runs),
        "wattwise_worse_than_best_baseline": int(np.sum(m < -1e-9)),
        "worst_margin_pp": float(m.min()),
        "median_margin_pp": float(np.median(m)),
        "mean_margin_pp": float(m.mean()),
        "median_gap_to_oracle_pct": float(np.median(gap)),
        "worst_gap_to_oracle_pct": float(gap.max()),
    }


def main() -> None:
    t0 = time.perf_counter()
    _, unit, _ = next(t for t in TRACES if t[0] == TRACE)
    jobs = read_job_trace(DATA / "jobs" / TRACE, time_unit=unit, slack_h=SLACK_H)
    results: list[dict[str, Any]] = []
    for grid in GRIDS:
        carbon = load_carbon([DATA / "carbon" / grid])
        zone = next(iter(carbon))
        row = []
        for label, start_h in month_starts(carbon[zone].start_s, len(carbon[zone])):
            r = run_one(jobs, carbon, start_h)
            r.update(zone=zone, month=label, start_h=start_h, history_h=min(start_h, HISTORY_H))
            results.append(r)
            row.append(f"{label} {r['margin_pp']:+5.1f}")
        print(f"{zone:12s} margin vs best baseline, pp: " + "  ".join(row), flush=True)
    cold = [r for r in results if r["history_h"] == 0]
    warm = [r for r in results if r["history_h"] > 0]
    variable = [r for r in warm if r["zone"] not in FLAT]
    doc = {
        "machine": machine(),
        "trace": TRACE,
        "slack_h": SLACK_H,
        "history_h": HISTORY_H,
        "runs": results,
        "summary": {
            "no_history (January)": summary(cold),
            "with_history (February-December)": summary(warm),
            "with_history, variable grids": summary(variable),
        },
        "seconds": time.perf_counter() - t0,
    }
    RESULTS.mkdir(exist_ok=True)
    (RESULTS / "schedule_weeks.json").write_text(json.dumps(doc, indent=2) + "\n")
    for name, s in doc["summary"].items():
        print(name, json.dumps(s))


if __name__ == "__main__":
    main()
