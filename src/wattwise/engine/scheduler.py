"""The engine's one scheduling core: a long-lived ``wattwise.schedule`` policy, called
the way the simulator calls it, and the simulator's dispatch rules on live nodes.

The :class:`Scheduler` holds one policy instance for its whole life. It resets it only
when the cluster changes (live nodes become node groups by node type and zone; a node
joining or leaving changes the groups) and at start; then every job still waiting is
offered again as an arrival. Otherwise each job is offered once, when it arrives
(``plan``), as the simulator does; policies with ``replans`` are also called at every
hour boundary (with that call's arrivals, or an empty batch) and after a forecast
refresh. When a job starts, the policy hears ``started(job_id, group, start_h)``.

Hours and seconds meet at one seam, :class:`HourClock` (``origin_s``, ``hour_s``): the
policy's hours, the forecast rows (one value per policy hour, sampled at each hour's
start in wall seconds), runtimes and deadlines go through it. ``hour_s`` below 3600
compresses time (``bench/engine_parity.py``). The origin stays fixed for the
scheduler's life, so the policy's hour indexes stay meaningful from tick to tick.

Dispatch follows :mod:`wattwise.schedule.dispatcher`'s rules (its pure helpers):
waiting jobs in the policy's ``queue_order`` (FIFO by entry to the queue, or
overload-aware EDF by latest safe start; a job's ``priority`` first), a job whose
planned group is full moves to another from ``guard_h`` before its latest safe start
(any group once that passed), and EASY reservations for policies with
``reservations``. Whatever the policy answers, no job starts later than its latest
safe start; a policy that raises leaves its jobs at their latest safe start (logged
once per distinct error) and they are offered again at the next plan.
Units: s (UTC epoch s) outside, h inside the policy, cores.
"""

from __future__ import annotations

import dataclasses
import itertools
import logging
import math
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass

import numpy as np

from wattwise.errors import ConfigError, WattwiseError
from wattwise.schedule.dispatcher import (
    Reservation,
    choose_group,
    reserve,
    serving_order,
    switch_time_h,
)
from wattwise.schedule.model import Cluster, FloatArray, Job, JobBatch, NodeGroup
from wattwise.schedule.policies import POLICIES
from wattwise.schedule.policies.base import ANY_GROUP, ClusterState, ForecastView, Plan, Policy
from wattwise.units import SECONDS_PER_HOUR, TimeSeries

log = logging.getLogger("wattwise.engine")

#: Intensity forecast for a zone over [start_s, end_s]. Units: gCO2e/kWh.
Forecast = Callable[[str | None, float, float], TimeSeries]

#: The engine's former policy names, kept as aliases of schedule policies.
ALIASES = {"asap": "fifo", "carbon": "lowest-window"}
#: Jobs without any runtime are planned as this long. Units: s.
DEFAULT_RUNTIME_S = 3600.0


def policy_names() -> tuple[str, ...]:
    """Every name ``serve --policy`` accepts: the aliases, then the schedule policies."""
    return (*ALIASES, *POLICIES)


def make_engine_policy(name: str) -> Policy:
    """A fresh schedule policy for ``name`` (``asap`` = ``fifo``, ``carbon`` =
    ``lowest-window``)."""
    real = ALIASES.get(name, name)
    if real not in POLICIES:
        raise ConfigError(
            f"unknown policy {name!r}", hint=f"choose from {', '.join(policy_names())}"
        )
    return POLICIES[real]()


@dataclass(frozen=True)
class HourClock:
    """The one seam between wall seconds and the policy's hours: hour ``h`` starts at
    ``origin_s + h * hour_s``. Units: s, h."""

    origin_s: float
    hour_s: float = SECONDS_PER_HOUR

    def __post_init__(self) -> None:
        if not (math.isfinite(self.hour_s) and self.hour_s > 0):
            raise ConfigError(f"hour_s must be a positive number of seconds, got {self.hour_s}")
        if not math.isfinite(self.origin_s):
            raise ConfigError(f"origin_s must be finite, got {self.origin_s}")

    @classmethod
    def starting(cls, now_s: float, hour_s: float = SECONDS_PER_HOUR) -> HourClock:
        """A clock whose hour 0 is the hour (of ``hour_s``) holding ``now_s``."""
        return cls(math.floor(now_s / hour_s) * hour_s, hour_s)

    def to_h(self, t_s: float) -> float:
        """Instant ``t_s`` (epoch s) as hours since the origin."""
        return (t_s - self.origin_s) / self.hour_s

    def to_s(self, h: float) -> float:
        """Hour ``h`` since the origin as an instant (epoch s)."""
        return self.origin_s + h * self.hour_s

    def hours(self, seconds: float) -> float:
        """A duration in policy hours."""
        return seconds / self.hour_s

    def seconds(self, hours: float) -> float:
        """A duration of policy hours in seconds."""
        return hours * self.hour_s

    def hour_of(self, t_s: float) -> int:
        """The whole hour holding ``t_s``."""
        return math.floor(self.to_h(t_s) + 1e-9)


@dataclass(frozen=True)
class NodeView:
    """A live node and what is free on it now. Units: cores, GPUs."""

    node_id: str
    name: str
    cpus: float
    gpus: float
    free_cpus: float
    free_gpus: float
    node_type: str | None = None
    zone: str | None = None


@dataclass(frozen=True)
class PendingJob:
    """A job waiting to start. Units: cores; s; epoch s.

    ``runtime_s``/``runtime_upper_s``: what it is planned with (declared or predicted,
    and the upper bound its latest start leaves room for); ``hold_until_s``: no start
    before this (a paused job's resume time)."""

    job_id: int
    cpus: float
    gpus: int
    n_tasks: int
    submitted_s: float
    latest_start_s: float
    runtime_s: float | None = None
    node_type: str | None = None
    zone: str | None = None
    excluded_nodes: tuple[str, ...] = ()
    priority: int = 0
    runtime_upper_s: float | None = None
    hold_until_s: float | None = None


@dataclass(frozen=True)
class Placement:
    """Start ``job_id`` at ``start_s`` (epoch s) on ``node_ids`` (in preference order).

    ``node_ids`` empty means no node can take the job now; ``reason`` says why.
    """

    job_id: int
    start_s: float
    node_ids: tuple[str, ...]
    reason: str = ""


@dataclass(frozen=True)
class TaskStart:
    """Start one task of ``job_id`` on ``node_id`` now."""

    job_id: int
    node_id: str


def eligible(job: PendingJob, nodes: Sequence[NodeView]) -> list[NodeView]:
    """Nodes that match the job's type and zone and are big enough for one task."""
    return [
        n
        for n in nodes
        if (job.node_type is None or n.node_type == job.node_type)
        and (job.zone is None or n.zone == job.zone)
        and n.node_id not in job.excluded_nodes
        and n.cpus >= job.cpus
        and n.gpus >= job.gpus
    ]


def no_node_reason(job: PendingJob) -> str:
    wants = [f"{job.cpus:g} cpus"]
    if job.gpus:
        wants.append(f"{job.gpus} gpus")
    if job.node_type:
        wants.append(f"node_type={job.node_type}")
    if job.zone:
        wants.append(f"zone={job.zone}")
    return f"no live node offers {', '.join(wants)}; waiting for one to join"


def group_name(node_type: str | None, zone: str | None) -> str:
    """The node group of live nodes of ``node_type`` in ``zone``: ``type@zone``."""
    return f"{node_type or 'any'}@{zone or '-'}"


@dataclass
class _Entry:
    """A job the scheduler knows: its record in hours, its plan, its place in the queue."""

    pending: PendingJob
    job: Job
    group: int = ANY_GROUP
    start_s: float = math.inf
    planned: bool = False  # the policy (or the fallback) has planned it
    fallback: bool = False  # planned by the fallback: offer it again at the next plan
    seq: int = 0  # plan order, for jobs due at the same instant
    queue_key: float | None = None  # set once it waited for room
    started: bool = False  # the policy heard ``started``
    remaining: int = 1  # tasks still to start

    @property
    def upper_h(self) -> float:
        """The calibrated upper bound of its run on a speed-1.0 group. Units: h."""
        return self.job.length_h if self.job.length_upper_h is None else self.job.length_upper_h


@dataclass(frozen=True)
class _Run:
    group: int
    expected_end_h: float
    cpus: float
    gpus: float


class Scheduler:
    """One long-lived schedule policy on the live nodes; see the module docstring.

    ``forecast(zone, start_s, end_s)`` (optional) feeds the policy's forecast rows
    (``horizon_h`` policy hours each); ``hour_s``: wall seconds per policy hour;
    ``origin_s``: hour 0 (default: the start of the hour holding the first call);
    ``calendar_h``: hours the policy is reset for (past them the scheduler starts a new
    origin, as at a cluster change); ``node_groups``: per node type, the
    :class:`NodeGroup` whose power, idle power and speed the policy scores with (count,
    cores and zone come from the live nodes).
    """

    def __init__(
        self,
        policy: Policy,
        forecast: Forecast | None = None,
        *,
        hour_s: float = SECONDS_PER_HOUR,
        origin_s: float | None = None,
        horizon_h: int = 48,
        calendar_h: int = 24 * 366,
        node_groups: Mapping[str, NodeGroup] | None = None,
    ) -> None:
        if horizon_h < 1 or calendar_h < 1:
            raise ConfigError(f"horizon_h and calendar_h must be >= 1 hour, got {horizon_h}")
        self.policy = policy
        self.forecast = forecast
        self.hour_s = float(hour_s)
        self.horizon_h = int(horizon_h)
        self.calendar_h = int(calendar_h)
        self.node_groups = dict(node_groups or {})
        self.clock: HourClock | None = (
            None if origin_s is None else HourClock(float(origin_s), self.hour_s)
        )
        HourClock(0.0, self.hour_s)  # a bad hour_s fails here, not at the first tick
        self.cluster: Cluster | None = None
        self.resets = 0
        self._members: list[list[str]] = []  # node ids per group
        self._entries: dict[int, _Entry] = {}
        self._running: dict[int, _Run] = {}
        self._view: ForecastView | None = None
        self._called_hour: int | None = None  # the hour of the last policy call
        self._seq = itertools.count()
        self._tick = 0.0
        self._errors: set[str] = set()
        self._forecast_errors: set[str] = set()
        self._last_nodes: list[NodeView] = []

    # -- planning ----------------------------------------------------------------

    def plan(
        self, jobs: Sequence[PendingJob], nodes: Sequence[NodeView], now_s: float
    ) -> list[Placement]:
        """Take ``jobs`` (new ones are offered to the policy as arrivals), call the
        policy as the hour and the cluster require, and return the placement of every
        job in ``jobs`` and of every other job whose plan changed."""
        clock = self._clock(now_s)
        changed: set[int] = set()
        if self._sync(nodes, now_s):
            changed |= {i for i, e in self._entries.items() if not e.started}
        offer: list[int] = []
        for p in jobs:
            e = self._entries.get(p.job_id)
            if e is None or e.started or e.pending != p:
                if e is not None and e.started:  # a new segment or attempt
                    self._running.pop(p.job_id, None)
                e = self._entries[p.job_id] = _Entry(p, self._job(p, clock), remaining=p.n_tasks)
            if not e.planned or e.fallback:
                offer.append(p.job_id)
        if self.cluster is not None:
            changed |= self._call(now_s, offer)
        ids = dict.fromkeys([p.job_id for p in jobs] + sorted(changed))
        return [self.placement(i, nodes, now_s) for i in ids if i in self._entries]

    def replan_due(self, now_s: float) -> bool:
        """A replanning policy is due its hourly call (an hour boundary passed since it
        was last called): the caller then calls :meth:`plan`. Other policies get the
        new hour's forecast rows at their next call."""
        if self.clock is None or self.cluster is None or not self.policy.replans:
            return False
        return self.clock.hour_of(now_s) != self._called_hour

    def refresh_forecast(self) -> None:
        """The forecast changed: read it again at the next :meth:`plan` and call a
        replanning policy then, with no new jobs if none came."""
        self._view = None
        self._called_hour = None if self.policy.replans else self._called_hour

    def placement(self, job_id: int, nodes: Sequence[NodeView], now_s: float) -> Placement:
        e = self._entries.get(job_id)
        if e is None:
            return Placement(job_id, now_s, (), "not planned")
        fits = eligible(e.pending, nodes)
        if not fits:
            return Placement(job_id, now_s, (), no_node_reason(e.pending))
        if not e.planned:
            return Placement(job_id, now_s, (), "waiting for the policy's plan")
        ids = self._nodes_of(e, e.group, fits)
        reason = "planned by the fallback (the policy failed)" if e.fallback else ""
        return Placement(job_id, e.start_s, tuple(ids), reason)

    def use(self, policy: Policy) -> None:
        """Switch to ``policy``: it is reset on the cluster at the next :meth:`plan`,
        and every job still waiting is offered to it."""
        self.policy = policy
        self.cluster = None

    def set_origin(self, origin_s: float) -> None:
        """Hour 0 begins at ``origin_s`` (epoch s) from now on: for a replayed grid whose
        hours begin when the replay starts, not when the head did. The policy is reset
        at the next :meth:`plan` and every job still waiting is offered again."""
        self.clock = HourClock(float(origin_s), self.hour_s)
        for e in self._entries.values():
            e.job = self._job(e.pending, self.clock)
        self._running.clear()
        self.cluster = None
        self._view = None

    def withdraw(self, job_id: int) -> None:
        """Forget a job (cancelled, finished, or gone from the head). One that had not
        started is withdrawn from the policy, so its planned room is free again."""
        e = self._entries.pop(job_id, None)
        self._running.pop(job_id, None)
        if e is not None and e.planned and not e.started and self.cluster is not None:
            self.policy.withdrawn(job_id)

    def _clock(self, now_s: float) -> HourClock:
        if self.clock is None:
            self.clock = HourClock.starting(now_s, self.hour_s)
        return self.clock

    def _job(self, p: PendingJob, clock: HourClock) -> Job:
        runtime_s = p.runtime_s if p.runtime_s is not None else DEFAULT_RUNTIME_S
        upper_s = max(runtime_s, p.runtime_upper_s or runtime_s)
        arrival_s = max(p.submitted_s, p.hold_until_s or -math.inf)
        latest_s = max(p.latest_start_s, arrival_s)
        return Job(
            job_id=p.job_id,
            arrival_h=clock.to_h(arrival_s),
            length_h=clock.hours(runtime_s),
            cpus=max(1, math.ceil(p.cpus - 1e-9)),
            deadline_h=clock.to_h(latest_s) + clock.hours(upper_s),
            gpus=p.gpus,
            priority=p.priority,
            length_upper_h=clock.hours(upper_s),
        )

    def _sync(self, nodes: Sequence[NodeView], now_s: float) -> bool:
        """Rebuild the node groups; reset the policy when they changed (or the calendar
        ran out). Returns whether it reset."""
        clock = self._clock(now_s)
        keys = sorted(
            {(n.node_type, n.zone) for n in nodes}, key=lambda k: (k[0] or "", k[1] or "")
        )
        members = [
            sorted((n for n in nodes if (n.node_type, n.zone) == k), key=lambda n: n.name)
            for k in keys
        ]
        groups = tuple(self._group(t, z, ns) for (t, z), ns in zip(keys, members, strict=True))
        cluster = Cluster(groups=groups, name="engine") if groups else None
        self._members = [[n.node_id for n in ns] for ns in members]
        self._last_nodes = list(nodes)
        over = clock.hour_of(now_s) >= self.calendar_h
        if cluster == self.cluster and not over:
            return False
        if over:  # a new origin: the policy's calendar covers calendar_h hours from it
            self.clock = HourClock.starting(now_s, self.hour_s)
            for e in self._entries.values():
                e.job = self._job(e.pending, self.clock)
            self._running.clear()
        self.cluster = cluster
        self._view = None
        if cluster is None:
            return False
        self.policy.reset(cluster, self.calendar_h)
        self.resets += 1
        self._called_hour = None
        # Every job still waiting is offered again, as an arrival.
        for e in self._entries.values():
            if not e.started:
                e.planned, e.queue_key = False, None
        log.info("scheduler: %d node group(s); policy %s reset", len(groups), self.policy.name)
        return True

    def _group(self, node_type: str | None, zone: str | None, ns: list[NodeView]) -> NodeGroup:
        template = self.node_groups.get(node_type or "") or NodeGroup(name="", count=1, cpus=1)
        return dataclasses.replace(
            template,
            name=group_name(node_type, zone),
            count=len(ns),
            cpus=max(1, math.floor(min(n.cpus for n in ns) + 1e-9)),
            gpus=math.floor(min(n.gpus for n in ns) + 1e-9),
            zone=zone,
        )

    def _call(self, now_s: float, offer: list[int]) -> set[int]:
        """One policy call with the jobs in ``offer`` that a live node can take (and,
        after a reset, every waiting job). Returns the jobs whose plan changed."""
        assert self.clock is not None and self.cluster is not None
        clock, cluster = self.clock, self.cluster
        hour = clock.hour_of(now_s)
        arrivals = [e for e in self._entries.values() if not e.started and not e.planned]
        arrivals += [self._entries[i] for i in offer if self._entries[i].fallback]
        arrivals = [e for e in arrivals if self._eligible_groups(e)]
        arrivals = list({e.pending.job_id: e for e in arrivals}.values())
        hourly = self.policy.replans and self._called_hour != hour
        if not arrivals and not hourly:
            return set()
        if self._view is None or self._view.hour != hour:
            self._view = self._forecast_view(hour)
        self._called_hour = hour
        batch = JobBatch.from_jobs([e.job for e in arrivals])
        free_c, free_g = self._free(self._last_nodes)
        state = ClusterState(cluster, free_c, free_g)
        try:
            plan = self.policy.plan(clock.to_h(now_s), batch, state, self._view)
        except Exception as err:  # a policy bug must not stop the head or its jobs
            self._fell_back(err, arrivals, now_s)
            return {e.pending.job_id for e in arrivals}
        return self._apply(plan, now_s)

    def _apply(self, plan: Plan, now_s: float) -> set[int]:
        assert self.clock is not None
        changed: set[int] = set()
        for job_id, g, start_h in zip(
            plan.job_id.tolist(), plan.group.tolist(), plan.start_h.tolist(), strict=True
        ):
            e = self._entries.get(int(job_id))
            if e is None or e.started:
                continue
            groups = self._eligible_groups(e)
            if not groups:
                continue
            if g != ANY_GROUP and g not in groups:
                g = groups[0]  # the policy does not see node type and zone constraints
            e.group, e.start_s = g, self._clamp(e, self.clock.to_s(float(start_h)), now_s)
            e.planned, e.fallback, e.seq = True, False, next(self._seq)
            if e.start_s > now_s:
                e.queue_key = None
            changed.add(e.pending.job_id)
        return changed

    def _clamp(self, e: _Entry, start_s: float, now_s: float) -> float:
        """The rule no policy may break: start by the latest safe start (and not before
        a paused job's resume time)."""
        p = e.pending
        hold = p.hold_until_s if p.hold_until_s is not None else -math.inf
        latest = max(now_s, p.latest_start_s, hold)
        return max(min(start_s, latest), hold)

    def _fell_back(self, err: Exception, arrivals: list[_Entry], now_s: float) -> None:
        first = (str(err).strip().splitlines() or [""])[0]
        why = f"policy {type(self.policy).__name__} failed: {type(err).__name__}: {first}"[:300]
        if why not in self._errors:
            self._errors.add(why)
            log.error("%s; jobs start at their latest safe start", why)
        for e in arrivals:
            e.group, e.start_s = ANY_GROUP, self._clamp(e, e.pending.latest_start_s, now_s)
            e.planned, e.fallback, e.seq = True, True, next(self._seq)

    def _forecast_view(self, hour: int) -> ForecastView:
        """Forecast rows per group: one value per policy hour, sampled at each hour's
        start (wall s), issued at ``hour``. No forecast: zeros (every hour alike)."""
        assert self.clock is not None and self.cluster is not None
        clock = self.clock
        starts = np.array([clock.to_s(hour + k) for k in range(self.horizon_h)])
        rows: dict[str | None, FloatArray] = {}
        for g in self.cluster.groups:
            if g.zone in rows:
                continue
            row = np.zeros(self.horizon_h)
            if self.forecast is not None:
                try:
                    series = self.forecast(
                        g.zone, float(starts[0]), float(starts[-1]) + clock.hour_s
                    )
                    row = np.asarray(series.at(starts), dtype=np.float64)
                except WattwiseError as err:
                    why = f"no forecast for zone {g.zone}: {err}"
                    if why not in self._forecast_errors:
                        self._forecast_errors.add(why)
                        log.warning("%s; planning as if every hour were alike", why)
            rows[g.zone] = row
        intensity = np.stack([rows[g.zone] for g in self.cluster.groups])
        return ForecastView(hour=hour, intensity=intensity, pv_w=np.zeros_like(intensity))

    # -- dispatch ----------------------------------------------------------------

    def dispatch(
        self, now_s: float, nodes: Sequence[NodeView], jobs: Mapping[int, int]
    ) -> list[TaskStart]:
        """The tasks to start now, by the simulator's dispatch rules (module docstring).

        ``nodes``: live nodes with what is free on them now; ``jobs``: every job the
        caller still holds and how many of its tasks wait to start (0: all running).
        Jobs it no longer holds are forgotten. The policy hears ``started`` for each job
        whose first task starts here."""
        if self.clock is None or self.cluster is None:
            return []
        for i in [i for i in self._entries if i not in jobs]:
            self.withdraw(i)
        for i in [i for i in self._running if i not in jobs]:
            del self._running[i]
        entries = self._entries
        for i, n in jobs.items():
            if i in entries:
                entries[i].remaining = n
        due = [
            e
            for e in entries.values()
            if e.planned and e.remaining > 0 and e.start_s <= now_s + 1e-6
        ]
        if not due:
            return []
        t = self.clock.to_h(now_s)
        edf = self.policy.queue_order == "edf"
        waiting = sorted((e.queue_key, e.pending.job_id) for e in due if e.queue_key is not None)
        served = [entries[waiting[pos][1]] for pos in serving_order(waiting, t, edf)]
        served.sort(key=lambda e: -e.pending.priority)  # stable: queue order within a priority
        ready = sorted(
            (e for e in due if e.queue_key is None),
            key=lambda e: (-e.pending.priority, e.start_s, e.seq),
        )
        free = {n.node_id: [n.free_cpus, n.free_gpus] for n in nodes}
        resv: dict[int, Reservation] = {}
        starts: list[TaskStart] = []
        for e in served + ready:
            g = self._choose(e, t, free, resv)
            if g < 0:
                if e.queue_key is None:
                    self._tick += 1.0
                    e.queue_key = e.job.deadline_h - e.upper_h if edf else self._tick
                if getattr(self.policy, "reservations", False):
                    self._reserve(e, t, free, resv)
                continue
            starts += self._start(e, g, t, free, resv)
        return starts

    def _speed(self, g: int) -> float:
        assert self.cluster is not None
        return float(self.cluster.groups[g].speed)

    def _fits(self, e: _Entry, g: int, t: float, free: dict[str, list[float]],
              resv: dict[int, Reservation]) -> bool:  # fmt: skip
        if g >= len(self._members):
            return False
        p = e.pending
        ok = {n.node_id for n in eligible(p, self._last_nodes)}
        room = any(
            i in ok and i in free and free[i][0] >= p.cpus - 1e-9 and free[i][1] >= p.gpus
            for i in self._members[g]
        )
        r = resv.get(g)
        run_h = e.upper_h / self._speed(g)
        return room and (r is None or r.admits(t, run_h, p.cpus, p.gpus))

    def _choose(self, e: _Entry, t: float, free: dict[str, list[float]],
                resv: dict[int, Reservation]) -> int:  # fmt: skip
        assert self.cluster is not None
        want = e.group
        speed = [g.speed for g in self.cluster.groups]
        upper, deadline = e.upper_h, e.job.deadline_h
        switch = -math.inf
        if want != ANY_GROUP:
            switch = switch_time_h(
                deadline - upper / speed[want],
                float(getattr(self.policy, "guard_h", 0.0)),
                float(getattr(self.policy, "patience_h", 0.0)),
            )
        order = getattr(self.policy, "group_order", list(range(len(self.cluster.groups))))
        return choose_group(
            want,
            t,
            order,
            lambda g: self._fits(e, g, t, free, resv),
            deadline,
            upper,
            speed,
            switch,
        )

    def _pooled(self, g: int, free: dict[str, list[float]]) -> tuple[float, float]:
        ids = [i for i in self._members[g] if i in free]
        return sum(free[i][0] for i in ids), sum(free[i][1] for i in ids)

    def _reserve(self, e: _Entry, t: float, free: dict[str, list[float]],
                 resv: dict[int, Reservation]) -> None:  # fmt: skip
        """The blocked job's reservation on its group (EASY), if that group has none."""
        assert self.cluster is not None
        p, want = e.pending, e.group
        groups = self.cluster.groups
        if want == ANY_GROUP:
            order = [g for g in self._eligible_groups(e) if groups[g].total_cpus >= p.cpus]
            if not order:
                return
            want = order[0]
        if want in resv or groups[want].total_cpus < p.cpus or groups[want].total_gpus < p.gpus:
            return
        runs = {i: r for i, r in self._running.items() if r.group == want}
        running = sorted((r.expected_end_h, i) for i, r in runs.items())
        cpus = {i: r.cpus for i, r in runs.items()}
        gpus = {i: r.gpus for i, r in runs.items()}
        resv[want] = reserve((p.cpus, p.gpus), self._pooled(want, free), t, running, cpus, gpus)

    def _start(self, e: _Entry, g: int, t: float, free: dict[str, list[float]],
               resv: dict[int, Reservation]) -> list[TaskStart]:  # fmt: skip
        """Start as many of the job's tasks as fit on group ``g`` (each on the eligible
        node with the least room that holds it, so big nodes stay whole)."""
        p = e.pending
        ok = {n.node_id for n in eligible(p, self._last_nodes)}
        names = {n.node_id: n.name for n in self._last_nodes}
        out: list[TaskStart] = []
        for _ in range(e.remaining):
            fit = [
                i
                for i in self._members[g]
                if i in ok and i in free and free[i][0] >= p.cpus - 1e-9 and free[i][1] >= p.gpus
            ]
            if not fit:
                break
            node = min(fit, key=lambda i: (free[i][0], free[i][1], names.get(i, i)))
            free[node][0] -= p.cpus
            free[node][1] -= p.gpus
            out.append(TaskStart(p.job_id, node))
        e.remaining -= len(out)
        expected_end = t + e.upper_h / self._speed(g)
        r = resv.get(g)
        if r is not None:
            r.backfilled(expected_end, p.cpus * len(out), p.gpus * len(out))
        if not e.started:
            e.started = True
            self._running[p.job_id] = _Run(g, expected_end, p.cpus * len(out), p.gpus * len(out))
            self.policy.started(p.job_id, g, t)
        else:
            run = self._running.get(p.job_id)
            if run is not None:
                self._running[p.job_id] = dataclasses.replace(
                    run, cpus=run.cpus + p.cpus * len(out), gpus=run.gpus + p.gpus * len(out)
                )
        e.queue_key = None
        return out

    # -- nodes -------------------------------------------------------------------

    def _free(self, nodes: Sequence[NodeView]) -> tuple[np.ndarray, np.ndarray]:
        by_id = {n.node_id: n for n in nodes}
        c = [sum(max(by_id[i].free_cpus, 0.0) for i in ids if i in by_id) for ids in self._members]
        g = [sum(max(by_id[i].free_gpus, 0.0) for i in ids if i in by_id) for ids in self._members]
        return np.floor(np.array(c) + 1e-9).astype(np.int64), np.floor(np.array(g) + 1e-9).astype(
            np.int64
        )

    def _eligible_groups(self, e: _Entry) -> list[int]:
        """Groups (in the policy's group order) holding a node the job can use."""
        if self.cluster is None:
            return []
        ok = {n.node_id for n in eligible(e.pending, self._last_nodes)}
        order = getattr(self.policy, "group_order", range(len(self._members)))
        return [g for g in order if g < len(self._members) and ok & set(self._members[g])]

    def _nodes_of(self, e: _Entry, g: int, fits: Sequence[NodeView]) -> list[str]:
        if g == ANY_GROUP:
            order = getattr(self.policy, "group_order", range(len(self._members)))
            ids = [i for gi in order if gi < len(self._members) for i in self._members[gi]]
        else:
            ids = self._members[g] if g < len(self._members) else []
        ok = {n.node_id for n in fits}
        return [i for i in ids if i in ok]
