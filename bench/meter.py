"""bench/meter.py: what metering costs.

Measured side by side in one run (variants interleaved, medians):
  1. sampler overhead on a CPU-bound workload at the default interval (goal < 0.5 % CPU time)
  2. window begin/end latency against a fake RAPL tree (goal < 20 µs median)
  3. `import wattwise` (goal < 100 ms)
  4. `wattwise measure -- true` wall time (goal < 400 ms)
  5. CodeCarbon 3.x on the same workload: tracker start-up, and measuring the workload,
     from a separate virtualenv (bench/.venv-codecarbon, created on first run).

Run: .venv/bin/python bench/meter.py [--reps N]
"""

from __future__ import annotations

import argparse
import json
import os
import re
import subprocess
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

from bench._common import goal, median, write  # noqa: E402
from tests.meter.fakes import two_socket_tree  # noqa: E402

from wattwise.meter import DEFAULT_INTERVAL_S, Meter  # noqa: E402
from wattwise.meter.sources.rapl import RaplSource  # noqa: E402

PY = sys.executable
WATTWISE = str(Path(PY).parent / "wattwise")
CC_VENV = ROOT / "bench" / ".venv-codecarbon"
WORKLOAD_N = 25_000_000  # about 1 s of one core here (quiet machine)


def workload() -> int:
    return sum(i * i for i in range(WORKLOAD_N))


def sampler_overhead(reps: int) -> dict[str, float]:
    """CPU time of the workload with and without the meter sampling, interleaved."""
    on: list[float] = []
    off: list[float] = []
    snapshot_cpu_s: list[float] = []
    for _ in range(reps):
        t = time.process_time()
        workload()
        off.append(time.process_time() - t)

        meter = Meter(interval_s=DEFAULT_INTERVAL_S)
        t = time.process_time()
        meter.begin("w")
        workload()
        meter.end("w")
        on.append(time.process_time() - t)
        # The sampler's own cost, measured directly: CPU per snapshot / interval.
        t = time.thread_time()
        for _ in range(200):
            meter._snapshot()
        snapshot_cpu_s.append((time.thread_time() - t) / 200)
        meter.close()
    per_snapshot = median(snapshot_cpu_s)
    return {
        "workload_cpu_s_without": median(off),
        "workload_cpu_s_with": median(on),
        "ab_overhead_percent": 100 * (median(on) / median(off) - 1),
        "snapshot_cpu_us": per_snapshot * 1e6,
        "sampler_overhead_percent": 100 * per_snapshot / DEFAULT_INTERVAL_S,
    }


def window_latency(n: int = 5000) -> dict[str, float]:
    with tempfile.TemporaryDirectory() as tmp:
        two_socket_tree(Path(tmp))
        meter = Meter([RaplSource(Path(tmp))], sample=False)
        begins: list[float] = []
        ends: list[float] = []
        for _ in range(n):
            t0 = time.perf_counter_ns()
            meter.begin("w")
            t1 = time.perf_counter_ns()
            meter.end("w")
            t2 = time.perf_counter_ns()
            begins.append((t1 - t0) / 1e3)
            ends.append((t2 - t1) / 1e3)
        meter.close()
    return {"begin_us": median(begins), "end_us": median(ends), "domains": 6}


def import_time(reps: int) -> float:
    """Cumulative `import wattwise` time from -X importtime. Units: ms."""
    samples = []
    for _ in range(reps):
        out = subprocess.run(
            [PY, "-X", "importtime", "-c", "import wattwise"], capture_output=True, text=True
        ).stderr
        line = [x for x in out.splitlines() if re.search(r"\|\s+wattwise$", x)][-1]
        samples.append(int(line.split("|")[1]) / 1e3)
    return median(samples)


def _wall(cmd: list[str], env: dict[str, str]) -> float:
    t = time.perf_counter()
    subprocess.run(cmd, env=env, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL, check=True)
    return time.perf_counter() - t


def ensure_codecarbon() -> Path | None:
    python = CC_VENV / "bin" / "python"
    if not python.exists():
        subprocess.run(
            [
                os.path.join(sys.base_prefix, "bin", "python3"),
                "-m",
                "venv",
                str(CC_VENV),
            ],
            check=False,
        )
        subprocess.run([str(python), "-m", "pip", "install", "-q", "codecarbon>=3,<4"], check=False)
    ok = (
        subprocess.run([str(python), "-c", "import codecarbon"], capture_output=True).returncode
        == 0
    )
    return python if ok else None


CC_SCRIPT = """
import json, sys, time, logging
t0 = time.perf_counter()
from codecarbon import EmissionsTracker
t1 = time.perf_counter()
tracker = EmissionsTracker(save_to_file=False, log_level="error", measure_power_secs=15)
tracker.start()
t2 = time.perf_counter()
sum(i * i for i in range(%d))
t3 = time.perf_counter()
kg = tracker.stop()
t4 = time.perf_counter()
print(json.dumps({"import_s": t1 - t0, "start_s": t2 - t1, "work_s": t3 - t2, "stop_s": t4 - t3,
                  "total_s": t4 - t0, "energy_kwh": tracker._total_energy.kWh}))
"""

WW_SCRIPT = """
import json, time
t0 = time.perf_counter()
import wattwise
t1 = time.perf_counter()
with wattwise.measure("bench", store=False) as m:
    t2 = time.perf_counter()
    sum(i * i for i in range(%d))
    t3 = time.perf_counter()
t4 = time.perf_counter()
print(json.dumps({"import_s": t1 - t0, "start_s": t2 - t1, "work_s": t3 - t2, "stop_s": t4 - t3,
                  "total_s": t4 - t0, "energy_kwh": m.result.energy_j / 3.6e6}))
"""


def head_to_head(reps: int, cc_python: Path | None, env: dict[str, str]) -> dict[str, object]:
    """wattwise vs CodeCarbon around the same workload, interleaved."""
    runs: dict[str, list[dict[str, float]]] = {"wattwise": [], "codecarbon": []}
    true_wall: dict[str, list[float]] = {"wattwise measure -- true": [], "true": []}
    for _ in range(reps):
        true_wall["wattwise measure -- true"].append(
            _wall([WATTWISE, "measure", "--", "true"], env)
        )
        true_wall["true"].append(_wall(["true"], env))
        out = subprocess.run(
            [PY, "-c", WW_SCRIPT % WORKLOAD_N], capture_output=True, text=True, env=env
        )
        runs["wattwise"].append(json.loads(out.stdout))
        if cc_python is not None:
            out = subprocess.run(
                [str(cc_python), "-c", CC_SCRIPT % WORKLOAD_N],
                capture_output=True,
                text=True,
                env=env,
            )
            if out.returncode == 0:
                runs["codecarbon"].append(json.loads(out.stdout.strip().splitlines()[-1]))
    summary: dict[str, object] = {k: median(v) * 1e3 for k, v in true_wall.items()}
    for tool, samples in runs.items():
        if samples:
            summary[tool] = {key: median([s[key] for s in samples]) for key in samples[0]}
    return summary


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--reps", type=int, default=7)
    args = parser.parse_args()
    env = {**os.environ, "WATTWISE_HOME": tempfile.mkdtemp(prefix="wattwise-bench-")}
    # Time start-up as an installed package runs it: with byte-code caches, even where
    # PYTHONDONTWRITEBYTECODE is set (this sandbox sets it).
    subprocess.run([PY, "-m", "compileall", "-q", str(ROOT / "src" / "wattwise")], check=True)

    cc_python = ensure_codecarbon()
    overhead = sampler_overhead(args.reps)
    latency = window_latency()
    imp_ms = import_time(args.reps)
    h2h = head_to_head(args.reps, cc_python, env)
    measure_true_ms = float(h2h["wattwise measure -- true"])  # type: ignore[arg-type]

    goals = [
        goal(
            "sampler overhead at default interval", overhead["sampler_overhead_percent"], "%", 0.5
        ),
        goal("window begin latency (fake RAPL, 6 domains)", latency["begin_us"], "µs", 20),
        goal("window end latency (fake RAPL, 6 domains)", latency["end_us"], "µs", 20),
        goal("import wattwise", imp_ms, "ms", 100),
        goal("wattwise measure -- true wall time", measure_true_ms, "ms", 400),
    ]
    print(f"{'goal':48} {'value':>12} {'target':>12}  met")
    for g in goals:
        print(f"{g['name']:48} {g['value']:>9.3f} {g['unit']:<3}{g['goal']:>11}  {g['met']}")
    print("\nsampler A/B on the workload (CPU s, medians):", json.dumps(overhead))
    print("\nhead to head (medians, s; wall of `true` in ms):")
    print(json.dumps(h2h, indent=1))
    path = write(
        "meter",
        goals,
        sampler=overhead,
        window_latency=latency,
        import_ms=imp_ms,
        head_to_head=h2h,
        reps=args.reps,
        codecarbon_available=cc_python is not None,
    )
    print(f"\nwrote {path}")


if __name__ == "__main__":
    main()
