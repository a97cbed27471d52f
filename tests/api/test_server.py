"""The API's socket: bound before anything starts, so a busy port fails fast and clearly."""

from __future__ import annotations

import os
import signal
import socket
import subprocess
import sys
from collections.abc import Iterator

import pytest

from wattwise.api.server import bind_listener
from wattwise.errors import ConfigError


@pytest.fixture
def busy_port() -> Iterator[int]:
    holder = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
    holder.bind(("127.0.0.1", 0))
    holder.listen(1)
    try:
        yield int(holder.getsockname()[1])
    finally:
        holder.close()


def test_bind_listener_names_a_busy_port(busy_port: int) -> None:
    with pytest.raises(ConfigError) as caught:
        bind_listener("127.0.0.1", busy_port)
    text = str(caught.value)
    assert f"127.0.0.1:{busy_port}" in text and "in use" in text and "--port" in text
    assert "\n" not in text


def test_bind_listener_names_an_unknown_host() -> None:
    with pytest.raises(ConfigError, match="unknown host"):
        bind_listener("no-such-host.invalid", 0)


def test_bind_listener_keeps_the_name_asked_for() -> None:
    listener = bind_listener("localhost", 0)
    try:
        assert listener.host == "localhost" and listener.port > 0
    finally:
        listener.sock.close()


def test_serve_on_a_busy_port_fails_before_starting_ray(busy_port: int) -> None:
    # Before: serve printed its URL, logged "address already in use" and ran on, no API.
    proc = subprocess.Popen(
        [sys.executable, "-m", "wattwise.cli.main", "serve", "--port", str(busy_port)],
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
        start_new_session=True,
    )
    try:
        _, err = proc.communicate(timeout=60)
    except subprocess.TimeoutExpired:
        os.killpg(proc.pid, signal.SIGTERM)
        proc.communicate(timeout=60)
        pytest.fail("serve kept running on a busy API port")
    assert proc.returncode == 2
    lines = err.strip().splitlines()
    assert len(lines) == 1, err
    assert lines[0].startswith("wattwise: error: cannot listen on 127.0.0.1:")
    assert "in use" in lines[0] and "Traceback" not in err
