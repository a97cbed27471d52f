"""Split a node's energy over one sampling interval among the jobs running on it.

Rule, per device: where per-job use of that device is known (a GPU's per-process
use from NVML, the resident memory behind an estimated DRAM figure) energy goes by
that use; every other device's energy goes by each job's CPU time in the interval;
when no job used any CPU the active jobs share equally; with no job active the
energy is unattributed (idle).
The parts always add up to the whole, so the jobs' shares sum to the node total.
Units: J, s.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence


def split_interval(
    device_energy_j: Mapping[str, float],
    cpu_delta_s: Mapping[str, float],
    active: Sequence[str],
    device_use: Mapping[str, Mapping[str, float]] | None = None,
) -> tuple[dict[str, dict[str, float]], dict[str, float]]:
    """Return (energy per job per device, unattributed energy per device). Units: J.

    ``cpu_delta_s`` is each active job's CPU time in the interval (Units: s);
    ``device_use[device][job]`` is a non-negative use weight (GPU SM share, bytes held).
    """
    shares: dict[str, dict[str, float]] = {job: {} for job in active}
    idle: dict[str, float] = {}
    cpu_weights = {job: max(0.0, cpu_delta_s.get(job, 0.0)) for job in active}
    for device, energy in device_energy_j.items():
        if not active:
            idle[device] = energy
            continue
        weights = cpu_weights
        if device_use is not None and device in device_use:
            use = {job: max(0.0, device_use[device].get(job, 0.0)) for job in active}
            if sum(use.values()) > 0:
                weights = use
        total = sum(weights.values())
        if total <= 0:
            weights = dict.fromkeys(active, 1.0)
            total = float(len(active))
        for job in active:
            shares[job][device] = energy * weights[job] / total
        idle[device] = 0.0
    return shares, idle
