"""Options several commands share, defined once: how gaps in a carbon trace are filled.

``--fill`` and ``--max-gap`` go to every command that reads a carbon-trace file
(``wattwise simulate``, ``wattwise grid now|history|forecast|best-window``). The
filling itself is :mod:`wattwise.grid.trace`'s; this module only parses.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Annotated, Literal, get_args

import typer

from wattwise.units import parse_duration_s

if TYPE_CHECKING:
    from wattwise.grid.trace import GapFill

#: The values of :class:`wattwise.grid.trace.Fill` (named here so that the command
#: line does not import NumPy at start-up; a test holds them equal).
FillChoice = Literal["none", "linear", "previous"]
FILL_CHOICES: tuple[str, ...] = get_args(FillChoice)
#: ``--max-gap`` when not given: one missing hourly row, or four quarter-hours.
DEFAULT_MAX_GAP = "1h"

FillOpt = Annotated[
    FillChoice,
    typer.Option(
        "--fill",
        help="missing rows in a carbon trace: none (an error), linear (a straight line "
        "between the rows either side) or previous (the last value held); filled rows "
        "are named in the output",
    ),
]
MaxGapOpt = Annotated[
    str,
    typer.Option("--max-gap", help="longest missing period --fill may fill, e.g. 1h or 15m"),
]


def gap_fill(fill: str, max_gap: str) -> GapFill:
    """``--fill`` and ``--max-gap`` as the trace reader's :class:`GapFill`."""
    from wattwise.errors import ConfigError
    from wattwise.grid.trace import Fill, GapFill

    max_gap_s = parse_duration_s(max_gap, "--max-gap")
    if max_gap_s <= 0:
        raise ConfigError(f"--max-gap must be longer than 0 s, not {max_gap!r}")
    return GapFill(Fill(fill), max_gap_s)
