"""``%load_ext wattwise`` and ``%%wattwise`` in a real IPython shell."""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any

import pytest

from wattwise.store import RunStore


def _plain(text: str) -> str:
    import re

    return re.sub(r"\x1b\[[0-9;]*m", "", text)


BUSY = "total = sum(i * i for i in range(300_000))\n"


@pytest.fixture
def shell() -> Iterator[Any]:
    from IPython.core.interactiveshell import InteractiveShell

    ip = InteractiveShell.instance()
    ip.run_line_magic("load_ext", "wattwise")
    yield ip
    InteractiveShell.clear_instance()


def test_cell_is_measured_stored_and_summarised(
    shell: Any, capsys: pytest.CaptureFixture[str]
) -> None:
    from wattwise.integrations.jupyter import WattwiseMagics

    out = shell.run_cell(f"%%wattwise busy cell\n{BUSY}total % 7")
    assert out.success, out.error_in_exec
    assert out.result == sum(i * i for i in range(300_000)) % 7  # last expression shown
    assert shell.user_ns["total"] == sum(i * i for i in range(300_000))
    m = WattwiseMagics.last
    assert m is not None and m.name == "busy cell" and m.energy_j > 0
    run = RunStore().get_run(m.meta["run_id"])
    assert (run.name, run.kind, run.status) == ("busy cell", "cell", "completed")
    assert run.energy_j == pytest.approx(m.energy_j)
    assert run.co2e_g == pytest.approx(m.co2e_g)
    printed = capsys.readouterr().out.splitlines()
    header = printed.index(next(line for line in printed if line.startswith("energy J")))
    assert printed[header].split() == [
        "energy", "J", "CO2e", "g", "duration", "s", "mean", "power", "W", "source",
    ]  # fmt: skip
    energy, co2e, duration, power, source = printed[header + 1].split(maxsplit=4)
    assert float(energy) == pytest.approx(m.energy_j, rel=1e-3)
    assert float(co2e) == pytest.approx(m.co2e_g, rel=1e-3)
    assert float(duration) == pytest.approx(m.duration_s, abs=1e-3)
    assert float(power) == pytest.approx(m.avg_power_w, rel=1e-3)
    assert source == "estimate (estimated)"  # no hardware counter on this machine
    assert printed[header + 2].startswith(f"wattwise: busy cell · run {run.id}")


def test_cell_without_a_name_and_with_magics_inside(
    shell: Any, capsys: pytest.CaptureFixture[str]
) -> None:
    from wattwise.integrations.jupyter import WattwiseMagics

    out = shell.run_cell("%%wattwise\nx = 2\n%time y = x * 3\n")
    assert out.success, out.error_in_exec
    assert shell.user_ns["y"] == 6 and out.result is None
    assert WattwiseMagics.last is not None and WattwiseMagics.last.name == "cell"


def test_cell_that_raises_is_stored_as_failed_and_shown_by_ipython(
    shell: Any, capsys: pytest.CaptureFixture[str]
) -> None:
    from wattwise.integrations.jupyter import WattwiseMagics

    out = shell.run_cell("%%wattwise broken\ndef f():\n    return 1 / 0\nf()\n")
    assert isinstance(out.error_in_exec, ZeroDivisionError)
    m = WattwiseMagics.last
    assert m is not None and m.name == "broken"
    run = RunStore().get_run(m.meta["run_id"])
    assert run.status == "failed" and run.energy_j == pytest.approx(m.energy_j)
    printed = capsys.readouterr().out
    assert "ZeroDivisionError" in printed  # IPython's traceback, with the cell's source
    assert "----> 3 f()" in _plain(printed) and "----> 2     return 1 / 0" in _plain(printed)
    assert f"run {run.id} · failed" in printed
