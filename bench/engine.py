"""Engine benchmark: dispatch throughput and submit-to-start latency for 1,000 short
jobs on an embedded Ray instance, and what metering costs per job.

Run: ``.venv/bin/python bench/engine.py`` (``--jobs N`` to change the burst size).

* Burst: N jobs (``true``, 0.25 CPU each, runtime 1 s so they may share a Ray task)
  are queued in one transaction while the head runs; dispatch throughput = N / (last
  task start - submission); completion throughput = N / (last job closed in the store
  - submission); latency = task start - submission, per job.
* Idle latency: jobs submitted one at a time, 0.3 s apart, to an idle head.
* Metering overhead: the burst with node meters on and off, interleaved, medians;
  plus the meter actors' own CPU time per job.

The first burst after start-up warms Ray's worker pool and is not counted.
"""

from __future__ import annotations

import argparse
import statistics
import sys
import tempfile
import threading
import time
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from bench._common import goal, write  # noqa: E402

from wattwise.engine.client import EngineClient  # noqa: E402
from wattwise.engine.head import Engine, EngineConfig  # noqa: E402

JOB = {"command": ["true"], "cpus": 0.25, "runtime": "1s"}
NUM_CPUS = 32  # logical CPUs of the embedded node; the jobs are tiny


def _engine(home: Path, meter: bool) -> tuple[Engine, EngineClient]:
    url = f"sqlite:///{home / 'bench.db'}"
    engine = Engine(
        EngineConfig(store_url=url, num_cpus=NUM_CPUS, home=home, meter=meter, tick_s=0.005)
    )
    engine.start()
    return engine, EngineClient(url)


def _burst(engine: Engine, client: EngineClient, n: int) -> dict[str, float]:
    meter_cpu0 = engine.meter_cpu_s() if engine.config.meter else 0.0
    t0 = time.time()
    ids = client.submit_many([JOB] * n)
    engine.run(until=lambda: engine.idle and not engine.store.count_jobs("queued"), timeout_s=600)
    t_done = time.time()
    first, last = ids[0], ids[-1]
    tasks = [t for t in _tasks(client, first, last)]
    starts = [t.started_s for t in tasks if t.started_s is not None]
    ok = sum(1 for t in tasks if t.status == "succeeded")
    lat = sorted(s - t0 for s in starts)
    meter_cpu = (engine.meter_cpu_s() - meter_cpu0) if engine.config.meter else 0.0
    return {
        "jobs": n,
        "succeeded": ok,
        "dispatch_jobs_per_s": n / (max(starts) - t0),
        "completion_jobs_per_s": n / (t_done - t0),
        "wall_s": t_done - t0,
        "latency_p50_s": lat[len(lat) // 2],
        "latency_p95_s": lat[int(len(lat) * 0.95) - 1],
        "latency_max_s": lat[-1],
        "meter_cpu_ms_per_job": 1000 * meter_cpu / n,
    }


def _tasks(client: EngineClient, first: int, last: int) -> list[Any]:
    from sqlalchemy import select
    from sqlalchemy.orm import Session

    from wattwise.store.tables import TaskRow

    with Session(client.store.runs.engine) as session:
        rows = session.scalars(
            select(TaskRow).where(TaskRow.job_id >= first, TaskRow.job_id <= last)
        ).all()
        session.expunge_all()
        return list(rows)


def _idle_latency(engine: Engine, client: EngineClient, n: int) -> list[float]:
    stop = threading.Event()
    loop = threading.Thread(target=engine.run, kwargs={"stop": stop}, daemon=True)
    loop.start()
    ids = []
    try:
        for _ in range(n):
            ids.append(client.submit(JOB))
            time.sleep(0.3)
        deadline = time.monotonic() + 60
        while time.monotonic() < deadline:
            if all(client.get_job(i).status == "succeeded" for i in ids):
                break
            time.sleep(0.1)
    finally:
        stop.set()
        loop.join()
    out = []
    for i in ids:
        job = client.get_job(i)
        task = client.tasks(i)[0]
        assert task.started_s is not None
        out.append(task.started_s - job.submitted_s)
    return out


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--jobs", type=int, default=1000)
    parser.add_argument("--rounds", type=int, default=2, help="bursts per meter setting")
    args = parser.parse_args()
    import ray

    home = Path(tempfile.mkdtemp(prefix="wattwise-bench-engine-"))
    t = time.monotonic()
    engine, client = _engine(home, meter=True)
    startup_s = time.monotonic() - t
    _burst(engine, client, 200)  # warm the worker pool
    idle = _idle_latency(engine, client, 20)
    runs: dict[bool, list[dict[str, float]]] = {True: [], False: []}
    for _ in range(args.rounds):
        for meter in (True, False):
            engine.shutdown()
            engine, client = _engine(home, meter=meter)
            runs[meter].append(_burst(engine, client, args.jobs))
    engine.shutdown()
    ray.shutdown()

    def med(meter: bool, key: str) -> float:
        return statistics.median(r[key] for r in runs[meter])

    on_wall, off_wall = med(True, "wall_s"), med(False, "wall_s")
    overhead_ms = 1000 * (on_wall - off_wall) / args.jobs
    rows = [
        ("head start-up (embedded Ray + meters)", f"{startup_s:.1f} s"),
        ("dispatch throughput, metered", f"{med(True, 'dispatch_jobs_per_s'):.0f} jobs/s"),
        ("dispatch throughput, unmetered", f"{med(False, 'dispatch_jobs_per_s'):.0f} jobs/s"),
        ("completion throughput, metered", f"{med(True, 'completion_jobs_per_s'):.0f} jobs/s"),
        (
            "burst latency p50 / p95, metered",
            f"{med(True, 'latency_p50_s'):.2f} / {med(True, 'latency_p95_s'):.2f} s",
        ),
        ("idle latency p50 / max", f"{statistics.median(idle):.3f} / {max(idle):.3f} s"),
        ("metering overhead per job (wall)", f"{overhead_ms:.2f} ms"),
        ("meter actor CPU per job", f"{med(True, 'meter_cpu_ms_per_job'):.2f} ms"),
        (
            "jobs succeeded",
            f"{sum(r['succeeded'] for rs in runs.values() for r in rs):.0f} "
            f"of {args.jobs * 2 * args.rounds}",
        ),
    ]
    width = max(len(r[0]) for r in rows)
    print(
        f"engine benchmark: {args.jobs} jobs per burst, {args.rounds} rounds, "
        f"embedded Ray with {NUM_CPUS} logical CPUs"
    )
    for name, value in rows:
        print(f"  {name:<{width}}  {value}")
    dispatch = med(True, "dispatch_jobs_per_s")
    out = write(
        "engine",
        [
            goal(
                "dispatch throughput, 1,000 short jobs, metered",
                round(dispatch, 1),
                "jobs/s",
                200,
                lower_is_better=False,
            )
        ],
        results={
            "jobs_per_burst": args.jobs,
            "rounds": args.rounds,
            "startup_s": startup_s,
            "idle_latency_s": {"p50": statistics.median(idle), "max": max(idle), "n": len(idle)},
            "metering_overhead_ms_per_job": overhead_ms,
            "metered": runs[True],
            "unmetered": runs[False],
        },
    )
    print(f"wrote {out}")


if __name__ == "__main__":
    main()
