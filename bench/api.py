"""API and dashboard speed with 10,000 stored runs (and 10,000 queued jobs).

Serves the real app with uvicorn on loopback (power monitor on, the demo's grid
trace loaded), then measures:

* API latency of the list endpoints over HTTP keep-alive: p50/p95 per endpoint
  (goal: p95 < 50 ms for every list endpoint);
* dashboard page load in Debian's headless Chromium: navigation until every panel
  has drawn its first data (goal < 1 s; median of fresh page loads). Without
  ``/usr/bin/chromium`` it falls back to fetching the page, its assets and the
  first API calls over HTTP, and says so.

Run: ``.venv/bin/python bench/api.py [--runs 10000] [--requests 200] [--loads 10]``.
"""

from __future__ import annotations

import argparse
import http.client
import os
import statistics
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

sys.path.insert(0, str(Path(__file__).resolve().parent))

from _common import goal, write

CHROMIUM = Path("/usr/bin/chromium")
CHROMIUM_ARGS = [
    "--headless",
    "--no-sandbox",
    "--disable-gpu",
    "--disable-background-networking",
    "--disable-component-update",
    "--disable-sync",
    "--no-first-run",
]
LIST_ENDPOINTS = [
    "/api/v1/runs?limit=50",
    "/api/v1/runs?limit=50&offset=9950",
    "/api/v1/runs?limit=50&status=completed",
    "/api/v1/jobs?limit=50",
    "/api/v1/jobs?limit=200",
    "/api/v1/optimize?limit=50",
    "/api/v1/simulations?limit=50",
]


def fill(home: Path, n_runs: int) -> str:
    """Insert ``n_runs`` completed runs and as many queued jobs; returns the store URL."""
    import random

    from sqlalchemy import insert

    from wattwise.engine.client import EngineClient
    from wattwise.store import RunStore
    from wattwise.store.tables import RunRow

    url = f"sqlite:///{home / 'bench.db'}"
    store = RunStore(url)
    rng = random.Random(0)
    t0 = time.time() - n_runs * 60.0
    rows = []
    for i in range(n_runs):
        dur = rng.uniform(5, 3600)
        energy = dur * rng.uniform(20, 300)
        rows.append(
            {
                "name": f"train-{i % 37}",
                "kind": "command",
                "command": ["python", "train.py", f"--seed={i}"],
                "status": "completed",
                "exit_code": 0,
                "host": "bench",
                "pid": 1,
                "started_s": t0 + i * 60.0,
                "ended_s": t0 + i * 60.0 + dur,
                "duration_s": dur,
                "energy_j": energy,
                "avg_power_w": energy / dur,
                "peak_power_w": energy / dur * 1.3,
                "co2e_g": energy / 3.6e6 * 250.0,
                "intensity_source": "bench",
                "estimated": True,
                "cpus": 1.0,
                "meta": {},
            }
        )
    with store.engine.begin() as conn:
        conn.execute(insert(RunRow), rows)
    client = EngineClient(url)
    specs = [{"name": f"job-{i}", "command": ["python", "train.py"]} for i in range(n_runs)]
    client.submit_many(specs)
    return url


def latency(base: str, path: str, n: int) -> list[float]:
    """Sequential GETs over one keep-alive connection. Units: ms."""
    host, port = base.removeprefix("http://").split(":")
    conn = http.client.HTTPConnection(host, int(port), timeout=30)
    out = []
    for _ in range(n + 5):
        t = time.perf_counter()
        conn.request("GET", path)
        resp = conn.getresponse()
        resp.read()
        if resp.status != 200:
            raise SystemExit(f"{path}: HTTP {resp.status}")
        out.append((time.perf_counter() - t) * 1000.0)
    conn.close()
    return out[5:]  # the first calls warm caches


def p95(xs: list[float]) -> float:
    return float(statistics.quantiles(xs, n=20)[18]) if len(xs) >= 20 else max(xs)


def page_loads_chromium(url: str, n: int) -> list[float]:
    """Fresh page (new context: empty cache) until every panel shows data. Units: ms."""
    from playwright.sync_api import sync_playwright

    out = []
    with sync_playwright() as p:
        browser = p.chromium.launch(executable_path=str(CHROMIUM), args=CHROMIUM_ARGS)
        for _ in range(n + 1):
            context = browser.new_context(viewport={"width": 1400, "height": 1200})
            page = context.new_page()
            t = time.perf_counter()
            page.goto(url)
            page.wait_for_selector("#status.live")
            page.wait_for_selector("#runs-table tbody tr")
            page.wait_for_function(
                "() => +document.querySelector('#power-chart').dataset.points > 0"
            )
            out.append((time.perf_counter() - t) * 1000.0)
            context.close()
        browser.close()
    return out[1:]  # the first load also starts the browser's renderer


def page_loads_http(base: str, n: int) -> list[float]:
    paths = ["/", "/static/app.js", "/static/style.css", "/api/v1/power", "/api/v1/grid"]
    paths += ["/api/v1/jobs?limit=200", "/api/v1/summary", "/api/v1/runs?limit=15"]
    out = []
    for _ in range(n):
        t = time.perf_counter()
        for path in paths:
            latency(base, path, 0)
        out.append((time.perf_counter() - t) * 1000.0)
    return out


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--runs", type=int, default=10_000)
    parser.add_argument("--requests", type=int, default=200)
    parser.add_argument("--loads", type=int, default=10)
    args = parser.parse_args()

    home = Path(tempfile.mkdtemp(prefix="wattwise-bench-api-"))
    os.environ["WATTWISE_HOME"] = str(home)
    from importlib.resources import files

    from wattwise.api import create_app
    from wattwise.api.clock import Clock
    from wattwise.api.grid_view import GridView
    from wattwise.api.server import serve_in_thread
    from wattwise.grid import load_intensity

    t = time.perf_counter()
    url = fill(home, args.runs)
    fill_s = time.perf_counter() - t
    trace = load_intensity(str(files("wattwise") / "data" / "carbon_US-CAL-CISO_2022-05_06.csv"))
    grid = GridView(Clock(origin_s=1655805600.0, speed=600.0), "bench trace", trace=trace)
    app = create_app(url, home=home, grid=grid)
    server = serve_in_thread(app)
    try:
        time.sleep(2.5)  # a few power samples for the chart
        endpoint_stats: dict[str, dict[str, float]] = {}
        rows = []
        # Interleave endpoints round-robin so background load hits them alike.
        samples: dict[str, list[float]] = {p: [] for p in LIST_ENDPOINTS}
        chunk = max(1, args.requests // 10)
        for _ in range(10):
            for path in LIST_ENDPOINTS:
                samples[path] += latency(server.url, path, chunk)
        for path, xs in samples.items():
            endpoint_stats[path] = {
                "p50_ms": statistics.median(xs),
                "p95_ms": p95(xs),
                "n": len(xs),
            }
            rows.append((path, statistics.median(xs), p95(xs)))
        worst = max(s["p95_ms"] for s in endpoint_stats.values())
        if CHROMIUM.exists():
            method = "headless Chromium (Debian), fresh context, until every panel has data"
            loads = page_loads_chromium(server.url + "/", args.loads)
        else:
            method = "HTTP only (no /usr/bin/chromium): page, assets and first API calls"
            loads = page_loads_http(server.url, args.loads)
    finally:
        server.stop()

    load_median = statistics.median(loads)
    print(f"store: {args.runs} runs + {args.runs} queued jobs (filled in {fill_s:.1f} s)")
    print(f"{'endpoint':<44}{'p50 ms':>9}{'p95 ms':>9}")
    for path, p50, p95v in rows:
        print(f"{path:<44}{p50:>9.1f}{p95v:>9.1f}")
    print(f"page load ({method}): median {load_median:.0f} ms, max {max(loads):.0f} ms")
    goals = [
        goal(
            "dashboard page load with 10,000 stored runs (median)",
            round(load_median, 1),
            "ms",
            1000,
        ),
        goal(
            "list endpoints p95 latency with 10,000 stored runs (worst endpoint)",
            round(worst, 2),
            "ms",
            50,
        ),
    ]
    for g in goals:
        verdict = "met" if g["met"] else "NOT met"
        print(f"{g['name']}: {g['value']} {g['unit']} (goal {g['goal']}): {verdict}")
    extra: dict[str, Any] = {
        "runs": args.runs,
        "jobs": args.runs,
        "endpoints": endpoint_stats,
        "page_load_method": method,
        "page_loads_ms": [round(x, 1) for x in loads],
        "load_average": os.getloadavg(),
    }
    out = write("api", goals, **extra)
    print(f"wrote {out}")


if __name__ == "__main__":
    main()
