from __future__ import annotations

import json
from pathlib import Path

import pytest

from wattwise.cli.main import main

TINY = """
import numpy as np, torch
from torch import nn
from wattwise.optimize import InferenceWorkload

def workload():
    torch.manual_seed(0)
    net = nn.Sequential(nn.Linear(8, 16), nn.ReLU(), nn.Linear(16, 3)).eval()
    x = np.random.default_rng(0).normal(size=(64, 8)).astype(np.float32)
    with torch.no_grad():
        y = net(torch.from_numpy(x)).argmax(1).numpy()
    return InferenceWorkload(
        name="cli-tiny", model_factory=lambda: net, inputs=list(x),
        collate=lambda items: {"input": np.stack(items)},
        forward=lambda m, t: m(t["input"]),
        evaluate=lambda p: float((p(list(x)).argmax(1) == y).mean()),
        metric="agreement", prune_ratios=(0.5,),
    )
"""


def test_optimize_cli_json(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    monkeypatch.setenv("WATTWISE_HOME", str(tmp_path / "home"))
    f = tmp_path / "tiny.py"
    f.write_text(TINY)
    main([
        "optimize", str(f), "--budget", "5%", "--json", "--rounds", "1",
        "--runtimes", "fp32,bf16", "--no-progress", "--window", "0", "--out", str(tmp_path / "out"),
    ])  # fmt: skip
    doc = json.loads(capsys.readouterr().out)
    assert doc["workload"] == "cli-tiny"
    assert doc["budget"]["max_drop_rel"] == pytest.approx(0.05)
    assert (tmp_path / "out" / "report.html").is_file()
    assert list((tmp_path / "home" / "optimize").glob("cli-tiny-*/report.json"))


@pytest.mark.parametrize(
    ("args", "message"),
    [
        (["--budget", "lots"], "quality budget 'lots' is not a number"),
        (["--runtimes", "fp8"], "unknown runtime(s) fp8"),
    ],
)
def test_optimize_cli_bad_input_is_one_line(
    tmp_path: Path, capsys: pytest.CaptureFixture[str], args: list[str], message: str
) -> None:
    f = tmp_path / "tiny.py"
    f.write_text(TINY)
    with pytest.raises(SystemExit) as exc:
        main(["optimize", str(f), *args])
    assert exc.value.code == 2
    err = capsys.readouterr().err.strip()
    assert err.startswith("wattwise: error:") and message in err
    assert "Traceback" not in err


def test_optimize_cli_missing_file(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    with pytest.raises(SystemExit) as exc:
        main(["optimize", str(tmp_path / "missing.py")])
    assert exc.value.code == 2
    assert "no such workload file" in capsys.readouterr().err
