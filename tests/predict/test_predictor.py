from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

import numpy as np
import pytest

from tests.conftest import shared_data_dir, shared_file
from wattwise.errors import ConfigError, DataFormatError
from wattwise.predict import HistoryRecord, JobFeatures, Predictor, from_store, numeric_flags
from wattwise.predict.evaluate import zeus_records

GPU = shared_data_dir() / "gpu"


def test_numeric_flags_are_parsed_from_a_command_line() -> None:
    got = numeric_flags("python train.py --batch-size 64 --lr=1e-3 --name resnet -v --epochs 3")
    assert got == {"batch-size": 64.0, "lr": 1e-3, "epochs": 3.0}


@pytest.fixture(scope="module")
def zeus() -> tuple[list[HistoryRecord], list[int]]:
    return zeus_records(shared_file("gpu"))


def test_fit_on_real_runs_predicts_seen_workloads(
    zeus: tuple[list[HistoryRecord], list[int]],
) -> None:
    records, _ = zeus
    rng = np.random.default_rng(0)
    idx = rng.permutation(len(records))
    train = [records[i] for i in idx[:800]]
    test = [records[i] for i in idx[800:1000]]
    model = Predictor(coverage=0.9).fit(train)
    pred = model.predict([JobFeatures(r.name, r.command, r.cpus, r.gpus) for r in test])
    y = np.array([r.duration_s for r in test])
    med = np.array([p.duration_s for p in pred])
    up = np.array([p.duration_upper_s for p in pred])
    power = np.array([p.avg_power_w for p in pred])
    truth_p = np.array([r.avg_power_w for r in test])
    assert not any(p.cold_start for p in pred)
    assert np.median(np.abs(med - y) / y) < 0.25
    assert np.mean(np.abs(power - truth_p) / truth_p) < 0.15
    # The calibrated upper quantile covers about the asked share, never below the median.
    assert 0.8 <= np.mean(y <= up) <= 1.0
    assert np.all(up >= med)


def test_cold_start_from_the_spec() -> None:
    model = Predictor().fit([])
    p = model.predict([JobFeatures("new", "run", cpus=4, gpus=1, declared_duration_s=600.0)])[0]
    assert p.cold_start
    assert p.duration_s == 600.0 and p.duration_upper_s == 1200.0
    assert p.avg_power_w == pytest.approx(4 * 225 / 32 + 300)
    # No declaration and no history: one hour.
    assert model.predict([JobFeatures("x")])[0].duration_s == 3600.0


def test_unseen_name_after_fit_is_cold(zeus: tuple[list[HistoryRecord], list[int]]) -> None:
    records, _ = zeus
    model = Predictor().fit(records[:300])
    p = model.predict([JobFeatures("never-seen", "python x.py", cpus=2)])[0]
    assert p.cold_start
    assert p.duration_s == pytest.approx(np.median([r.duration_s for r in records[:300]]))


def test_bad_inputs() -> None:
    with pytest.raises(ConfigError, match="coverage"):
        Predictor(coverage=1.5)
    with pytest.raises(ConfigError, match="declared duration"):
        Predictor().predict([JobFeatures("x", declared_duration_s=-5.0)])
    with pytest.raises(DataFormatError, match="cannot read"):
        zeus_records(GPU / "absent")


@dataclass
class FakeRun:
    name: str
    command: list[str] | None
    duration_s: float | None
    avg_power_w: float | None
    cpus: float | None
    meta: dict[str, Any] = field(default_factory=dict)


class FakeStore:
    def __init__(self, runs: list[FakeRun]) -> None:
        self.runs = runs
        self.asked: dict[str, Any] = {}

    def list_runs(
        self, *, limit: int = 50, offset: int = 0, status: str | None = None
    ) -> list[FakeRun]:
        self.asked = {"limit": limit, "status": status}
        return self.runs


def test_from_store_keeps_completed_runs_with_figures() -> None:
    store = FakeStore(
        [
            FakeRun("train", ["python", "t.py", "--bs", "32"], 120.0, 80.0, 3.0, {"gpus": 1}),
            FakeRun("broken", None, None, None, None),
        ]
    )
    recs = from_store(store)  # type: ignore[arg-type]
    assert store.asked["status"] == "completed"
    assert recs == [HistoryRecord("train", "python t.py --bs 32", 3, 1, 120.0, 80.0)]
