"""The node side without Ray: batches, exit codes, missing programs, cancel."""

from __future__ import annotations

import _thread
import threading
import time
from pathlib import Path

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


def test_cancel_sends_sigterm_then_reports_cancelled(tmp_path: Path) -> None:
    marker = tmp_path / "term"
    script = f"trap 'echo term > {marker}; exit 143' TERM; sleep 30 & wait"
    item = _item(1, ["sh", "-c", script], tmp_path, grace_s=5.0)
    # Ray's cancel raises KeyboardInterrupt in the task's thread; do the same.
    timer = threading.Timer(0.8, _thread.interrupt_main)
    timer.start()
    start = time.monotonic()
    [result] = run_items([item], None, "node-a")
    assert result.cancelled and result.exit_code == 143
    assert marker.read_text().strip() == "term"
    assert time.monotonic() - start < 5
