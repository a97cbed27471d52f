"""Carbon-aware GPU power limits on the Zeus NSDI'23 traces, against the six shared grids.

For every GPU (A40, V100, RTX6000) and every one of the paper's six workloads at its
default batch size, a job trains to its target (the traces' mean epochs) starting at
52 instants spread over each grid's year, with a deadline ``--slack`` times its
default-limit runtime. Three rules set the limit:

- ``default``: the card's highest limit throughout;
- ``zeus``: Zeus's energy-time choice at ``--eta``, made once, blind to the grid;
- ``wattwise``: the carbon-aware choice at the same η, made again every hour
  (``wattwise.optimize.gpu.carbon_power``), within the deadline.

Each hour's energy is the trace profile's average power × time, its carbon that energy
× the grid's mean intensity over the hour. ``Ī`` is the trace itself from now to the
deadline (a perfect forecast; say so when quoting). Units: gCO₂e, h.

    .venv/bin/python bench/carbon_power.py [--eta 0.5] [--slack 1.5]
"""

from __future__ import annotations

import argparse
import os
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT / "bench"))
DATA = Path(os.environ.get("WATTWISE_SHARED_DATA", ROOT / ".." / "shared" / "data"))

import _common  # noqa: E402
from wattwise.grid.trace import load_intensity  # noqa: E402
from wattwise.optimize.gpu.carbon_power import (  # noqa: E402
    carbon_rule,
    default_rule,
    play,
    zeus_rule,
)
from wattwise.optimize.gpu.traces import GPUS, PAPER_JOBS, Traces  # noqa: E402

GRIDS = (
    "DE-LU_2023_hourly.csv",
    "ES_2022_hourly.csv",
    "GB_2023_hourly.csv",
    "IN-WE_2023_hourly.csv",
    "NO_2022_hourly.csv",
    "US-CAL-CISO_2022_hourly.csv",
)
RULES = ("default", "zeus", "wattwise")
STARTS = 52
DAY_S = 86400.0


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--eta", type=float, default=0.5, help="energy weight η in [0, 1]")
    ap.add_argument("--slack", type=float, default=1.5, help="deadline / default runtime")
    args = ap.parse_args()
    gpu_dir = DATA / "gpu"
    if not (gpu_dir / "summary_train.csv").is_file():
        print(f"carbon_power: no Zeus traces under {gpu_dir}; see ../shared/data/SOURCES.md")
        return 2
    grids = {g.split("_")[0]: load_intensity(DATA / "carbon" / g) for g in GRIDS}
    totals = {r: 0.0 for r in RULES}
    hours = {r: 0.0 for r in RULES}
    misses = {r: 0 for r in RULES}
    rows: list[dict[str, object]] = []
    runs = 0
    for gpu in GPUS:
        traces = Traces.load(gpu_dir, gpu)
        for job in PAPER_JOBS:
            bs = traces.default_bs(job)
            profiles = traces.epoch_profiles(job, bs)
            top = max(profiles, key=lambda p: p.limit_w)
            _, time_s = traces.expected(job, bs, int(top.limit_w))
            if not time_s < float("inf"):
                continue
            epochs = time_s / top.time_s
            for zone, series in grids.items():
                span = series.end_s - series.start_s - args.slack * time_s - DAY_S
                per = {r: 0.0 for r in RULES}
                for k in range(STARTS):
                    hour = span * k / STARTS // 3600 + k * 5 % 24  # spread over the year
                    start = series.start_s + hour * 3600
                    deadline = start + args.slack * time_s
                    rules = {
                        "default": default_rule(profiles),
                        "zeus": zeus_rule(profiles, args.eta),
                        "wattwise": carbon_rule(profiles, args.eta, series, deadline),
                    }
                    for name, rule in rules.items():
                        run = play(profiles, epochs, series, start, deadline, rule)
                        per[name] += run.co2e_g
                        totals[name] += run.co2e_g
                        hours[name] += run.time_s / 3600.0
                        misses[name] += not run.met_deadline
                    runs += 1
                rows.append(
                    {
                        "gpu": gpu,
                        "job": job.name,
                        "zone": zone,
                        "epochs": round(float(epochs), 2),
                        **{f"{r}_co2e_kg": round(float(per[r]) / 1000.0, 3) for r in RULES},
                    }
                )
    totals = {r: float(v) for r, v in totals.items()}
    vs_default = 100.0 * (1.0 - totals["wattwise"] / totals["default"])
    zeus_vs_default = 100.0 * (1.0 - totals["zeus"] / totals["default"])
    vs_zeus = 100.0 * (1.0 - totals["wattwise"] / totals["zeus"])
    print(f"{runs} jobs per rule ({len(GPUS)} GPUs x workloads x {len(grids)} grids x "
          f"{STARTS} starts), eta={args.eta}, deadline = {args.slack} x default")  # fmt: skip
    print(f"{'rule':10} {'tCO2e':>10} {'GPU-hours':>11} {'missed':>7}")
    for r in RULES:
        print(f"{r:10} {totals[r] / 1e6:10.3f} {hours[r]:11.0f} {misses[r]:7d}")
    print(f"wattwise saves {vs_default:.2f} % vs default (Zeus: {zeus_vs_default:.2f} %), "
          f"{vs_zeus:.2f} % vs Zeus at the same eta")  # fmt: skip
    goals = [
        _common.goal("carbon saved vs the default limit", vs_default, "%", 0.0, False),
        _common.goal("carbon saved vs Zeus at the same eta", vs_zeus, "%", 0.0, False),
        _common.goal("deadlines missed (wattwise)", float(misses["wattwise"]), "jobs", 1.0),
    ]
    _common.write(
        "carbon_power",
        goals,
        eta=args.eta,
        slack=args.slack,
        forecast="perfect (the trace itself from now to the deadline)",
        totals_tco2e={r: totals[r] / 1e6 for r in RULES},
        gpu_hours=hours,
        deadline_misses=misses,
        zeus_saved_vs_default_pct=zeus_vs_default,
        rows=rows,
    )
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
