"""The interruptible example keeps the checkpoint contract: suspended by SIGTERM and
resumed from its folder, it ends with the weights of an uninterrupted run."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import pytest

pytest.importorskip("torch")
pytest.importorskip("sklearn")

EXAMPLE = Path(__file__).resolve().parents[2] / "examples" / "jobs" / "checkpoint_train.py"


def run(folder: Path, *args: str) -> subprocess.Popen[str]:
    env = {**os.environ, "WATTWISE_CHECKPOINT_DIR": str(folder)}
    return subprocess.Popen(
        [sys.executable, str(EXAMPLE), "--steps", "300", "--every", "20", *args],
        env=env,
        stdout=subprocess.PIPE,
        text=True,
    )


def last_line(proc: subprocess.Popen[str]) -> str:
    out, _ = proc.communicate(timeout=120)
    assert proc.returncode == 0, out
    return out.strip().splitlines()[-1]


def test_suspend_and_resume_ends_like_an_uninterrupted_run(tmp_path: Path) -> None:
    whole = last_line(run(tmp_path / "whole"))
    assert whole.startswith("done 300 steps")

    folder = tmp_path / "parts"
    first = run(folder, "--pause-ms", "20")
    deadline = time.monotonic() + 90
    while not (folder / "train.pt").exists() and time.monotonic() < deadline:
        time.sleep(0.05)
    assert (folder / "train.pt").exists(), "the example never checkpointed"
    first.send_signal(signal.SIGTERM)
    suspended = last_line(first)
    assert suspended.startswith("suspended at step ")
    assert 0 < int(suspended.rsplit(" ", 1)[1]) < 300

    resumed = run(folder)
    out, _ = resumed.communicate(timeout=120)
    assert resumed.returncode == 0
    assert out.splitlines()[0].startswith("resumed at step ")
    assert out.strip().splitlines()[-1] == whole  # same accuracy, same weights' SHA-256
