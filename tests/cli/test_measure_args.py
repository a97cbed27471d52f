"""``measure``'s fast argument parser reads every command line as Typer does, and the
measure path loads none of the heavy libraries its start-up budget cannot afford."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

import pytest

from wattwise.cli import measure
from wattwise.cli.main import build_app
from wattwise.cli.measure import MeasureArgs, option_fields, parse_fast
from wattwise.meter.sources.nvml import nvidia_driver_present

ACCEPTED = [
    ["--", "true"],
    ["true"],
    ["--json", "--", "sh", "-c", "exit 7"],
    ["--interval", "0.2", "--json", "--", "python", "-c", "pass"],
    ["--interval=0.2", "--zone=DE", "--", "x"],
    ["--zone", "DE", "--zone", "FR", "--", "x"],  # the last one wins
    ["--carbon", "trace.csv", "--intensity", "100", "--cpu-tdp", "65", "x", "--json"],
    ["--name", "job", "--no-store", "--", "--weird-child-flag"],
    ["--interval", "inf", "--", "x"],  # converts; run() refuses it with the flag's name
    ["--", "--", "x"],
    ["-", "x"],
    ["--mlflow", "--wandb", "--tensorboard", "tb", "--", "x"],
    ["--tensorboard=tb", "x"],
]


def _typer_reads(argv: list[str], monkeypatch: pytest.MonkeyPatch) -> MeasureArgs:
    seen: list[MeasureArgs] = []

    def fake_run(args: MeasureArgs) -> int:
        seen.append(args)
        return 0

    monkeypatch.setattr(measure, "run", fake_run)
    build_app()(args=["measure", *argv], standalone_mode=False)
    (args,) = seen
    return args


@pytest.mark.parametrize("argv", ACCEPTED)
def test_fast_parser_reads_what_typer_reads(
    argv: list[str], monkeypatch: pytest.MonkeyPatch
) -> None:
    fast = parse_fast(argv)
    assert fast is not None
    assert fast == _typer_reads(argv, monkeypatch)


@pytest.mark.parametrize(
    "argv",
    [
        [],
        ["--json"],
        ["--json", "--"],
        ["--help"],
        ["--bogus", "--", "x"],
        ["-j", "--", "x"],
        ["--interval", "abc", "--", "x"],
        ["--interval"],
        ["--json=1", "--", "x"],
    ],
)
def test_fast_parser_hands_help_and_usage_errors_to_typer(argv: list[str]) -> None:
    assert parse_fast(argv) is None


def test_every_option_is_a_typer_option() -> None:
    flags = [f.metadata["flag"] for f in option_fields()]
    assert len(flags) == len(set(flags))
    names = {
        p.name
        for p in build_app().registered_commands[0].callback.__signature__.parameters.values()
    }  # type: ignore[union-attr]
    assert names == {"cmd", *(f.name for f in option_fields())}


def test_measure_path_imports_no_heavy_library(wattwise_home: Path) -> None:
    heavy = ["typer", "pydantic", "numpy", "rich", "sqlalchemy", "psutil"]
    if not nvidia_driver_present():
        heavy.append("pynvml")  # where a driver exists, NVML is rightly opened
    probe = (
        "import atexit, json, sys\n"
        f"heavy = {heavy!r}\n"
        "atexit.register(lambda: print(json.dumps(sorted({m.split('.')[0] for m in sys.modules}"
        " & set(heavy))), file=sys.stderr))\n"
        "from wattwise.cli.main import main\n"
        "main(['measure', '--json', '--', 'true'])\n"
    )
    for _ in range(2):  # the first run creates the store (through SQLAlchemy); the second not
        out = subprocess.run(
            [sys.executable, "-c", probe], capture_output=True, text=True, timeout=120
        )
    assert out.returncode == 0, out.stderr
    assert json.loads(out.stderr.strip().splitlines()[-1]) == []
