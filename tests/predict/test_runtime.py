from __future__ import annotations

import math
import sqlite3
from pathlib import Path

import numpy as np
import pytest

from wattwise.errors import ConfigError
from wattwise.predict.history import actual_of, record_of
from wattwise.predict.records import HistoryRecord, JobFeatures, features_of
from wattwise.predict.runtime import (
    MIN_SAME_RUNS,
    ActualRuntime,
    PredictedRuntime,
    RuntimeModel,
    Source,
    same_job_upper_s,
)
from wattwise.store.jobs import JobCompletion, JobStore, NewTask, TaskOutcome


def _rec(
    duration_s: float, command: str = "python t.py --bs 8", power: float = 40.0
) -> HistoryRecord:
    return HistoryRecord("t", command, 1, 0, duration_s, power)


def test_features_of_a_stored_spec() -> None:
    f = features_of(
        {
            "name": "t",
            "command": ["python", "t.py"],
            "cpus": 0.5,
            "gpus": 1,
            "shards": ["a", "b"],
            "node_type": "big",
            "runtime_s": 60.0,
        }
    )
    assert f == JobFeatures("t", "python t.py", 1, 1, 60.0, 2, "big")
    entry = features_of({"name": "f", "entry": "pkg.mod:f", "args": [1, "x"]})
    assert entry.command == 'pkg.mod:f [1, "x"]' and entry.declared_duration_s is None


def test_same_job_history_needs_a_few_runs() -> None:
    model = RuntimeModel([_rec(100.0)] * (MIN_SAME_RUNS - 1))
    assert model.predict(JobFeatures("t", "python t.py --bs 8")).source == Source.COLD_START
    model.add(_rec(110.0))
    p = model.predict(JobFeatures("t", "python t.py --bs 8"))
    assert p.source == Source.HISTORY and p.n == MIN_SAME_RUNS
    assert p.runtime_s == 100.0 and p.runtime_upper_s > 110.0
    assert p.power_w == 40.0
    # Another flag value is another job.
    assert model.predict(JobFeatures("t", "python t.py --bs 16")).source == Source.COLD_START


def test_upper_bound_covers_about_the_asked_share() -> None:
    """On log-normal runs the upper bound of n runs covers the next one ~90 % of the time,
    with few runs (Student t) and many (order statistic)."""
    rng = np.random.default_rng(1)
    for n in (6, 30):
        hits = []
        for _ in range(2000):
            runs = np.exp(rng.normal(np.log(600), 0.2, n + 1))
            hits.append(runs[-1] <= same_job_upper_s(runs[:-1], 0.9))
        assert 0.86 <= float(np.mean(hits)) <= 0.95, n


def test_identical_runs_still_get_room() -> None:
    upper = same_job_upper_s(np.full(6, 100.0), 0.9)
    assert 105.0 < upper < 115.0


def test_declared_runtime_is_the_plan_and_its_bound() -> None:
    model = RuntimeModel([_rec(100.0)] * 5)
    p = model.predict(JobFeatures("t", "python t.py --bs 8", declared_duration_s=300.0))
    assert (p.source, p.runtime_s, p.runtime_upper_s, p.power_w) == (Source.DECLARED, 300, 300, 40)
    # The model alone, for held-out tests, ignores the declaration.
    p = model.predict(
        JobFeatures("t", "python t.py --bs 8", declared_duration_s=300.0), use_declared=False
    )
    assert p.source == Source.HISTORY and p.runtime_s == 100.0


def test_fitted_model_predicts_a_new_flag_value_of_a_known_job() -> None:
    rng = np.random.default_rng(0)
    model = RuntimeModel()
    for bs in (8, 16, 32, 64):
        for _ in range(10):
            model.add(_rec(bs * 10.0 * math.exp(rng.normal(0, 0.05)), f"python t.py --bs {bs}"))
    model.use_predictor(model.fit_predictor())
    p = model.predict(JobFeatures("t", "python t.py --bs 48"))
    assert p.source == Source.HISTORY and p.n == 40
    assert 160.0 <= p.runtime_s <= 640.0 and p.runtime_upper_s >= p.runtime_s


def test_prediction_and_actual_round_trip_and_latest_start() -> None:
    p = PredictedRuntime(600.0, 900.0, 50.0, Source.HISTORY, 6)
    assert PredictedRuntime.from_dict(p.to_dict()) == p
    assert p.to_dict()["source"] == "history"
    assert p.latest_start_s(1000.0, 1000.0 + 3600) == 1000.0 + 3600 - 900
    assert p.latest_start_s(1000.0, 1500.0) == 1000.0  # no room: at once
    assert p.latest_start_s(1000.0, None) == 1000.0
    a = ActualRuntime.compare(1000.0, None, p)
    assert (a.runtime_abs_error_s, a.runtime_error_pct, a.within_upper) == (400.0, 40.0, False)
    with pytest.raises(ConfigError, match="coverage"):
        RuntimeModel(coverage=1.0)


def test_actual_from_the_store_and_back_into_history(tmp_path: Path) -> None:
    store = JobStore(f"sqlite:///{tmp_path / 'w.db'}")
    spec = {"name": "t", "command": ["t"], "cpus": 1.0, "gpus": 0, "shards": ["a", "b"]}
    job_id = store.submit(spec, submitted_s=0.0, latest_start_s=0.0)
    ids = store.start_tasks([NewTask(job_id, 0, 1, "n"), NewTask(job_id, 1, 1, "n")], "h")[job_id]
    store.finish_tasks(
        [
            TaskOutcome(ids[0], "succeeded", started_s=100.0, ended_s=160.0),
            TaskOutcome(ids[1], "succeeded", started_s=150.0, ended_s=220.0),
        ]
    )
    store.complete_jobs([JobCompletion(job_id, "succeeded")])
    actual = actual_of(store.job_outcomes([job_id])[0])
    assert actual == ActualRuntime(120.0, None)  # first start to last end; not metered
    store.set_actuals([(job_id, actual.to_dict())])
    rec = record_of(store.with_actuals()[0])
    assert rec is not None and rec.duration_s == 120.0 and rec.shards == 2
    assert math.isnan(rec.avg_power_w)
    # A job suspended once: the segment it ran before counts, the pause does not.
    job_id = store.submit({"name": "s", "command": ["s"]}, submitted_s=0.0, latest_start_s=0.0)
    first = store.start_tasks([NewTask(job_id, 0, 1, "n")], "h")[job_id][0]
    store.finish_tasks([TaskOutcome(first, "suspended", started_s=0.0, ended_s=30.0)])
    second = store.start_tasks([NewTask(job_id, 0, 2, "n")], "h")[job_id][0]
    store.finish_tasks([TaskOutcome(second, "succeeded", started_s=1000.0, ended_s=1045.0)])
    store.complete_jobs([JobCompletion(job_id, "succeeded", measurement=None)])
    actual = actual_of(store.job_outcomes([job_id])[0])
    assert actual is not None and actual.runtime_s == 75.0


def test_a_database_from_before_the_prediction_columns_opens(tmp_path: Path) -> None:
    path = tmp_path / "old.db"
    store = JobStore(f"sqlite:///{path}")
    job_id = store.submit({"name": "old", "command": ["x"]}, submitted_s=0.0, latest_start_s=5.0)
    store.runs.engine.dispose()
    with sqlite3.connect(path) as db:  # what an older wattwise left behind
        db.execute("ALTER TABLE jobs DROP COLUMN predicted")
        db.execute("ALTER TABLE jobs DROP COLUMN actual")
    reopened = JobStore(f"sqlite:///{path}")
    job = reopened.get_job(job_id)
    assert job.name == "old" and job.predicted is None and job.actual is None
    reopened.set_predictions([(job_id, {"source": "cold-start"}, 3.0)])
    job = reopened.get_job(job_id)
    assert job.predicted == {"source": "cold-start"} and job.latest_start_s == 3.0
    # A job that ended keeps what it had.
    reopened.complete_jobs([JobCompletion(job_id, "cancelled")])
    reopened.set_predictions([(job_id, {"source": "history"}, 4.0)])
    assert reopened.get_job(job_id).predicted == {"source": "cold-start"}


def test_the_regression_is_fitted_only_where_it_can_add_something() -> None:
    """One job run a thousand times is its own history: no fit wanted, and a fit of
    varied jobs keeps at most MAX_SAME_RUNS runs of each (cost by variety, not count)."""
    from wattwise.predict.runtime import MAX_SAME_RUNS

    model = RuntimeModel([_rec(100.0 + i % 7) for i in range(1000)])
    assert not model.predictor_useful()
    model.add(_rec(200.0, "python t.py --bs 16"))
    assert model.predictor_useful()
    fitted = model.fit_predictor()
    assert fitted.fitted and len(model.records) == 1001
    assert sum(len(runs) for runs in model._by_key.values()) == MAX_SAME_RUNS + 1
