"""The dashboard in headless Chromium (Debian's, driven by Playwright): live data arrives.

Skipped where ``/usr/bin/chromium`` is absent (``apt-get install -y chromium``; CI
installs it). Never downloads a browser.
"""

from __future__ import annotations

import threading
import time
from pathlib import Path

import pytest
from fastapi import FastAPI

from tests.api.conftest import ORIGIN_S
from wattwise.api.jobs import JobBoard
from wattwise.api.models import JobSubmit
from wattwise.api.server import serve_in_thread
from wattwise.api.telemetry import Telemetry
from wattwise.meter import Device

CHROMIUM = Path("/usr/bin/chromium")
ARGS = [
    "--headless",
    "--no-sandbox",
    "--disable-gpu",
    "--disable-background-networking",
    "--disable-component-update",
    "--disable-sync",
    "--no-first-run",
]

pytestmark = pytest.mark.skipif(not CHROMIUM.exists(), reason="Debian's chromium not installed")


def _feed(telemetry: Telemetry, stop: threading.Event) -> None:
    cpu = Device("estimate:cpu", "cpu", "estimate", True)
    gpu = Device("nvml:gpu-0", "gpu", "nvml", False)
    while not stop.wait(0.2):
        now = time.time()
        telemetry.add("node-a", cpu, now, 20.0 + 5.0 * (now % 3), 4.0)
        telemetry.add("node-a", gpu, now, 150.0 + 20.0 * (now % 2), 30.0)


def test_dashboard_shows_live_data(
    app: FastAPI, telemetry: Telemetry, board: JobBoard, tmp_path: Path
) -> None:
    from playwright.sync_api import sync_playwright

    job = board.add(JobSubmit(name="train digits", command=["x"], kind="training"))
    board.update(job.id, status="waiting", planned_start_s=ORIGIN_S + 4 * 3600)
    stop = threading.Event()
    feeder = threading.Thread(target=_feed, args=(telemetry, stop), daemon=True)
    feeder.start()
    server = serve_in_thread(app)
    errors: list[str] = []
    try:
        with sync_playwright() as p:
            browser = p.chromium.launch(executable_path=str(CHROMIUM), args=ARGS)
            page = browser.new_page(viewport={"width": 1400, "height": 1200})
            page.on("pageerror", lambda err: errors.append(str(err)))
            page.goto(server.url + "/")
            page.wait_for_selector("#status.live", timeout=20_000)
            first = int(page.get_attribute("#power-chart", "data-points") or 0)
            assert page.inner_text("#jobs-table tbody").count("waiting for clean power") == 1
            # New data after the page loaded: more power samples, and the job finishing.
            board.update(
                job.id,
                status="done",
                started_s=ORIGIN_S + 4 * 3600,
                ended_s=ORIGIN_S + 5 * 3600,
                energy_j=1234.5,
                co2e_g=0.06,
                baseline_co2e_g=0.1,
            )
            page.wait_for_function(
                "() => document.querySelector('#jobs-table tbody').innerText.includes('1234.5')",
                timeout=20_000,
            )
            page.wait_for_function(
                f"() => +document.querySelector('#power-chart').dataset.points > {first}",
                timeout=20_000,
            )
            assert "node-a · nvml:gpu-0" in page.inner_text("#power-legend")
            assert page.inner_text("#c-saved").endswith("(40%)")
            assert page.locator("#grid-chart path").count() >= 2  # actual and forecast
            shot = tmp_path / "dashboard.png"
            page.screenshot(path=str(shot), full_page=True)
            browser.close()
    finally:
        stop.set()
        server.stop()
    assert errors == []
    assert shot.stat().st_size > 20_000
