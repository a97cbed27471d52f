"""The node side without Ray: batches, exit codes, missing programs, cancel."""

from __future__ import annotations

import _thread
import os
import stat
import threading
import time
from pathlib import Path

import pytest

from wattwise.engine.node_meter import NodeMeter
from wattwise.engine.worker import TaskItem, run_items


def _item(task_id: int, argv: list[str], tmp: Path, **kw: object) -> TaskItem:
    return TaskItem(
        task_id=task_id,
        job_id=task_id,
        key=f"{task_id}/0/1/{task_id}",
        argv=tuple(argv),
        log_path=str(tmp / f"{task_id}.log"),
        **kw,  # type: ignore[arg-type]
    )


def test_a_batch_reports_each_task(tmp_path: Path) -> None:
    meter = NodeMeter([], interval_s=0.05)
    try:
        results = run_items(
            [
                _item(1, ["true"], tmp_path),
                _item(2, ["sh", "-c", "echo nope >&2; exit 4"], tmp_path),
                _item(3, ["no-such-program-here"], tmp_path),
                _item(4, ["sh", "-c", "echo $MSG"], tmp_path, env={"MSG": "hello"}),
            ],
            meter,
            "node-a",
        )
    finally:
        meter.close()
    by_id = {r.task_id: r for r in results}
    assert by_id[1].exit_code == 0 and by_id[1].error is None and by_id[1].energy is not None
    assert by_id[2].exit_code == 4 and by_id[2].error == "exited with status 4: nope"
    assert by_id[3].exit_code is None
    assert by_id[3].error == "cannot start 'no-such-program-here': No such file or directory"
    assert (tmp_path / "4.log").read_text() == "hello\n"
    assert all(r.node_id == "node-a" for r in results)


def _interrupt_once(started: Path) -> None:
    """Raise KeyboardInterrupt in the main thread (as Ray's cancel does in the task's
    thread) once the task has written ``started``: a fixed delay raced the launch on a
    loaded machine."""

    def wait_then_interrupt() -> None:
        deadline = time.monotonic() + 60
        while not started.exists() and time.monotonic() < deadline:
            time.sleep(0.02)
        time.sleep(0.1)
        _thread.interrupt_main()

    threading.Thread(target=wait_then_interrupt, daemon=True).start()


def test_cancel_sends_sigterm_then_reports_cancelled(tmp_path: Path) -> None:
    marker, started = tmp_path / "term", tmp_path / "started"
    script = f"trap 'echo term > {marker}; exit 143' TERM; touch {started}; sleep 30 & wait"
    item = _item(1, ["sh", "-c", script], tmp_path, grace_s=5.0)
    _interrupt_once(started)
    start = time.monotonic()
    [result] = run_items([item], None, "node-a")
    assert result.cancelled and result.exit_code == 143
    assert marker.read_text().strip() == "term"
    assert time.monotonic() - start < 20  # not the 30 s sleep


def test_a_setup_error_fails_that_task_alone_with_the_path(tmp_path: Path) -> None:
    """One bad checkpoint_dir, log folder or cwd fails its own task; the batch runs on."""
    blocker = tmp_path / "a-file"
    blocker.write_text("")
    results = run_items(
        [
            _item(1, ["true"], tmp_path, checkpoint_dir="/proc/nope/ck"),
            _item(2, ["true"], tmp_path, checkpoint_dir=str(blocker)),
            _item(3, ["true"], tmp_path, cwd=str(tmp_path / "no-such-dir")),
            TaskItem(4, 4, "4/0/1/4", ("true",), log_path=str(blocker / "4.log")),
            _item(5, ["sh", "-c", "echo ran"], tmp_path, checkpoint_dir=str(tmp_path / "ck")),
        ],
        None,
        "node-a",
    )
    by_id = {r.task_id: r for r in results}
    assert by_id[1].error == "cannot create checkpoint_dir /proc/nope/ck: No such file or directory"
    assert by_id[2].error == f"checkpoint_dir {blocker} is not a folder"
    assert by_id[3].error == f"cwd {tmp_path / 'no-such-dir'} is not a folder on this node"
    assert by_id[4].error == f"cannot write the job log {blocker / '4.log'}: Not a directory"
    assert all(by_id[i].exit_code is None for i in (1, 2, 3, 4))
    assert by_id[5].exit_code == 0 and by_id[5].error is None
    assert (tmp_path / "5.log").read_text() == "ran\n"


def test_a_cwd_that_cannot_be_entered_is_named(tmp_path: Path) -> None:
    locked = tmp_path / "locked"
    locked.mkdir(mode=0o000)
    try:
        if os.access(locked, os.X_OK):
            pytest.skip("running as root: every folder can be entered")
        [result] = run_items([_item(1, ["true"], tmp_path, cwd=str(locked))], None, "node-a")
    finally:
        locked.chmod(0o700)
    assert result.error == f"cannot enter cwd {locked}: Permission denied"


def test_logs_and_checkpoint_folders_are_private(tmp_path: Path) -> None:
    logs, ck = tmp_path / "logs" / "deep", tmp_path / "checkpoints" / "job-1"
    item = TaskItem(
        1, 1, "1/0/1/1", ("true",), log_path=str(logs / "1.log"), checkpoint_dir=str(ck)
    )
    old = os.umask(0o022)  # the usual umask leaves new files readable by everyone
    try:
        [result] = run_items([item], None, "node-a")
    finally:
        os.umask(old)
    assert result.exit_code == 0
    assert stat.S_IMODE((logs / "1.log").stat().st_mode) == 0o600
    for folder in (logs, logs.parent, ck, ck.parent):
        assert stat.S_IMODE(folder.stat().st_mode) == 0o700, folder


def _alive(pid: int) -> bool:
    try:
        state = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()[0]
    except OSError:
        return False
    return state != "Z"  # a zombie has stopped; only its parent's wait is missing


def test_cancel_reaches_a_grandchild_that_left_with_setsid(tmp_path: Path) -> None:
    pidfile = tmp_path / "grandchild.pid"
    # The grandchild starts its own session (out of the task's process group) and
    # ignores SIGTERM: only the token sweep, then SIGKILL, stops it.
    script = (
        f"setsid sh -c 'trap \"\" TERM; echo $$ > {pidfile}; while :; do sleep 0.1; done' &"
        " sleep 30"
    )
    item = _item(1, ["sh", "-c", script], tmp_path, grace_s=0.5)
    _interrupt_once(pidfile)
    [result] = run_items([item], None, "node-a")
    assert result.cancelled
    grandchild = int(pidfile.read_text())
    assert not _alive(grandchild), f"grandchild {grandchild} still runs"


def test_nothing_started_runs_on_when_the_worker_fails(tmp_path: Path) -> None:
    """An error that is no task's fault leaves the worker only after its tasks stopped."""

    class BrokenMeter:
        def __init__(self) -> None:
            self.pids: list[int] = []

        def register_many(self, jobs: list[tuple[str, int]]) -> None:
            self.pids += [pid for _, pid in jobs]
            raise RuntimeError("meter link broke")

        def finish_many(self, jobs: object) -> list[object]:
            return []

    meter = BrokenMeter()
    with pytest.raises(RuntimeError, match="meter link broke"):
        run_items([_item(1, ["sleep", "41"], tmp_path)], meter, "node-a")  # type: ignore[arg-type]
    [pid] = meter.pids
    assert not _alive(pid), f"the task's process {pid} runs on"


def test_a_task_carries_the_token_the_head_gave_it(tmp_path: Path) -> None:
    from wattwise.engine import job_procs

    token = "head1234-7"
    item = _item(1, ["sh", "-c", f"echo ${job_procs.TOKEN_VAR}"], tmp_path)
    item = TaskItem(**{**vars(item), "env": {job_procs.TOKEN_VAR: token}})
    [result] = run_items([item], None, "node-a")
    assert result.exit_code == 0 and (tmp_path / "1.log").read_text() == f"{token}\n"
