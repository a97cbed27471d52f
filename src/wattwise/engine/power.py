"""Carbon-aware device power for a running GPU job, on its node.

The head sends a :class:`PowerPlan` with a GPU job that asks for it (``power: carbon``):
the job's power-versus-time profile (from its history), η, its deadline and the
planning signal from now to the deadline. The node's :class:`PowerGovernor` sets each
of the job's GPUs to the limit :func:`~wattwise.optimize.gpu.carbon_power.choose_carbon_power_limit`
picks, chooses again when the hour's intensity changes, and always puts the card back:
at job end, on cancel and crash (``finally``), and after a kill of the whole node
process (a private journal of the limits it changed, restored by the next governor).

A card that refuses (no permission, no power-limit support, no NVML) gets a one-line
note on the job and no cap; nothing else changes. Units: W, s (epoch), gCO₂e/kWh.
"""

from __future__ import annotations

import json
import logging
import math
import os
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING

from wattwise.config import home, private_dir
from wattwise.errors import ConfigError, WattwiseError
from wattwise.meter.process_tree import pid_alive
from wattwise.optimize.gpu.carbon_power import REPLAN_S, choose_carbon_power_limit
from wattwise.optimize.gpu.nvml import PowerLimitActuator
from wattwise.optimize.gpu.power_limit import PowerProfile
from wattwise.units import TimeSeries

if TYPE_CHECKING:  # the worker imports this module: keep SQLAlchemy out of it
    from wattwise.store.runs import RunRecord

log = logging.getLogger(__name__)

#: η when the job names none: energy and time weighed alike, as Zeus's default.
DEFAULT_ETA = 0.5
#: Rungs a recurring job tries, one per run, before history holds a profile: fractions
#: of the card's highest limit (Zeus explores its whole range the same way, one
#: limit per epoch; whole runs here, since the engine sees a job's work only at its end).
EXPLORE_FRACTIONS = (1.0, 0.85, 0.7)
#: A job that declares no runtime is taken to run this long for its power plan. Units: s.
UNKNOWN_RUNTIME_S = 3600.0
#: Explore only with this much slack: deadline − now ≥ factor × expected runtime.
EXPLORE_SLACK = 1.5


@dataclass(frozen=True)
class PowerPlan:
    """What a node needs to govern one job's GPUs. Plain values, so it crosses Ray.

    ``profiles``: (limit W, time s, energy J) for one unit of the job's work;
    ``work_units``: how many units the job runs; ``signal_*``: the planning signal
    (epoch s, gCO₂e/kWh, step s) from dispatch to the deadline.
    """

    eta: float
    profiles: tuple[tuple[float, float, float], ...]
    work_units: float
    deadline_s: float
    signal_times_s: tuple[float, ...]
    signal_values: tuple[float, ...]
    signal_step_s: float = 3600.0
    replan_s: float = REPLAN_S
    #: No profile yet: try the next untried rung of :data:`EXPLORE_FRACTIONS` of the
    #: card's highest limit for the whole run, so history learns the job's profile.
    explore: bool = False
    tried_w: tuple[float, ...] = ()

    def __post_init__(self) -> None:
        if not 0.0 <= self.eta <= 1.0:
            raise ConfigError(f"power eta must be within [0, 1], got {self.eta}")
        if (not self.profiles and not self.explore) or not self.signal_times_s:
            raise ConfigError("a power plan needs a profile (or explore) and a signal")

    def power_profiles(self) -> list[PowerProfile]:
        return [PowerProfile(limit, t, e) for limit, t, e in self.profiles]

    def signal(self) -> TimeSeries:
        import numpy as np

        return TimeSeries(
            np.asarray(self.signal_times_s, dtype=np.float64),
            np.asarray(self.signal_values, dtype=np.float64),
            "gCO2e/kWh",
            self.signal_step_s,
        )


@dataclass
class PowerLog:
    """What the governor did to one job, for the job's record. Units: W, epoch s."""

    limits: list[tuple[float, float]] = field(default_factory=list)  # (at_s, limit_w)
    note: str | None = None

    @property
    def limits_w(self) -> list[float]:
        return [w for _, w in self.limits]


class PowerJournal:
    """The limits a governor changed, kept in a private file until they are put back.

    One file per node: ``{gpu: {"previous_w": W, "pid": owner}}``. Restoring is
    idempotent; an entry whose owner still runs is left alone.
    """

    def __init__(self, path: Path | None = None) -> None:
        self.path = path if path is not None else home() / "power" / "gpu-limits.json"

    def read(self) -> dict[int, dict[str, float]]:
        try:
            raw = json.loads(self.path.read_text(encoding="utf-8"))
        except FileNotFoundError:
            return {}
        except (OSError, ValueError) as err:
            log.warning("power journal %s unreadable (%s); nothing to restore", self.path, err)
            return {}
        return {int(k): v for k, v in raw.items() if isinstance(v, dict)}

    def _write(self, entries: dict[int, dict[str, float]]) -> None:
        private_dir(self.path.parent)
        tmp = self.path.with_suffix(".tmp")
        fd = os.open(tmp, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
        with os.fdopen(fd, "w", encoding="utf-8") as f:
            json.dump({str(k): v for k, v in entries.items()}, f)
        os.replace(tmp, self.path)

    def remember(self, gpu: int, previous_w: float) -> None:
        entries = self.read()
        entries.setdefault(gpu, {"previous_w": previous_w, "pid": os.getpid()})
        self._write(entries)

    def forget(self, gpu: int) -> None:
        entries = self.read()
        if entries.pop(gpu, None) is not None:
            self._write(entries)

    def restore_orphans(self, actuator: PowerLimitActuator) -> list[int]:
        """Put back the limits of owners that died (a killed node process). Returns GPUs."""
        restored = []
        for gpu, entry in self.read().items():
            if pid_alive(int(entry.get("pid", -1))) and int(entry.get("pid", -1)) != os.getpid():
                continue
            try:
                actuator.set_limit_w(gpu, float(entry["previous_w"]))
            except (WattwiseError, KeyError, ValueError) as err:
                log.warning("could not restore GPU %d's power limit: %s", gpu, err)
                continue
            self.forget(gpu)
            restored.append(gpu)
        return restored


class PowerGovernor:
    """Governs one job's GPUs from start to end; ``with`` guarantees the restore."""

    def __init__(
        self,
        plan: PowerPlan,
        gpus: Sequence[int],
        actuator: PowerLimitActuator,
        journal: PowerJournal | None = None,
    ) -> None:
        self.plan = plan
        self.gpus = list(gpus)
        self.actuator = actuator
        self.journal = journal if journal is not None else PowerJournal()
        self.log = PowerLog()
        self._profiles = plan.power_profiles()
        self._by_limit = {p.limit_w: p for p in self._profiles}
        self._signal = plan.signal()
        self._previous: dict[int, float] = {}
        self._limit_w: float | None = None
        self._since_s = 0.0
        self._work_left = plan.work_units
        self._next_s = math.inf
        self._off = False

    def __enter__(self) -> PowerGovernor:
        return self

    def __exit__(self, *exc: object) -> None:
        self.release()

    def start(self, now_s: float) -> None:
        """Choose and set the first limit. A refusal becomes the job's note, no cap."""
        if not self.gpus:
            self._off = True
            self.log.note = "power: no GPU assigned to this job; limit left alone"
            return
        self.journal.restore_orphans(self.actuator)
        self._since_s = now_s
        if self.plan.explore:
            self._explore(now_s)
            return
        self._apply(now_s)

    def _explore(self, now_s: float) -> None:
        self._off = True  # one limit for the whole run: its runtime is the measurement
        try:
            rng = self.actuator.limits(self.gpus[0])
        except WattwiseError as err:
            self.log.note = f"power limit not set: {err}"
            return
        rungs = [max(rng.min_w, round(f * rng.max_w)) for f in EXPLORE_FRACTIONS]
        todo = [w for w in rungs if all(abs(w - t) > 1.0 for t in self.plan.tried_w)]
        if not todo:
            self.log.note = "power: every exploration limit tried; waiting for history"
            return
        self._set(todo[0], now_s)

    def _set(self, limit_w: float, now_s: float) -> bool:
        try:
            for gpu in self.gpus:
                if gpu not in self._previous:
                    previous = self.actuator.get_limit_w(gpu)
                    self.journal.remember(gpu, previous)
                    self._previous[gpu] = previous
                self.actuator.set_limit_w(gpu, limit_w)
        except WattwiseError as err:
            self.log.note = f"power limit not set: {err}"
            log.warning("job power limit not set: %s", err)
            self._off = True
            self.release()
            return False
        self._limit_w = limit_w
        self.log.limits.append((now_s, limit_w))
        return True

    def tick(self, now_s: float) -> None:
        """Choose again once the replan interval has passed (the hour's intensity)."""
        if self._off or now_s < self._next_s:
            return
        self._advance(now_s)
        self._apply(now_s)

    def _advance(self, now_s: float) -> None:
        if self._limit_w is not None:
            done = (now_s - self._since_s) / self._by_limit[self._limit_w].time_s
            self._work_left = max(self._work_left - done, 0.0)
        self._since_s = now_s

    def _apply(self, now_s: float) -> None:
        ref_end = min(self.plan.deadline_s, self._signal.end_s)  # no deadline: the signal's end
        choice = choose_carbon_power_limit(
            self._profiles,
            intensity_g_per_kwh=self._signal.at(now_s),
            ref_intensity_g_per_kwh=self._signal.mean(now_s, max(ref_end, now_s + 1.0)),
            eta=self.plan.eta,
            work_left=max(self._work_left, 1e-9),
            time_left_s=self.plan.deadline_s - now_s,
        )
        self._next_s = now_s + self.plan.replan_s
        if choice.limit_w != self._limit_w:
            self._set(choice.limit_w, now_s)

    def release(self) -> None:
        """Put every card this governor changed back to the limit it had."""
        for gpu, previous in list(self._previous.items()):
            try:
                self.actuator.set_limit_w(gpu, previous)
            except WattwiseError as err:
                log.warning(
                    "could not restore GPU %d's power limit to %g W: %s", gpu, previous, err
                )
                continue
            self.journal.forget(gpu)
            del self._previous[gpu]
        self._limit_w = None


@dataclass(frozen=True)
class PastRun:
    """One finished run of a job, as history recorded it. Units: W, s, J."""

    power_limit_w: float
    duration_s: float
    energy_j: float


def profiles_from_history(runs: Sequence[PastRun]) -> tuple[tuple[float, float, float], ...]:
    """One profile per limit seen: the median run time and energy at that limit.

    The unit of work is one whole run of the job (a recurring job's runs are alike).
    """
    import statistics

    by_limit: dict[float, list[PastRun]] = {}
    for r in runs:
        if r.duration_s > 0 and r.energy_j > 0 and math.isfinite(r.power_limit_w):
            by_limit.setdefault(round(r.power_limit_w), []).append(r)
    return tuple(
        (
            float(limit),
            statistics.median(r.duration_s for r in rs),
            statistics.median(r.energy_j for r in rs),
        )
        for limit, rs in sorted(by_limit.items())
    )


def plan_power(
    history: Sequence[PastRun],
    signal: TimeSeries,
    now_s: float,
    deadline_s: float | None,
    expected_runtime_s: float,
    eta: float = DEFAULT_ETA,
) -> tuple[PowerPlan | None, str]:
    """The plan for a GPU job that asked for carbon-aware power, and why (one line).

    With two or more limits in history: choose among them by carbon. With fewer:
    explore the next rung, when the deadline leaves :data:`EXPLORE_SLACK` × the
    expected runtime. No deadline: the window is one expected runtime ahead.
    """
    end_s = deadline_s if deadline_s is not None else now_s + 2.0 * expected_runtime_s
    window = signal.between(now_s, max(end_s, now_s + 1.0))
    times = tuple(float(t) for t in window.times_s)
    values = tuple(float(v) for v in window.values)
    limit_s = end_s if deadline_s is not None else math.inf

    def make(profiles: tuple[tuple[float, float, float], ...], explore: bool) -> PowerPlan:
        return PowerPlan(
            eta=eta,
            profiles=profiles,
            work_units=1.0,
            deadline_s=limit_s,
            signal_times_s=times,
            signal_values=values,
            signal_step_s=float(window.step_s),
            explore=explore,
            tried_w=tuple(p[0] for p in profiles) if explore else (),
        )

    profiles = profiles_from_history(history)
    if len(profiles) >= 2:
        return make(profiles, explore=False), (
            f"power: choosing among {len(profiles)} limits from {len(history)} past runs"
        )
    if deadline_s is not None and deadline_s - now_s < EXPLORE_SLACK * expected_runtime_s:
        return None, "power: too little slack to explore a lower limit; left at the default"
    return make(profiles, explore=True), ("power: exploring a limit (history holds fewer than two)")


def visible_gpus(env: dict[str, str]) -> list[int] | None:
    """NVML indices of the GPUs a task may use (``CUDA_VISIBLE_DEVICES``, as Ray sets it).

    ``None`` when they are named another way (UUIDs, MIG): then the limit is left alone.
    Assumes CUDA's order is NVML's (``CUDA_DEVICE_ORDER=PCI_BUS_ID``, Ray's default).
    """
    raw = env.get("CUDA_VISIBLE_DEVICES", os.environ.get("CUDA_VISIBLE_DEVICES", ""))
    parts = [p.strip() for p in raw.split(",") if p.strip()]
    if not all(p.isdigit() for p in parts):
        return None
    return [int(p) for p in parts]


class NodePower:
    """The governors of the tasks one worker runs, keyed by task key; opens NVML lazily."""

    def __init__(self, open_actuator: Callable[[], PowerLimitActuator] | None = None) -> None:
        self._open = open_actuator
        self._actuator: PowerLimitActuator | None = None
        self._governors: dict[str, PowerGovernor] = {}
        self.logs: dict[str, PowerLog] = {}

    def start(self, key: str, plan: PowerPlan, env: dict[str, str], now_s: float) -> None:
        gpus = visible_gpus(env)
        if gpus is None:
            self.logs[key] = PowerLog(note="power: GPUs named by UUID; limit left alone")
            return
        if self._actuator is None:
            if self._open is None:
                from wattwise.optimize.gpu.nvml import open_actuator

                self._open = open_actuator
            try:
                self._actuator = self._open()
            except WattwiseError as err:
                self.logs[key] = PowerLog(note=f"power limit not set: {err}")
                return
        gov = PowerGovernor(plan, gpus, self._actuator)
        self._governors[key] = gov
        self.logs[key] = gov.log
        try:
            gov.start(now_s)
        except (WattwiseError, OSError) as err:  # the job runs on, uncapped, and says why
            gov.release()
            gov.log.note = f"power limit not set: {err}"

    def tick(self, now_s: float) -> None:
        for gov in self._governors.values():
            gov.tick(now_s)

    def release(self, key: str) -> None:
        gov = self._governors.pop(key, None)
        if gov is not None:
            gov.release()

    def release_all(self) -> None:
        for key in list(self._governors):
            self.release(key)


def past_power_runs(runs: Sequence[RunRecord], command: Sequence[str]) -> list[PastRun]:
    """The finished engine runs of ``command`` that ran under one known limit.

    Each job run stores ``meta["power_limit_w"]`` when its governor held one limit for
    the whole run (exploring runs do); runs under changing limits teach no profile.
    """
    wanted = list(command)
    out = []
    for r in runs:
        limit = r.meta.get("power_limit_w") if isinstance(r.meta, dict) else None
        if r.kind != "job" or r.command != wanted or not isinstance(limit, int | float):
            continue
        if r.duration_s and r.energy_j and r.status == "completed":
            out.append(PastRun(float(limit), float(r.duration_s), float(r.energy_j)))
    return out


#: ``(zone, start_s, end_s) -> TimeSeries`` of gCO₂e/kWh: the head's planning forecast.
ForecastFn = Callable[[str | None, float, float], TimeSeries]


def plan_for_job(
    *,
    command: Sequence[str],
    gpus: int,
    policy: str,
    eta: float,
    deadline_s: float | None,
    expected_runtime_s: float,
    zone: str | None,
    now_s: float,
    history: Sequence[RunRecord],
    forecast: ForecastFn | None,
) -> tuple[PowerPlan | None, str | None]:
    """The head's side: the plan a ``power: carbon`` job's node gets, and a note.

    ``(None, None)`` for a job that did not ask; ``(None, why)`` when it asked and
    cannot be governed (no GPUs, no signal, too little slack to explore).
    """
    if policy != "carbon":
        return None, None
    if gpus <= 0:
        return None, "power: the job has no GPUs; nothing to govern"
    if forecast is None:
        return None, "power: the head has no carbon signal to plan with; limit left alone"
    end_s = deadline_s if deadline_s is not None else now_s + 2.0 * expected_runtime_s
    try:
        signal = forecast(zone, now_s, max(end_s, now_s + 3600.0))
    except WattwiseError as err:
        return None, f"power: no forecast ({err}); limit left alone"
    if len(signal) == 0:
        return None, "power: the forecast is empty; limit left alone"
    runs = past_power_runs(history, command)
    return plan_power(runs, signal, now_s, deadline_s, expected_runtime_s, eta)


def limits_meta(limits_w: Sequence[float]) -> dict[str, object]:
    """What a finished job's run records of its limits: one held limit teaches history."""
    if not limits_w:
        return {}
    if len(set(limits_w)) == 1:
        return {"power_limit_w": float(limits_w[0]), "power_limits_w": [float(limits_w[0])]}
    return {"power_limits_w": [float(w) for w in limits_w]}


def restore_leftover_limits(
    journal: PowerJournal | None = None,
    open_actuator: Callable[[], PowerLimitActuator] | None = None,
) -> list[int]:
    """At a node's start: put back what a killed head or worker left capped.

    Opens NVML only when the journal holds something. Returns the GPUs restored.
    """
    journal = journal if journal is not None else PowerJournal()
    if not journal.read():
        return []
    if open_actuator is None:
        from wattwise.optimize.gpu import nvml

        open_actuator = nvml.open_actuator
    try:
        restored = journal.restore_orphans(open_actuator())
    except (WattwiseError, OSError) as err:
        log.warning("GPU power limits left by a killed run not restored: %s", err)
        return []
    if restored:
        log.warning("restored the power limit of GPU(s) %s left capped by a killed run",
                    ", ".join(map(str, restored)))  # fmt: skip
    return restored
