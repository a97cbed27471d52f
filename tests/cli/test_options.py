"""The options shared by every command that reads a carbon trace: --fill, --max-gap."""

from __future__ import annotations

from pathlib import Path

import pytest

from wattwise.cli.main import main
from wattwise.cli.options import FILL_CHOICES, gap_fill
from wattwise.errors import ConfigError
from wattwise.grid.trace import Fill


def test_the_choices_are_the_trace_readers() -> None:
    assert tuple(f.value for f in Fill) == FILL_CHOICES


def test_max_gap_is_a_duration() -> None:
    assert gap_fill("linear", "15m").max_gap_s == 900.0
    assert gap_fill("previous", "1h30m").method is Fill.PREVIOUS
    for bad in ("0", "soon", "-1h"):
        with pytest.raises(ConfigError, match=r"^--max-gap"):
            gap_fill("linear", bad)


def quarters(tmp_path: Path) -> Path:
    """Three days of 15-minute data (name as Zone Id DE) missing one row near its end."""
    rows = ["Time,Carbon Intensity"]
    for q in range(3 * 96):
        if q == 3 * 96 - 10:
            continue
        hour, minute = divmod(q * 15, 60)
        day, hour = divmod(hour, 24)
        rows.append(f"2020-12-{19 + day:02d} {hour:02d}:{minute:02d}:00,{200 + q % 96}")
    path = tmp_path / "DE_2020_15min.csv"
    path.write_text("\n".join(rows) + "\n")
    return path


def run(capsys: pytest.CaptureFixture[str], *args: str) -> tuple[int, str, str]:
    try:
        main(list(args))
        code = 0
    except SystemExit as exc:
        code = int(exc.code or 0)
    out, err = capsys.readouterr()
    return code, out, err


@pytest.mark.parametrize(
    "command",
    [
        ["grid", "history"],
        ["grid", "best-window", "--duration", "2"],
        ["simulate", "--jobs", "JOBS", "--policy", "fifo"],
    ],
)
def test_every_trace_command_refuses_a_gap_naming_fill_then_fills_it(
    capsys: pytest.CaptureFixture[str], tmp_path: Path, command: list[str]
) -> None:
    jobs = tmp_path / "jobs.csv"
    jobs.write_text("arrival_time,length,cpus\n0,1,1\n5,2,2\n")
    args = [str(jobs) if a == "JOBS" else a for a in command]
    args += ["--carbon", str(quarters(tmp_path))]
    code, _, err = run(capsys, *args)
    assert code == 2 and "gap" in err and "--fill" in err and "Traceback" not in err
    code, out, err = run(capsys, *args, "--fill", "linear", "--max-gap", "15m")
    assert code == 0, err
    assert "1 missing row(s) in 1 gap(s) filled (linear" in out
