"""GPU knobs: the power limit (set through NVML) and the batch size of recurring jobs.

- :mod:`.nvml` — the actuator: read limits, set one; NVML errors become wattwise errors.
- :mod:`.power_limit` — profile limits, choose by cost η·E + (1−η)·P_max·T or a slowdown cap.
- :mod:`.batch_size` — a batch-size optimizer across recurrences of one job.
- :mod:`.traces` — the Zeus (NSDI'23) GPU traces and a simulator to evaluate both on them.
"""

from __future__ import annotations

from wattwise.optimize.gpu.power_limit import PowerProfile, choose_power_limit, zeus_cost

__all__ = ["PowerProfile", "choose_power_limit", "zeus_cost"]
