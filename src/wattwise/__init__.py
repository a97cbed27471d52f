"""wattwise: energy- and carbon-aware runtime for AI workloads.

Kept light: ``import wattwise`` loads nothing heavy; names below resolve on first use.
"""

from __future__ import annotations

from typing import Any

__version__ = "0.1.0"
__all__ = ["Measurement", "Meter", "__version__", "load_ipython_extension", "measure", "measured"]


def load_ipython_extension(ip: Any) -> None:
    """``%load_ext wattwise`` in Jupyter/IPython: registers ``%%wattwise`` (IPython is
    imported only now; see :mod:`wattwise.integrations.jupyter`)."""
    from wattwise.integrations.jupyter import load_ipython_extension as load

    load(ip)


def __getattr__(name: str) -> Any:
    # Lazy: importing wattwise must stay under 100 ms (bench/meter.py checks it).
    if name in ("measure", "measured"):
        from wattwise import session

        return getattr(session, name)
    if name in ("Meter", "Measurement"):
        from wattwise import meter

        return getattr(meter, name)
    raise AttributeError(f"module 'wattwise' has no attribute {name!r}")
