"""Shared formatting for CLI output: every number with its unit, estimates labelled."""

from __future__ import annotations

import datetime as dt
from collections.abc import Sequence


def energy(j: float | None) -> str:
    """Units: J in, human J/kJ/kWh out."""
    if j is None:
        return "-"
    if abs(j) >= 3.6e6:
        return f"{j / 3.6e6:.3f} kWh"
    if abs(j) >= 1e3:
        return f"{j / 1e3:.2f} kJ"
    return f"{j:.2f} J"


def power(w: float | None) -> str:
    return "-" if w is None else f"{w:.1f} W"


def grams(g: float | None) -> str:
    if g is None:
        return "-"
    if abs(g) >= 1000:
        return f"{g / 1000:.3f} kgCO₂e"
    if abs(g) >= 1:
        return f"{g:.2f} gCO₂e"
    return f"{g * 1000:.3f} mgCO₂e"


def seconds(s: float | None) -> str:
    if s is None:
        return "-"
    if s >= 3600:
        return f"{s / 3600:.2f} h"
    if s >= 60:
        return f"{s / 60:.1f} min"
    return f"{s:.3f} s"


def timestamp(epoch_s: float | None, *, short: bool = False) -> str:
    """UTC time; ``short`` drops the year (narrow tables)."""
    if epoch_s is None:
        return "-"
    pattern = "%m-%d %H:%M:%S" if short else "%Y-%m-%d %H:%M:%S"
    return dt.datetime.fromtimestamp(epoch_s, tz=dt.UTC).strftime(pattern)


def how(estimated: bool) -> str:
    return "estimated" if estimated else "measured"


def text_table(headers: Sequence[str], rows: Sequence[Sequence[str]], footer: Sequence[str]) -> str:
    """A plain-text table (no Rich: ``wattwise measure`` prints one at the end of every
    run and Rich costs it about 80 ms): left-aligned columns two spaces apart, a rule
    under the header and above ``footer`` (the totals row)."""
    widths = [max(len(r[i]) for r in (headers, *rows, footer)) for i in range(len(headers))]

    def line(cells: Sequence[str]) -> str:
        return "  ".join(c.ljust(w) for c, w in zip(cells, widths, strict=True)).rstrip()

    rule = "  ".join("─" * w for w in widths)
    return "\n".join([line(headers), rule, *(line(r) for r in rows), rule, line(footer)])
