"""Processes found by their token: a setsid grandchild, and what outlives the head."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import time
from pathlib import Path

from wattwise.engine import job_procs

# A process that leaves its session and shrugs off SIGTERM, like Ray's agents.
STUBBORN = (
    "import os, signal, time; os.setsid(); "
    "signal.signal(signal.SIGTERM, signal.SIG_IGN); time.sleep(60)"
)


def _gone(token: str, var: str, timeout_s: float) -> bool:
    deadline = time.monotonic() + timeout_s
    while job_procs.find(token, var) and time.monotonic() < deadline:
        time.sleep(0.1)
    return not job_procs.find(token, var)


def test_find_sees_only_processes_carrying_the_token() -> None:
    token = job_procs.new_token()
    env = {**os.environ, job_procs.TOKEN_VAR: token}
    tagged = subprocess.Popen([sys.executable, "-c", STUBBORN], env=env)
    plain = subprocess.Popen([sys.executable, "-c", "import time; time.sleep(60)"])
    try:
        deadline = time.monotonic() + 10
        while tagged.pid not in job_procs.find(token) and time.monotonic() < deadline:
            time.sleep(0.05)
        assert job_procs.find(token) == [tagged.pid]
        job_procs.signal_all(token, signal.SIGKILL)
        tagged.wait(timeout=10)
        assert job_procs.find(token) == []
    finally:
        for p in (tagged, plain):
            p.kill()
            p.wait()


def test_the_watchdog_kills_what_carries_the_token_once_the_head_is_gone() -> None:
    token, var = job_procs.new_token(), job_procs.RAY_TOKEN_VAR
    head = subprocess.Popen([sys.executable, "-c", "import time; time.sleep(60)"])
    env = {**os.environ, var: token}
    # Grandchildren of the watchdog test, not of the head: they must not depend on
    # the head's death reaching them through their parent.
    agents = [subprocess.Popen([sys.executable, "-c", STUBBORN], env=env) for _ in range(2)]
    watchdog = job_procs.spawn_watchdog(head.pid, token, var)
    try:
        deadline = time.monotonic() + 10
        while len(job_procs.find(token, var)) < 2 and time.monotonic() < deadline:
            time.sleep(0.05)
        time.sleep(1.0)
        assert sorted(job_procs.find(token, var)) == sorted(a.pid for a in agents)
        assert watchdog.poll() is None  # waits while the head lives
        head.kill()  # kill -9 of the head
        head.wait()
        assert _gone(token, var, 10), f"still running: {job_procs.find(token, var)}"
        assert watchdog.wait(timeout=10) == 0
        assert all(a.wait(timeout=5) == -signal.SIGKILL for a in agents)
    finally:
        for p in (head, watchdog, *agents):
            if p.poll() is None:
                p.kill()
                p.wait()


def test_the_watchdog_also_kills_what_descended_from_the_head_without_the_token(
    tmp_path: Path,
) -> None:
    """Ray's agents write their title over their environment: found by descent."""
    token, var = job_procs.new_token(), job_procs.RAY_TOKEN_VAR
    pidfile = tmp_path / "child.pid"
    head_code = (
        "import subprocess, sys, time; "
        f"c = subprocess.Popen([sys.executable, '-c', {STUBBORN!r}], env={{}}); "
        f"open({str(pidfile)!r}, 'w').write(str(c.pid)); time.sleep(60)"
    )
    head = subprocess.Popen([sys.executable, "-c", head_code])
    watchdog = job_procs.spawn_watchdog(head.pid, token, var)
    try:
        deadline = time.monotonic() + 10
        while not pidfile.exists() and time.monotonic() < deadline:
            time.sleep(0.05)
        time.sleep(0.2)
        child = int(pidfile.read_text())
        assert job_procs.find(token, var) == []  # nothing carries the token
        time.sleep(3.0)  # the watchdog's next look at the head's tree
        head.kill()
        head.wait()
        deadline = time.monotonic() + 10
        while job_procs.start_ticks(child) is not None and time.monotonic() < deadline:
            time.sleep(0.1)
        assert job_procs.start_ticks(child) is None, f"child {child} outlived the head"
        assert watchdog.wait(timeout=10) == 0
    finally:
        for p in (head, watchdog):
            if p.poll() is None:
                p.kill()
                p.wait()
        if pidfile.exists() and job_procs.start_ticks(int(pidfile.read_text())) is not None:
            os.kill(int(pidfile.read_text()), signal.SIGKILL)


def test_kill_all_stops_every_carrier_of_the_tokens() -> None:
    tokens = [job_procs.new_token(), job_procs.new_token()]
    procs = [
        subprocess.Popen(
            [sys.executable, "-c", STUBBORN], env={**os.environ, job_procs.TOKEN_VAR: t}
        )
        for t in tokens
    ]
    try:
        deadline = time.monotonic() + 10
        while sum(map(len, job_procs.find_all(tokens).values())) < 2:
            assert time.monotonic() < deadline
            time.sleep(0.05)
        assert job_procs.kill_all(tokens) == 2
        assert [p.wait(timeout=5) for p in procs] == [-signal.SIGKILL] * 2
    finally:
        for p in procs:
            if p.poll() is None:
                p.kill()
                p.wait()
