"""Run a batch-size policy on the traces over many recurrences, and score it."""

from __future__ import annotations

import math
from collections import Counter
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

from wattwise.optimize.gpu.batch_size import BatchSizeOptimizer
from wattwise.optimize.gpu.traces import RunRecord, TraceJob, Traces, TraceSimulator

MAX_TRIES = 20


def recurrences_like_paper(traces: Traces, job: TraceJob) -> int:
    """2 x |batch sizes| x |power limits|, the recurrence count the Zeus paper used."""
    sizes = traces.batch_sizes(job)
    limits = {pl for b in sizes for pl in traces.epoch(job, b)}
    return 2 * len(sizes) * len(limits)


def simulate_wattwise(
    traces: Traces,
    job: TraceJob,
    eta: float,
    beta: float = 2.0,
    recurrences: int | None = None,
    seed: int = 0,
) -> list[RunRecord]:
    """Our power-limit + batch-size optimizers on one recurring job."""
    sizes = traces.batch_sizes(job)
    b0 = traces.default_bs(job)
    bso = BatchSizeOptimizer(sizes, b0, beta=beta)
    sim = TraceSimulator(traces, job, eta, seed=seed)
    n = recurrences if recurrences is not None else recurrences_like_paper(traces, job)
    history: list[RunRecord] = []
    for rec in range(n):
        for _ in range(MAX_TRIES):
            bs = bso.next_batch_size()
            run = sim.run(rec, bs, bso.cost_cap())
            bso.observe(bs, run.cost, run.reached)
            if run.energy_j > 0 or run.reached:
                history.append(run)
            if run.reached:
                break
    return history


@dataclass(frozen=True)
class Score:
    """How a policy did on one job. Units: J; fractions in [0, 1]."""

    recurrences: int
    runs: int
    final_bs: int
    final_pl: int
    default_energy_j: float
    final_energy_j: float
    converged_saving: float
    total_energy_j: float
    cumulative_saving: float
    exploration_runs: int
    exploration_energy_j: float
    regret_energy_j: float

    def to_dict(self) -> dict[str, Any]:
        return dict(self.__dict__)


def score(
    history: Sequence[tuple[int, int, float, bool]],
    traces: Traces,
    job: TraceJob,
    tail: int = 10,
) -> Score:
    """Score a history of (bs, pl, energy J, reached) runs, the same way for any policy.

    - converged saving: 1 - expected energy of the final config / the default's
      (default batch size at the highest power limit).
    - cumulative saving: 1 - all energy spent / (recurrences x default's expected).
    - exploration: runs (and their energy) not on the final batch size; regret: energy
      spent beyond recurrences x the final config's expected energy.
    """
    b0 = traces.default_bs(job)
    pl_max = max(traces.epoch(job, b0))
    e_default, _ = traces.expected(job, b0, pl_max)
    reached = [h for h in history if h[3]]
    recurrences = len(reached)
    last = Counter((h[0], h[1]) for h in reached[-tail:]).most_common(1)[0][0]
    e_final, _ = traces.expected(job, last[0], last[1])
    total = float(sum(h[2] for h in history))
    explore = [h for h in history if h[0] != last[0]]
    return Score(
        recurrences=recurrences,
        runs=len(history),
        final_bs=int(last[0]),
        final_pl=int(last[1]),
        default_energy_j=e_default,
        final_energy_j=e_final,
        converged_saving=1.0 - e_final / e_default if math.isfinite(e_final) else -math.inf,
        total_energy_j=total,
        cumulative_saving=1.0 - total / (recurrences * e_default),
        exploration_runs=len(explore),
        exploration_energy_j=float(sum(h[2] for h in explore)),
        regret_energy_j=total - recurrences * e_final,
    )
