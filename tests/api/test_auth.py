"""The token: created 0600 on first start, required for writes and for remote reads."""

from __future__ import annotations

import stat
import urllib.error
import urllib.request
from collections.abc import Iterator
from pathlib import Path

import pytest
from fastapi import FastAPI
from fastapi.testclient import TestClient

from tests.api.conftest import AUTH, BASE_URL, LOOPBACK, TOKEN
from wattwise.api import create_app
from wattwise.api.auth import ApiSecurity, host_of, load_or_create_token
from wattwise.api.server import serve_in_thread
from wattwise.config import parse_networks

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
    with TestClient(app, client=("198.51.100.1", 1), base_url=BASE_URL) as c:
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


def _secured(app_of: FastAPI, security: ApiSecurity) -> FastAPI:
    """The fixture's app rebuilt with ``security`` (same store, board, grid, token)."""
    state = app_of.state.wattwise
    return create_app(
        str(state.store.url),
        home=state.home,
        jobs=state.jobs,
        telemetry=state.telemetry,
        grid=state.grid,
        token=TOKEN,
        monitor_power=False,
        security=security,
    )


@pytest.mark.parametrize("peer", ["127.0.0.1", "127.0.0.2", "::1", "::ffff:127.0.0.1", "[::1]"])
def test_loopback_is_decided_from_the_peer_ip(app: FastAPI, peer: str) -> None:
    with TestClient(app, client=(peer, 1), base_url=BASE_URL) as c:
        assert c.get("/api/v1/runs").status_code == 200


@pytest.mark.parametrize(
    "peer", ["127.evil.com", "localhost", "127.0.0.1.nip.io", "10.0.0.1", "::2", "", "testclient"]
)
def test_names_and_other_addresses_are_not_loopback(app: FastAPI, peer: str) -> None:
    # Before: a string compare let `localhost` and anything starting `127.` through.
    with TestClient(app, client=(peer, 1), base_url=BASE_URL) as c:
        assert c.get("/api/v1/runs").status_code == 401
        assert c.get("/api/v1/runs", headers=AUTH).status_code == 200


@pytest.fixture
def live_server(app: FastAPI) -> Iterator[str]:
    """The fixture's app on a real uvicorn socket on loopback (what `serve` runs)."""
    server = serve_in_thread(app)
    try:
        yield server.url
    finally:
        server.stop()


def _get(url: str, headers: dict[str, str] | None = None) -> int:
    request = urllib.request.Request(url, headers=headers or {})
    try:
        with urllib.request.urlopen(request, timeout=10) as answer:
            return int(answer.status)
    except urllib.error.HTTPError as err:
        return int(err.code)


@pytest.mark.parametrize(
    "forwarded",
    [
        {"X-Forwarded-For": "127.evil.com"},
        {"X-Forwarded-For": "127.0.0.1"},
        {"X-Forwarded-For": "203.0.113.9, 127.0.0.1"},
        {"Forwarded": "for=127.0.0.1"},
        {"X-Real-IP": "127.0.0.1"},
    ],
)
def test_forwarded_headers_through_an_untrusted_proxy_need_the_token(
    live_server: str, forwarded: dict[str, str]
) -> None:
    # A same-host proxy's connections all come from 127.0.0.1. uvicorn used to rewrite the
    # client from X-Forwarded-For, and the string check then let `127.evil.com` read.
    assert _get(f"{live_server}/api/v1/runs") == 200  # plain loopback still reads
    assert _get(f"{live_server}/api/v1/runs", forwarded) == 401
    assert _get(f"{live_server}/api/v1/runs", {**forwarded, **AUTH}) == 200


def test_a_trusted_proxy_forwards_the_client(app: FastAPI) -> None:
    security = ApiSecurity(trusted_proxies=parse_networks(["127.0.0.1", "10.0.0.0/8"]))
    with TestClient(_secured(app, security), client=LOOPBACK, base_url=BASE_URL) as c:
        runs = "/api/v1/runs"
        assert c.get(runs, headers={"X-Forwarded-For": "203.0.113.9"}).status_code == 401
        # Read right to left: the client is the last hop the trusted proxies did not add.
        spoofed = {"X-Forwarded-For": "127.0.0.1, 203.0.113.9, 10.1.2.3"}
        assert c.get(runs, headers=spoofed).status_code == 401
        assert c.get(runs, headers={"X-Forwarded-For": "127.evil.com"}).status_code == 401
        assert c.get(runs, headers={"X-Forwarded-For": "127.0.0.1"}).status_code == 200
        assert c.get(runs, headers={"X-Forwarded-For": "::1, 10.9.9.9"}).status_code == 200
    with TestClient(_secured(app, security), client=("203.0.113.5", 1), base_url=BASE_URL) as c:
        # Not from a trusted proxy: its X-Forwarded-For is worth nothing.
        assert c.get("/api/v1/runs", headers={"X-Forwarded-For": "127.0.0.1"}).status_code == 401


@pytest.mark.parametrize(
    "host", ["evil.example", "evil.example:8787", "127.0.0.1.evil.example", "localhost.evil"]
)
def test_a_foreign_host_header_is_refused(app: FastAPI, host: str) -> None:
    # DNS rebinding: a page on evil.example whose name now resolves to 127.0.0.1.
    with TestClient(app, client=LOOPBACK, base_url=f"http://{host}") as c:
        for path in ("/api/v1/runs", "/api/v1/jobs", "/", "/metrics"):
            answer = c.get(path, headers=AUTH)
            assert answer.status_code == 400, path
            assert "api_allowed_hosts" in answer.json()["detail"]


@pytest.mark.parametrize(
    "host", ["localhost", "LOCALHOST:8787", "127.0.0.1:8787", "[::1]:8787", "192.0.2.10"]
)
def test_loopback_names_and_ip_literals_are_answered(app: FastAPI, host: str) -> None:
    with TestClient(app, client=LOOPBACK, base_url=f"http://{host}") as c:
        assert c.get("/api/v1/runs").status_code == 200


def test_configured_and_bound_host_names_are_answered(app: FastAPI) -> None:
    security = ApiSecurity(allowed_hosts=("wattwise.lan",), bound_host="head.internal")
    secured = _secured(app, security)
    for host, code in (("wattwise.lan", 200), ("head.internal:8787", 200), ("other.lan", 400)):
        with TestClient(secured, client=LOOPBACK, base_url=f"http://{host}") as c:
            assert c.get("/api/v1/runs").status_code == code, host


def test_host_of_strips_port_and_brackets() -> None:
    assert host_of("Example.COM:8787") == "example.com"
    assert host_of("[::1]:8787") == "::1"
    assert host_of("localhost.") == "localhost"


def test_token_can_be_required_for_every_read(app: FastAPI) -> None:
    secured = _secured(app, ApiSecurity(require_token_for_reads=True))
    with TestClient(secured, client=LOOPBACK, base_url=BASE_URL) as c:
        for path in ("/api/v1/runs", "/api/v1/jobs", "/metrics"):
            assert c.get(path).status_code == 401, path
            assert c.get(path, headers=AUTH).status_code == 200, path
        assert c.get("/").status_code == 200  # the page holds no data


def test_security_settings_come_from_config(wattwise_home: Path) -> None:
    (wattwise_home / "config.toml").write_text(
        "api_require_token_for_reads = true\n"
        'api_trusted_proxies = ["127.0.0.1", "10.0.0.0/8"]\n'
        'api_allowed_hosts = ["Wattwise.LAN."]\n'
    )
    security = ApiSecurity.from_config(bound_host="0.0.0.0")
    assert security.require_token_for_reads
    assert [str(n) for n in security.trusted_proxies] == ["127.0.0.1/32", "10.0.0.0/8"]
    assert "wattwise.lan" in security.host_names()
    # The flag can only add the rule, never lift the file's.
    (wattwise_home / "config.toml").write_text("")
    assert ApiSecurity.from_config(require_token_for_reads=True).require_token_for_reads
    assert not ApiSecurity.from_config().require_token_for_reads
