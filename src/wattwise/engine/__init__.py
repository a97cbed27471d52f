"""Run the plan on Ray, meter every job on every node, survive failures.

Clients use :class:`EngineClient` (submit, list, cancel); ``wattwise serve`` runs the
:class:`Engine` head loop. Ray is imported only when the head starts.

The names below are loaded on first use: every Ray worker imports this package to run
a task or a meter, and must not pay for the store and the scheduler (SQLAlchemy,
NumPy: about 0.7 s of CPU each, measured in ``bench/engine_parity.py``'s set-up).
"""

from __future__ import annotations

import importlib
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from wattwise.engine.client import EngineClient, cancel, list_jobs, submit
    from wattwise.engine.scheduler import HourClock, Placement, Scheduler, make_engine_policy
    from wattwise.engine.spec import JobSpec, SpecError, parse_spec

_WHERE = {
    "EngineClient": "client",
    "cancel": "client",
    "list_jobs": "client",
    "submit": "client",
    "HourClock": "scheduler",
    "Placement": "scheduler",
    "Scheduler": "scheduler",
    "make_engine_policy": "scheduler",
    "JobSpec": "spec",
    "SpecError": "spec",
    "parse_spec": "spec",
}

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


def __getattr__(name: str) -> Any:
    module = _WHERE.get(name)
    if module is None:
        raise AttributeError(f"module 'wattwise.engine' has no attribute {name!r}")
    return getattr(importlib.import_module(f"wattwise.engine.{module}"), name)
