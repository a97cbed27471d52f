"""bench/gpu_check.py: wattwise on a real NVIDIA card, read-only, in about 2 minutes.

It never changes a card's settings: no power limit, clock, persistence or compute-mode
call; NVML is only read. On a machine with the NVIDIA driver and a CUDA build of torch:
  1. counter vs power: a bf16 matmul loop on cuda:0 metered through wattwise's
     ``NvmlSource`` (the total-energy counter where the GPU has one), while this script
     integrates ``nvmlDeviceGetPowerUsage`` itself (trapezoid, every 20 ms) over the
     same window; both energies and their ratio (goal: within 10 %).
  2. per-process split: two processes share cuda:0 with different amounts of work
     (8192² matmuls all the time, 6144² ones 35 % of the time); a ``NodeMeter`` with
     ``GpuProcessUse`` (NVML per-process SM utilisation) splits the GPU's energy
     between them. Goals: the two shares add up to the node's GPU energy (within
     1 %), and each job's share of the GPU energy is within 0.15 of its FLOP share.
  3. the Hugging Face callback on the GPU: examples/hf_trainer.py's tiny BERT (built
     from a config, nothing downloaded) trained on cuda:0 with ``WattwiseCallback``;
     the stored run must hold measured (not estimated) NVML energy, and the log lines
     ``energy_j``.
Prints a report and writes bench/results/gpu_check.json. Elsewhere it prints one line,
"no NVIDIA GPU / NVML here: nothing checked", and exits 0 (nothing is written).

Run: .venv/bin/python bench/gpu_check.py [--seconds S]
"""

from __future__ import annotations

import argparse
import json
import os
import subprocess
import sys
import tempfile
import threading
import time
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))
# cuda:N and NVML's index N name the same card only in PCI order.
os.environ.setdefault("CUDA_DEVICE_ORDER", "PCI_BUS_ID")

from bench._common import goal, write  # noqa: E402

from wattwise.errors import HardwareUnavailableError, WattwiseError  # noqa: E402

NOTHING = "no NVIDIA GPU / NVML here: nothing checked"
RATIO_GOAL_PERCENT = 10.0
CONSERVATION_GOAL_PERCENT = 1.0
SHARE_GOAL = 0.15
POWER_POLL_S = 0.02


def open_nvml() -> Any:
    """wattwise's NVML source, or ``None`` where there is no NVIDIA GPU or NVML."""
    from wattwise.meter.sources.nvml import NvmlSource

    try:
        return NvmlSource()
    except HardwareUnavailableError:
        return None


# -- workloads --------------------------------------------------------------------


def matmul_loop(
    seconds: float, size: int, start_at: float = 0.0, duty: float = 1.0
) -> dict[str, float]:
    """bf16 ``size``x``size`` matmuls on cuda:0 for ``seconds``, busy ``duty`` of the
    time (it sleeps in between). FLOPs counted."""
    import torch

    a = torch.randn(size, size, device="cuda", dtype=torch.bfloat16)
    b = torch.randn(size, size, device="cuda", dtype=torch.bfloat16)
    torch.cuda.synchronize()
    while time.time() < start_at:
        time.sleep(0.005)
    n, t0 = 0, time.perf_counter()
    while time.perf_counter() - t0 < seconds:
        t = time.perf_counter()
        for _ in range(20):
            a @ b
        n += 20
        torch.cuda.synchronize()
        if duty < 1.0:
            time.sleep((time.perf_counter() - t) * (1.0 - duty) / duty)
    return {"matmuls": n, "flops": 2.0 * size**3 * n, "seconds": time.perf_counter() - t0}


class PowerIntegrator:
    """Integrates NVML's power reading of one GPU by the trapezoid rule. Units: J, W."""

    def __init__(self, index: int) -> None:
        import pynvml

        self._nvml = pynvml
        pynvml.nvmlInit()
        self._handle = pynvml.nvmlDeviceGetHandleByIndex(index)
        self.energy_j = 0.0
        self.samples = 0
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._loop, daemon=True)

    def _power_w(self) -> float:
        return float(self._nvml.nvmlDeviceGetPowerUsage(self._handle)) / 1000.0

    def _loop(self) -> None:
        last_t, last_w = time.monotonic(), self._power_w()
        while not self._stop.wait(POWER_POLL_S):
            now, w = time.monotonic(), self._power_w()
            self.energy_j += 0.5 * (w + last_w) * (now - last_t)
            last_t, last_w = now, w
            self.samples += 1

    def __enter__(self) -> PowerIntegrator:
        self._thread.start()
        return self

    def __exit__(self, *exc: object) -> None:
        self._stop.set()
        self._thread.join()
        self._nvml.nvmlShutdown()


# -- checks -----------------------------------------------------------------------


def check_counter(source: Any, seconds: float) -> tuple[list[dict[str, Any]], dict[str, Any]]:
    from wattwise.meter import Meter

    gpu = source.devices()[0]
    meter = Meter([source], interval_s=0.1)
    with PowerIntegrator(0) as power:
        meter.begin("matmul")
        work = matmul_loop(seconds, 8192)
        m = meter.end("matmul")
    meter.close()
    counter_j = next(d.energy_j for d in m.devices if d.name == gpu.name)
    ratio = counter_j / power.energy_j if power.energy_j > 0 else float("nan")
    figures = {
        "gpu": gpu.detail,
        "counter_j": counter_j,
        "integrated_power_j": power.energy_j,
        "ratio": ratio,
        "power_samples": power.samples,
        "seconds": m.duration_s,
        "avg_power_w": counter_j / m.duration_s,
        "tflops": work["flops"] / work["seconds"] / 1e12,
    }
    print(f"1. {gpu.name} ({gpu.detail}), {m.duration_s:.1f} s of 8192² bf16 matmuls")
    print(f"   wattwise NvmlSource: {counter_j:.0f} J ({figures['avg_power_w']:.0f} W average)")
    print(
        f"   integrated power ({power.samples} samples): {power.energy_j:.0f} J; ratio {ratio:.3f}"
    )
    dev = 100 * abs(ratio - 1)
    return [goal("NVML counter vs integrated power", dev, "%", RATIO_GOAL_PERCENT)], figures


def check_split(seconds: float) -> tuple[list[dict[str, Any]], dict[str, Any]]:
    from wattwise.engine.node_meter import NodeMeter
    from wattwise.meter.gpu_process import GpuProcessUse
    from wattwise.meter.sources.nvml import NvmlSource

    source = NvmlSource()
    gpu = source.devices()[0].name
    node = NodeMeter([source], device_use=GpuProcessUse(), interval_s=0.2)
    start_at = time.time() + 8.0  # both CUDA contexts up before either computes
    # (matmul size, duty): both sizes run near peak, so FLOPs track GPU time
    sizes = {"busy": (8192, 1.0), "part": (6144, 0.35)}
    procs = {
        job: subprocess.Popen(
            [sys.executable, __file__, "--worker", *map(str, (seconds, size, start_at, duty))],
            stdout=subprocess.PIPE,
            text=True,
        )
        for job, (size, duty) in sizes.items()
    }
    node.register_many([(job, p.pid) for job, p in procs.items()])
    done: list[tuple[str, float | None]] = []
    work: dict[str, dict[str, float]] = {}
    for job, p in procs.items():
        _, status, usage = os.wait4(p.pid, 0)
        p.returncode = os.waitstatus_to_exitcode(status)
        out = p.stdout.read() if p.stdout else ""
        if p.returncode != 0:
            raise WattwiseError(f"GPU worker {job} failed (exit {p.returncode})")
        work[job] = json.loads(out.strip().splitlines()[-1])
        done.append((job, usage.ru_utime + usage.ru_stime))
    shares = {e.key: e for e in node.finish_many(done)}
    totals = node.totals()
    node.close()
    gpu_j = {job: next(d.energy_j for d in e.devices if d.name == gpu) for job, e in shares.items()}
    node_gpu_j = totals.device_j[gpu]
    # NodeTotals holds every device; the GPU's own unattributed rest is what its jobs lack.
    rest_j = node_gpu_j - sum(gpu_j.values())
    flops = {job: w["flops"] for job, w in work.items()}
    energy_share = {job: j / sum(gpu_j.values()) for job, j in gpu_j.items()}
    flop_share = {job: f / sum(flops.values()) for job, f in flops.items()}
    figures = {
        "gpu_j_by_job": gpu_j,
        "node_gpu_j": node_gpu_j,
        "unattributed_gpu_j": rest_j,
        "energy_share": energy_share,
        "flop_share": flop_share,
        "matmuls": {job: w["matmuls"] for job, w in work.items()},
    }
    print(f"2. two processes on {gpu} (NodeMeter + GpuProcessUse), {seconds:g} s each")
    for job, (size, duty) in sizes.items():
        print(
            f"   {job:<5} ({size}², busy {duty:.0%}): {gpu_j[job]:.0f} J ="
            f" {energy_share[job]:.2f} of the jobs' GPU energy; FLOP share {flop_share[job]:.2f}"
        )
    print(f"   node GPU energy {node_gpu_j:.0f} J; not given to either job {rest_j:.0f} J")
    # The jobs ran the whole time the node metered: their shares should add up to it.
    off = 100 * abs(sum(gpu_j.values()) / node_gpu_j - 1)
    worst = max(abs(energy_share[j] - flop_share[j]) for j in sizes)
    return [
        goal("jobs' GPU energy vs node GPU energy", off, "%", CONSERVATION_GOAL_PERCENT),
        goal("per-process energy share vs FLOP share", worst, "", SHARE_GOAL),
    ], figures


def check_hf(steps: int) -> tuple[list[dict[str, Any]], dict[str, Any]]:
    import importlib.util

    spec = importlib.util.spec_from_file_location("hf_example", ROOT / "examples" / "hf_trainer.py")
    assert spec and spec.loader
    ex = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(ex)
    from transformers.trainer_callback import PrinterCallback

    from wattwise.integrations.transformers import WattwiseCallback

    cb = WattwiseCallback("gpu_check hf tiny-bert", every_n_steps=50, intensity_g_per_kwh=400)
    with tempfile.TemporaryDirectory() as out:
        t = ex.trainer(
            out, [cb], max_steps=steps, use_cpu=False, eval_strategy="no", save_strategy="no"
        )
        t.remove_callback(PrinterCallback)
        t0 = time.perf_counter()
        t.train()
        wall = time.perf_counter() - t0
        logged = [line for line in t.state.log_history if "energy_j" in line]
    r = cb.result
    gpus = [d for d in r.devices if d.source == "nvml"]
    gpu_j = sum(d.energy_j for d in gpus)
    measured = bool(gpus) and not any(d.estimated for d in gpus)
    figures = {
        "steps": steps,
        "wall_s": wall,
        "run_energy_j": r.energy_j,
        "gpu_energy_j": gpu_j,
        "gpu_measured": measured,
        "log_lines_with_energy": len(logged),
        "run_id": r.meta.get("run_id"),
    }
    print(f"3. HF tiny BERT on cuda:0, {steps} steps in {wall:.1f} s with WattwiseCallback")
    print(
        f"   run {figures['run_id']}: {r.energy_j:.0f} J, of which NVML {gpu_j:.0f} J"
        f" ({'measured' if measured else 'NOT measured'}); {len(logged)} log lines with energy_j"
    )
    ok = float(measured and gpu_j > 0 and len(logged) > 0)
    check = goal("HF callback stores measured GPU energy", ok, "", 1.0, lower_is_better=False)
    return [check], figures


def main() -> int:
    if len(sys.argv) == 6 and sys.argv[1] == "--worker":
        seconds, size, start_at, duty = sys.argv[2:]
        print(json.dumps(matmul_loop(float(seconds), int(size), float(start_at), float(duty))))
        return 0
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--seconds", type=float, default=20.0, help="seconds per workload (20)")
    p.add_argument("--steps", type=int, default=300, help="HF training steps (300)")
    a = p.parse_args()
    if a.seconds <= 0 or a.steps < 1:
        p.error("--seconds must be > 0 and --steps >= 1")
    source = open_nvml()
    if source is None:
        print(NOTHING)
        return 0
    import torch

    if not torch.cuda.is_available():
        source.close()
        print("error: NVML sees a GPU but this torch has no CUDA; install a CUDA build of torch")
        return 1
    os.environ["WATTWISE_HOME"] = tempfile.mkdtemp(prefix="wattwise-gpu-check-")
    goals: list[dict[str, Any]] = []
    extra: dict[str, Any] = {"gpu": torch.cuda.get_device_name(0)}
    try:
        for name, check in (
            ("counter", lambda: check_counter(source, a.seconds)),
            ("split", lambda: check_split(a.seconds)),
            ("hf", lambda: check_hf(a.steps)),
        ):
            got, figures = check()
            goals += got
            extra[name] = figures
    except WattwiseError as err:
        print(f"error: {err}")
        return 1
    out = write("gpu_check", goals, **extra)
    print(f"wrote {out.relative_to(ROOT)}")
    for g in goals:
        print(f"  {'met ' if g['met'] else 'MISSED'} {g['name']}: {g['value']:.3g} {g['goal']}")
    return 0 if all(g["met"] for g in goals) else 1


if __name__ == "__main__":
    sys.exit(main())
