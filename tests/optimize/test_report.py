from __future__ import annotations

import json
import stat
from pathlib import Path

import pytest

from wattwise.optimize.report import write_report
from wattwise.optimize.search import optimize_inference

from .conftest import FakeMeasure, fast_settings, tiny_workload


def test_report_written_to_home_and_user_dir(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, fake_measure: FakeMeasure
) -> None:
    monkeypatch.setenv("WATTWISE_HOME", str(tmp_path / "home"))
    r = optimize_inference(
        tiny_workload(), "2%", fake_measure, fast_settings(structured_prune=False),
        save_to=tmp_path / "model",
    )  # fmt: skip
    paths = write_report(r, tmp_path / "out")
    assert paths.json == tmp_path / "home" / "optimize" / paths.report_id / "report.json"
    # Under the home, like everything wattwise writes there: folders 0700, files 0600.
    for f in (paths.json, paths.html, *paths.plots):
        assert stat.S_IMODE(f.stat().st_mode) == 0o600, f
    for folder in (paths.home_dir, paths.home_dir.parent, tmp_path / "home"):
        assert stat.S_IMODE(folder.stat().st_mode) == 0o700, folder
    doc = json.loads(paths.json.read_text())
    for key in ("id", "schema", "workload", "budget", "baseline", "chosen", "candidates",
                "skipped", "measurement", "energy_ratio", "budget_met", "message"):  # fmt: skip
        assert key in doc
    assert doc["measurement"]["source"] == "fake" and doc["measurement"]["estimated"] is True
    assert doc["chosen"]["energy_per_item_j"] > 0
    assert Path(r.saved_model or "").is_file()
    for name in ("report.json", "report.html", "energy_quality.png", "energy_bars.png"):
        f = tmp_path / "out" / name
        assert f.is_file() and f.stat().st_size > 500
    assert (tmp_path / "out" / "energy_quality.png").read_bytes()[:4] == b"\x89PNG"
    html = (tmp_path / "out" / "report.html").read_text()
    assert "torch-int8-channel" in html and "data:image/png;base64" in html
