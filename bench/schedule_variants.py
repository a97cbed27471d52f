"""wattwise's policy with some of its settings changed, against its defaults, on
``bench/schedule.py``'s capacity-limited setting (every job trace x every grid) and on
``bench/engine_parity.py``'s two-group cluster (pai_1k from three months, DE-LU).

Run: ``.venv/bin/python bench/schedule_variants.py --set pull_margin_per_h=0
[--set NAME=VALUE ...] [--traces pai_1k.csv,...]``. Every run is deterministic (carbon
and misses do not depend on the machine), so one run per variant is enough. Prints
each setting's saving against FIFO (%), the variant's margin over the defaults (pp)
and the deadline misses of both; writes bench/results/schedule_variants.json.
"""

from __future__ import annotations

import argparse
import json
import math
import sys
import time
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT / "bench"))

import engine_parity  # noqa: E402
import schedule  # noqa: E402
from _common import machine  # noqa: E402
from wattwise.schedule.cluster import load_cluster  # noqa: E402
from wattwise.schedule.policies import make_policy  # noqa: E402
from wattwise.schedule.policies.base import Policy  # noqa: E402
from wattwise.schedule.scenario import Scenario, build_scenario, load_carbon  # noqa: E402
from wattwise.schedule.simulator import simulate  # noqa: E402
from wattwise.schedule.traces import read_job_trace  # noqa: E402

PARITY_STARTS = ("2023-03-01T00:00", "2023-06-01T00:00", "2023-09-01T00:00")


def parse_setting(text: str) -> tuple[str, Any]:
    name, sep, raw = text.partition("=")
    if not sep:
        sys.exit(f"schedule_variants: --set wants NAME=VALUE, got {text!r}")
    default = getattr(make_policy("wattwise"), name, None)
    if default is None:
        sys.exit(f"schedule_variants: the wattwise policy has no setting {name!r}")
    if isinstance(default, bool):
        return name, raw.lower() in ("1", "true", "yes", "on")
    return name, type(default)(raw)


def variant(settings: dict[str, Any]) -> Policy:
    policy = make_policy("wattwise")
    for name, value in settings.items():
        setattr(policy, name, value)
    return policy


def compare(scn: Scenario, settings: dict[str, Any]) -> dict[str, Any]:
    """FIFO, the defaults and the variant on one scenario, the simulator's accounting
    over one common period (to the last deadline, or later where a late job runs on):
    a policy that waits is not charged idle hours the others are spared."""
    out: dict[str, Any] = {}
    until = math.ceil(float(scn.jobs.deadline_h.max())) + 1
    for label, policy in (
        ("fifo", make_policy("fifo")),
        ("defaults", make_policy("wattwise")),
        ("variant", variant(settings)),
    ):
        t0 = time.perf_counter()
        m = simulate(scn.jobs, scn.cluster, scn.signals, policy, until_h=until).metrics
        out[label] = {
            "co2e_kg": m.co2e_kg,
            "deadline_misses": m.deadline_misses,
            "seconds": time.perf_counter() - t0,
        }
    base = out["fifo"]["co2e_kg"]
    for d in out.values():
        d["saved_pct"] = 100.0 * (1.0 - d["co2e_kg"] / base)
    out["margin_pp"] = out["variant"]["saved_pct"] - out["defaults"]["saved_pct"]
    return out


def print_row(key: str, r: dict[str, Any]) -> None:
    d, v = r["defaults"], r["variant"]
    print(
        f"{key:<40} defaults {d['saved_pct']:6.2f} % ({d['deadline_misses']} missed)"
        f"  variant {v['saved_pct']:6.2f} % ({v['deadline_misses']} missed)"
        f"  {r['margin_pp']:+.2f} pp  fifo missed {r['fifo']['deadline_misses']}",
        flush=True,
    )


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--set", action="append", default=[], metavar="NAME=VALUE")
    ap.add_argument("--traces", default=",".join(t for t, _, _ in schedule.TRACES))
    args = ap.parse_args()
    settings = dict(parse_setting(s) for s in args.set)
    if not settings:
        sys.exit("schedule_variants: give at least one --set NAME=VALUE")
    wanted = {t.strip() for t in args.traces.split(",") if t.strip()}
    results: dict[str, Any] = {}
    for trace, unit, cluster_file in schedule.TRACES:
        if trace not in wanted:
            continue
        jobs = read_job_trace(
            schedule.DATA / "jobs" / trace, time_unit=unit, slack_h=schedule.SLACK_H
        )
        base_cluster = load_cluster(ROOT / "examples" / "clusters" / cluster_file)
        for grid in schedule.GRIDS:
            carbon = load_carbon([schedule.DATA / "carbon" / grid])
            zone = next(iter(carbon))
            scn = build_scenario(jobs, carbon, schedule.sited(base_cluster, zone), wrap=True)
            key = f"capacity {trace}|{zone}"
            results[key] = compare(scn, settings)
            print_row(key, results[key])
    parity_args = argparse.Namespace(
        jobs=engine_parity.DATA / "jobs" / "pai_1k.csv",
        time_unit="s",
        carbon=engine_parity.DATA / "carbon" / "DE-LU_2023_hourly.csv",
        cluster=ROOT / "examples" / "clusters" / "parity-two-groups.yaml",
    )
    for n_jobs in (200, 400):
        for start in PARITY_STARTS:
            parity_args.n_jobs, parity_args.start = n_jobs, start
            key = f"parity {n_jobs} jobs from {start[:10]}"
            results[key] = compare(engine_parity.load_inputs(parity_args), settings)
            print_row(key, results[key])
    margins = [r["margin_pp"] for r in results.values()]
    worse_misses = sum(
        r["variant"]["deadline_misses"] > r["defaults"]["deadline_misses"] for r in results.values()
    )
    print(
        f"# {settings}: margin over the defaults {min(margins):+.2f} to {max(margins):+.2f} pp;"
        f" more misses than the defaults on {worse_misses} of {len(results)}"
    )
    out = ROOT / "bench" / "results" / "schedule_variants.json"
    out.parent.mkdir(parents=True, exist_ok=True)
    doc = {
        "command": " ".join(["bench/schedule_variants.py", *sys.argv[1:]]),
        "machine": machine(),
        "settings": settings,
        "results": results,
    }
    out.write_text(json.dumps(doc, indent=2) + "\n")
    print(f"# wrote {out}")


if __name__ == "__main__":
    main()
