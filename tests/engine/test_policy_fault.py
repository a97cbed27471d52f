"""A policy that raises at a tick: the head keeps running, the jobs fall back to their
latest safe start, and the error is logged once."""

from __future__ import annotations

import logging
import time
from pathlib import Path
from typing import Any

import pytest

from wattwise.engine import head as head_module
from wattwise.engine import ray_backend as rb
from wattwise.engine.head import Engine, EngineConfig
from wattwise.engine.spec import parse_spec
from wattwise.schedule.model import JobBatch
from wattwise.schedule.policies.base import ClusterState, ForecastView, Plan, Policy

NODE = rb.NodeInfo("n" * 32, "node-1", True, 4.0, 0.0, None, None)


class Broken(Policy):
    name = "broken"
    calls = 0

    def plan(
        self, now_h: float, queue: JobBatch, state: ClusterState, forecast: ForecastView
    ) -> Plan:
        self.calls += 1
        raise ZeroDivisionError("float division by zero")


class NothingEnds:
    def wait(self, refs: list[Any], **_: Any) -> tuple[list[Any], list[Any]]:
        return [], list(refs)


def test_a_raising_policy_falls_back_to_the_latest_safe_start(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, caplog: pytest.LogCaptureFixture
) -> None:
    sent: list[str] = []
    monkeypatch.setattr(head_module.rb, "connect", lambda *a: None)
    monkeypatch.setattr(head_module.rb, "list_nodes", lambda: [NODE])
    monkeypatch.setattr(head_module.rb, "import_ray", NothingEnds)
    monkeypatch.setattr(
        head_module.rb, "submit_batch", lambda items, *a: sent.extend(i.argv[0] for i in items)
    )
    policy = Broken()
    engine = Engine(EngineConfig(store_url=f"sqlite:///{tmp_path / 'w.db'}", meter=False,
                                 home=tmp_path, tick_s=0.0, policy=policy,
                                 replan_interval_s=0.0))  # fmt: skip
    now = time.time()
    due = parse_spec({"command": ["due"], "runtime": "10m"}, now)
    later = parse_spec({"command": ["later"], "runtime": "10m", "deadline": "5h"}, now)
    engine.store.submit(due.to_dict(), submitted_s=now, latest_start_s=due.latest_start_s(now))
    later_id = engine.store.submit(
        later.to_dict(), submitted_s=now, latest_start_s=later.latest_start_s(now)
    )
    engine.start()
    with caplog.at_level(logging.ERROR, logger="wattwise.engine"):
        for _ in range(5):
            engine.tick()
    assert policy.calls >= 2  # asked again at each re-plan; still failing
    assert sent == ["due"]  # the job due now ran; the other waits for its latest start
    job = engine.store.get_job(later_id)
    assert job.status == "waiting"
    assert job.planned_start_s == pytest.approx(later.latest_start_s(now))
    errors = [r for r in caplog.records if "policy Broken failed" in r.getMessage()]
    assert len(errors) == 1 and "float division by zero" in errors[0].getMessage()
