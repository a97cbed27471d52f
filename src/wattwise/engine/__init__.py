"""Run the plan on Ray, meter every job on every node, survive failures.

Clients use :class:`EngineClient` (submit, list, cancel); ``wattwise serve`` runs the
:class:`Engine` head loop. Ray is imported only when the head starts.
"""

from __future__ import annotations

from wattwise.engine.client import EngineClient, cancel, list_jobs, submit
from wattwise.engine.scheduler import HourClock, Placement, Scheduler, make_engine_policy
from wattwise.engine.spec import JobSpec, SpecError, parse_spec

__all__ = [
    "EngineClient",
    "HourClock",
    "JobSpec",
    "Placement",
    "Scheduler",
    "SpecError",
    "cancel",
    "list_jobs",
    "make_engine_policy",
    "parse_spec",
    "submit",
]
