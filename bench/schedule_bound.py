"""Where wattwise's gap to the capacity-limited bound comes from.

Run: ``.venv/bin/python bench/schedule_bound.py [--days D] [--time-limit S]`` (writes
bench/results/schedule_bound_<D>d.json). BENCHMARKS.md shows the default (the whole
trace, 150 s per MILP) and ``--days 2 --time-limit 300`` (a window small enough for
HiGHS to find near-optimal whole schedules, which the replay needs).

``bench/schedule.py`` measures wattwise against the LP relaxation of the time-indexed
placement problem. That LP may split a job across starts and groups, counts capacity
per group-hour, and knows every future arrival and the true intensity. On the pai_1k
trace with the capacity-limited cluster (the main bench's window: all 1,000 jobs), on
each grid, this splits the gap:

* ``lp, capacity per 15 min``: the LP with capacity counted per quarter hour, not per
  hour. Minus the LP = what sharing an hour's cores one job after another buys.
* ``milp``: the same model with whole jobs (HiGHS branch and bound, time-limited):
  its proven bound and its best schedule. Bound minus LP = what splitting jobs buys.
* ``milp replayed``: that schedule run through the dispatcher against real cores.
  Replayed minus MILP = what counting capacity per hour instead of per instant buys.
* ``online-lp, perfect forecast``: the LP re-solved every hour over the jobs that
  have arrived (bench/online_lp.py), with the true future intensity. It optimises the
  known queue jointly, as the bound does, but does not know future arrivals.
* ``wattwise`` with its forecasts and with perfect ones.
"""

from __future__ import annotations

import argparse
import json
import sys
import time
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT / "bench"))

from _common import RESULTS, machine  # noqa: E402
from online_lp import OnlineLp  # noqa: E402
from schedule import DATA, GRIDS, PERFECT, SLACK_H, TRACES, sited, window  # noqa: E402
from wattwise.schedule.cluster import load_cluster  # noqa: E402
from wattwise.schedule.oracle import oracle_lp  # noqa: E402
from wattwise.schedule.policies import make_policy  # noqa: E402
from wattwise.schedule.policies.base import Policy  # noqa: E402
from wattwise.schedule.policies.replay import Replay  # noqa: E402
from wattwise.schedule.scenario import Scenario, load_carbon  # noqa: E402
from wattwise.schedule.signals import Signals, perfect_foresight  # noqa: E402
from wattwise.schedule.simulator import simulate  # noqa: E402
from wattwise.schedule.traces import read_job_trace  # noqa: E402

TRACE = "pai_1k.csv"


def run(scn: Scenario, signals: Signals, policy: Policy, until: int) -> dict[str, Any]:
    t0 = time.perf_counter()
    m = simulate(scn.jobs, scn.cluster, signals, policy, until_h=until).metrics
    return {
        "co2e_kg": m.co2e_kg,
        "deadline_misses": m.deadline_misses,
        "seconds": time.perf_counter() - t0,
    }


def one_grid(jobs: Any, grid: str, cluster_file: str, days: float, limit_s: float) -> dict:
    carbon = load_carbon([DATA / "carbon" / grid])
    zone = next(iter(carbon))
    cl = sited(load_cluster(ROOT / "examples" / "clusters" / cluster_file), zone)
    scn, until = window(jobs, carbon, cl, days)
    perfect = perfect_foresight(scn.signals)
    res: dict[str, Any] = {"zone": zone, "jobs": len(scn.jobs), "hours": until}
    res["fifo"] = run(scn, scn.signals, make_policy("fifo"), until)
    res["wattwise"] = run(scn, scn.signals, make_policy("wattwise"), until)
    res[PERFECT] = run(scn, perfect, make_policy("wattwise"), until)
    res["online-lp-perfect-forecast"] = run(scn, perfect, OnlineLp(), until)
    lp = oracle_lp(scn.jobs, scn.cluster, scn.signals, until)
    res["lp"] = {"co2e_kg": lp.co2e_kg, "seconds": lp.seconds, "variables": lp.variables}
    fine = oracle_lp(scn.jobs, scn.cluster, scn.signals, until, slots_per_hour=4)
    res["lp-15min"] = {"co2e_kg": fine.co2e_kg, "seconds": fine.seconds}
    milp = oracle_lp(
        scn.jobs, scn.cluster, scn.signals, until, whole_jobs=True, time_limit_s=limit_s
    )
    res["milp"] = {
        "bound_co2e_kg": milp.co2e_kg,
        "schedule_co2e_kg": milp.schedule_co2e_kg,
        "optimal": milp.optimal,
        "seconds": milp.seconds,
    }
    replay = Replay(scn.jobs.job_id, milp.start_h, milp.group)
    res["milp-replayed"] = run(scn, scn.signals, replay, until)
    kg = {
        "lp, capacity per 15 min": fine.co2e_kg,
        "milp bound": milp.co2e_kg,
        "milp schedule": milp.schedule_co2e_kg,
        "milp replayed": res["milp-replayed"]["co2e_kg"],
        "online-lp, perfect forecast": res["online-lp-perfect-forecast"]["co2e_kg"],
        "wattwise, perfect forecast": res[PERFECT]["co2e_kg"],
        "wattwise": res["wattwise"]["co2e_kg"],
    }
    fifo = res["fifo"]["co2e_kg"]
    res["saved_pct"] = {k: 100.0 * (1.0 - v / fifo) for k, v in {"lp": lp.co2e_kg, **kg}.items()}
    res["above_lp_pct"] = {k: 100.0 * (v / lp.co2e_kg - 1.0) for k, v in kg.items()}
    return res


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--days", type=float, default=14.0, help="window of arrivals (days)")
    ap.add_argument("--time-limit", type=float, default=150.0, help="MILP time limit (s)")
    args = ap.parse_args()
    t0 = time.perf_counter()
    _, unit, cluster_file = next(t for t in TRACES if t[0] == TRACE)
    jobs = read_job_trace(DATA / "jobs" / TRACE, time_unit=unit, slack_h=SLACK_H)
    runs = []
    head = [
        "lp",
        "lp, capacity per 15 min",
        "milp bound",
        "milp schedule",
        "milp replayed",
        "online-lp, perfect forecast",
    ]
    head += ["wattwise, perfect forecast", "wattwise"]
    print("carbon above the LP bound (%), deadline misses in brackets; FIFO misses 0")
    for grid in GRIDS:
        r = one_grid(jobs, grid, cluster_file, args.days, args.time_limit)
        runs.append(r)
        a = r["above_lp_pct"]
        miss = {
            "milp replayed": r["milp-replayed"]["deadline_misses"],
            "online-lp, perfect forecast": r["online-lp-perfect-forecast"]["deadline_misses"],
            "wattwise, perfect forecast": r[PERFECT]["deadline_misses"],
            "wattwise": r["wattwise"]["deadline_misses"],
        }
        cells = [f"{k} {a[k]:+.2f}" + (f" ({miss[k]})" if k in miss else "") for k in head[1:]]
        print(f"{r['zone']:12s} " + " | ".join(cells), flush=True)
    doc = {
        "machine": machine(),
        "trace": TRACE,
        "slack_h": SLACK_H,
        "days": args.days,
        "milp_time_limit_s": args.time_limit,
        "runs": runs,
        "seconds": time.perf_counter() - t0,
    }
    RESULTS.mkdir(exist_ok=True)
    (RESULTS / f"schedule_bound_{args.days:g}d.json").write_text(json.dumps(doc, indent=2) + "\n")


if __name__ == "__main__":
    main()
