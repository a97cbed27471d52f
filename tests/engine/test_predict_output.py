"""Predictions as users see them: `wattwise job ID [--json]`, `GET /api/v1/jobs/{id}` and
`wattwise predict eval|job`, on a store the head filled (Ray stood in for, as in
test_predict_loop)."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
from fastapi.testclient import TestClient

from tests.api.conftest import BASE_URL, LOOPBACK
from tests.engine.test_predict_loop import COMMAND, POWER_W, _Backend, _no_grid, _run_all
from tests.engine.test_predict_loop import backend as backend
from wattwise.api import create_app
from wattwise.cli.main import main
from wattwise.engine.carbon import PlanningSignal
from wattwise.engine.client import EngineClient
from wattwise.engine.head import Engine, EngineConfig


def _history(home: Path, runs: list[float]) -> list[int]:
    engine = Engine(
        EngineConfig(
            meter=False, home=home, tick_s=0.0, signal=PlanningSignal(_no_grid)
        )  # default store
    )
    client = EngineClient(store=engine.store)
    engine.start()
    ids = []
    for s in runs:  # one after the other: each is planned with the runs before it
        ids.append(client.submit({"command": COMMAND, "env": {"RUN_S": str(s)}}))
        _run_all(engine, ids[-1:])
    engine.shutdown()
    return ids


RUNS = [600.0, 630.0, 570.0, 610.0, 590.0, 620.0, 605.0, 615.0]


def test_job_shows_predicted_and_actual(
    wattwise_home: Path, backend: _Backend, capsys: pytest.CaptureFixture[str]
) -> None:
    ids = _history(wattwise_home, RUNS)
    last = ids[-1]
    main(["job", str(last), "--json"])
    job = json.loads(capsys.readouterr().out)
    assert set(job["predicted"]) >= {"runtime_s", "runtime_upper_s", "power_w", "source"}
    assert job["predicted"]["source"] == "history"
    assert job["actual"]["runtime_s"] == pytest.approx(615.0)
    assert job["actual"]["power_w"] == pytest.approx(POWER_W)
    assert job["actual"]["runtime_abs_error_s"] == pytest.approx(
        abs(615.0 - job["predicted"]["runtime_s"])
    )
    main(["job", str(last)])
    out = capsys.readouterr().out
    assert "predicted    10.1 min (upper" in out and "history of 7 run(s)" in out
    assert "actual       10.2 min, 50.0 W estimated; off by" in out

    app = create_app(None, home=wattwise_home, token="t", monitor_power=False)
    with TestClient(app, client=LOOPBACK, base_url=BASE_URL) as c:
        body = c.get(f"/api/v1/jobs/{last}").json()
        first = c.get(f"/api/v1/jobs/{ids[0]}").json()
    assert body["predicted"]["source"] == "history"
    assert body["predicted"]["runtime_upper_s"] == job["predicted"]["runtime_upper_s"]
    assert body["actual"]["runtime_s"] == pytest.approx(615.0)
    assert first["predicted"]["source"] == "cold-start" and first["predicted"]["n"] == 0


def test_predict_eval_on_the_stores_history(
    wattwise_home: Path, backend: _Backend, capsys: pytest.CaptureFixture[str]
) -> None:
    _history(wattwise_home, RUNS)
    main(["predict", "eval", "--json"])
    out = json.loads(capsys.readouterr().out)
    held = out["held_out"]
    assert (held["n_train"], held["n_test"], held["n_history"]) == (6, 2, 2)
    assert held["runtime_mape_pct"] < 5.0 and held["coverage"] == 1.0
    assert held["power_mape_pct"] == pytest.approx(0.0)
    running = {e["source"]: e for e in out["running"]}
    assert {k: e["n"] for k, e in running.items()} == {"all": 8, "cold-start": 3, "history": 5}
    assert running["history"]["runtime_mape_pct"] < 5.0
    assert running["history"]["runtime_mae_s"] < 30.0
    main(["predict", "eval"])
    text = capsys.readouterr().out
    assert "runtime MAPE" in text and "(n=2)" in text and "running error of the engine: 8" in text
    assert "history     MAE" in text and "(n=5)" in text

    main(["predict", "job", "--json", "--", *COMMAND])
    assert json.loads(capsys.readouterr().out)["source"] == "history"
    main(["predict", "job", "--", "python", "never-seen.py"])
    out = capsys.readouterr().out
    assert "runtime 3600.0 s, upper 7200.0 s" in out and "cold-start" in out


def test_predict_bad_input_is_one_line(
    wattwise_home: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    for args, message in (
        (["predict", "eval"], "the store holds 0 finished job(s)"),
        (["predict", "eval", "--holdout", "1.5"], "holdout must be a share in (0, 1)"),
        (["predict", "job", "--cpus", "-1", "--", "x"], "cpus: must be > 0"),
    ):
        with pytest.raises(SystemExit) as exit_:
            main(args)
        assert exit_.value.code == 2
        err = capsys.readouterr().err.strip()
        assert len(err.splitlines()) == 1 and message in err, err
