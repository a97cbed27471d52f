"""Jupyter and IPython: ``%load_ext wattwise``, then ``%%wattwise [name]`` on a cell.

The cell runs as usual (its last expression is still shown as the cell's output) and
is metered like ``wattwise.measure()`` meters a block: one stored run of kind
``cell`` (``wattwise runs`` lists it), carbon from the config file's zone or the
world average. A short table follows: energy (J), CO₂e (g), duration (s), mean power
(W) and what measured it, labelled ``estimated`` where it is an estimate. A cell that
raises is stored as ``failed`` (``interrupted`` for Ctrl-C) and the exception goes on
to IPython, which shows it as for any cell. ``%%wattwise`` with no name calls the run
``cell``. The last cell's measurement is :attr:`WattwiseMagics.last`.
"""

from __future__ import annotations

import ast
import sys
from typing import TYPE_CHECKING, Any

from wattwise.integrations._requires import require

MIN_VERSION = "8.20"
require("ipython", MIN_VERSION, "jupyter", "%%wattwise")

from IPython.core.magic import Magics, cell_magic, magics_class  # noqa: E402

from wattwise.store.status import RunStatus  # noqa: E402

if TYPE_CHECKING:
    from wattwise.meter.types import Measurement

DEFAULT_NAME = "cell"


@magics_class
class WattwiseMagics(Magics):
    """The ``%%wattwise`` cell magic."""

    last: Measurement | None = None

    @cell_magic
    def wattwise(self, line: str, cell: str) -> Any:
        """%%wattwise [name]: meter this cell, store the run, print its energy and CO₂e."""
        __tracebackhide__ = True  # IPython shows the cell's frames, not this one's
        from wattwise.node_run import RunHandle

        name = line.strip() or DEFAULT_NAME
        handle = RunHandle(name, kind="cell")
        status = RunStatus.FAILED
        try:
            value = self._run(cell)
            status = RunStatus.COMPLETED
            return value
        except KeyboardInterrupt:
            status = RunStatus.INTERRUPTED
            raise
        finally:
            result = handle.close(status.value)
            if result is not None:
                type(self).last = result
                print(summary_table(result, status), file=sys.stdout)

    def _run(self, cell: str) -> Any:
        """Run the cell in the user's namespace; the value of a last expression, if any."""
        __tracebackhide__ = True
        shell = self.shell
        assert shell is not None
        source = shell.transform_cell(cell)  # %magics and !commands inside the cell
        tree = ast.parse(source)
        last = tree.body.pop() if tree.body and isinstance(tree.body[-1], ast.Expr) else None
        # Registered in linecache as IPython does for cells: tracebacks show the source.
        filename = shell.compile.cache(source, shell.execution_count, raw_code=cell)
        ns = shell.user_ns
        exec(compile(tree, filename, "exec"), ns)
        if last is None:
            return None
        expression = ast.Expression(last.value)
        return eval(compile(expression, filename, "eval"), ns)


def summary_table(m: Measurement, status: str = RunStatus.COMPLETED) -> str:
    """The short table ``%%wattwise`` prints under a cell. Units: J, g, s, W."""
    sources = "+".join(sorted({d.source for d in m.devices if d.in_total})) or "none"
    label = "estimated" if m.estimated else "measured"
    co2e = "-" if m.co2e_g is None else f"{m.co2e_g:.4g}"
    headers = ("energy J", "CO2e g", "duration s", "mean power W", "source")
    row = (
        f"{m.energy_j:.4g}",
        co2e,
        f"{m.duration_s:.3f}",
        f"{m.avg_power_w:.4g}",
        f"{sources} ({label})",
    )
    widths = [max(len(h), len(v)) for h, v in zip(headers, row, strict=True)]
    lines = [
        "  ".join(h.ljust(w) for h, w in zip(headers, widths, strict=True)),
        "  ".join(v.ljust(w) for v, w in zip(row, widths, strict=True)),
    ]
    run_id = m.meta.get("run_id")
    tail = f"wattwise: {m.name}" + (f" · run {run_id}" if run_id is not None else " · not stored")
    if status != RunStatus.COMPLETED:
        tail += f" · {status}"
    if m.intensity_source:
        tail += f" · intensity: {m.intensity_source}"
    return "\n".join([*lines, tail])


def load_ipython_extension(ip: Any) -> None:
    """``%load_ext wattwise``: register ``%%wattwise``."""
    ip.register_magics(WattwiseMagics)
