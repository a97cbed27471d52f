"""A run's energy in the experiment tracker the user already has: MLflow, W&B, TensorBoard.

``log_run(run, tracker, **options)`` writes, under the ``wattwise/`` prefix:

- ``wattwise/energy_j`` (J) and ``wattwise/co2e_g`` (gCO₂e, when the run has it);
- ``wattwise/device/<device>/energy_j`` (J) for every device the run read;
- ``wattwise/power_w`` (W), the power timeline, one step per sample (step 0 is the first
  sample; each step's wall time is the sample's);
- params/tags ``wattwise/run_id``, ``wattwise/energy_source``, ``wattwise/estimated``,
  ``wattwise/intensity_source``.

``run`` is what ``wattwise.measure()`` / a callback returns (a ``Measurement``) or a
stored run (``RunStore().get_run(id)``, a record from ``list_runs()``, or just the
run's id; the devices and timeline are read from the store). An option the tracker
does not take is a one-line ``ConfigError`` naming the ones it does. Each
tracker library is imported only when that tracker is asked for, after ``require``
checked it is installed (else a one-line error naming ``pip install 'wattwise[...]'``).

Options: MLflow ``tracking_uri`` (default ``$MLFLOW_TRACKING_URI``, else a ``file:``
store in ``./mlruns``, as MLflow does), ``experiment`` (default ``wattwise``); W&B
``project`` (default ``wattwise``), ``dir``, always ``mode="offline"``; TensorBoard
``log_dir`` (required).
"""

from __future__ import annotations

import os
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from enum import StrEnum
from pathlib import Path
from typing import TYPE_CHECKING, Any

from wattwise.errors import ConfigError, WattwiseError
from wattwise.integrations._requires import require

if TYPE_CHECKING:
    from wattwise.meter.types import Measurement
    from wattwise.store.runs import RunRecord

PREFIX = "wattwise"
ENERGY_METRIC = f"{PREFIX}/energy_j"
CO2E_METRIC = f"{PREFIX}/co2e_g"
POWER_METRIC = f"{PREFIX}/power_w"


def device_metric(device: str) -> str:
    """The metric name of one device's energy. Units: J."""
    return f"{PREFIX}/device/{device}/energy_j"


class Tracker(StrEnum):
    MLFLOW = "mlflow"
    WANDB = "wandb"
    TENSORBOARD = "tensorboard"


class TrackerError(WattwiseError):
    """A tracker refused what we wrote (unreachable store, unwritable folder)."""


@dataclass(frozen=True)
class Step:
    """One point of the power timeline. Units: s (UTC epoch), W."""

    t_s: float
    power_w: float


@dataclass(frozen=True)
class TrackedRun:
    """What ``log_run`` writes, whichever form the run came in. Units: J, gCO₂e, s."""

    run_id: int | None
    name: str
    start_s: float
    duration_s: float
    energy_j: float
    co2e_g: float | None
    estimated: bool
    energy_source: str
    intensity_source: str | None
    devices: tuple[tuple[str, float], ...]  # (device name, J), in the meter's order
    timeline: tuple[Step, ...]

    def params(self) -> dict[str, str]:
        return {
            f"{PREFIX}/run_id": "" if self.run_id is None else str(self.run_id),
            f"{PREFIX}/energy_source": self.energy_source,
            f"{PREFIX}/estimated": str(self.estimated).lower(),
            f"{PREFIX}/intensity_source": self.intensity_source or "",
        }

    def scalars(self) -> dict[str, float]:
        out = {ENERGY_METRIC: self.energy_j}
        if self.co2e_g is not None:
            out[CO2E_METRIC] = self.co2e_g
        out.update({device_metric(name): j for name, j in self.devices})
        return out


@dataclass(frozen=True)
class Logged:
    """Where ``log_run`` wrote: the tracker's own run id (MLflow, W&B) and its location."""

    tracker: Tracker
    tracker_run_id: str | None
    location: str


def _sources(names: list[str]) -> str:
    return ",".join(sorted(set(names))) or "none"


def tracked(run: Measurement | RunRecord | int) -> TrackedRun:
    """A measurement, a stored run or a stored run's id as the figures a tracker receives."""
    from wattwise.meter.types import Measurement
    from wattwise.store.runs import RunRecord

    if isinstance(run, Measurement):
        run_id = run.meta.get("run_id")
        return TrackedRun(
            run_id=int(run_id) if run_id is not None else None,
            name=run.name,
            start_s=run.start_s,
            duration_s=run.duration_s,
            energy_j=run.energy_j,
            co2e_g=run.co2e_g,
            estimated=run.estimated,
            energy_source=_sources([d.source for d in run.devices if d.in_total]),
            intensity_source=run.intensity_source,
            devices=tuple((d.name, d.energy_j) for d in run.devices),
            timeline=tuple(Step(s.t_s, s.power_w) for s in run.timeline),
        )
    from wattwise.store import RunStore

    if isinstance(run, bool) or not isinstance(run, int | RunRecord):
        raise ConfigError(
            f"log_run takes a Measurement, a stored run or a run id, not {type(run).__name__}"
        )
    store = RunStore()
    if isinstance(run, int) or not run.devices:
        # A run id, or a record from list_runs (no devices): read the whole run.
        run = store.get_run(run if isinstance(run, int) else run.id)
    samples = store.samples(run.id)
    return TrackedRun(
        run_id=run.id,
        name=run.name,
        start_s=run.started_s,
        duration_s=run.duration_s or 0.0,
        energy_j=run.energy_j or 0.0,
        co2e_g=run.co2e_g,
        estimated=run.estimated,
        energy_source=_sources([d.source for d in run.devices if d.in_total]),
        intensity_source=run.intensity_source,
        devices=tuple((d.name, d.energy_j) for d in run.devices),
        timeline=tuple(Step(t, p) for t, p in samples),
    )


#: The options each tracker takes (see the module docstring).
OPTIONS: dict[Tracker, tuple[str, ...]] = {
    Tracker.MLFLOW: ("tracking_uri", "experiment"),
    Tracker.WANDB: ("project", "dir"),
    Tracker.TENSORBOARD: ("log_dir",),
}


def log_run(run: Measurement | RunRecord | int, tracker: Tracker | str, **options: Any) -> Logged:
    """Write ``run``'s energy, CO₂e, device split and power timeline to ``tracker``."""
    try:
        which = Tracker(tracker)
    except ValueError:
        raise ConfigError(
            f"unknown tracker {tracker!r}",
            hint="use one of: " + ", ".join(t.value for t in Tracker),
        ) from None
    unknown = sorted(set(options) - set(OPTIONS[which]))
    if unknown:
        raise ConfigError(
            f"{which.value} takes no option {', '.join(unknown)}",
            hint="its options: " + ", ".join(OPTIONS[which]),
        )
    data = tracked(run)
    if which is Tracker.MLFLOW:
        return _mlflow(data, **options)
    if which is Tracker.WANDB:
        return _wandb(data, **options)
    return _tensorboard(data, **options)


# -- MLflow ----------------------------------------------------------------------------


def default_mlflow_uri() -> str:
    """``$MLFLOW_TRACKING_URI``, else a ``file:`` store in ``./mlruns`` (MLflow's own default)."""
    return os.environ.get("MLFLOW_TRACKING_URI") or (Path.cwd() / "mlruns").as_uri()


def _mlflow(
    data: TrackedRun, *, tracking_uri: str | None = None, experiment: str = PREFIX
) -> Logged:
    require("mlflow-skinny", "2.12", "mlflow", "logging to MLflow")
    from mlflow.entities import Metric, Param, RunTag
    from mlflow.exceptions import MlflowException
    from mlflow.tracking import MlflowClient

    uri = tracking_uri or default_mlflow_uri()
    with _file_store_allowed(uri):
        try:
            client = MlflowClient(tracking_uri=uri)
            found = client.get_experiment_by_name(experiment)
            exp_id = found.experiment_id if found else client.create_experiment(experiment)
            mlrun = client.create_run(
                exp_id, start_time=int(data.start_s * 1000), run_name=data.name
            )
            run_id = mlrun.info.run_id
            end_ms = int((data.start_s + data.duration_s) * 1000)
            metrics = [Metric(k, v, end_ms, 0) for k, v in data.scalars().items()]
            metrics += [
                Metric(POWER_METRIC, s.power_w, int(s.t_s * 1000), i)
                for i, s in enumerate(data.timeline)
            ]
            params = [Param(k, v) for k, v in data.params().items()]
            tags = [RunTag(k, v) for k, v in data.params().items()]
            for i in range(0, max(len(metrics), 1), 1000):  # MLflow takes 1,000 metrics a batch
                client.log_batch(
                    run_id,
                    metrics=metrics[i : i + 1000],
                    params=params if i == 0 else [],
                    tags=tags if i == 0 else [],
                )
            client.set_terminated(run_id, end_time=end_ms)
        except (MlflowException, OSError) as err:
            first = str(err).strip().splitlines()[0] if str(err).strip() else type(err).__name__
            raise TrackerError(
                f"MLflow at {uri}: {first}", hint="check MLFLOW_TRACKING_URI"
            ) from None
        return Logged(Tracker.MLFLOW, run_id, uri)


@contextmanager
def _file_store_allowed(uri: str) -> Iterator[None]:
    # MLflow 3.x (3.18 here) refuses its file store unless MLFLOW_ALLOW_FILE_STORE is set; a
    # file: URI is what the user (or our default) chose, so allow it for these calls only.
    if not uri.startswith("file:") or "MLFLOW_ALLOW_FILE_STORE" in os.environ:
        yield
        return
    os.environ["MLFLOW_ALLOW_FILE_STORE"] = "true"
    try:
        yield
    finally:
        os.environ.pop("MLFLOW_ALLOW_FILE_STORE", None)


# -- Weights & Biases (offline) ---------------------------------------------------------


def _wandb(data: TrackedRun, *, project: str = PREFIX, dir: str | Path | None = None) -> Logged:
    require("wandb", "0.17", "wandb", "logging to W&B")
    import wandb

    where = Path(dir) if dir is not None else Path.cwd()
    try:
        where.mkdir(parents=True, exist_ok=True)
        wrun = wandb.init(
            project=project,
            name=data.name,
            dir=str(where),
            mode="offline",
            config=data.params(),
            reinit="create_new",
            settings=wandb.Settings(console="off", silent=True, x_disable_stats=True),
        )
        try:
            for i, s in enumerate(data.timeline):
                wrun.log({POWER_METRIC: s.power_w}, step=i)
            wrun.summary.update(data.scalars())
            run_id, run_dir = wrun.id, str(Path(wrun.dir).parent)
        finally:
            wrun.finish()
    except (OSError, wandb.Error) as err:
        raise TrackerError(f"W&B offline run in {where}: {err}") from None
    return Logged(Tracker.WANDB, run_id, run_dir)


# -- TensorBoard -------------------------------------------------------------------------


def _tensorboard(data: TrackedRun, *, log_dir: str | Path | None = None) -> Logged:
    if log_dir is None:
        raise ConfigError("TensorBoard needs a folder", hint="pass log_dir=DIR")
    require("tensorboard", "2.16", "tensorboard", "writing TensorBoard event files")
    from tensorboard.compat.proto.event_pb2 import Event
    from tensorboard.compat.proto.summary_pb2 import Summary
    from tensorboard.plugins.text.summary_v2 import text_pb
    from tensorboard.summary.writer.event_file_writer import EventFileWriter

    folder = Path(log_dir)
    try:
        folder.mkdir(parents=True, exist_ok=True)
        if not os.access(folder, os.W_OK | os.X_OK):
            raise PermissionError(f"permission denied: {folder}")
        writer = EventFileWriter(str(folder))
    except OSError as err:
        raise TrackerError(
            f"TensorBoard folder {folder} is not writable: {err.strerror or err}",
            hint="pass a folder you can write to",
        ) from None

    def scalar(tag: str, value: float, step: int, wall_s: float) -> Event:
        summary = Summary(value=[Summary.Value(tag=tag, simple_value=value)])
        return Event(wall_time=wall_s, step=step, summary=summary)

    end_s = data.start_s + data.duration_s
    try:
        for i, s in enumerate(data.timeline):
            writer.add_event(scalar(POWER_METRIC, s.power_w, i, s.t_s))
        for key, value in data.scalars().items():
            writer.add_event(scalar(key, value, 0, end_s))
        table = "\n".join(
            ["| param | value |", "|---|---|"]
            + [f"| {k} | {v} |" for k, v in data.params().items()]
        )
        writer.add_event(Event(wall_time=end_s, step=0, summary=text_pb(f"{PREFIX}/run", table)))
        writer.flush()
    finally:
        writer.close()
    return Logged(Tracker.TENSORBOARD, None, str(getattr(writer, "_file_name", folder)))
