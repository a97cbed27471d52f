"""Where and when each job should run: policies behind one online interface, a
trace-driven simulator, and the perfect-knowledge bound.

Heavy pieces (HiGHS for the LP oracle, pvlib for on-site PV) are imported on use.
"""

from __future__ import annotations

from wattwise.schedule.model import (
    Cluster,
    Decision,
    Job,
    JobBatch,
    NodeGroup,
    default_cluster,
    latest_safe_start,
)
from wattwise.schedule.policies import (
    BASELINES,
    POLICIES,
    POLICY_NAMES,
    ClusterState,
    ForecastView,
    Plan,
    Policy,
    make_policy,
)
from wattwise.schedule.simulator import SimResult, simulate

__all__ = [
    "BASELINES",
    "POLICIES",
    "POLICY_NAMES",
    "Cluster",
    "ClusterState",
    "Decision",
    "ForecastView",
    "Job",
    "JobBatch",
    "NodeGroup",
    "Plan",
    "Policy",
    "SimResult",
    "default_cluster",
    "latest_safe_start",
    "make_policy",
    "simulate",
]
