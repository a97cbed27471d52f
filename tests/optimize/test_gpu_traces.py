"""Power-limit choice and the batch-size optimizer, on the Zeus NSDI'23 traces."""

from __future__ import annotations

import os
from pathlib import Path

import pytest

from wattwise.errors import ConfigError, DataFormatError
from wattwise.optimize.gpu.batch_size import BatchSizeOptimizer
from wattwise.optimize.gpu.power_limit import PowerProfile, choose_power_limit, zeus_cost
from wattwise.optimize.gpu.simulate import score, simulate_wattwise
from wattwise.optimize.gpu.traces import PAPER_JOBS, Traces

DATA = (
    Path(
        os.environ.get("WATTWISE_SHARED_DATA")
        or Path(__file__).resolve().parents[2] / ".." / "shared" / "data"
    )
    / "gpu"
)


def test_cost_and_choice() -> None:
    assert zeus_cost(100.0, 2.0, 0.5, 300.0) == pytest.approx(50.0 + 300.0)
    profiles = [PowerProfile(300, 10.0, 3000.0), PowerProfile(200, 11.0, 2000.0)]
    assert choose_power_limit(profiles, eta=1.0).limit_w == 200
    assert choose_power_limit(profiles, eta=0.0).limit_w == 300
    assert choose_power_limit(profiles, max_slowdown=1.05).limit_w == 300
    with pytest.raises(ConfigError):
        choose_power_limit(profiles, eta=1.5)
    with pytest.raises(ConfigError):
        choose_power_limit([])


def test_bso_walks_out_and_turns_back() -> None:
    costs = {8: 5.0, 16: 3.0, 32: 2.0, 64: 4.0, 128: 6.0, 256: 7.0}
    bso = BatchSizeOptimizer(list(costs), 64, patience=1)
    tried = []
    for _ in range(12):
        bs = bso.next_batch_size()
        tried.append(bs)
        bso.observe(bs, costs[bs], True)
    assert tried[:4] == [64, 32, 16, 128]  # down while improving, then up once
    assert bso.best() == 32 and tried[-1] == 32
    assert 8 not in tried and 256 not in tried  # never tried: exploration was cut


def test_bso_rejects_unknown_default() -> None:
    with pytest.raises(ConfigError):
        BatchSizeOptimizer([8, 16], 32)


@pytest.mark.skipif(not DATA.is_dir(), reason="shared GPU traces not present")
def test_simulation_saves_energy_on_real_traces() -> None:
    tr = Traces.load(DATA, "v100")
    job = next(j for j in PAPER_JOBS if j.dataset == "cifar100")
    hist = simulate_wattwise(tr, job, eta=0.5, recurrences=40, seed=1)
    s = score([(r.bs, r.pl, r.energy_j, r.reached) for r in hist], tr, job)
    assert s.recurrences == 40
    assert s.converged_saving > 0.3  # shufflenet's default bs 1024 wastes energy
    assert s.exploration_runs < 20


def test_malformed_trace_names_file_and_line(tmp_path: Path) -> None:
    train = tmp_path / "summary_train.csv"
    train.write_text(
        "dataset,network,batch_size,optimizer,learning_rate,run,target_metric,target_epoch\n"
        "c,n,32,adam,0.1,1,0.5,3\n"
    )
    power = tmp_path / "summary_power_v100.csv"
    power.write_text(
        "dataset,network,batch_size,optimizer,power_limit,time_per_epoch,average_power\n"
        "c,n,32,adam,100,1.5,90\n"
        "c,n,32,adam,125,fast,95\n"
    )
    with pytest.raises(DataFormatError, match=r"summary_power_v100\.csv:3: time_per_epoch"):
        Traces.load(tmp_path, "v100")
    power.write_text("dataset,network\nc,n\n")
    with pytest.raises(DataFormatError, match=r":1: missing column"):
        Traces.load(tmp_path, "v100")
    with pytest.raises(ConfigError, match="unknown GPU"):
        Traces.load(tmp_path, "h100")
