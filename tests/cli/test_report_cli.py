"""``wattwise report`` end to end: a real measured run, formats, and every bad input in one line."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import pytest

WATTWISE = [sys.executable, "-m", "wattwise.cli.main"]


def run(*args: str, home: Path) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [*WATTWISE, *args], capture_output=True, text=True, timeout=120,
        env={**os.environ, "WATTWISE_HOME": str(home)},
    )  # fmt: skip


@pytest.fixture(scope="module")
def measured(tmp_path_factory: pytest.TempPathFactory) -> Path:
    home = tmp_path_factory.mktemp("report-home")
    busy = "import time\nend=time.process_time()+0.2\nwhile time.process_time()<end: pass"
    out = run("measure", "--intensity", "500", "--", sys.executable, "-c", busy, home=home)
    assert out.returncode == 0, out.stderr
    return home


def test_json_contract_keys_at_top_level(measured: Path) -> None:
    out = run(
        "report", "1", "--format", "json", "--pue", "1.2", "--market-factor", "50", home=measured
    )
    assert out.returncode == 0, out.stderr
    report = json.loads(out.stdout)
    for key in (
        "energy_kwh",
        "pue",
        "operational_co2e_g",
        "embodied_co2e_g",
        "total_co2e_g",
        "sci",
    ):
        assert key in report
    assert report["pue"] == 1.2 and report["energy_estimated"] is True
    assert report["operational_co2e_g"] == pytest.approx(report["energy_kwh"] * 1.2 * 500)
    assert report["operational_market_co2e_g"] == pytest.approx(report["energy_kwh"] * 1.2 * 50)
    assert report["total_co2e_g"] == pytest.approx(
        report["operational_co2e_g"] + report["embodied_co2e_g"]
    )


def test_markdown_and_html(measured: Path) -> None:
    md = run("report", "1", home=measured)
    assert md.returncode == 0 and "# Carbon report: run 1" in md.stdout and "SCI" in md.stdout
    page = run(
        "report",
        "--since",
        "1d",
        "--format",
        "html",
        "--unit",
        "item",
        "--units",
        "4",
        home=measured,
    )
    assert (
        page.returncode == 0
        and page.stdout.startswith("<!doctype html>")
        and "per item" in page.stdout
    )


@pytest.mark.parametrize(
    ("args", "message"),
    [
        (("report", "999"), "no run 999"),
        (("report", "1", "--pue", "0.8"), "--pue must be at least 1"),
        (("report", "1", "--pue", "nan"), "--pue must be a finite number"),
        (("report", "1", "--units", "0"), "--units must be a finite number above 0"),
        (("report", "1", "--units", "inf"), "--units must be a finite number above 0"),
        (("report", "1", "--market-factor", "inf"), "--market-factor must be a finite number"),
        (("report", "1", "--format", "pdf"), "--format must be one of"),
        (("report",), "give exactly one of RUN"),
        (("report", "1", "--since", "1d"), "give exactly one of RUN"),
        (("report", "--job", "5"), "no job 5"),
        (("report", "--since", "later"), "neither a time nor a duration"),
        (("report", "1", "--device-model", "gpu"), "DEVICE=MODEL"),
    ],
)
def test_bad_input_is_one_line(measured: Path, args: tuple[str, ...], message: str) -> None:
    out = run(*args, home=measured)
    assert out.returncode == 2, out.stdout
    assert message in out.stderr and "Traceback" not in out.stderr
    assert out.stderr.strip().count("\n") == 0


def test_bad_pue_in_config_is_one_line(measured: Path, tmp_path: Path) -> None:
    config = measured / "config.toml"
    config.write_text("pue = 0.95\n")
    try:
        out = run("report", "1", home=measured)
    finally:
        config.unlink()
    assert out.returncode == 2 and "pue must be at least 1" in out.stderr
