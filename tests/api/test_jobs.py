"""Jobs: submit, list, get, cancel; the engine queue backend; malformed bodies."""

from __future__ import annotations

from pathlib import Path

import pytest
from fastapi.testclient import TestClient

from tests.api.conftest import AUTH, BASE_URL, LOOPBACK
from wattwise.api import create_app
from wattwise.api.jobs import EngineJobs, JobBoard

JOB = {"name": "train mlp", "command": ["python", "train.py"], "cpus": 2, "deadline_h": 6}


def test_submit_list_get_cancel(client: TestClient, board: JobBoard) -> None:
    created = client.post("/api/v1/jobs", json=JOB, headers=AUTH)
    assert created.status_code == 201
    job = created.json()
    assert job["status"] == "queued" and job["cpus"] == 2.0
    assert job["deadline_s"] - job["submitted_s"] == 6 * 3600
    client.post("/api/v1/jobs", json={**JOB, "name": "second"}, headers=AUTH)
    page = client.get("/api/v1/jobs", params={"limit": 1}).json()
    assert page["total"] == 2 and [j["name"] for j in page["items"]] == ["second"]
    assert client.get(f"/api/v1/jobs/{job['id']}").json()["name"] == "train mlp"
    cancelled = client.post(f"/api/v1/jobs/{job['id']}/cancel", headers=AUTH)
    assert cancelled.status_code == 200 and cancelled.json()["status"] == "cancelled"
    again = client.post(f"/api/v1/jobs/{job['id']}/cancel", headers=AUTH)
    assert again.status_code == 409 and "already cancelled" in again.json()["detail"]
    assert client.get("/api/v1/jobs", params={"status": "cancelled"}).json()["total"] == 1


def test_submit_calls_the_owner(client: TestClient, board: JobBoard) -> None:
    seen: list[str] = []
    board.on_submit = lambda job: seen.append(job.name)
    client.post("/api/v1/jobs", json=JOB, headers=AUTH)
    assert seen == ["train mlp"]


def test_unknown_job_is_404(client: TestClient) -> None:
    assert client.get("/api/v1/jobs/job-77").status_code == 404
    assert client.post("/api/v1/jobs/job-77/cancel", headers=AUTH).status_code == 404


def test_malformed_bodies_are_422(client: TestClient) -> None:
    cases = [
        ({}, "name: Field required"),
        ({"name": "x"}, "command: Field required"),
        ({"name": "x", "command": []}, "command: List should have at least 1 item"),
        ({"name": "", "command": ["a"]}, "name: String should have at least 1 character"),
        ({"name": "x", "command": ["a"], "cpus": 0}, "cpus: Input should be greater than 0"),
        ({"name": "x", "command": ["a"], "deadline_h": -1}, "deadline_h: Input should be"),
        ({"name": "x", "command": ["a"], "kind": "mining"}, "kind: Input should be"),
        ({"name": "x", "command": ["a"], "gpus": 1}, "gpus: Extra inputs are not permitted"),
        ({"name": "x", "command": "python train.py"}, "command: Input should be a valid list"),
        ({"name": "a;rm -rf /", "command": ["a"]}, "name: String should match pattern"),
    ]
    for body, message in cases:
        r = client.post("/api/v1/jobs", json=body, headers=AUTH)
        assert r.status_code == 422, body
        assert r.json()["message"].startswith(message), (body, r.json()["message"])


def test_body_that_is_not_json_is_422(client: TestClient) -> None:
    headers = {**AUTH, "content-type": "application/json"}
    r = client.post("/api/v1/jobs", content=b"{not json", headers=headers)
    assert r.status_code == 422
    assert "JSON" in r.json()["message"]


def test_bad_job_ids_and_filters_are_422(client: TestClient) -> None:
    assert client.get("/api/v1/jobs/a b").status_code == 422
    assert client.get("/api/v1/jobs", params={"status": "sleeping"}).status_code == 422


def test_default_backend_is_the_engine_queue_in_the_store(
    wattwise_home: Path, store_url: str
) -> None:
    # No head runs here: the job is queued in the store and waits for `wattwise serve`.
    app = create_app(store_url, home=wattwise_home, token="t", monitor_power=False)
    auth = {"Authorization": "Bearer t"}
    with TestClient(app, client=LOOPBACK, base_url=BASE_URL) as c:
        assert c.get("/api/v1/jobs").json()["total"] == 0
        r = c.post("/api/v1/jobs", json=JOB, headers=auth)
        assert r.status_code == 201, r.text
        job = r.json()
        assert job["status"] == "queued" and job["command"] == ["python", "train.py"]
        assert job["deadline_s"] - job["submitted_s"] == 6 * 3600
        assert c.get("/api/v1/jobs").json()["items"][0]["id"] == job["id"]
        assert c.get("/api/v1/summary").json()["jobs"] == {"queued": 1}
        cancelled = c.post(f"/api/v1/jobs/{job['id']}/cancel", headers=auth).json()
        assert cancelled["status"] == "cancelled"
        assert c.post(f"/api/v1/jobs/{job['id']}/cancel", headers=auth).status_code == 409
        assert c.get("/api/v1/jobs/99").status_code == 404
        assert c.get("/api/v1/jobs/job-1").status_code == 404
        two_weeks = c.post("/api/v1/jobs", json={**JOB, "deadline_h": 336}, headers=auth).json()
        assert two_weeks["deadline_s"] - two_weeks["submitted_s"] == 336 * 3600
        empty = c.post("/api/v1/jobs", json={"name": "x", "command": [""]}, headers=auth)
        assert empty.status_code == 422 and "command" in empty.json()["detail"]


@pytest.mark.parametrize("given", [False, True], ids=["default-backend", "serve-passes-it"])
def test_engine_jobs_carry_the_carbon_agnostic_baseline(
    wattwise_home: Path, store_url: str, given: bool
) -> None:
    from sqlalchemy import update

    from wattwise.grid import static_intensity
    from wattwise.store.jobs import JobStore
    from wattwise.store.tables import JobRow

    (wattwise_home / "config.toml").write_text('zone = "DE"\n')
    # `wattwise serve` builds its own EngineJobs; the app gives it the grid's baseline.
    jobs = EngineJobs(store_url) if given else None
    app = create_app(store_url, home=wattwise_home, token="t", monitor_power=False, jobs=jobs)
    auth = {"Authorization": "Bearer t"}
    with TestClient(app, client=LOOPBACK, base_url=BASE_URL) as c:
        job_id = int(c.post("/api/v1/jobs", json=JOB, headers=auth).json()["id"])
        jobs = JobStore(store_url)
        with jobs.runs.engine.begin() as conn:  # as the head does: started, ended, measured
            conn.execute(
                update(JobRow)
                .where(JobRow.id == job_id)
                .values(status="succeeded", started_s=1e9, ended_s=1e9 + 600)
                .values(energy_j=3.6e6, co2e_g=100.0, estimated=False)
            )
        job = c.get(f"/api/v1/jobs/{job_id}").json()
        de = static_intensity("DE").g_per_kwh
        assert job["status"] == "done" and job["duration_s"] == 600.0
        assert job["baseline_co2e_g"] == pytest.approx(de)  # 1 kWh at DE's annual mean
        summary = c.get("/api/v1/summary").json()
        assert summary["saved_co2e_g"] == pytest.approx(de - 100.0)


def test_cancel_answers_409_for_a_finished_job_and_503_for_a_failing_store(
    wattwise_home: Path, store_url: str, monkeypatch: pytest.MonkeyPatch
) -> None:
    import sqlite3

    monkeypatch.setenv("WATTWISE_LOCK_TIMEOUT_S", "0.2")
    app = create_app(store_url, home=wattwise_home, token="t", monitor_power=False)
    auth = {"Authorization": "Bearer t"}
    with TestClient(app, client=LOOPBACK, base_url=BASE_URL) as c:
        done = c.post("/api/v1/jobs", json=JOB, headers=auth).json()["id"]
        c.post(f"/api/v1/jobs/{done}/cancel", headers=auth)
        assert c.post(f"/api/v1/jobs/{done}/cancel", headers=auth).status_code == 409
        queued = c.post("/api/v1/jobs", json=JOB, headers=auth).json()["id"]
        holder = sqlite3.connect(store_url.removeprefix("sqlite:///"), isolation_level=None)
        holder.execute("BEGIN IMMEDIATE")  # another process holds the write lock
        try:
            r = c.post(f"/api/v1/jobs/{queued}/cancel", headers=auth)
        finally:
            holder.execute("ROLLBACK")
            holder.close()
        assert r.status_code == 503, r.text
        assert "another process holds the write lock" in r.json()["detail"]


def test_resources_ray_cannot_place_are_refused_at_submission(
    wattwise_home: Path, store_url: str
) -> None:
    """cpus 0.00001 once crashed `wattwise serve` on every restart; now it is a 422."""
    app = create_app(store_url, home=wattwise_home, token="t", monitor_power=False)
    auth = {"Authorization": "Bearer t"}
    with TestClient(app, client=LOOPBACK, base_url=BASE_URL) as c:
        r = c.post("/api/v1/jobs", json={**JOB, "cpus": 0.00001}, headers=auth)
        assert r.status_code == 422, r.text
        assert r.json()["detail"].startswith("cpus: must be a multiple of 0.0001 from 0.0001")
        assert c.get("/api/v1/jobs").json()["total"] == 0
