from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import pytest

from wattwise.meter import EstimateSettings, Meter
from wattwise.meter.cpu_model import cpu_model_name, lookup_cpu_power
from wattwise.meter.sources.estimate import EstimateSource


def _burn(seconds: float) -> None:
    import time

    end = time.process_time() + seconds
    while time.process_time() < end:
        pass


def test_estimate_follows_cpu_time_of_this_process() -> None:
    settings = EstimateSettings(cpu_tdp_w=100.0, cpu_threads=10)  # 10 W per busy thread
    meter = Meter([EstimateSource(settings=settings)], interval_s=0.05)
    meter.begin("burn")
    _burn(0.5)
    m = meter.end("burn")
    meter.close()
    cpu = next(d for d in m.devices if d.kind == "cpu")
    assert cpu.estimated and cpu.source == "estimate" and m.estimated
    # 0.5 s of CPU at 10 W/thread, plus sampler overhead, give or take a 10 ms tick.
    assert 4.8 <= cpu.energy_j <= 6.0
    dram = next(d for d in m.devices if d.kind == "dram")
    assert dram.energy_j > 0  # this process holds memory for the whole window


def test_estimate_counts_child_processes_not_other_tenants() -> None:
    settings = EstimateSettings(cpu_tdp_w=100.0, cpu_threads=10)
    meter = Meter([EstimateSource(settings=settings, children_only=True)], interval_s=0.05)
    meter.begin("child")
    code = "import time\nend=time.process_time()+0.4\nwhile time.process_time()<end: pass"
    subprocess.run([sys.executable, "-c", code], check=True)
    m = meter.end("child")
    meter.close()
    # The child's 0.4 s busy loop (+ interpreter start-up) at 10 W/thread; our own
    # process is left out, and an unrelated busy process would not count at all.
    assert 4.0 <= m.energy_j <= 8.0


def test_cpu_model_lookup_uses_the_table_and_labels_unknown_models(tmp_path: Path) -> None:
    assert lookup_cpu_power("AMD EPYC 7763 64-Core Processor").tdp_w == 280
    unknown = lookup_cpu_power("Some Future CPU 9000")
    assert "median" in unknown.source and unknown.watts_per_thread > 0
    cpuinfo = tmp_path / "cpuinfo"
    cpuinfo.write_text("processor\t: 0\nmodel name\t: Intel(R) Xeon(R) Gold 6248 CPU @ 2.50GHz\n")
    model = cpu_model_name(cpuinfo)
    assert lookup_cpu_power(model).threads == 40
    assert cpu_model_name(tmp_path / "absent") == "unknown"


def test_this_machine_gets_a_labelled_estimate() -> None:
    meter = Meter()
    try:
        assert any(d.source == "estimate" and d.estimated for d in meter.devices)
        assert os.cpu_count()
    finally:
        meter.close()


@pytest.mark.parametrize("procfs", [True, False])
def test_process_tree_walk_sees_live_and_reaped_children(procfs: bool) -> None:
    from wattwise.meter.process_tree import ProcessTree

    tree = ProcessTree(os.getpid(), include_root=False)
    tree._use_procfs = procfs  # both walks (procfs and the psutil fallback) must agree
    if not procfs:
        import psutil

        tree._root = psutil.Process(os.getpid())
    before = tree.usage().cpu_s
    busy = "import time\nend=time.process_time()+0.3\nwhile time.process_time()<end: pass"
    child = subprocess.Popen([sys.executable, "-c", busy + "\ntime.sleep(5)"])
    try:
        import time

        time.sleep(1.5)  # the child has burnt its 0.3 s and is sleeping, alive
        live = tree.usage()
        assert live.cpu_s - before >= 0.25 and live.rss_bytes > 0
    finally:
        child.kill()
        child.wait()
    assert tree.usage().cpu_s >= live.cpu_s  # reaped: still counted, never decreasing
