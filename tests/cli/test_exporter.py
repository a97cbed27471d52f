from __future__ import annotations

import os
import socket
import subprocess
import sys
import time
from pathlib import Path

import httpx


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


def test_exporter_serves_energy_counters_and_power(wattwise_home: Path) -> None:
    port = _free_port()
    proc = subprocess.Popen(
        [sys.executable, "-m", "wattwise.cli.main", "exporter", "--port", str(port)],
        env={**os.environ, "WATTWISE_HOME": str(wattwise_home)},
        stderr=subprocess.PIPE,
        text=True,
    )
    try:
        body = ""
        # Start-up imports the whole package: on a loaded CI host that can take a while.
        deadline = time.monotonic() + 60.0
        while not body and time.monotonic() < deadline and proc.poll() is None:
            try:
                body = httpx.get(f"http://127.0.0.1:{port}/metrics", timeout=2).text
            except httpx.TransportError:
                time.sleep(0.1)
        second = httpx.get(f"http://127.0.0.1:{port}/metrics", timeout=2).text
    finally:
        proc.terminate()
        proc.wait(timeout=10)
    assert 'wattwise_node_energy_joules_total{device="estimate:node-cpu"' in body
    assert 'estimated="true"' in body
    assert "wattwise_node_power_watts{" in second  # power needs two scrapes


def test_exporter_port_in_use_is_one_line(wattwise_home: Path) -> None:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        s.listen()
        port = s.getsockname()[1]
        out = subprocess.run(
            [sys.executable, "-m", "wattwise.cli.main", "exporter", "--port", str(port)],
            env={**os.environ, "WATTWISE_HOME": str(wattwise_home)},
            capture_output=True,
            text=True,
            timeout=60,
        )
    assert out.returncode == 2
    assert "cannot listen" in out.stderr and "Traceback" not in out.stderr
