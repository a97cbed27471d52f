"""The dispatcher of the capacity-limited simulation: planned starts and completions
in time order, against the real free cores and GPUs of each node group.

A job whose planned group is full waits, first come first served with backfilling (or
earliest deadline first, for policies whose ``queue_order`` is "edf": by latest safe
start, jobs already past it last), and may take any group that still meets its
deadline from ``guard_h`` before its latest safe start, any group at all once that
has passed. Policies with ``reservations`` get EASY-style backfilling: the first
blocked job in queue order holds a reservation on its group from when the running
jobs' upper estimates say enough frees up, and later jobs may start there only if
they end before it or use cores it leaves spare.
"""

from __future__ import annotations

import bisect
import heapq
import itertools
import math
from collections.abc import Callable, Iterator, Mapping, Sequence
from dataclasses import dataclass

import numpy as np

from wattwise.schedule.model import Cluster, FloatArray, IntArray, JobBatch
from wattwise.schedule.policies.base import ANY_GROUP, Policy

# -- the rules, as pure functions (the engine's live scheduler uses them too) ----------


@dataclass(slots=True)
class Reservation:
    """An EASY-style reservation on a group for its most urgent blocked job: from
    ``shadow_h`` enough cores free up for it; ``spare_cpus``/``spare_gpus`` are what it
    leaves to jobs that run past then. Units: h, cores, GPUs."""

    shadow_h: float
    spare_cpus: float
    spare_gpus: float

    def admits(self, t: float, run_upper_h: float, cpus: float, gpus: float) -> bool:
        """May a job of ``cpus``/``gpus`` whose run (upper estimate) lasts
        ``run_upper_h`` start at ``t`` without delaying the reserved job?"""
        ends_before = t + run_upper_h <= self.shadow_h + 1e-9
        return ends_before or (cpus <= self.spare_cpus and gpus <= self.spare_gpus)

    def backfilled(self, expected_end_h: float, cpus: float, gpus: float) -> None:
        """A job started beside the reservation: one that outlasts the shadow time uses
        spare cores."""
        if expected_end_h > self.shadow_h + 1e-9:
            self.spare_cpus -= cpus
            self.spare_gpus -= gpus


def reserve(
    need: tuple[float, float],
    free: tuple[float, float],
    t: float,
    running: Sequence[tuple[float, int]],
    cpus: Sequence[float] | Mapping[int, float],
    gpus: Sequence[float] | Mapping[int, float],
) -> Reservation:
    """The reservation for a blocked job needing ``need`` (cores, GPUs) on a group with
    ``free`` now: walk the group's ``running`` jobs, sorted (expected end, key), from the
    soonest end until enough is free (jobs already past their expected end count as
    ending now, in key order). ``cpus[key]``/``gpus[key]``: what each running job holds."""
    need_c, need_g = need
    free_c, free_g = free
    shadow = t
    overdue = bisect.bisect_right(running, (t, math.inf))
    ends = sorted((t, r) for _, r in running[:overdue]) if overdue else []
    for end, r in itertools.chain(ends, itertools.islice(running, overdue, None)):
        if free_c >= need_c and free_g >= need_g:
            break
        free_c += cpus[r]
        free_g += gpus[r]
        shadow = end
    return Reservation(shadow, free_c - need_c, free_g - need_g)


def switch_time_h(latest_h: float, guard_h: float, patience_h: float) -> float:
    """When a job waiting for its planned group may look at others: ``guard_h`` (and
    ``patience_h``) before its latest safe start there. Units: h."""
    return latest_h - guard_h - patience_h - 1e-9


def choose_group(
    want: int,
    t: float,
    order: Sequence[int],
    fits: Callable[[int], bool],
    deadline_h: float,
    upper_h: float,
    speed: Sequence[float],
    switch_h: float,
) -> int:
    """The group a ready job starts on at ``t``, -1 to wait. Its planned group ``want``
    when it fits; before ``switch_h`` nothing else; then any group (in ``order``) fast
    enough to meet ``deadline_h`` by the upper estimate ``upper_h``; once its latest safe
    start on ``want`` has passed, any group at all. ``want`` ANY_GROUP: the first
    group that fits. ``fits(g)``: room (and the reservation's leave) on group ``g``."""
    if want != ANY_GROUP:
        if fits(want):
            return want
        if t < switch_h:
            return -1
        latest = deadline_h - upper_h / speed[want]
        # The deadline is near: any group that still meets it, then any at all.
        for g in order:
            if t + upper_h / speed[g] <= deadline_h and fits(g):
                return g
        if t < latest - 1e-9:
            return -1
    for g in order:
        if fits(g):
            return g
    return -1


def serving_order(waiting: Sequence[tuple[float, int]], t: float, edf: bool) -> Iterator[int]:
    """Positions in ``waiting`` (sorted by queue key: arrival in the queue for FIFO,
    latest safe start for EDF) in the order they are served at ``t``. Overload-aware
    EDF: jobs already past their latest start will miss anyway; serving them first would
    make the salvageable ones miss too (the EDF domino effect), so they come last."""
    cut = bisect.bisect_left(waiting, (t, -1)) if edf else 0
    return itertools.chain(range(cut, len(waiting)), range(cut))


class Dispatcher:
    """Planned starts and completions in time order, against real capacity."""

    def __init__(self, jobs: JobBatch, cluster: Cluster, policy: Policy, speed: FloatArray) -> None:
        self.jobs = jobs
        self.policy = policy
        self.free_cpus = [g.total_cpus for g in cluster.groups]
        self.free_gpus = [g.total_gpus for g in cluster.groups]
        self.cpus = jobs.cpus.tolist()
        self.job_id = jobs.job_id.tolist()
        self.gpus = jobs.gpus.tolist()
        self.length = jobs.length_h.tolist()
        self.deadline = jobs.deadline_h.tolist()
        self.upper = jobs.length_upper_h.tolist()
        self.speed = speed.tolist()
        self.ready_heap: list[tuple[float, int, int]] = []
        self.done_heap: list[tuple[float, int, int]] = []
        # Waiting jobs as (key, row): arrival order, or latest start for EDF policies.
        self.waiting: list[tuple[float, int]] = []
        self.edf = getattr(policy, "queue_order", "fifo") == "edf"
        self.latest = (jobs.deadline_h - jobs.length_upper_h).tolist()
        self.tick = 0.0
        # A job planned on one group may move to another this long before its latest
        # safe start there (policies that plan with a guard say how long).
        self.guard_h = float(getattr(policy, "guard_h", 0.0))
        self.patience_h = float(getattr(policy, "patience_h", 0.0))

        # The latest plan of each row: its version and the group it is planned on.
        self.version = [0] * len(jobs)
        self.want = [ANY_GROUP] * len(jobs)
        self.total_cpus = [g.total_cpus for g in cluster.groups]
        self.total_gpus = [g.total_gpus for g in cluster.groups]
        # Backfilling with reservations (EASY), for policies that ask: the most urgent
        # blocked job holds a reservation on its group, and later jobs may start there
        # only if they end (by their upper estimate) before it can start, or use cores
        # it will not need. Without it, a stream of small jobs starves wide ones.
        self.reserve = bool(getattr(policy, "reservations", False))
        # Running jobs per group as sorted (expected end, row): a reservation walks
        # them from the soonest end only until enough cores are free.
        self.running: list[list[tuple[float, int]]] = [[] for _ in cluster.groups]
        self.expected_end = [0.0] * len(jobs)
        self.resv: dict[int, Reservation] = {}  # group -> its reservation
        self.started = [False] * len(jobs)
        # Per waiting row: the group it waits for, and when it may look at others.
        self.wait_group = [ANY_GROUP] * len(jobs)
        self.wait_switch = [-math.inf] * len(jobs)

    def ready(self, t: float, row: int, ver: int, want: int) -> None:
        """The policy planned ``row`` (plan version ``ver``) to start at ``t`` on group
        ``want`` (or ANY_GROUP); a newer plan supersedes an older one."""
        self.version[row] = ver
        self.want[row] = want
        heapq.heappush(self.ready_heap, (t, ver, row))

    def idle(self) -> bool:
        return not self.ready_heap and not self.done_heap and not self.waiting

    def _fits(self, row: int, g: int, t: float) -> bool:
        if self.free_cpus[g] < self.cpus[row] or self.free_gpus[g] < self.gpus[row]:
            return False
        r = self.resv.get(g)
        return r is None or r.admits(
            t, self.upper[row] / self.speed[g], self.cpus[row], self.gpus[row]
        )

    def _reserve(self, row: int, want: int, t: float) -> None:
        """Give blocked ``row`` the reservation on its group if that group has none:
        when, by the running jobs' upper estimates, enough frees up for it."""
        if want == ANY_GROUP:
            order = [g for g in self.policy.group_order if self.total_cpus[g] >= self.cpus[row]]
            if not order:
                return
            want = order[0]
        too_big = self.total_cpus[want] < self.cpus[row] or self.total_gpus[want] < self.gpus[row]
        if want in self.resv or too_big:
            return
        self.resv[want] = reserve(
            (self.cpus[row], self.gpus[row]),
            (self.free_cpus[want], self.free_gpus[want]),
            t,
            self.running[want],
            self.cpus,
            self.gpus,
        )

    def _switch_h(self, row: int, g: int) -> float:
        """When a job waiting for group ``g`` may look at other groups. Units: h."""
        latest = self.deadline[row] - self.upper[row] / self.speed[g]
        return switch_time_h(latest, self.guard_h, self.patience_h)

    def _wait_for(self, row: int, want: int) -> tuple[int, float]:
        """Remember the group ``row`` waits for and when it may look at others."""
        switch = self._switch_h(row, want) if want >= 0 else -math.inf
        self.wait_group[row] = want
        self.wait_switch[row] = switch
        return want, switch

    def _choose(self, row: int, want: int, t: float, switch: float | None = None) -> int:
        """The group ``row`` starts on now, -1 to wait. ``switch``: when it may look at
        groups other than ``want`` (computed when not given)."""
        if switch is None:
            switch = self._switch_h(row, want) if want != ANY_GROUP else -math.inf
        return choose_group(
            want,
            t,
            self.policy.group_order,
            lambda g: self._fits(row, g, t),
            self.deadline[row],
            self.upper[row],
            self.speed,
            switch,
        )

    def _start(self, row: int, g: int, t: float, start: FloatArray, group: IntArray) -> None:
        self.free_cpus[g] -= self.cpus[row]
        self.free_gpus[g] -= self.gpus[row]
        start[row] = t
        group[row] = g
        self.started[row] = True
        expected_end = t + self.upper[row] / self.speed[g]
        r = self.resv.get(g)
        if r is not None:
            r.backfilled(expected_end, self.cpus[row], self.gpus[row])
        if self.reserve:
            self.expected_end[row] = expected_end
            bisect.insort(self.running[g], (expected_end, row))

        heapq.heappush(self.done_heap, (t + self.length[row] / self.speed[g], row, g))
        self.policy.started(self.job_id[row], g, t)

    def run_until(self, t_end: float, start: FloatArray, group: IntArray) -> None:
        """Start and finish jobs up to ``t_end``, writing starts and groups into
        ``start`` and ``group``."""
        ready, done = self.ready_heap, self.done_heap
        while True:
            t_r = ready[0][0] if ready else np.inf
            t_d = done[0][0] if done else np.inf
            t = min(t_r, t_d)
            if t >= t_end:
                return
            if t_d <= t_r:
                _, row, g = heapq.heappop(done)
                self._finish(row, g)
                # Drain every completion at this instant before starting waiters.
                while done and done[0][0] <= t:
                    _, r2, g2 = heapq.heappop(done)
                    self._finish(r2, g2)
                self._serve_waiting(t, start, group)
                continue
            _, ver, row = heapq.heappop(ready)
            if ver != self.version[row] or self.started[row]:
                continue
            w = self.want[row]
            g = self._choose(row, w, t)
            if g >= 0:
                self._start(row, g, t, start, group)
            else:
                self.tick += 1.0
                self._wait_for(row, w)
                bisect.insort(self.waiting, (self.latest[row] if self.edf else self.tick, row))
                if self.reserve:
                    self._reserve(row, w, t)

    def _finish(self, row: int, g: int) -> None:
        self.free_cpus[g] += self.cpus[row]
        self.free_gpus[g] += self.gpus[row]
        if self.reserve:
            running = self.running[g]
            del running[bisect.bisect_left(running, (self.expected_end[row], row))]

    def _serve_waiting(self, t: float, start: FloatArray, group: IntArray) -> None:
        self.resv.clear()
        waiting = self.waiting
        if not waiting:
            return
        free, cpus, started, want = self.free_cpus, self.cpus, self.started, self.want
        resv, free_g, gpus, upper, speed = (
            self.resv,
            self.free_gpus,
            self.gpus,
            self.upper,
            self.speed,
        )
        reserve = self.reserve
        most_free = max(free)
        wait_group, wait_switch = self.wait_group, self.wait_switch
        gone: list[int] = []  # positions in ``waiting`` of jobs started now or before
        for pos in serving_order(waiting, t, self.edf):
            if most_free <= 0:
                break
            row = waiting[pos][1]
            if started[row]:
                gone.append(pos)
                continue
            w = wait_group[row]
            if w == want[row]:
                switch = wait_switch[row]
            else:  # re-planned while waiting
                w, switch = self._wait_for(row, want[row])
            c = cpus[row]
            if w >= 0 and t < switch:
                # Only its own group for now, the usual case: the body of _fits,
                # inlined, because this loop runs at every completion.
                if c > free[w] or gpus[row] > free_g[w]:
                    if reserve and w not in resv:
                        self._reserve(row, w, t)
                    continue
                r = resv.get(w)
                if (
                    r is not None
                    and t + upper[row] / speed[w] > r.shadow_h + 1e-9
                    and (c > r.spare_cpus or gpus[row] > r.spare_gpus)
                ):
                    continue  # it would delay the job holding the reservation
                g = w
            else:
                g = -1 if c > most_free else self._choose(row, w, t, switch)
                if g < 0:
                    if reserve and (w < 0 or w not in resv):
                        self._reserve(row, w, t)
                    continue
            self._start(row, g, t, start, group)
            gone.append(pos)
            most_free = max(free)
        for pos in sorted(gone, reverse=True):
            del waiting[pos]
