"""Carbon reports of stored runs: energy, PUE, operational and embodied CO₂e, SCI.

``wattwise report`` (``cli/report.py``) parses and formats; the domain lives here:

- ``embodied``: the sourced table ``data/embodied.csv`` and a device's amortised share;
- ``pue``: which PUE applies to a run (flag, node group, zone, default);
- ``sci``: the functional unit and SCI = (E·I + M) / R;
- ``equivalents``: everyday equivalents from ``data/equivalents.csv``;
- ``build``: one run's carbon and the report over several; ``select``: which runs;
- ``render``: JSON dict, Markdown, HTML and the one-paragraph carbon statement.

Imports store, meter, grid and config only.
"""

from __future__ import annotations

from wattwise.report.build import RunContext, build_report, market_factor
from wattwise.report.model import Report, RunCarbon
from wattwise.report.sci import FunctionalUnit

__all__ = ["FunctionalUnit", "Report", "RunCarbon", "RunContext", "build_report", "market_factor"]
