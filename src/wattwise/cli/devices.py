"""``wattwise devices`` (what can be metered here, and why not the rest) and
``wattwise exporter`` (node energy and power as Prometheus metrics)."""

from __future__ import annotations

import json
import sys
import time
from collections.abc import Iterator
from typing import Annotated, Any

import typer

from wattwise.errors import ConfigError, WattwiseError


def register(app: typer.Typer) -> None:
    app.command("devices", help="Energy sources found on this machine, and why others were not.")(
        devices_command
    )
    app.command("exporter", help="Serve node energy counters and power as Prometheus metrics.")(
        exporter_command
    )


def devices_command(
    as_json: Annotated[bool, typer.Option("--json", help="print JSON on stdout")] = False,
) -> None:
    from wattwise.meter import detect_sources
    from wattwise.session import estimate_settings_from_config

    found = detect_sources(estimate=estimate_settings_from_config())
    devices = [d for s in found.sources for d in s.devices()]
    for source in found.sources:
        source.close()
    if as_json:
        print(
            json.dumps(
                {
                    "devices": [d.__dict__ | {"in_total": d.in_total} for d in devices],
                    "missing": found.missing,
                }
            )
        )
        return
    from rich.console import Console
    from rich.table import Table

    from wattwise.cli import format as fmt

    console = Console()
    table = Table(title="energy sources found", title_justify="left")
    for column in ("device", "kind", "source", "how", "detail"):
        table.add_column(column)
    for d in devices:
        table.add_row(d.name, d.kind, d.source, fmt.how(d.estimated), d.detail)
    console.print(table)
    if found.missing:
        missing = Table(title="not found", title_justify="left")
        missing.add_column("source")
        missing.add_column("why")
        for name, why in found.missing.items():
            missing.add_row(name, why)
        console.print(missing)


class _NodeCollector:
    """Reads the node's sources at scrape time; counters are J since the exporter started."""

    def __init__(self, meter: Any) -> None:
        self.meter = meter
        self._last: tuple[float, dict[str, float]] | None = None

    def collect(self) -> Iterator[Any]:
        from prometheus_client.core import CounterMetricFamily, GaugeMetricFamily

        now = time.monotonic()
        energy: dict[str, float] = {}
        for source in self.meter.sources:
            energy.update(source.read_j())
        labels = ["device", "kind", "source", "estimated"]
        counter = CounterMetricFamily(
            "wattwise_node_energy_joules",
            "Energy used by each device since the exporter started (J)",
            labels=labels,
        )
        gauge = GaugeMetricFamily(
            "wattwise_node_power_watts",
            "Average power of each device since the previous scrape (W)",
            labels=labels,
        )
        for d in self.meter.devices:
            values = [d.name, d.kind, d.source, str(d.estimated).lower()]
            counter.add_metric(values, energy[d.name])
            if self._last is not None and now > self._last[0]:
                watts = (energy[d.name] - self._last[1][d.name]) / (now - self._last[0])
                gauge.add_metric(values, watts)
        self._last = (now, energy)
        yield counter
        yield gauge


def exporter_command(
    port: Annotated[int, typer.Option("--port", help="TCP port to listen on")] = 9701,
    address: Annotated[str, typer.Option("--address", help="address to bind")] = "127.0.0.1",
    interval: Annotated[
        float, typer.Option("--interval", help="background sampling interval, s")
    ] = 1.0,
) -> None:
    from prometheus_client import start_http_server
    from prometheus_client.core import REGISTRY

    from wattwise.meter import Meter, detect_sources
    from wattwise.session import estimate_settings_from_config

    if not 0 < port < 65536:
        raise ConfigError(f"--port must be 1-65535, got {port}")
    found = detect_sources(node=True, estimate=estimate_settings_from_config())
    meter = Meter(found.sources, interval_s=interval)
    # Keep a window open so the sampler polls often enough for counter wraps.
    meter.begin("exporter")
    REGISTRY.register(_NodeCollector(meter))
    try:
        start_http_server(port, addr=address)
    except OSError as err:
        raise WattwiseError(
            f"cannot listen on {address}:{port}: {err.strerror}", hint="choose another --port"
        ) from None
    print(f"wattwise exporter: http://{address}:{port}/metrics", file=sys.stderr, flush=True)
    try:
        while True:
            time.sleep(3600)
    except KeyboardInterrupt:
        pass
    finally:
        meter.close()
