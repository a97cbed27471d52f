"""Per-job Prometheus series from the engine's job queue, and the Kepler-named node series."""

from __future__ import annotations

import json
import re
from pathlib import Path

from fastapi.testclient import TestClient
from prometheus_client.parser import text_string_to_metric_families

from tests.api.conftest import measurement
from wattwise.api.metrics import ALL_DEVICES, job_energy
from wattwise.api.telemetry import Telemetry
from wattwise.meter import Device
from wattwise.store.jobs import JobCompletion, JobStore, NewTask, TaskOutcome


def _samples(text: str, name: str) -> dict[tuple[tuple[str, str], ...], float]:
    out = {}
    for family in text_string_to_metric_families(text):
        for s in family.samples:
            if s.name == name:
                out[tuple(sorted(s.labels.items()))] = s.value
    return out


def _job_total(text: str, name: str, job_id: str) -> float:
    rows = _samples(text, name)
    return sum(v for labels, v in rows.items() if dict(labels)["job_id"] == job_id)


def _two_task_job(jobs: JobStore) -> tuple[int, list[int]]:
    job_id = jobs.submit(
        {"name": "train-a", "command": ["true"], "shards": ["0", "1"]},
        submitted_s=1000.0,
        latest_start_s=1000.0,
    )
    started = jobs.start_tasks(
        [NewTask(job_id, 0, 1, "id-a", "node-a"), NewTask(job_id, 1, 1, "id-b", "node-b")],
        head_id="head-1",
    )
    return job_id, started[job_id]


def test_job_counters_grow_while_the_job_runs_and_end_per_device(
    client: TestClient, store_url: str
) -> None:
    jobs = JobStore(store_url)
    job_id, (t0, t1) = _two_task_job(jobs)
    energy, co2e = "wattwise_job_energy_joules_total", "wattwise_job_co2e_grams_total"
    seen = [_job_total(client.get("/metrics").text, energy, str(job_id))]

    jobs.finish_tasks([TaskOutcome(t0, "succeeded", 1000.0, 1010.0, 0, 30.0, 0.25)])
    text = client.get("/metrics").text
    seen.append(_job_total(text, energy, str(job_id)))
    rows = _samples(text, energy)
    key = (
        ("device", ALL_DEVICES),
        ("job_id", str(job_id)),
        ("name", "train-a"),
        ("node", "node-a"),
    )
    assert rows[key] == 30.0
    assert _samples(text, co2e)[key] == 0.25

    jobs.finish_tasks([TaskOutcome(t1, "succeeded", 1000.0, 1012.0, 0, 50.0, 0.5)])
    seen.append(_job_total(client.get("/metrics").text, energy, str(job_id)))

    jobs.complete_jobs(
        [JobCompletion(job_id, "succeeded", measurement=measurement("train-a", 1000.0, 80.0))]
    )
    text = client.get("/metrics").text
    seen.append(_job_total(text, energy, str(job_id)))
    assert seen == [0.0, 30.0, 80.0, 80.0]  # never backwards
    rows = _samples(text, energy)
    final = {dict(k)["device"]: v for k, v in rows.items() if dict(k)["job_id"] == str(job_id)}
    assert final == {"estimate:cpu": 64.0, "estimate:dram": 16.0}
    nodes = {dict(k)["node"] for k in rows if dict(k)["job_id"] == str(job_id)}
    assert nodes == {"node-a,node-b"}
    # the measurement's 0.5 gCO2e, shared 80/20 by device energy
    carbon = _samples(text, co2e)
    assert abs(_job_total(text, co2e, str(job_id)) - 0.5) < 1e-12
    assert max(carbon.values()) == 0.4


def test_queued_jobs_have_no_series_and_unknown_carbon_is_left_out(store_url: str) -> None:
    jobs = JobStore(store_url)
    jobs.submit({"name": "waiting", "command": ["true"]}, submitted_s=1.0, latest_start_s=1.0)
    assert job_energy(jobs.runs.engine) == []
    job_id, (t0, _) = _two_task_job(jobs)
    jobs.finish_tasks([TaskOutcome(t0, "succeeded", 1.0, 2.0, 0, 5.0, None)])
    (row,) = job_energy(jobs.runs.engine)
    assert (row.job_id, row.node, row.energy_j, row.co2e_g) == (str(job_id), "node-a", 5.0, None)


def test_node_series_follow_keplers_names(client: TestClient, telemetry: Telemetry) -> None:
    telemetry.add("node-a", Device("rapl:dram-0", "dram", "rapl", False), 1000.0, 3.0, 3.0)
    telemetry.add("node-a", Device("nvml:gpu-0", "gpu", "nvml", False), 1000.0, 200.0, 200.0)
    telemetry.add("node-a", Device("rapl:psys-0", "psys", "rapl", False), 1000.0, 40.0, 40.0)
    text = client.get("/metrics").text
    cpu = _samples(text, "wattwise_node_cpu_joules_total")
    assert cpu == {
        (
            ("estimated", "true"),
            ("node_name", "node-a"),
            ("path", "estimate:cpu"),
            ("source", "estimate"),
            ("zone", "package"),
        ): 26.5,
        (
            ("estimated", "false"),
            ("node_name", "node-a"),
            ("path", "rapl:dram-0"),
            ("source", "rapl"),
            ("zone", "dram"),
        ): 3.0,
    }
    assert 'wattwise_node_cpu_watts{estimated="true",node_name="node-a"' in text
    gpu = _samples(text, "wattwise_node_gpu_joules_total")
    assert gpu == {
        (
            ("device", "nvml:gpu-0"),
            ("estimated", "false"),
            ("node_name", "node-a"),
            ("source", "nvml"),
        ): 200.0
    }
    assert re.search(r'wattwise_node_platform_joules_total\{[^}]*zone="psys"[^}]*\} 40.0', text)
    for family in text_string_to_metric_families(text):
        assert family.type in ("counter", "gauge"), family.name


DASHBOARD = Path(__file__).resolve().parents[2] / "deploy" / "grafana" / "wattwise.json"
_PROMQL_WORDS = {
    "sum", "avg", "min", "max", "count", "topk", "bottomk", "rate", "irate", "increase",
    "by", "without", "on", "ignoring", "group_left", "group_right", "and", "or", "unless",
    "offset", "bool", "delta", "deriv", "clamp_min", "clamp_max", "abs", "histogram_quantile",
}  # fmt: skip


def _metric_names(expr: str) -> set[str]:
    """Series names a PromQL expression reads (strings, matchers, ranges, groupings removed)."""
    text = re.sub(r'"[^"]*"', "", expr)
    text = re.sub(r"\{[^}]*\}", " ", text)
    text = re.sub(r"\[[^\]]*\]", " ", text)
    text = re.sub(r"\b(by|without|on|ignoring)\s*\([^)]*\)", " ", text)
    names = set(re.findall(r"[A-Za-z_:][A-Za-z0-9_:]*", text)) - _PROMQL_WORDS
    return {n for n in names if not re.fullmatch(r"\d.*", n)}


def _exported(text: str) -> set[str]:
    names = set()
    for family in text_string_to_metric_families(text):
        names.add(family.name + ("_total" if family.type == "counter" else ""))
        names.update(s.name for s in family.samples)
    return names


def _labels_by_name(text: str) -> dict[str, set[str]]:
    out: dict[str, set[str]] = {}
    for family in text_string_to_metric_families(text):
        for s in family.samples:
            out.setdefault(s.name, set()).update(s.labels)
    return out


def test_the_grafana_dashboard_reads_only_series_we_export(
    client: TestClient, store_url: str, telemetry: Telemetry
) -> None:
    telemetry.add("node-a", Device("nvml:gpu-0", "gpu", "nvml", False), 1000.0, 200.0, 200.0)
    jobs = JobStore(store_url)
    _, (t0, _) = _two_task_job(jobs)
    jobs.finish_tasks([TaskOutcome(t0, "succeeded", 1000.0, 1010.0, 0, 30.0, 0.25)])
    dashboard = json.loads(DASHBOARD.read_text(encoding="utf-8"))
    exprs = [t["expr"] for p in dashboard["panels"] for t in p.get("targets", [])]
    assert len(exprs) >= 8
    text = client.get("/metrics").text
    exported = _exported(text)
    read = set().union(*(_metric_names(e) for e in exprs))
    assert "wattwise_job_energy_joules_total" in read and "wattwise_node_cpu_watts" in read
    assert read <= exported, f"the dashboard reads series /metrics lacks: {read - exported}"
    # every label a panel groups by, or names in a legend, is a label of its series
    labels = _labels_by_name(text)
    for panel in dashboard["panels"]:
        assert panel["datasource"]["type"] == "prometheus" and panel["title"]
        for target in panel["targets"]:
            have = set().union(*(labels.get(n, set()) for n in _metric_names(target["expr"])))
            grouped = re.findall(r"\bby\s*\(([^)]*)\)", target["expr"])
            used = {g.strip() for group in grouped for g in group.split(",") if g.strip()}
            used |= set(re.findall(r"\{\{(\w+)\}\}", target.get("legendFormat", "")))
            assert used <= have, f"{panel['title']}: {used - have} not labels of its series"


def test_the_promql_name_reader() -> None:
    expr = 'topk(10, sum by (job_id, name) (rate(wattwise_x_total{node="a b"}[5m])))'
    assert _metric_names(expr) == {"wattwise_x_total"}


def test_every_exported_series_is_documented(client: TestClient) -> None:
    doc = (DASHBOARD.parents[2] / "docs" / "metrics.md").read_text(encoding="utf-8")
    for family in text_string_to_metric_families(client.get("/metrics").text):
        name = family.name + ("_total" if family.type == "counter" else "")
        assert f"`{name}`" in doc, f"docs/metrics.md does not describe {name}"


def test_per_job_series_keep_running_jobs_and_the_newest_finished(store_url: str) -> None:
    jobs = JobStore(store_url)
    running, running_tasks = _two_task_job(jobs)
    finished = []
    for i in range(3):
        job_id = jobs.submit(
            {"name": f"j{i}", "command": ["true"]}, submitted_s=1.0, latest_start_s=1.0
        )
        (task,) = jobs.start_tasks([NewTask(job_id, 0, 1, "id-a", "node-a")], "h")[job_id]
        jobs.finish_tasks([TaskOutcome(task, "succeeded", 1.0, 2.0, 0, 10.0, 0.1)])
        jobs.complete_jobs([JobCompletion(job_id, "succeeded", measurement("j", 1.0, 10.0))])
        finished.append(str(job_id))
    # the running job has no finished task yet: no series
    assert {r.job_id for r in job_energy(jobs.runs.engine, limit=2)} == set(finished[1:])
    jobs.finish_tasks([TaskOutcome(running_tasks[0], "succeeded", 1.0, 2.0, 0, 4.0, 0.1)])
    ids = {r.job_id for r in job_energy(jobs.runs.engine, limit=1)}
    assert ids == {str(running), finished[-1]}


def test_thousands_of_jobs_scrape_in_a_few_statements(store_url: str) -> None:
    """No id lists in the SQL: SQLite refuses more than 32766 bound values."""
    from sqlalchemy import event

    jobs = JobStore(store_url)
    ids = jobs.submit_many([({"name": "j", "command": ["true"]}, 1.0, 1.0)] * 1500)
    started = jobs.start_tasks([NewTask(i, 0, 1, "id-a", "node-a") for i in ids], "h")
    jobs.finish_tasks(
        [TaskOutcome(t[0], "succeeded", 1.0, 2.0, 0, 1.0, 0.1) for t in started.values()]
    )
    engine = jobs.runs.engine
    statements: list[str] = []

    def record(*args: object) -> None:
        statements.append(str(args[2]))

    event.listen(engine, "before_cursor_execute", record)
    try:
        rows = job_energy(engine)
    finally:
        event.remove(engine, "before_cursor_execute", record)
    assert len(rows) == 1500 and len(statements) <= 4
    assert all(s.count("?") < 20 for s in statements)
