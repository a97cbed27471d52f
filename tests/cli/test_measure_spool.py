"""``wattwise measure`` while another process holds the store's write lock: the child's
exit code is kept, the run is spooled, and the next command stores it."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

WATTWISE = [sys.executable, "-m", "wattwise.cli.main"]

HOLD_LOCK = (
    "import sqlite3, sys\n"
    "conn = sqlite3.connect(sys.argv[1], isolation_level=None)\n"
    "conn.execute('BEGIN IMMEDIATE')\n"
    "print('held', flush=True)\n"
    "sys.stdin.read()\n"  # hold until the test closes our stdin
    "conn.execute('ROLLBACK')\n"
)


def _wattwise(*args: str, env: dict[str, str]) -> subprocess.CompletedProcess[str]:
    return subprocess.run([*WATTWISE, *args], capture_output=True, text=True, env=env, timeout=120)


def test_locked_store_keeps_exit_code_and_next_command_imports_the_run(
    wattwise_home: Path,
) -> None:
    env = {**os.environ, "WATTWISE_HOME": str(wattwise_home), "WATTWISE_LOCK_TIMEOUT_S": "0.2"}
    first = _wattwise("measure", "--json", "--", "true", env=env)  # creates the store
    assert first.returncode == 0, first.stderr
    holder = subprocess.Popen(
        [sys.executable, "-c", HOLD_LOCK, str(wattwise_home / "wattwise.db")],
        stdin=subprocess.PIPE,
        stdout=subprocess.PIPE,
        text=True,
    )
    try:
        assert holder.stdout is not None and holder.stdout.readline().strip() == "held"
        out = _wattwise("measure", "--json", "--", "sh", "-c", "exit 7", env=env)
        spooled = list((wattwise_home / "spool").glob("run-*.json"))
    finally:
        assert holder.stdin is not None
        holder.stdin.close()
        holder.wait(timeout=30)
    assert out.returncode == 7, out.stderr
    assert "another process holds the write lock" in out.stderr
    assert "run saved to" in out.stderr and "Traceback" not in out.stderr
    report = json.loads(out.stdout.strip().splitlines()[-1])
    assert report["exit_code"] == 7
    assert len(spooled) == 1

    listed = _wattwise("runs", "--json", env=env)  # the next command imports the spool
    assert listed.returncode == 0, listed.stderr
    runs = json.loads(listed.stdout)
    assert len(runs) == 2
    latest = runs[0]
    assert latest["name"] == "sh" and latest["status"] == "failed" and latest["exit_code"] == 7
    assert latest["energy_j"] == report["energy_j"]
    assert not list((wattwise_home / "spool").glob("run-*"))
