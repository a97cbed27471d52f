"""Which power usage effectiveness (PUE) applies to a run, and why.

PUE = facility energy / IT energy, so the energy a run drew from the grid is its
metered energy x PUE. The most specific setting wins: the ``--pue`` flag, then the
config's ``[pue] node_groups`` entry for the run's node group, then ``[pue] zones``
for its grid zone, then ``pue`` / ``[pue] default``, else 1.0 labelled as the
default (no data-centre overhead counted).
"""

from __future__ import annotations

from dataclasses import dataclass

from wattwise.config import PueSettings, check_number

DEFAULT_PUE = 1.0


@dataclass(frozen=True)
class Pue:
    """A PUE and where it came from. ``is_default``: nothing was configured."""

    value: float
    basis: str
    is_default: bool = False


def resolve_pue(
    settings: PueSettings | None,
    *,
    zone: str | None = None,
    node_group: str | None = None,
    override: float | None = None,
) -> Pue:
    """The PUE for a run in ``zone`` on a node of ``node_group``; ``override`` is the flag."""
    if override is not None:
        return Pue(check_number("pue", override, "--pue"), "--pue")
    if settings is not None:
        if node_group is not None and node_group in settings.node_groups:
            return Pue(settings.node_groups[node_group], f"config pue.node_groups.{node_group}")
        if zone is not None and zone in settings.zones:
            return Pue(settings.zones[zone], f"config pue.zones.{zone}")
        if settings.default is not None:
            return Pue(settings.default, "config pue")
    return Pue(
        DEFAULT_PUE, "default 1.0 (no PUE configured: data-centre overhead not counted)", True
    )
