from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import pytest

from wattwise.cli.main import main


@pytest.fixture
def home(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    monkeypatch.setenv("WATTWISE_HOME", str(tmp_path))
    monkeypatch.delenv("WATTWISE_DB", raising=False)
    return tmp_path


def _fails(args: list[str], capsys: pytest.CaptureFixture[str]) -> str:
    with pytest.raises(SystemExit) as exit_:
        main(args)
    assert exit_.value.code == 2
    err = capsys.readouterr().err.strip()
    assert len(err.splitlines()) == 1 and "Traceback" not in err
    return err


def test_submit_list_show_cancel(home: Path, capsys: pytest.CaptureFixture[str]) -> None:
    main(["submit", "--cpus", "2", "--deadline", "6h", "--runtime", "1h", "--", "python", "t.py"])
    assert "submitted job 1 (python)" in capsys.readouterr().out
    job_file = home / "job.yaml"
    job_file.write_text("name: infer\ncommand: [infer, '{shard}']\nshards: [a, b]\n")
    main(["submit", "--json", str(job_file)])
    assert json.loads(capsys.readouterr().out)["tasks_total"] == 2
    main(["jobs", "--json"])
    assert [j["name"] for j in json.loads(capsys.readouterr().out)] == ["infer", "python"]
    main(["job", "1"])
    out = capsys.readouterr().out
    assert "job 1  python  queued" in out and "2.0 cpus" in out
    main(["cancel", "1"])
    assert "cancelled job 1" in capsys.readouterr().out
    assert "already cancelled" in _fails(["cancel", "1"], capsys)


def test_bad_input_is_one_line(home: Path, capsys: pytest.CaptureFixture[str]) -> None:
    assert "cpus: must be > 0" in _fails(["submit", "--cpus", "0", "--", "true"], capsys)
    assert "deadline: 'soon' is not a duration" in _fails(
        ["submit", "--deadline", "soon", "--", "true"], capsys
    )
    assert "nothing to submit" in _fails(["submit"], capsys)
    assert "options go first" in _fails(["submit", "job.yaml", "--json"], capsys)
    assert "no such job file" in _fails(["submit", str(home / "missing.yaml")], capsys)
    bad = home / "bad.yaml"
    bad.write_text("command: [true]\ngpu: 1\n")
    assert "bad.yaml: unknown field 'gpu'" in _fails(["submit", str(bad)], capsys)
    tiny = home / "tiny.yaml"
    tiny.write_text("command: [sleep, '1']\ncpus: 0.00001\n")
    assert "tiny.yaml: cpus: must be a multiple of 0.0001" in _fails(["submit", str(tiny)], capsys)
    latin = home / "latin1.yaml"
    latin.write_bytes(b"name: caf\xe9\ncommand: [true]\n")
    assert "latin1.yaml:1: not UTF-8 text" in _fails(["submit", str(latin)], capsys)
    assert "no job 42" in _fails(["cancel", "42"], capsys)
    assert "no job 42" in _fails(["job", "42"], capsys)
    assert "unknown job status 'done'" in _fails(["jobs", "--status", "done"], capsys)


def test_serve_with_a_missing_ray_address_fails_fast(
    home: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    start = time.monotonic()
    err = _fails(["serve", "--address", "127.0.0.1:1", "--no-api"], capsys)
    assert "cannot connect to the Ray cluster at 127.0.0.1:1" in err
    assert time.monotonic() - start < 10
    assert "bad Ray address 'nowhere'" in _fails(["serve", "--address", "nowhere"], capsys)
    assert "--policy must be one of asap, carbon, " in _fails(["serve", "--policy", "x"], capsys)


def test_serve_ray_host_is_checked(home: Path, capsys: pytest.CaptureFixture[str]) -> None:
    err = _fails(["serve", "--ray-host", "my laptop", "--no-api"], capsys)
    assert "--ray-host must be an IP address of this machine, got 'my laptop'" in err
    err = _fails(["serve", "--address", "10.0.0.5:6379", "--ray-host", "0.0.0.0"], capsys)
    assert "--ray-host sets where the embedded Ray listens" in err


def _cli(home: Path, *args: str) -> str:
    env = {**os.environ, "WATTWISE_HOME": str(home)}
    out = subprocess.run(
        [sys.executable, "-m", "wattwise.cli.main", *args],
        env=env,
        capture_output=True,
        text=True,
        check=False,
    )
    assert out.returncode == 0, out.stderr
    return out.stdout


def _serve(home: Path) -> subprocess.Popen[bytes]:
    env = {**os.environ, "WATTWISE_HOME": str(home)}
    return subprocess.Popen(
        [sys.executable, "-m", "wattwise.cli.main", "serve", "--num-cpus", "2", "--no-api"],
        env=env,
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
        start_new_session=True,  # its own group: kill -9 takes its Ray with it, like a crash
    )


def _status(home: Path, job_id: int) -> str:
    from wattwise.store.jobs import JobStore

    return JobStore(f"sqlite:///{home / 'wattwise.db'}").get_job(job_id).status


def _wait(cond: object, timeout_s: float) -> bool:
    deadline = time.monotonic() + timeout_s
    while time.monotonic() < deadline:
        if cond():  # type: ignore[operator]
            return True
        time.sleep(0.5)
    return False


@pytest.mark.slow
def test_serve_killed_and_restarted_loses_no_job(home: Path) -> None:
    first = _serve(home)
    try:
        long_job = json.loads(_cli(home, "submit", "--json", "--", "sleep", "8"))["id"]
        assert _wait(lambda: _status(home, long_job) == "running", 90), _status(home, long_job)
    finally:
        os.killpg(first.pid, signal.SIGKILL)
        first.wait()
    queued = json.loads(_cli(home, "submit", "--json", "--", "true"))["id"]
    second = _serve(home)
    try:
        assert _wait(lambda: _status(home, queued) == "succeeded", 90)
        assert _wait(lambda: _status(home, long_job) == "succeeded", 60)
        tasks = json.loads(_cli(home, "job", str(long_job), "--json"))["tasks"]
        assert [t["status"] for t in tasks] == ["lost", "succeeded"]
    finally:
        second.send_signal(signal.SIGTERM)
        try:
            second.wait(timeout=30)
        except subprocess.TimeoutExpired:
            os.killpg(second.pid, signal.SIGKILL)
            second.wait()
