"""Run the plan on Ray, meter every job on every node, survive failures.

Clients use :class:`EngineClient` (submit, list, cancel); ``wattwise serve`` runs the
:class:`Engine` head loop. Ray is imported only when the head starts.
"""

from __future__ import annotations

from wattwise.engine.client import EngineClient, cancel, list_jobs, submit
from wattwise.engine.policy import AsapPolicy, CarbonAwarePolicy, Placement, PlacementPolicy
from wattwise.engine.spec import JobSpec, SpecError, parse_spec

__all__ = [
    "AsapPolicy",
    "CarbonAwarePolicy",
    "EngineClient",
    "JobSpec",
    "Placement",
    "PlacementPolicy",
    "SpecError",
    "cancel",
    "list_jobs",
    "parse_spec",
    "submit",
]
