"""Reports built from runs in a real store: arithmetic, aggregation, bad stored values."""

from __future__ import annotations

import json
import math

import pytest
from sqlalchemy import text

from wattwise.config import PueSettings
from wattwise.errors import StoreError
from wattwise.meter.types import DeviceEnergy, Measurement
from wattwise.report import FunctionalUnit, build_report, market_factor
from wattwise.report.embodied import SECONDS_PER_YEAR, HostInfo
from wattwise.report.render import html_page, markdown
from wattwise.report.select import parse_since, run_contexts
from wattwise.store import RunStore
from wattwise.store.jobs import JobCompletion, JobStatus, JobStore, NodeRecord

HOST = HostInfo("node-a", cpu_model="AMD EPYC 7763", memory_gb=100.0,
                gpu_models={"nvml:gpu-0": "NVIDIA A100-SXM4-80GB"})  # fmt: skip


def _measurement(
    energy_j: float, duration_s: float, co2e_g: float | None, t0: float = 1e9
) -> Measurement:
    return Measurement(
        name="train",
        start_s=t0,
        end_s=t0 + duration_s,
        devices=(
            DeviceEnergy("nvml:gpu-0", "gpu", "nvml", False, energy_j * 0.75),
            DeviceEnergy("estimate:cpu", "cpu", "estimate", True, energy_j * 0.25),
            DeviceEnergy("rapl:core", "core", "rapl", False, 1.0, in_total=False),
        ),
        co2e_g=co2e_g,
        intensity_source="fixed 400 gCO2e/kWh",
    )


def _store_run(store: RunStore, energy_j: float = 3.6e6, duration_s: float = 3600.0,
               co2e_g: float | None = 400.0, t0: float = 1e9) -> int:  # fmt: skip
    run_id = store.record(_measurement(energy_j, duration_s, co2e_g, t0), kind="command")
    with store.engine.begin() as conn:  # recorded "here": the test host is node-a
        conn.execute(text("UPDATE runs SET host = 'node-a' WHERE id = :id"), {"id": run_id})
    return run_id


def test_one_run_arithmetic_by_hand() -> None:
    store = RunStore()
    run_id = _store_run(store)
    report = build_report(
        run_contexts(run_ids=[run_id]),
        selection=f"run {run_id}",
        unit=FunctionalUnit.of("token", 1000, "run", 1),
        pue_settings=PueSettings(default=1.5),
        market=market_factor(100.0, None),
        host=HOST,
    )
    assert report.energy_kwh == pytest.approx(1.0)  # 3.6 MJ; rapl:core is inside, not summed
    assert report.pue == pytest.approx(1.5) and report.facility_energy_kwh == pytest.approx(1.5)
    assert report.operational_co2e_g == pytest.approx(600.0)  # 400 g x PUE 1.5
    assert report.market_co2e_g == pytest.approx(150.0)  # 1.5 kWh x 100 g/kWh
    gpu = 150_000.0 * 3600.0 / (4 * SECONDS_PER_YEAR)
    assert report.embodied_co2e_g == pytest.approx(gpu)
    assert report.embodied_unknown == ["estimate:cpu"]  # AMD EPYC: no public figure
    assert report.total_co2e_g == pytest.approx(600.0 + gpu)
    assert report.sci_g == pytest.approx((600.0 + gpu) / 1000)
    out = report.to_dict()
    for key in (
        "energy_kwh",
        "pue",
        "operational_co2e_g",
        "embodied_co2e_g",
        "total_co2e_g",
        "sci",
    ):
        assert isinstance(out[key], float), key
    assert out["total_excludes"] == ["embodied CO2e of estimate:cpu"]
    json.dumps(out)
    md = markdown(report)
    assert "excludes the embodied CO₂e of estimate:cpu" in md and "estimated" in md
    assert "market-based" in md and "Carbon statement" in md
    assert "<table>" in html_page(report)


def test_aggregate_over_runs_sums_and_lists_items() -> None:
    store = RunStore()
    ids = [_store_run(store, t0=1e9), _store_run(store, energy_j=7.2e6, co2e_g=800.0, t0=1e9 + 10)]
    report = build_report(
        run_contexts(since_s=1e9 - 1),
        selection="runs since",
        unit=FunctionalUnit.of(None, None, "run", 2),
        host=HOST,
    )
    assert [i.run_id for i in report.items] == ids
    assert report.energy_kwh == pytest.approx(3.0) and report.operational_co2e_g == pytest.approx(
        1200.0
    )
    assert report.pue_is_default and report.pue == 1.0
    assert report.sci_g == pytest.approx(report.total_co2e_g / 2)
    assert "## Per run" in markdown(report) and "<h2>Per run</h2>" in html_page(report)
    items = report.to_dict()["items"]
    assert len(items) == 2 and items[0]["sci"] == pytest.approx(items[0]["total_co2e_g"])


def test_unknown_operational_carbon_makes_total_unknown() -> None:
    store = RunStore()
    run_id = _store_run(store, co2e_g=None)
    report = build_report(
        run_contexts(run_ids=[run_id]), selection="r", unit=FunctionalUnit("run", 1), host=HOST
    )
    assert (
        report.operational_co2e_g is None and report.total_co2e_g is None and report.sci_g is None
    )
    assert "unknown" in report.statement


def test_unknown_run_id_is_one_line() -> None:
    RunStore()
    with pytest.raises(StoreError, match="no run 999"):
        run_contexts(run_ids=[999])


@pytest.mark.parametrize("column", ["energy_j", "co2e_g", "duration_s"])
@pytest.mark.parametrize("value", [math.inf, -1.0])
def test_non_finite_or_negative_stored_numbers_are_refused(column: str, value: float) -> None:
    store = RunStore()
    run_id = _store_run(store)
    with store.engine.begin() as conn:
        conn.execute(
            text(f"UPDATE runs SET {column} = :v WHERE id = :id"), {"v": value, "id": run_id}
        )
    with pytest.raises(StoreError, match=f"stored {column} is {value!r}"):
        build_report(run_contexts(run_ids=[run_id]), selection="r", unit=FunctionalUnit("run", 1))


def test_since_accepts_times_and_durations() -> None:
    assert parse_since("2026-01-01T00:00") == pytest.approx(1767225600.0)
    assert parse_since("2h", now_s=10_000.0) == pytest.approx(2_800.0)
    with pytest.raises(Exception, match="neither a time nor a duration"):
        parse_since("yesterday-ish")


def _finished_job(jobs: JobStore, *, measured: bool, host: str = "gpu-node-1") -> int:
    (job_id,) = jobs.submit_many([({"name": "train", "command": ["true"]}, 1e9, 1e9)])
    m = _measurement(3.6e6, 3600.0, 300.0) if measured else None
    status = JobStatus.SUCCEEDED if measured else JobStatus.FAILED
    jobs.complete_jobs([JobCompletion(job_id, status, measurement=m, host=host)])
    return job_id


def test_job_runs_take_the_pue_of_their_node_group() -> None:
    jobs = JobStore()
    jobs.upsert_nodes([NodeRecord("n1", "gpu-node-1", "gpu-a100", "DE", 8, 1, True, 1e9)])
    job_id = _finished_job(jobs, measured=True)
    settings = PueSettings(default=1.5, zones={"DE": 1.3}, node_groups={"gpu-a100": 1.1})
    (ctx,) = run_contexts(job_ids=[job_id])
    assert ctx.job_id == job_id and ctx.zone == "DE" and ctx.node_group == "gpu-a100"
    report = build_report(
        [ctx], selection="job", unit=FunctionalUnit("job", 1), pue_settings=settings
    )
    assert report.pue == pytest.approx(1.1) and report.operational_co2e_g == pytest.approx(330.0)
    # Recorded on another host: no model known for its devices, so embodied is unknown.
    assert report.embodied_unknown == ["estimate:cpu", "nvml:gpu-0"] and report.embodied_co2e_g == 0
    assert report.to_dict()["items"][0]["job_id"] == job_id


def test_job_without_a_measured_run_is_refused() -> None:
    jobs = JobStore()
    job_id = _finished_job(jobs, measured=False)
    with pytest.raises(StoreError, match=f"job {job_id} has no measured run"):
        run_contexts(job_ids=[job_id])
    with pytest.raises(StoreError, match="no job 4242"):
        run_contexts(job_ids=[4242])
