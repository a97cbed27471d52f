"""Carbon-aware GPU power for a running job: set, choose again, always put back.

Against a stand-in NVML (never a real card)."""

from __future__ import annotations

import math
import os
import re
import stat
import subprocess
import sys
import time
from pathlib import Path
from typing import Any

import numpy as np
import pytest

from tests.optimize.test_gpu_nvml import fake_nvml
from wattwise.engine.power import PastRun, PowerGovernor, PowerJournal, PowerPlan, plan_power
from wattwise.errors import ConfigError
from wattwise.optimize.gpu.nvml import NullPowerLimit, NvmlPowerLimit
from wattwise.units import TimeSeries

HOUR = 3600.0
# Per epoch on a 100-300 W card: lower limits slower but frugal.
PROFILES = (
    (100.0, 27.0, 27.0 * 107),
    (150.0, 10.0, 10.0 * 142),
    (200.0, 9.0, 9.0 * 180),
    (250.0, 8.6, 8.6 * 215),
    (300.0, 8.5, 8.5 * 240),
)


def plan(
    values: list[float], work: float = 3000.0, deadline_h: float = 48.0, start_s: float = 0.0
) -> PowerPlan:
    return PowerPlan(
        eta=0.5,
        profiles=PROFILES,
        work_units=work,
        deadline_s=start_s + deadline_h * HOUR,
        signal_times_s=tuple(start_s + i * HOUR for i in range(len(values))),
        signal_values=tuple(values),
    )


def test_sets_a_limit_chooses_again_when_the_grid_changes_and_restores(tmp_path: Path) -> None:
    nvml = fake_nvml()
    journal = PowerJournal(tmp_path / "power" / "gpu-limits.json")
    # Dirty first hour, clean second, then the mean.
    gov = PowerGovernor(plan([900.0, 60.0] + [300.0] * 46), [0], NvmlPowerLimit(nvml), journal)
    with gov:
        gov.start(0.0)
        dirty = nvml.state["limit_mw"] / 1000
        assert dirty < 300
        assert journal.read() == {0: {"previous_w": 300.0, "pid": os.getpid()}}
        assert stat.S_IMODE(journal.path.stat().st_mode) == 0o600
        gov.tick(HOUR / 2)  # not yet an hour: no new choice
        assert nvml.state["limit_mw"] / 1000 == dirty
        gov.tick(HOUR + 1)
        clean = nvml.state["limit_mw"] / 1000
        assert clean > dirty
    assert nvml.state["limit_mw"] == 300_000  # put back at the end
    assert journal.read() == {}
    assert gov.log.limits_w == [dirty, clean]
    assert gov.log.note is None


def test_crash_inside_the_job_still_restores(tmp_path: Path) -> None:
    nvml = fake_nvml()
    gov = PowerGovernor(plan([900.0] * 48), [0], NvmlPowerLimit(nvml), PowerJournal(tmp_path / "j"))
    with pytest.raises(RuntimeError), gov:
        gov.start(0.0)
        assert nvml.state["limit_mw"] < 300_000
        raise RuntimeError("job crashed")
    assert nvml.state["limit_mw"] == 300_000


def test_a_killed_node_process_is_restored_by_the_next_governor(tmp_path: Path) -> None:
    nvml = fake_nvml()
    journal = PowerJournal(tmp_path / "j.json")
    # A process that set a limit, journalled it, and died without restoring.
    dead = subprocess.run([sys.executable, "-c", "import os; print(os.getpid())"],
                          capture_output=True, text=True, check=True)  # fmt: skip
    journal._write({0: {"previous_w": 300.0, "pid": int(dead.stdout)}})
    nvml.state["limit_mw"] = 120_000
    assert journal.restore_orphans(NvmlPowerLimit(nvml)) == [0]
    assert nvml.state["limit_mw"] == 300_000
    assert journal.read() == {}


def test_permission_denied_gives_a_note_and_no_cap(tmp_path: Path) -> None:
    nvml = fake_nvml(privileged=False)
    gov = PowerGovernor(plan([900.0] * 48), [0], NvmlPowerLimit(nvml), PowerJournal(tmp_path / "j"))
    with gov:
        gov.start(0.0)
        gov.tick(2 * HOUR)
    assert nvml.state["limit_mw"] == 300_000
    assert gov.log.note is not None and "permission" in gov.log.note
    assert "\n" not in gov.log.note
    assert gov.log.limits_w == []


def test_no_nvml_gives_a_note(tmp_path: Path) -> None:
    gov = PowerGovernor(plan([900.0] * 48), [0], NullPowerLimit(), PowerJournal(tmp_path / "j"))
    with gov:
        gov.start(0.0)
    assert gov.log.note is not None and "no NVIDIA GPU" in gov.log.note


def test_the_deadline_wins_over_a_dirty_grid(tmp_path: Path) -> None:
    nvml = fake_nvml()
    # 3000 epochs, 8 h to go: only limits at <= 9.6 s/epoch finish, however dirty now.
    gov = PowerGovernor(
        plan([2000.0] + [50.0] * 47, work=3000.0, deadline_h=8.0),
        [0],
        NvmlPowerLimit(nvml),
        PowerJournal(tmp_path / "j"),
    )
    with gov:
        gov.start(0.0)
        assert nvml.state["limit_mw"] / 1000 >= 200


def test_a_bad_plan_is_refused() -> None:
    with pytest.raises(ConfigError):
        PowerPlan(1.5, PROFILES, 1.0, 10.0, (0.0,), (1.0,))
    with pytest.raises(ConfigError):
        PowerPlan(0.5, (), 1.0, 10.0, (0.0,), (1.0,))


def past(limit: float, duration: float, n: int = 2) -> list[PastRun]:
    return [PastRun(limit, duration, duration * limit * 0.9) for _ in range(n)]


def signal(values: list[float]) -> TimeSeries:
    return TimeSeries(HOUR * np.arange(len(values), dtype=np.float64),
                      np.asarray(values, dtype=np.float64), "gCO2e/kWh", HOUR)  # fmt: skip


def test_history_with_two_limits_gives_a_carbon_plan() -> None:
    history = past(300, 3600.0) + past(200, 4000.0) + [PastRun(200, 4400.0, 4400 * 180)]
    plan, why = plan_power(history, signal([400.0] * 24), 0.0, 12 * HOUR, 3600.0)
    assert plan is not None and not plan.explore
    assert [p[0] for p in plan.profiles] == [200.0, 300.0]
    assert plan.profiles[0][1] == 4000.0  # the median run time at 200 W
    assert "2 limits" in why


def test_little_history_explores_when_the_deadline_allows(tmp_path: Path) -> None:
    plan, why = plan_power(past(300, 3600.0), signal([400.0] * 24), 0.0, 12 * HOUR, 3600.0)
    assert plan is not None and plan.explore and plan.tried_w == (300.0,)
    assert "exploring" in why
    nvml = fake_nvml()
    with PowerGovernor(plan, [0], NvmlPowerLimit(nvml), PowerJournal(tmp_path / "j")) as gov:
        gov.start(0.0)
        assert nvml.state["limit_mw"] == 255_000  # 0.85 x 300 W: the next untried rung
        gov.tick(5 * HOUR)  # an exploring run keeps its one limit
        assert nvml.state["limit_mw"] == 255_000
    assert nvml.state["limit_mw"] == 300_000
    tight, why = plan_power([], signal([400.0] * 24), 0.0, 1.2 * HOUR, 3600.0)
    assert tight is None and "slack" in why


def test_no_deadline_plans_on_the_signal_ahead(tmp_path: Path) -> None:
    history = past(300, 600.0) + past(150, 900.0)
    plan, _ = plan_power(history, signal([900.0, 50.0] + [300.0] * 22), 0.0, None, 600.0)
    assert plan is not None and math.isinf(plan.deadline_s)
    nvml = fake_nvml()
    with PowerGovernor(plan, [0], NvmlPowerLimit(nvml), PowerJournal(tmp_path / "j")) as gov:
        gov.start(0.0)
    assert gov.log.limits_w and all(math.isfinite(w) for w in gov.log.limits_w)


def test_a_task_runs_under_its_limit_and_the_card_is_put_back(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    from wattwise.engine.power import NodePower
    from wattwise.engine.worker import TaskItem, run_items

    nvml = fake_nvml()
    seen: list[int] = []
    real_set = nvml.nvmlDeviceSetPowerManagementLimit

    def record(handle: object, mw: int) -> None:
        seen.append(mw)
        real_set(handle, mw)

    nvml.nvmlDeviceSetPowerManagementLimit = record
    node = NodePower(lambda: NvmlPowerLimit(nvml))
    node_journal = PowerJournal(tmp_path / "power" / "gpu-limits.json")
    item = TaskItem(
        task_id=1,
        job_id=1,
        key="1/0/1/1",
        argv=("sleep", "0.2"),
        env={"CUDA_VISIBLE_DEVICES": "0", "WATTWISE_HOME": str(tmp_path)},
        power=plan([900.0] + [300.0] * 47, start_s=time.time() - 60.0),
    )
    monkeypatch.setenv("WATTWISE_HOME", str(tmp_path))  # the governor's journal goes here
    [result] = run_items([item], None, "node-a", power=node)
    assert result.exit_code == 0
    assert result.power_limits_w and result.power_limits_w[0] < 300
    assert seen[0] < 300_000 and seen[-1] == 300_000  # capped while it ran, then restored
    assert nvml.state["limit_mw"] == 300_000
    assert result.power_note is None
    assert node_journal.read() == {}


def test_a_task_whose_gpus_are_named_by_uuid_is_left_alone() -> None:
    from wattwise.engine.power import NodePower

    node = NodePower(lambda: NvmlPowerLimit(fake_nvml()))
    node.start("k", plan([1.0] * 48), {"CUDA_VISIBLE_DEVICES": "GPU-1234"}, 0.0)
    assert node.logs["k"].note is not None and "UUID" in node.logs["k"].note


def test_the_spec_asks_for_carbon_power_and_round_trips() -> None:
    from wattwise.engine.spec import JobSpec, SpecError, parse_spec

    spec = parse_spec({"command": ["train"], "gpus": 1, "power": {"eta": 0.8}}, 0.0)
    assert (spec.power, spec.power_eta) == ("carbon", 0.8)
    assert JobSpec.from_dict(spec.to_dict()) == spec
    assert parse_spec({"command": ["x"]}, 0.0).power == "default"
    for bad, words in [
        ({"gpus": 0, "power": "carbon"}, "no GPUs"),
        ({"gpus": 1, "power": "turbo"}, "expected one of"),
        ({"gpus": 1, "power": {"eta": float("nan")}}, "within [0, 1]"),
        ({"gpus": 1, "power": {"eta": True}}, "a number"),
    ]:
        with pytest.raises(SpecError, match=re.escape(words)):
            parse_spec({"command": ["x"], **bad}, 0.0)


def test_history_is_the_completed_job_runs_of_the_same_command_under_one_limit() -> None:
    from wattwise.engine.power import past_power_runs
    from wattwise.store.runs import RunRecord

    def run(command: list[str], meta: dict[str, object], kind: str = "job",
            status: str = "completed") -> RunRecord:  # fmt: skip
        return RunRecord(1, "train", kind, command, status, 0, "h", 0, 0.0, 10.0, 10.0, 2000.0,
                         200.0, 200.0, 1.0, "trace", False, 1.0, meta)  # fmt: skip

    runs = [
        run(["train"], {"power_limit_w": 250}),
        run(["train"], {"power_limit_w": 300}),
        run(["train"], {}),  # governed by changing limits, or not at all
        run(["other"], {"power_limit_w": 250}),
        run(["train"], {"power_limit_w": 250}, kind="command"),
        run(["train"], {"power_limit_w": 250}, status="failed"),
    ]
    assert past_power_runs(runs, ["train"]) == [
        PastRun(250.0, 10.0, 2000.0),
        PastRun(300.0, 10.0, 2000.0),
    ]


def test_the_head_plans_only_what_can_be_governed() -> None:
    from wattwise.engine.power import limits_meta, plan_for_job

    sig = signal([900.0] + [300.0] * 47)
    common = {"command": ["train"], "eta": 0.5, "deadline_s": 24 * HOUR,
              "expected_runtime_s": HOUR, "zone": "DE", "now_s": 0.0, "history": []}  # fmt: skip
    assert plan_for_job(gpus=1, policy="default", forecast=None, **common) == (None, None)  # type: ignore[arg-type]
    plan, why = plan_for_job(gpus=1, policy="carbon", forecast=None, **common)  # type: ignore[arg-type]
    assert plan is None and why is not None and "no carbon signal" in why
    asked: list[tuple[str | None, float, float]] = []

    def forecast(zone: str | None, t0: float, t1: float) -> TimeSeries:
        asked.append((zone, t0, t1))
        return sig

    plan, why = plan_for_job(gpus=1, policy="carbon", forecast=forecast, **common)  # type: ignore[arg-type]
    assert plan is not None and plan.explore and asked == [("DE", 0.0, 24 * HOUR)]
    assert limits_meta([]) == {}
    assert limits_meta([255.0]) == {"power_limit_w": 255.0, "power_limits_w": [255.0]}
    assert limits_meta([200.0, 300.0]) == {"power_limits_w": [200.0, 300.0]}


def test_the_head_sends_a_power_plan_with_a_power_carbon_gpu_job(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    from wattwise.engine import head as head_module
    from wattwise.engine import ray_backend as rb
    from wattwise.engine.carbon import PlanningSignal
    from wattwise.engine.head import Engine, EngineConfig
    from wattwise.engine.scheduler import make_engine_policy
    from wattwise.engine.spec import parse_spec

    gpu_node = rb.NodeInfo("g" * 32, "gpu-1", True, 8.0, 2.0, "DE", None)
    sent: list[Any] = []
    monkeypatch.setattr(head_module.rb, "connect", lambda *a: None)
    monkeypatch.setattr(head_module.rb, "list_nodes", lambda: [gpu_node])
    monkeypatch.setattr(head_module.rb, "submit_batch", lambda items, *a: sent.extend(items) or "r")

    class NothingEnds:
        def wait(self, refs: list[Any], **kw: Any) -> tuple[list[Any], list[Any]]:
            return [], list(refs)

    monkeypatch.setattr(head_module.rb, "import_ray", lambda: NothingEnds())
    now = time.time()
    sig = signal([300.0] * 72)
    shifted = TimeSeries(sig.times_s + now - 60.0, sig.values, sig.unit, sig.step_s)
    planning = PlanningSignal(forecast=lambda zone, t0, t1: shifted)
    engine = Engine(EngineConfig(store_url=f"sqlite:///{tmp_path / 'w.db'}", meter=False,
                                 home=tmp_path, tick_s=0.0, policy=make_engine_policy("carbon"),
                                 signal=planning))  # fmt: skip
    for name, power in (("governed", "carbon"), ("plain", None)):
        spec = parse_spec({"name": name, "command": [name], "gpus": 1, "runtime": "10m",
                           **({"power": power} if power else {})}, now)  # fmt: skip
        engine.store.submit(spec.to_dict(), submitted_s=now, latest_start_s=now)
    engine.start()
    for _ in range(3):
        engine.tick()
    by_name = {item.argv[0]: item for item in sent}
    assert by_name["plain"].power is None
    plan = by_name["governed"].power
    assert plan is not None and plan.explore  # no history yet: the first run explores
    assert plan.signal_values and min(plan.signal_times_s) <= now


def test_a_node_start_restores_what_a_killed_head_left_capped(tmp_path: Path) -> None:
    from wattwise.engine.power import restore_leftover_limits

    nvml = fake_nvml()
    journal = PowerJournal(tmp_path / "j.json")
    opened: list[int] = []

    def actuator() -> NvmlPowerLimit:
        opened.append(1)
        return NvmlPowerLimit(nvml)

    assert restore_leftover_limits(journal, actuator) == [] and not opened  # nothing: no NVML
    journal._write({0: {"previous_w": 300.0, "pid": 2**22 + 12345}})  # a pid that is gone
    nvml.state["limit_mw"] = 150_000
    assert restore_leftover_limits(journal, actuator) == [0]
    assert nvml.state["limit_mw"] == 300_000 and journal.read() == {}
