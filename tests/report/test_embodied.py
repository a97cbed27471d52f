"""The embodied table (every row sourced), device identification and time-share amortisation."""

from __future__ import annotations

from importlib import resources

import pytest

from wattwise.errors import ConfigError, DataFormatError
from wattwise.report.embodied import (
    SECONDS_PER_YEAR,
    DeviceUse,
    HostInfo,
    device_embodied,
    embodied_table,
    parse_device_models,
    parse_table,
)

HOST = HostInfo(
    "node-a",
    cpu_model="Intel(R) Xeon(R) Gold 6148 CPU",
    memory_gb=64.0,
    gpu_models={"nvml:gpu-0": "NVIDIA A100-SXM4-40GB", "nvml:gpu-1": "NVIDIA H200"},
)


def test_every_row_names_a_source_that_the_source_file_has() -> None:
    sources = resources.files("wattwise").joinpath("data/embodied.SOURCE.md").read_text("utf-8")
    rows = embodied_table()
    assert rows
    for row in rows:
        assert f"## {row.source_id}" in sources
        assert row.embodied_kgco2e > 0 and row.lifetime_years > 0


def test_gpu_share_is_duration_over_lifetime() -> None:
    e = device_embodied(
        DeviceUse("nvml:gpu-0", "gpu"), 3600.0, run_host="node-a", host=HOST, models={}
    )
    assert e.known and e.model == "NVIDIA A100-SXM4-40GB"
    assert e.co2e_g == pytest.approx(150_000.0 * 3600.0 / (4 * SECONDS_PER_YEAR))
    assert e.source_id == "gpu-card-150"


def test_dram_is_per_gb_installed() -> None:
    e = device_embodied(
        DeviceUse("estimate:dram", "dram"), 100.0, run_host="node-a", host=HOST, models={}
    )
    assert e.co2e_g == pytest.approx(1.38802 * 64.0 * 1000.0 * 100.0 / (4 * SECONDS_PER_YEAR))


def test_device_without_figure_is_unknown_not_zero() -> None:
    e = device_embodied(
        DeviceUse("nvml:gpu-1", "gpu"), 100.0, run_host="node-a", host=HOST, models={}
    )
    assert not e.known and e.co2e_g is None and "no public embodied figure" in e.reason


def test_other_host_needs_a_device_model() -> None:
    e = device_embodied(
        DeviceUse("estimate:cpu", "cpu"), 10.0, run_host="elsewhere", host=HOST, models={}
    )
    assert not e.known and "--device-model estimate:cpu=MODEL" in e.reason
    given = device_embodied(
        DeviceUse("estimate:cpu", "cpu"), 10.0, run_host="elsewhere", host=HOST,
        models={"estimate:cpu": "Xeon Platinum 8480+"},
    )  # fmt: skip
    assert given.known and given.model_from == "--device-model"


def test_device_model_flag_parsing() -> None:
    assert parse_device_models(["nvml:gpu-0=NVIDIA A100", "estimate:dram = 64 GB"]) == {
        "nvml:gpu-0": "NVIDIA A100",
        "estimate:dram": "64 GB",
    }
    with pytest.raises(ConfigError, match="DEVICE=MODEL"):
        parse_device_models(["nvml:gpu-0"])


@pytest.mark.parametrize(
    "row",
    [
        "A100,gpu,device,nan,4,x,s",
        "A100,gpu,device,150,inf,x,s",
        "A100,gpu,each,150,4,x,s",
        "A100,gpu,device,150,4,x,",
        "(,gpu,device,1,4,x,s",
    ],
)
def test_bad_table_rows_are_refused(row: str) -> None:
    text = "# c\npattern,kind,per,embodied_kgco2e,lifetime_years,label,source_id\n" + row + "\n"
    with pytest.raises(DataFormatError, match=r"t\.csv:3"):
        parse_table(text, "t.csv")


def test_this_host_names_its_gpus_through_nvml() -> None:
    from tests.meter.fakes import FakeGpu, FakeNvmlState, fake_pynvml

    state = FakeNvmlState(
        [FakeGpu("NVIDIA A100-SXM4-80GB", "GPU-a", 1.0), FakeGpu("NVIDIA H200", "GPU-b", 1.0)]
    )
    host = HostInfo.current(with_gpus=True, nvml_module=fake_pynvml(state))
    assert host.gpu_models == {"nvml:gpu-0": "NVIDIA A100-SXM4-80GB", "nvml:gpu-1": "NVIDIA H200"}
    assert state.shutdowns == 1
    a100 = device_embodied(
        DeviceUse("nvml:gpu-0", "gpu"), 60.0, run_host=host.hostname, host=host, models={}
    )
    h200 = device_embodied(
        DeviceUse("nvml:gpu-1", "gpu"), 60.0, run_host=host.hostname, host=host, models={}
    )
    assert a100.known and not h200.known


def test_no_nvml_means_no_gpu_names() -> None:
    from tests.meter.fakes import FakeNvmlState, fake_pynvml

    broken = fake_pynvml(FakeNvmlState(init_error=9))  # driver not loaded
    assert HostInfo.current(with_gpus=True, nvml_module=broken).gpu_models == {}
