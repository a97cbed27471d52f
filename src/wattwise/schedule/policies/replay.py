"""Replay: run a schedule fixed in advance (an oracle's) through the dispatcher.

The offline models count capacity per group-hour, so two jobs may share an hour's
cores one after the other where the real cluster would have them overlap. Replaying
their schedule against real cores says what part of a bound a cluster could realise:
a job whose planned group is full waits, as it would under any policy.
"""

from __future__ import annotations

import numpy as np

from wattwise.schedule.model import FloatArray, IntArray, JobBatch
from wattwise.schedule.policies.base import ANY_GROUP, ClusterState, ForecastView, Plan, Policy


class Replay(Policy):
    """Start each job at ``start_h`` on ``group`` (index; -1: any group), by job id."""

    name = "replay"

    def __init__(self, job_id: IntArray, start_h: FloatArray, group: IntArray) -> None:
        self._row = {int(j): i for i, j in enumerate(job_id)}
        self._start = np.asarray(start_h, dtype=np.float64)
        self._group = np.where(np.asarray(group) < 0, ANY_GROUP, group).astype(np.int64)

    def plan(
        self, now_h: float, queue: JobBatch, state: ClusterState, forecast: ForecastView
    ) -> Plan:
        rows = np.array([self._row[int(j)] for j in queue.job_id], dtype=np.int64)
        start = self._start[rows]
        # A job the schedule left out (NaN) starts on arrival, wherever there is room.
        missing = np.isnan(start)
        start = np.where(missing, queue.arrival_h, np.maximum(start, queue.arrival_h))
        group = np.where(missing, ANY_GROUP, self._group[rows])
        return Plan(queue.job_id.copy(), group, start)
