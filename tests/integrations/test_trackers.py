"""``log_run`` and ``wattwise measure --mlflow/--wandb/--tensorboard``: each tracker's
files read back with that tracker's own library."""

from __future__ import annotations

import json
import os
import struct
import subprocess
import sys
from pathlib import Path
from typing import Any

import pytest

from wattwise.errors import ConfigError
from wattwise.integrations import trackers
from wattwise.integrations.trackers import Tracker, log_run
from wattwise.meter.types import Device, Measurement, PowerSample
from wattwise.store import RunStore

WATTWISE = [sys.executable, "-m", "wattwise.cli.main"]
T0 = 1_780_000_000.0


def _run() -> Measurement:
    cpu = Device("rapl:package-0", "cpu", "rapl", estimated=False)
    dram = Device("rapl:dram", "dram", "rapl", estimated=False)
    timeline = tuple(PowerSample(T0 + i + 1, 10.0 + i, 10.0 + i) for i in range(5))
    return Measurement(
        name="train",
        start_s=T0,
        end_s=T0 + 5,
        devices=(cpu.used(45.0), dram.used(15.0)),
        timeline=timeline,
        co2e_g=0.0067,
        intensity_source="fixed 400 gCO2e/kWh",
        meta={"run_id": 42},
    )


def test_mlflow_file_store_holds_energy_devices_timeline_and_tags(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    from mlflow.tracking import MlflowClient

    uri = (tmp_path / "mlruns").as_uri()
    monkeypatch.setenv("MLFLOW_TRACKING_URI", uri)
    logged = log_run(_run(), "mlflow")
    assert logged.location == uri
    assert "MLFLOW_ALLOW_FILE_STORE" not in os.environ  # allowed for our calls only
    monkeypatch.setenv("MLFLOW_ALLOW_FILE_STORE", "true")  # MLflow 3 asks it to read one
    client = MlflowClient(tracking_uri=uri)
    run = client.get_run(logged.tracker_run_id)
    assert run.info.run_name == "train"
    assert run.data.metrics["wattwise/energy_j"] == pytest.approx(60.0)
    assert run.data.metrics["wattwise/co2e_g"] == pytest.approx(0.0067)
    assert run.data.metrics["wattwise/device/rapl:package-0/energy_j"] == pytest.approx(45.0)
    assert run.data.metrics["wattwise/device/rapl:dram/energy_j"] == pytest.approx(15.0)
    power = client.get_metric_history(logged.tracker_run_id, "wattwise/power_w")
    assert [(m.step, m.value) for m in sorted(power, key=lambda m: m.step)] == [
        (i, 10.0 + i) for i in range(5)
    ]
    assert run.data.params["wattwise/run_id"] == "42"
    assert run.data.params["wattwise/energy_source"] == "rapl"
    assert run.data.tags["wattwise/estimated"] == "false"
    assert run.data.tags["wattwise/intensity_source"] == "fixed 400 gCO2e/kWh"
    assert run.info.status == "FINISHED"


def test_mlflow_defaults_to_a_file_store_in_the_cwd(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.delenv("MLFLOW_TRACKING_URI", raising=False)
    monkeypatch.chdir(tmp_path)
    assert trackers.default_mlflow_uri() == (tmp_path / "mlruns").as_uri()


def test_tensorboard_events_read_back_with_event_accumulator(tmp_path: Path) -> None:
    from tensorboard.backend.event_processing.event_accumulator import EventAccumulator

    logged = log_run(_run(), Tracker.TENSORBOARD, log_dir=tmp_path / "tb")
    acc = EventAccumulator(str(tmp_path / "tb"))
    acc.Reload()
    tags = acc.Tags()["scalars"]
    assert {"wattwise/energy_j", "wattwise/co2e_g", "wattwise/power_w"} <= set(tags)
    power = acc.Scalars("wattwise/power_w")
    assert [(e.step, e.value) for e in power] == [(i, pytest.approx(10.0 + i)) for i in range(5)]
    assert power[0].wall_time == pytest.approx(T0 + 1)
    assert acc.Scalars("wattwise/device/rapl:dram/energy_j")[0].value == pytest.approx(15.0)
    assert "wattwise/run" in acc.Tags()["tensors"]
    assert Path(logged.location).name.startswith("events.out.tfevents.")


def test_tensorboard_folder_not_writable_is_one_line(tmp_path: Path) -> None:
    blocker = tmp_path / "file"
    blocker.write_text("")
    with pytest.raises(trackers.TrackerError) as err:
        log_run(_run(), "tensorboard", log_dir=blocker / "tb")
    assert "not writable" in str(err.value) and "\n" not in str(err.value)


def test_unknown_or_missing_tracker_says_what_to_install(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    with pytest.raises(ConfigError, match="unknown tracker 'comet'"):
        log_run(_run(), "comet")
    from importlib import metadata

    real = metadata.version

    def version(name: str) -> str:
        if name == "mlflow-skinny":
            raise metadata.PackageNotFoundError(name)
        return real(name)

    monkeypatch.setattr(metadata, "version", version)
    with pytest.raises(ConfigError, match=r"pip install 'wattwise\[mlflow\]'"):
        log_run(_run(), "mlflow")


def _wandb_records(path: Path) -> list[Any]:
    """The records of an offline ``run-*.wandb`` file, parsed with wandb's own protobufs
    (the file is a LevelDB-style log: 32 KiB blocks of crc/length/type-framed chunks)."""
    from wandb.proto import wandb_internal_pb2

    data = path.read_bytes()
    assert data[:4] == b":W&B"
    block, pos, parts, records = 32768, 7, b"", []
    while pos + 7 <= len(data):
        if block - pos % block < 7:
            pos += block - pos % block
            continue
        _crc, length, kind = struct.unpack("<IHB", data[pos : pos + 7])
        chunk, pos = data[pos + 7 : pos + 7 + length], pos + 7 + length
        if kind == 0:
            break
        parts = chunk if kind in (1, 2) else parts + chunk
        if kind in (1, 4):  # a full record, or the last chunk of one
            record = wandb_internal_pb2.Record()
            record.ParseFromString(parts)
            records.append(record)
    return records


def test_wandb_offline_run_holds_the_run(tmp_path: Path) -> None:
    # One W&B test only: it starts wandb's service process.
    logged = log_run(_run(), "wandb", dir=tmp_path)
    run_dir = Path(logged.location)
    assert run_dir.name.startswith("offline-run-") and logged.tracker_run_id in run_dir.name
    (wandb_file,) = run_dir.glob("run-*.wandb")  # what `wandb sync` uploads
    records = _wandb_records(wandb_file)
    summary: dict[str, Any] = {}
    power: dict[int, float] = {}
    config: dict[str, Any] = {}
    for r in records:
        kind = r.WhichOneof("record_type")
        if kind == "summary":
            for u in r.summary.update:
                summary["/".join(u.nested_key) or u.key] = json.loads(u.value_json)
        elif kind == "history":
            items = {
                "/".join(i.nested_key) or i.key: json.loads(i.value_json) for i in r.history.item
            }
            if "wattwise/power_w" in items:
                power[items["_step"]] = items["wattwise/power_w"]
        elif kind == "run":
            for c in r.run.config.update:
                config["/".join(c.nested_key) or c.key] = json.loads(c.value_json)
    assert summary["wattwise/energy_j"] == pytest.approx(60.0)
    assert summary["wattwise/co2e_g"] == pytest.approx(0.0067)
    assert summary["wattwise/device/rapl:package-0/energy_j"] == pytest.approx(45.0)
    assert summary["wattwise/device/rapl:dram/energy_j"] == pytest.approx(15.0)
    assert power == {i: pytest.approx(10.0 + i) for i in range(5)}
    assert config["wattwise/energy_source"] == "rapl"
    assert config["wattwise/run_id"] == "42"


def _measure(
    *args: str,
    home: Path,
    cwd: Path,
    env: dict[str, str] | None = None,
    path: Path | None = None,
) -> subprocess.CompletedProcess[str]:
    src = str(Path(trackers.__file__).parents[2])
    env = {**os.environ, "WATTWISE_HOME": str(home), **(env or {})}
    first = [str(path)] if path is not None else []
    env["PYTHONPATH"] = os.pathsep.join([*first, src, env.get("PYTHONPATH", "")])
    return subprocess.run(
        [*WATTWISE, "measure", *args], capture_output=True, text=True, env=env, cwd=cwd, timeout=120
    )


def test_measure_tensorboard_writes_events_and_stores_the_run(
    wattwise_home: Path, tmp_path: Path
) -> None:
    from tensorboard.backend.event_processing.event_accumulator import EventAccumulator

    tb = tmp_path / "tb"
    out = _measure(
        "--tensorboard",
        str(tb),
        "--json",
        "--",
        sys.executable,
        "-c",
        "pass",
        home=wattwise_home,
        cwd=tmp_path,
    )
    assert out.returncode == 0, out.stderr
    run_id = json.loads(out.stdout)["run_id"]
    acc = EventAccumulator(str(tb))
    acc.Reload()
    stored = RunStore().get_run(run_id)
    assert acc.Scalars("wattwise/energy_j")[0].value == pytest.approx(stored.energy_j, rel=1e-6)
    assert "logged to tensorboard" in out.stderr

    blocker = tmp_path / "file"
    blocker.write_text("")
    out = _measure(
        "--tensorboard",
        str(blocker / "tb"),
        "--json",
        "--",
        "sh",
        "-c",
        "exit 3",
        home=wattwise_home,
        cwd=tmp_path,
    )
    assert out.returncode == 3
    warning = [line for line in out.stderr.splitlines() if "not logged to tensorboard" in line]
    assert len(warning) == 1 and "not writable" in warning[0]
    assert RunStore().get_run(json.loads(out.stdout)["run_id"]).status == "failed"


def test_measure_mlflow_logs_the_run_or_warns_when_not_installed(
    wattwise_home: Path, tmp_path: Path
) -> None:
    from mlflow.tracking import MlflowClient

    uri = (tmp_path / "mlruns").as_uri()
    env = {"MLFLOW_TRACKING_URI": uri}
    out = _measure("--mlflow", "--json", "--", "true", home=wattwise_home, cwd=tmp_path, env=env)
    assert out.returncode == 0, out.stderr
    run_id = json.loads(out.stdout)["run_id"]
    os.environ["MLFLOW_ALLOW_FILE_STORE"] = "true"
    try:
        (found,) = MlflowClient(tracking_uri=uri).search_runs(
            [MlflowClient(tracking_uri=uri).get_experiment_by_name("wattwise").experiment_id]
        )
    finally:
        os.environ.pop("MLFLOW_ALLOW_FILE_STORE")
    assert found.data.params["wattwise/run_id"] == str(run_id)

    # mlflow-skinny "not installed" (its metadata hidden before wattwise starts): the run
    # is measured and stored anyway, the child's exit code kept, one warning line.
    hide = tmp_path / "hide"
    hide.mkdir()
    (hide / "sitecustomize.py").write_text(
        "from importlib import metadata\n"
        "_real = metadata.version\n"
        "def _version(name):\n"
        "    if name == 'mlflow-skinny':\n"
        "        raise metadata.PackageNotFoundError(name)\n"
        "    return _real(name)\n"
        "metadata.version = _version\n"
    )
    out = _measure(
        "--mlflow",
        "--json",
        "--",
        "sh",
        "-c",
        "exit 5",
        home=wattwise_home,
        cwd=tmp_path,
        env=env,
        path=hide,
    )
    assert out.returncode == 5
    (warning,) = [line for line in out.stderr.splitlines() if "not logged to mlflow" in line]
    assert "pip install 'wattwise[mlflow]'" in warning
    assert RunStore().get_run(json.loads(out.stdout)["run_id"]).status == "failed"


def test_run_without_samples_logs_its_totals_and_no_timeline(tmp_path: Path) -> None:
    from dataclasses import replace

    from tensorboard.backend.event_processing.event_accumulator import EventAccumulator

    log_run(replace(_run(), timeline=()), Tracker.TENSORBOARD, log_dir=tmp_path / "tb")
    acc = EventAccumulator(str(tmp_path / "tb"))
    acc.Reload()
    assert "wattwise/power_w" not in acc.Tags()["scalars"]
    assert acc.Scalars("wattwise/energy_j")[0].value == pytest.approx(60.0)


def test_unknown_option_and_run_type_are_one_line_errors(tmp_path: Path) -> None:
    with pytest.raises(ConfigError, match="tensorboard takes no option logdir") as err:
        log_run(_run(), "tensorboard", logdir=tmp_path)
    assert "\n" not in str(err.value) and "log_dir" in str(err.value)
    with pytest.raises(ConfigError, match="not str"):
        log_run("42", "tensorboard", log_dir=tmp_path)  # type: ignore[arg-type]


def test_a_stored_run_is_logged_whole_by_id_or_from_the_run_list(tmp_path: Path) -> None:
    from tensorboard.backend.event_processing.event_accumulator import EventAccumulator

    run_id = RunStore().record(_run())
    (listed,) = RunStore().list_runs()  # the list's records carry no devices
    for i, run in enumerate((run_id, listed)):
        log_run(run, "tensorboard", log_dir=tmp_path / str(i))
        acc = EventAccumulator(str(tmp_path / str(i)))
        acc.Reload()
        assert acc.Scalars("wattwise/device/rapl:dram/energy_j")[0].value == pytest.approx(15.0)
        assert len(acc.Scalars("wattwise/power_w")) == 5
