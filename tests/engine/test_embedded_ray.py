"""The embedded Ray of ``wattwise serve``: it listens on loopback only, and it dies with
the head, even after ``kill -9`` (Ray's agents used to live on for minutes)."""

from __future__ import annotations

import contextlib
import ipaddress
import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import psutil
import pytest

from wattwise.engine import job_procs

pytestmark = pytest.mark.slow

#: The processes the raylet starts that used to outlive a killed head.
AGENTS = ("ray::DashboardAgent", "ray::RuntimeEnvAgent")


def _token_of(pid: int) -> str | None:
    try:
        environ = Path(f"/proc/{pid}/environ").read_bytes().split(b"\0")
    except OSError:
        return None
    prefix = f"{job_procs.RAY_TOKEN_VAR}=".encode()
    found = [e[len(prefix) :].decode() for e in environ if e.startswith(prefix)]
    return found[0] if found else None


def _loopback(ip: str) -> bool:
    address = ipaddress.ip_address(ip.split("%")[0])
    mapped = getattr(address, "ipv4_mapped", None)  # ::ffff:127.0.0.1 is IPv4 loopback
    return (mapped or address).is_loopback


def _cmdline(pid: int) -> str:
    try:
        return Path(f"/proc/{pid}/cmdline").read_bytes().replace(b"\0", b" ").decode()
    except OSError:
        return ""


def test_embedded_ray_listens_on_loopback_and_dies_with_the_head(tmp_path: Path) -> None:
    env = {**os.environ, "WATTWISE_HOME": str(tmp_path)}
    serve = subprocess.Popen(
        [sys.executable, "-m", "wattwise.cli.main", "serve", "--num-cpus", "1", "--no-api"],
        env=env,
        stdout=subprocess.DEVNULL,
        stderr=subprocess.PIPE,
        start_new_session=True,
    )
    token: str | None = None
    ray_procs: dict[int, int] = {}  # pid -> start ticks: Ray's processes under the head
    try:
        deadline = time.monotonic() + 120
        listening: dict[tuple[int, int], tuple[str, str]] = {}
        agents: set[int] = set()
        # Ready once both agents the raylet starts (dashboard, runtime env) listen.
        while time.monotonic() < deadline and len(agents) < len(AGENTS):
            assert serve.poll() is None, serve.stderr.read() if serve.stderr else ""
            time.sleep(1.0)
            ray_procs = {
                pid: ticks
                for pid, ticks in job_procs.descendants(serve.pid).items()
                if "wattwise_job_procs" not in _cmdline(pid)  # the watchdog itself
            }
            if token is None:
                tokens = {_token_of(pid) for pid in ray_procs} - {None}
                token = tokens.pop() if tokens else None
            for pid in ray_procs:
                with contextlib.suppress(psutil.Error):
                    p = psutil.Process(pid)
                    for c in p.net_connections(kind="inet"):
                        if c.status == psutil.CONN_LISTEN:
                            listening[(pid, c.laddr.port)] = (_cmdline(pid)[:60], c.laddr.ip)
                            if _cmdline(pid).split(" ")[0].strip() in AGENTS:
                                agents.add(pid)
        assert token is not None and len(agents) == len(AGENTS), listening
        exposed = [where for where in listening.values() if not _loopback(where[1])]
        assert not exposed, f"Ray listens beyond loopback: {exposed}"
    finally:
        os.killpg(serve.pid, signal.SIGKILL)  # the head and its group, as a crash would
        serve.wait()

    def left() -> list[int]:
        assert token is not None
        by_descent = [p for p, t in ray_procs.items() if job_procs.start_ticks(p) == t]
        return sorted({*by_descent, *job_procs.find(token, job_procs.RAY_TOKEN_VAR)})

    deadline = time.monotonic() + 30
    while left() and time.monotonic() < deadline:
        time.sleep(0.5)
    still = left()
    for pid in still:  # do not leave them to the next test, whatever the result
        os.kill(pid, signal.SIGKILL)
    assert not still, f"Ray processes outlived the head: {[_cmdline(p)[:40] for p in still]}"


def test_a_task_whose_worker_dies_is_stopped_before_its_rerun(tmp_path: Path) -> None:
    """A short (batched) task has no PDEATHSIG: when its Ray worker is killed, the node's
    meter kills the task's processes before the head marks it lost and reruns it."""
    from wattwise.engine.client import EngineClient

    env = {**os.environ, "WATTWISE_HOME": str(tmp_path)}
    pids = tmp_path / "pids"
    client = EngineClient(f"sqlite:///{tmp_path / 'wattwise.db'}")
    job_id = client.submit(
        {
            "command": ["sh", "-c", f"echo $$ >> {pids}; exec sleep 30"],
            "runtime": "10s",  # short: it goes out in a batch task, without PDEATHSIG
            "max_attempts": 2,
        }
    )
    serve = subprocess.Popen(
        [sys.executable, "-m", "wattwise.cli.main", "serve", "--num-cpus", "1", "--no-api"],
        env=env,
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
        start_new_session=True,
    )
    try:
        deadline = time.monotonic() + 120
        while not pids.exists() and time.monotonic() < deadline:
            assert serve.poll() is None
            time.sleep(0.5)
        first = int(pids.read_text().split()[0])
        first_ticks = job_procs.start_ticks(first)
        worker = psutil.Process(first).ppid()
        assert "_run_batch" in _cmdline(worker) or "ray::" in _cmdline(worker)
        os.kill(worker, signal.SIGKILL)
        deadline = time.monotonic() + 60
        while time.monotonic() < deadline and not [
            t for t in client.tasks(job_id) if t.status == "lost"
        ]:
            time.sleep(0.5)
        assert client.tasks(job_id)[0].status == "lost"
        assert job_procs.start_ticks(first) != first_ticks, "the task ran on after its worker"
    finally:
        os.killpg(serve.pid, signal.SIGKILL)
        serve.wait()
        for line in pids.read_text().split() if pids.exists() else []:
            with contextlib.suppress(ProcessLookupError):
                os.kill(int(line), signal.SIGKILL)
