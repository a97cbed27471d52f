"""bench/meter.py: what metering costs.

Measured side by side in one run (variants interleaved, medians):
  1. sampler overhead on a CPU-bound workload at the default interval (goal < 0.5 % CPU time)
  2. window begin/end latency against a fake RAPL tree (goal < 20 µs median)
  3. `import wattwise` (goal < 100 ms)
  4. `wattwise measure -- true` wall time (goal < 400 ms)
  5. the wrapper's own cost (issue 16): `sleep 1` bare vs `wattwise measure -- sleep 1`
     (and CodeCarbon's and Zeus's wrappers where installed), interleaved rounds, medians
     of wall time and of CPU time (the wrapper's rusage, children included) beyond the
     bare child (goal <= 0.25 s each)
  6. CodeCarbon 3.x on a Python workload: tracker start-up, and measuring the workload.

CodeCarbon and Zeus are never installed by this bench: it uses them from this
virtualenv, else from bench/.venv-codecarbon / bench/.venv-zeus if those exist, and
says so in its output and results when neither has them.

Run: .venv/bin/python bench/meter.py [--reps N] [--rounds N]
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
ZEUS_VENV = ROOT / "bench" / ".venv-zeus"
#: The wrapper-cost goal: at most this much beyond the bare child, wall and CPU. Units: s.
WRAPPER_GOAL_S = 0.25
CHILD = ["sleep", "1"]
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


def python_with(module: str, side_venv: Path) -> Path | None:
    """A Python that imports ``module``: this virtualenv's, else ``side_venv``'s if that
    exists. Never installs anything."""
    for python in (Path(PY), side_venv / "bin" / "python"):
        if not python.exists():
            continue
        probe = subprocess.run([str(python), "-c", f"import {module}"], capture_output=True)
        if probe.returncode == 0:
            return python
    return None


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


CC_WRAPPER = """
import subprocess, sys
from codecarbon import EmissionsTracker
tracker = EmissionsTracker(save_to_file=False, log_level="error")
tracker.start()
code = subprocess.call(sys.argv[1:])
tracker.stop()
sys.exit(code)
"""

ZEUS_WRAPPER = """
import subprocess, sys
from zeus.monitor import ZeusMonitor
monitor = ZeusMonitor()
monitor.begin_window("job")
code = subprocess.call(sys.argv[1:])
monitor.end_window("job")
sys.exit(code)
"""


def _timed(cmd: list[str], env: dict[str, str]) -> tuple[float, float, int]:
    """Wall time, CPU time (user + system of the process and every descendant it
    reaped, from ``wait4``'s rusage) and exit status of ``cmd``. Units: s."""
    t0 = time.perf_counter()
    proc = subprocess.Popen(cmd, env=env, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    _, status, usage = os.wait4(proc.pid, 0)
    wall = time.perf_counter() - t0
    proc.returncode = os.waitstatus_to_exitcode(status)
    return wall, usage.ru_utime + usage.ru_stime, proc.returncode


def at_most(name: str, value: float, unit: str, target: float) -> dict[str, object]:
    """A goal entry for "at most ``target``"; ``met`` computed from ``value``."""
    return {"name": name, "value": value, "unit": unit, "goal": f"<= {target:g} {unit}",
            "met": value <= target}  # fmt: skip


def wrapper_cost(rounds: int, env: dict[str, str]) -> dict[str, object]:
    """``sleep 1`` bare and under each wrapper, interleaved (the order rotates each
    round), medians of wall and CPU beyond the bare child's."""
    variants: dict[str, list[str]] = {
        "bare": CHILD,
        "wattwise measure": [WATTWISE, "measure", "--", *CHILD],
    }
    unavailable: dict[str, str] = {}
    for label, module, venv, script in (
        ("codecarbon", "codecarbon", CC_VENV, CC_WRAPPER),
        ("zeus", "zeus", ZEUS_VENV, ZEUS_WRAPPER),
    ):
        python = python_with(module, venv)
        if python is None:
            where = f"{Path(PY).parent.parent.name} nor {venv.relative_to(ROOT)}"
            unavailable[label] = f"not installed (neither in {where}); this bench installs nothing"
        else:
            variants[f"{label} wrapper"] = [str(python), "-c", script, *CHILD]
    # The first `measure` in a fresh home creates the store (through SQLAlchemy); time it
    # apart, the rounds then measure the steady state every later run pays.
    first_wall, first_cpu, _ = _timed(variants["wattwise measure"], env)
    samples: dict[str, dict[str, list[float]]] = {k: {"wall": [], "cpu": []} for k in variants}
    failed: dict[str, int] = {}
    names = list(variants)
    for r in range(rounds):
        for name in names[r % len(names) :] + names[: r % len(names)]:
            wall, cpu, code = _timed(variants[name], env)
            if code != 0:
                failed[name] = code
                continue
            samples[name]["wall"].append(wall)
            samples[name]["cpu"].append(cpu)
    bare_wall, bare_cpu = median(samples["bare"]["wall"]), median(samples["bare"]["cpu"])
    out: dict[str, object] = {
        "child": " ".join(CHILD),
        "rounds": rounds,
        "bare": {"wall_s": bare_wall, "cpu_s": bare_cpu},
        "first_run_fresh_home": {"wall_s": first_wall, "cpu_s": first_cpu},
        "unavailable": unavailable,
        "failed_exit_codes": failed,
    }
    ours = None
    for name in names[1:]:
        if not samples[name]["wall"]:
            continue
        extra_wall = median([w - bare_wall for w in samples[name]["wall"]])
        extra_cpu = median([c - bare_cpu for c in samples[name]["cpu"]])
        entry = {
            "wall_s": median(samples[name]["wall"]),
            "cpu_s": median(samples[name]["cpu"]),
            "extra_wall_s": extra_wall,
            "extra_cpu_s": extra_cpu,
            "wall_ratio_to_bare": median(samples[name]["wall"]) / bare_wall,
        }
        if ours is None:
            ours = entry
        else:
            entry["extra_wall_ratio_to_wattwise"] = extra_wall / ours["extra_wall_s"]
            entry["extra_cpu_ratio_to_wattwise"] = extra_cpu / ours["extra_cpu_s"]
        out[name] = entry
    return out


def _load() -> str:
    one, five, _ = os.getloadavg()
    return f"{one:.1f} (1 min), {five:.1f} (5 min)"


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--reps", type=int, default=7)
    parser.add_argument("--rounds", type=int, default=9, help="rounds of the wrapper-cost runs")
    args = parser.parse_args()
    env = {**os.environ, "WATTWISE_HOME": tempfile.mkdtemp(prefix="wattwise-bench-")}
    # Time start-up as an installed package runs it: with byte-code caches, even where
    # PYTHONDONTWRITEBYTECODE is set (this sandbox sets it).
    subprocess.run([PY, "-m", "compileall", "-q", str(ROOT / "src" / "wattwise")], check=True)
    load_before = _load()

    cc_python = python_with("codecarbon", CC_VENV)
    wrappers = wrapper_cost(args.rounds, env)
    overhead = sampler_overhead(args.reps)
    latency = window_latency()
    imp_ms = import_time(args.reps)
    h2h = head_to_head(args.reps, cc_python, env)
    measure_true_ms = float(h2h["wattwise measure -- true"])  # type: ignore[arg-type]
    ours: dict[str, float] = wrappers["wattwise measure"]  # type: ignore[assignment]

    goals = [
        goal(
            "sampler overhead at default interval", overhead["sampler_overhead_percent"], "%", 0.5
        ),
        goal("window begin latency (fake RAPL, 6 domains)", latency["begin_us"], "µs", 20),
        goal("window end latency (fake RAPL, 6 domains)", latency["end_us"], "µs", 20),
        goal("import wattwise", imp_ms, "ms", 100),
        goal("wattwise measure -- true wall time", measure_true_ms, "ms", 400),
        at_most(
            "wattwise measure -- sleep 1: wall time beyond the bare child",
            ours["extra_wall_s"], "s", WRAPPER_GOAL_S,
        ),
        at_most(
            "wattwise measure -- sleep 1: CPU time beyond the bare child",
            ours["extra_cpu_s"], "s", WRAPPER_GOAL_S,
        ),
    ]  # fmt: skip
    print(f"{'goal':62} {'value':>12} {'target':>12}  met")
    for g in goals:
        print(f"{g['name']:62} {g['value']:>9.3f} {g['unit']:<3}{g['goal']:>11}  {g['met']}")
    print(
        f"\nwrapper cost on `{wrappers['child']}`, {args.rounds} interleaved rounds (medians, s):"
    )
    print(f"{'variant':22} {'wall':>7} {'cpu':>7} {'+wall':>7} {'+cpu':>7} {'+wall/ours':>10}")
    bare: dict[str, float] = wrappers["bare"]  # type: ignore[assignment]
    print(f"{'bare':22} {bare['wall_s']:7.3f} {bare['cpu_s']:7.3f}")
    for name, row in wrappers.items():
        if isinstance(row, dict) and "extra_wall_s" in row:
            ratio = row.get("extra_wall_ratio_to_wattwise")
            print(
                f"{name:22} {row['wall_s']:7.3f} {row['cpu_s']:7.3f} {row['extra_wall_s']:7.3f}"
                f" {row['extra_cpu_s']:7.3f} {'' if ratio is None else f'{ratio:10.1f}'}"
            )
    for name, why in wrappers["unavailable"].items():  # type: ignore[attr-defined]
        print(f"{name}: {why}; its wrapper was not measured")
    print(f"first measure in a fresh home (creates the store): {wrappers['first_run_fresh_home']}")
    print("\nsampler A/B on the workload (CPU s, medians):", json.dumps(overhead))
    print("\nhead to head (medians, s; wall of `true` in ms):")
    print(json.dumps(h2h, indent=1))
    load = {"before": load_before, "after": _load()}
    print(f"\nload average: {load}")
    path = write(
        "meter",
        goals,
        wrapper_cost=wrappers,
        sampler=overhead,
        window_latency=latency,
        import_ms=imp_ms,
        head_to_head=h2h,
        reps=args.reps,
        load_average=load,
        codecarbon_available=cc_python is not None,
    )
    print(f"\nwrote {path}")


if __name__ == "__main__":
    main()
