"""The predictor in the head's loop: plan each job with a predicted runtime, learn from
every job that ends.

:class:`RuntimePlanner` holds a :class:`~wattwise.predict.runtime.RuntimeModel` built
from the store's history (:func:`~wattwise.predict.history.job_history`, read once, on
first use). The head asks :meth:`RuntimePlanner.plan` for a job's planning runtime and
its latest start (deadline − ``runtime_upper_s``); predictions are cheap (no fitting).
One background thread does the rest, off the tick: it writes each prediction to the
job, and for every job that succeeded derives its actual runtime and power from the
store, writes them beside the prediction, adds the run to the history and refits the
quantile regression once enough new runs came in (at most ``max_train`` records, one
CPU thread, so its cost stays bounded).

A predictor that raises never stops the head: the job is planned from a cold start
and the error is logged once. Units: s, W.
"""

from __future__ import annotations

import dataclasses
import logging
import queue
import threading
import time
from collections.abc import Sequence
from typing import TYPE_CHECKING, Any

from wattwise.predict.history import actual_of, job_history, record_of
from wattwise.predict.model import MIN_HISTORY
from wattwise.predict.records import JobFeatures, features_of
from wattwise.predict.runtime import PredictedRuntime, RuntimeModel, cold_start

if TYPE_CHECKING:
    from wattwise.engine.spec import JobSpec
    from wattwise.store.jobs import JobCompletion, JobRecord, JobStore

log = logging.getLogger("wattwise.engine")

_STOP = ("stop", None)


def submit_predictions(
    store: JobStore, specs: Sequence[dict[str, Any]], submitted_s: float
) -> list[tuple[PredictedRuntime, float]]:
    """What a client stores with each job it queues (``specs``: ``JobSpec.to_dict()``):
    the prediction and the latest start by its upper bound (epoch s), so a job shows
    both before any head runs.

    From the runs of the same job alone (one query for the names asked, no fitting);
    the head predicts again with its whole model when it takes the job.
    """
    names = sorted({str(s.get("name")) for s in specs if s.get("runtime_s") is None})
    records = job_history(store, min(5000, 200 * len(names)), names) if names else []
    model = RuntimeModel(records)
    out = []
    for spec in specs:
        features = features_of(spec)
        try:
            p = model.predict(features)
        except Exception as err:  # never refuse a job for a prediction
            log.warning("runtime prediction failed, planned a cold start: %s", err)
            p = cold_start(features)
        out.append((p, p.latest_start_s(submitted_s, spec.get("deadline_s"))))
    return out


class RuntimePlanner:
    """Predicted runtimes for the head, and the background thread that learns.

    ``retrain_min_new``: refit once this many runs (and at least a tenth of those the
    last fit saw) came in since, and at most once per ``refit_interval_s`` (s);
    ``max_history``: records kept; ``max_train``: records one fit uses (the latest);
    ``batch_s``: how long the thread lets work gather before one pass over it (s).
    """

    def __init__(
        self,
        store: JobStore,
        coverage: float = 0.9,
        max_history: int = 5000,
        max_train: int = 2000,
        retrain_min_new: int = 5,
        refit_interval_s: float = 30.0,
        batch_s: float = 0.25,
    ) -> None:
        self.store = store
        self.coverage = coverage
        self.max_history = max_history
        self.max_train = max_train
        self.retrain_min_new = retrain_min_new
        self.refit_interval_s = refit_interval_s
        self.batch_s = batch_s
        self._last_fit = -float("inf")  # time.monotonic() of the last fit
        self._refit_asked = False
        self.fits = 0  # quantile-regression fits done
        self._model: RuntimeModel | None = None
        self._added = 0  # runs added to the history (loaded ones included)
        self._fitted_at = 0  # runs added when the last fit started
        self._lock = threading.Lock()
        self._planned: dict[int, PredictedRuntime] = {}
        self._queue: queue.Queue[tuple[str, object]] = queue.Queue()
        self._thread: threading.Thread | None = None
        self._logged: set[str] = set()

    # -- the head's calls (cheap) ----------------------------------------------------

    def predict(self, spec: JobSpec) -> PredictedRuntime:
        """The plan for ``spec``; cold start (error logged once) if the model raises."""
        return self._predict(features_of(spec.to_dict()))

    def _predict(self, features: JobFeatures) -> PredictedRuntime:
        try:
            model = self._history()
            with self._lock:
                return model.predict(features)
        except Exception as err:
            self._log_once(
                "predict", f"runtime prediction failed, planning from a cold start: {err}"
            )
            return cold_start(features, self.coverage)

    def plan(self, record: JobRecord, spec: JobSpec) -> tuple[JobRecord, float]:
        """``record`` with its latest start by the upper bound, and the runtime to plan
        with (s). Predicts each job once; the prediction is saved on the job."""
        p = self._planned.get(record.id)
        latest = None
        if p is None:  # the stored spec is the dict form of ``spec``: no conversion
            p = self._planned[record.id] = self._predict(features_of(record.spec))
            latest = p.latest_start_s(record.submitted_s, spec.deadline_s)
            saved = p.to_dict()
            if record.predicted != saved or record.latest_start_s != latest:
                self._send("save", (record.id, saved, latest))
                record = dataclasses.replace(record, latest_start_s=latest, predicted=saved)
        return record, p.runtime_s

    def finished(self, completions: Sequence[JobCompletion]) -> None:
        """Jobs that ended: the thread records how the succeeded ones went and learns."""
        for c in completions:
            self._planned.pop(c.job_id, None)
            if c.status == "succeeded":
                self._send("finished", c.job_id)

    # -- life cycle ------------------------------------------------------------------

    def wait_idle(self, timeout_s: float = 30.0) -> bool:
        """Block until the thread has handled everything sent so far (tests, shutdown)."""
        deadline = time.monotonic() + timeout_s
        while self._queue.unfinished_tasks and time.monotonic() < deadline:
            time.sleep(0.005)
        return not self._queue.unfinished_tasks

    def close(self, timeout_s: float = 10.0) -> None:
        """Finish what was sent, then stop the thread."""
        if self._thread is not None and self._thread.is_alive():
            self._queue.put(_STOP)
            self._thread.join(timeout_s)
        self._thread = None

    @property
    def history_size(self) -> int:
        return len(self._history().records)

    # -- the background thread -------------------------------------------------------

    def _history(self) -> RuntimeModel:
        if self._model is None:
            with self._lock:
                if self._model is None:
                    records = job_history(self.store, self.max_history)
                    self._model = RuntimeModel(records, self.coverage, self.max_history)
                    self._added = len(records)
            if self._added >= MIN_HISTORY:
                self._send("refit", None)
        return self._model

    def _send(self, kind: str, payload: object) -> None:
        if self._thread is None or not self._thread.is_alive():
            self._thread = threading.Thread(target=self._run, name="wattwise-predict", daemon=True)
            self._thread.start()
        self._queue.put((kind, payload))

    def _run(self) -> None:
        _lowest_priority()  # background work: the head's thread and its jobs go first
        while True:
            try:  # a refit held back by refit_interval_s runs when its time comes
                items = [self._queue.get(timeout=self._refit_wait_s())]
            except queue.Empty:
                items = []
            if items and items[0] != _STOP:
                # Let a burst gather: one transaction for many jobs, not one each, so
                # the head's own writes seldom wait for the store's lock.
                time.sleep(self.batch_s)
            while True:
                try:
                    items.append(self._queue.get_nowait())
                except queue.Empty:
                    break
            try:
                self._handle(items)
            except Exception as err:  # the store failed: the head goes on, the next batch retries
                self._log_once("learn", f"runtime history not updated: {err}")
            finally:
                for _ in items:
                    self._queue.task_done()
            if _STOP in items:
                return

    def _handle(self, items: list[tuple[str, object]]) -> None:
        saves = [p for kind, p in items if kind == "save"]
        self.store.set_predictions(saves)  # type: ignore[arg-type]
        done = [int(p) for kind, p in items if kind == "finished"]  # type: ignore[call-overload]
        model = self._history()
        actuals = []
        for job in self.store.job_outcomes(done) if done else []:
            actual = actual_of(job)
            if actual is None:
                continue
            actuals.append((job.job_id, actual.to_dict()))
            rec = record_of(job, actual.to_dict())
            if rec is not None:
                with self._lock:
                    model.add(rec)
                    self._added += 1
        self.store.set_actuals(actuals)
        self._refit_asked |= any(kind == "refit" for kind, _ in items)
        if self._refit_wanted() and self._refit_wait_s() == 0.0:
            self._refit(model)

    def _refit_wanted(self) -> bool:
        new = self._added - self._fitted_at
        model = self._model
        if model is None or not model.predictor_useful():
            return False  # every job seen is its own history: a fit would add nothing
        return self._refit_asked or (
            self._added >= MIN_HISTORY and new >= max(self.retrain_min_new, self._fitted_at // 10)
        )

    def _refit_wait_s(self) -> float | None:
        """Seconds until a wanted refit may run (0: now); ``None``: none wanted."""
        if not self._refit_wanted():
            return None
        return max(0.0, self._last_fit + self.refit_interval_s - time.monotonic())

    def _refit(self, model: RuntimeModel) -> None:
        from threadpoolctl import threadpool_limits

        with self._lock:
            self._fitted_at = self._added
            self._refit_asked = False
            self._last_fit = time.monotonic()
            trainer = RuntimeModel(list(model.records)[-self.max_train :], self.coverage)
        try:
            with threadpool_limits(1):  # one core: the head and its jobs keep the rest
                predictor = trainer.fit_predictor(self.max_train)
        except Exception as err:
            self._log_once("fit", f"runtime model not refitted, keeping the last one: {err}")
            return
        with self._lock:
            model.use_predictor(predictor)
        self.fits += 1

    def _log_once(self, kind: str, message: str) -> None:
        if kind not in self._logged:
            self._logged.add(kind)
            log.error("%s", message)


def _lowest_priority() -> None:
    """Give the calling thread the lowest CPU priority (Linux: threads have their own
    nice value); elsewhere, or without permission, leave it."""
    import contextlib
    import os

    with contextlib.suppress(AttributeError, OSError):
        os.setpriority(os.PRIO_PROCESS, threading.get_native_id(), 19)
