"""The /metrics series through OpenTelemetry (only where opentelemetry-sdk is installed)."""

from __future__ import annotations

import pytest
from fastapi import FastAPI
from fastapi.testclient import TestClient

from tests.api.conftest import BASE_URL, LOOPBACK
from wattwise.api.otel import instrument

sdk_metrics = pytest.importorskip("opentelemetry.sdk.metrics")
export = pytest.importorskip("opentelemetry.sdk.metrics.export")


def _points(reader: object) -> dict[str, list[tuple[dict[str, object], float]]]:
    data = reader.get_metrics_data()  # type: ignore[attr-defined]
    out: dict[str, list[tuple[dict[str, object], float]]] = {}
    for resource in data.resource_metrics:
        for scope in resource.scope_metrics:
            for metric in scope.metrics:
                out[metric.name] = [(dict(p.attributes), p.value) for p in metric.data.data_points]
    return out


def test_the_same_series_reach_an_otel_reader(app: FastAPI) -> None:
    reader = export.InMemoryMetricReader()
    provider = sdk_metrics.MeterProvider(metric_readers=[reader])
    with TestClient(app, client=LOOPBACK, base_url=BASE_URL) as client:
        names = instrument(app.state.wattwise, provider, max_age_s=0.0)
        assert {"wattwise_job_energy_joules", "wattwise_node_cpu_joules"} <= set(names)
        points = _points(reader)
        labels = {"node": "node-a", "device": "estimate:cpu", "kind": "cpu", "source": "estimate",
                  "estimated": "true"}  # fmt: skip
        assert points["wattwise_device_energy_joules"] == [(labels, 26.5)]
        assert points["wattwise_grid_intensity_g_per_kwh"] == [({}, 292.32)]
        text = client.get("/metrics").text
        assert "wattwise_device_energy_joules_total{" in text  # both views at once
