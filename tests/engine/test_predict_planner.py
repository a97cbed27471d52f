"""RuntimePlanner: the quantile regression refits in its thread as history grows, and
a slow fit never holds up a prediction."""

from __future__ import annotations

import threading
import time
from pathlib import Path
from typing import Any

import numpy as np

from wattwise.engine.predictions import RuntimePlanner
from wattwise.engine.spec import parse_spec
from wattwise.predict.runtime import RuntimeModel
from wattwise.store.jobs import JobCompletion, JobStore, NewTask, TaskOutcome


def _finished(store: JobStore, bs: int, runtime_s: float) -> int:
    spec = parse_spec({"name": "train", "command": f"python t.py --bs {bs}"}, 0.0).to_dict()
    job_id = store.submit(spec, submitted_s=0.0, latest_start_s=0.0)
    task = store.start_tasks([NewTask(job_id, 0, 1, "n")], "h")[job_id][0]
    store.finish_tasks([TaskOutcome(task, "succeeded", started_s=10.0, ended_s=10.0 + runtime_s)])
    store.complete_jobs([JobCompletion(job_id, "succeeded")])
    return job_id


def _history(store: JobStore, n: int, seed: int = 0) -> list[int]:
    rng = np.random.default_rng(seed)
    ids = []
    for i in range(n):
        bs = (8, 16, 32, 64)[i % 4]
        ids.append(_finished(store, bs, bs * 10.0 * float(np.exp(rng.normal(0, 0.05)))))
    return ids


def test_refits_in_the_background_as_history_grows(tmp_path: Path) -> None:
    store = JobStore(f"sqlite:///{tmp_path / 'w.db'}")
    planner = RuntimePlanner(store, retrain_min_new=5, refit_interval_s=0.0, batch_s=0.0)
    ids = _history(store, 24)
    planner.finished([JobCompletion(i, "succeeded") for i in ids])  # actuals, into history
    assert planner.wait_idle()
    assert planner.history_size == 24 and planner.fits == 1
    unseen_flag = parse_spec({"name": "train", "command": "python t.py --bs 48"}, 0.0)
    p = planner.predict(unseen_flag)
    assert p.source == "history" and p.n == 24
    assert 160.0 <= p.runtime_s <= 640.0
    more = _history(store, 5, seed=1)
    planner.finished([JobCompletion(i, "succeeded") for i in more])
    assert planner.wait_idle()
    assert planner.history_size == 29 and planner.fits == 2
    # A fresh planner (a restarted head) reads the same history from the store.
    again = RuntimePlanner(store)
    assert again.predict(unseen_flag).source in ("history", "cold-start")
    assert again.wait_idle() and again.history_size == 29 and again.fits == 1
    planner.close()
    again.close()


def test_a_slow_fit_does_not_hold_up_predictions(tmp_path: Path, monkeypatch: Any) -> None:
    store = JobStore(f"sqlite:///{tmp_path / 'w.db'}")
    ids = _history(store, 24)
    planner = RuntimePlanner(store)
    planner.finished([JobCompletion(i, "succeeded") for i in ids[:20]])
    release = threading.Event()
    real = RuntimeModel.fit_predictor

    def slow(self: RuntimeModel, max_train: int = 2000) -> Any:
        release.wait(30)
        return real(self, max_train)

    monkeypatch.setattr(RuntimeModel, "fit_predictor", slow)
    spec = parse_spec({"name": "train", "command": "python t.py --bs 8"}, 0.0)
    deadline = time.monotonic() + 10
    while planner.history_size < 20 and time.monotonic() < deadline:
        time.sleep(0.01)
    started = time.perf_counter()
    p = planner.predict(spec)  # the fit is blocked in the thread meanwhile
    took = time.perf_counter() - started
    assert p.source == "history" and took < 0.5
    release.set()
    assert planner.wait_idle() and planner.fits == 1
    planner.close()


def test_refits_are_held_to_one_per_interval(tmp_path: Path) -> None:
    """Bounded cost: runs that keep coming refit at most once per interval; the one held
    back runs when the interval is over, with no new run needed to wake it."""
    store = JobStore(f"sqlite:///{tmp_path / 'w.db'}")
    planner = RuntimePlanner(store, retrain_min_new=1, refit_interval_s=5.0, batch_s=0.0)
    ids = _history(store, 40)
    for i in ids[:20]:
        planner.finished([JobCompletion(i, "succeeded")])
    assert planner.wait_idle() and planner.fits == 1
    for i in ids[20:]:
        planner.finished([JobCompletion(i, "succeeded")])
        assert planner.wait_idle()
    assert planner.fits == 1 and planner.history_size == 40
    deadline = time.monotonic() + 20
    while planner.fits < 2 and time.monotonic() < deadline:
        time.sleep(0.05)
    assert planner.fits == 2
    planner.close()
