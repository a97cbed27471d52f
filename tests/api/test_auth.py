"""The token: created 0600 on first start, required for writes and for remote reads."""

from __future__ import annotations

import stat
from pathlib import Path

from fastapi.testclient import TestClient

from tests.api.conftest import AUTH
from wattwise.api import create_app
from wattwise.api.auth import load_or_create_token

JOB = {"name": "t", "command": ["true"]}


def test_token_created_once_with_mode_0600(tmp_path: Path) -> None:
    token = load_or_create_token(tmp_path / "home")
    path = tmp_path / "home" / "api_token"
    assert stat.S_IMODE(path.stat().st_mode) == 0o600
    assert len(token) >= 32
    assert load_or_create_token(tmp_path / "home") == token  # restart keeps it


def test_loosened_token_file_is_tightened(tmp_path: Path) -> None:
    token = load_or_create_token(tmp_path)
    (tmp_path / "api_token").chmod(0o644)
    assert load_or_create_token(tmp_path) == token
    assert stat.S_IMODE((tmp_path / "api_token").stat().st_mode) == 0o600


def test_empty_token_file_gets_a_new_token(tmp_path: Path) -> None:
    (tmp_path / "api_token").write_text("")
    assert load_or_create_token(tmp_path)


def test_create_app_uses_the_token_file(wattwise_home: Path) -> None:
    app = create_app(home=wattwise_home, monitor_power=False)
    token = (wattwise_home / "api_token").read_text().strip()
    with TestClient(app, client=("198.51.100.1", 1)) as c:
        assert c.get("/api/v1/runs").status_code == 401
        ok = c.get("/api/v1/runs", headers={"Authorization": f"Bearer {token}"})
        assert ok.status_code == 200


def test_loopback_reads_need_no_token(client: TestClient) -> None:
    for path in ("/api/v1/runs", "/api/v1/jobs", "/api/v1/nodes", "/api/v1/grid", "/metrics"):
        assert client.get(path).status_code == 200, path


def test_remote_reads_need_the_token(remote: TestClient) -> None:
    for path in ("/api/v1/runs", "/api/v1/jobs", "/api/v1/summary", "/metrics"):
        missing = remote.get(path)
        assert missing.status_code == 401, path
        assert "api_token" in missing.json()["detail"]
        assert missing.headers["www-authenticate"] == "Bearer"
        assert remote.get(path, headers={"Authorization": "Bearer nope"}).status_code == 403
        assert remote.get(path, headers=AUTH).status_code == 200


def test_writes_need_the_token_even_from_loopback(client: TestClient) -> None:
    assert client.post("/api/v1/jobs", json=JOB).status_code == 401
    wrong = {"Authorization": "Bearer x"}
    assert client.post("/api/v1/jobs", json=JOB, headers=wrong).status_code == 403
    assert client.post("/api/v1/jobs/job-1/cancel").status_code == 401
    assert client.post("/api/v1/jobs", json=JOB, headers=AUTH).status_code == 201


def test_malformed_authorization_headers_are_401(remote: TestClient) -> None:
    for value in ("Bearer", "Bearer ", "Basic abc", "test-token-123"):
        assert remote.get("/api/v1/runs", headers={"Authorization": value}).status_code == 401


def test_dashboard_assets_are_public(remote: TestClient) -> None:
    # The page and its scripts hold no data; the data calls carry the token.
    page = remote.get("/")
    assert page.status_code == 200 and "wattwise" in page.text
    assert remote.get("/static/app.js").status_code == 200
