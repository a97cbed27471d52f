"""Reports of an optimize run: JSON, HTML and PNG plots.

Every report is written to ``$WATTWISE_HOME/optimize/<id>/`` (so the API can list
them) and, when asked, to a directory of the user's choice as well.
"""

from __future__ import annotations

import base64
import html
import json
import math
import os
import re
import shutil
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

from wattwise.errors import StoreError
from wattwise.optimize.result import OptimizeResult

SCHEMA_VERSION = 1


@dataclass(frozen=True)
class ReportPaths:
    """Where one report's files went."""

    report_id: str
    home_dir: Path
    json: Path
    html: Path
    plots: tuple[Path, ...]
    user_dir: Path | None = None


def report_dir(report_id: str) -> Path:
    """``$WATTWISE_HOME/optimize/<report_id>`` (:func:`wattwise.config.home`)."""
    from wattwise.config import home

    return home() / "optimize" / report_id


def _write_private(path: Path, text: str) -> Path:
    from wattwise.config import open_private

    with os.fdopen(open_private(path), "w", encoding="utf-8") as f:
        f.write(text)
    return path


def new_report_id(workload: str, now: datetime | None = None) -> str:
    """``<workload>-<UTC timestamp>``, safe as a directory name."""
    stamp = (now or datetime.now(UTC)).strftime("%Y%m%dT%H%M%S%fZ")
    slug = re.sub(r"[^A-Za-z0-9_.-]+", "-", workload).strip("-") or "workload"
    return f"{slug}-{stamp}"


def report_dict(result: OptimizeResult, report_id: str) -> dict[str, Any]:
    """The JSON document (shape documented in ARCHITECTURE.md)."""
    return {
        "schema": SCHEMA_VERSION,
        "id": report_id,
        "created_utc": datetime.now(UTC).isoformat(timespec="seconds"),
        **result.to_dict(),
    }


def _label(name: str, width: int = 42) -> str:
    return name if len(name) <= width else name[: width - 1] + "…"


def plot_energy_quality(result: OptimizeResult, path: Path) -> Path:
    """Scatter of energy per item against quality, Pareto front, before/after marked."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    pts = [
        c
        for c in result.candidates
        if c.energy_per_item_j is not None and c.quality is not None and c.error is None
    ]

    def xy(cs: list[Any]) -> tuple[list[float], list[float]]:
        return [c.energy_per_item_j * 1e3 for c in cs], [c.quality for c in cs]

    fig, ax = plt.subplots(figsize=(8, 5.2))
    ok = [c for c in pts if c.meets_budget]
    bad = [c for c in pts if not c.meets_budget]
    ax.scatter(
        *xy(bad),
        c="#bbbbbb",
        label="misses budget",
        s=28,
    )
    ax.scatter(
        *xy(ok),
        c="#4c72b0",
        label="keeps budget",
        s=28,
    )
    front = sorted((c for c in pts if c.pareto), key=lambda c: c.energy_per_item_j or 0.0)
    if front:
        ax.step(
            *xy(front),
            where="post",
            color="#dd8452",
            label="Pareto front",
        )
    b, ch = result.baseline, result.chosen
    if b.energy_per_item_j is not None:
        ax.scatter(
            *xy([b]), marker="s", s=90, c="black",
            label="before (fp32 baseline)", zorder=5,
        )  # fmt: skip
    if ch is not b and ch.energy_per_item_j is not None:
        ax.scatter(
            *xy([ch]), marker="*", s=220, c="#55a868",
            label=f"after: {_label(ch.name, 30)}", zorder=6,
        )  # fmt: skip
    if math.isfinite(result.quality_floor):
        ax.axhline(result.quality_floor, ls="--", c="#c44e52", lw=1, label="quality floor")
    ax.set_xscale("log")
    ax.set_xlabel("energy per item (mJ, log scale)")
    ax.set_ylabel(result.metric)
    qs = [c.quality for c in pts if c.quality is not None]
    if qs and math.isfinite(result.quality_floor):
        # Keep the interesting band visible; far-off failures sit on the lower edge.
        lo = min(result.quality_floor, *(q for q in qs if q >= result.quality_floor - 0.05))
        hi = max(qs)
        pad = max(1e-3, 0.15 * (hi - lo))
        ax.set_ylim(lo - pad, hi + pad)
    ax.set_title(f"{result.workload}: energy vs {result.metric}")
    ax.grid(alpha=0.3)
    ax.legend(fontsize=8, loc="lower right")
    fig.tight_layout()
    fig.savefig(path, dpi=110)
    plt.close(fig)
    return path


def plot_energy_bars(result: OptimizeResult, path: Path, limit: int = 24) -> Path:
    """Bars of energy per item per recipe (cheapest first), baseline and choice marked."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    pts = [c for c in result.candidates if c.energy_per_item_j is not None and c.error is None]
    pts.sort(key=lambda c: c.energy_per_item_j or 0.0)
    if result.baseline in pts[limit:]:
        pts = [*pts[: limit - 1], result.baseline]
    pts = pts[:limit]
    colors = [
        "#55a868"
        if c is result.chosen
        else "black"
        if c is result.baseline
        else ("#4c72b0" if c.meets_budget else "#bbbbbb")
        for c in pts
    ]
    fig, ax = plt.subplots(figsize=(8, 0.32 * len(pts) + 1.4))
    y = list(range(len(pts)))
    values = [(c.energy_per_item_j or 0.0) * 1e3 for c in pts]
    ax.barh(y, values, color=colors)
    for yi, v in zip(y, values, strict=True):
        ax.text(v, yi, f" {v:.3g}", va="center", fontsize=6)
    ax.set_yticks(y, [_label(c.name) for c in pts], fontsize=7)
    ax.invert_yaxis()
    positive = [v for v in values if v > 0]
    if positive and max(positive) / min(positive) > 20:
        ax.set_xscale("log")  # recipes differ by orders of magnitude: keep all visible
    ax.set_xlabel(
        "energy per item (mJ); green = chosen, black = baseline, blue = keeps budget, grey = misses"
    )
    ax.set_title(f"{result.workload}: energy per recipe")
    ax.grid(axis="x", alpha=0.3)
    fig.tight_layout()
    fig.savefig(path, dpi=110)
    plt.close(fig)
    return path


def _fmt(v: Any, digits: int = 4) -> str:
    if v is None:
        return "–"
    if isinstance(v, float):
        return f"{v:.{digits}g}"
    return html.escape(str(v))


def render_html(doc: dict[str, Any], plots: list[Path]) -> str:
    """A self-contained HTML page (plots embedded as base64 PNG)."""
    rows = []
    for c in sorted(
        doc["candidates"], key=lambda c: (c["energy_per_item_j"] is None, c["energy_per_item_j"])
    ):
        mark = " (chosen)" if c["name"] == doc["chosen"]["name"] else ""
        e = c["energy_per_item_j"]
        rows.append(
            "<tr>"
            f"<td>{html.escape(c['name'])}{mark}</td>"
            f"<td>{_fmt(e * 1e3 if e is not None else None)}</td>"
            f"<td>{_fmt(c['quality'])}</td><td>{_fmt(c['test_quality'])}</td>"
            f"<td>{_fmt(c['agreement'])}</td>"
            f"<td>{_fmt(c['latency_s'] * 1e3 if c['latency_s'] else None)}</td>"
            f"<td>{_fmt(c['throughput_items_per_s'])}</td>"
            f"<td>{_fmt(c['size_bytes'] / 1e6 if c['size_bytes'] else None)}</td>"
            f"<td>{'yes' if c['meets_budget'] else 'no'}</td>"
            f"<td>{'yes' if c['pareto'] else ''}</td>"
            f"<td>{html.escape(c['error'] or '')}</td>"
            "</tr>"
        )
    skipped = "".join(
        f"<li>{html.escape(s['recipe'])}"
        f"{' / ' + html.escape(s['layer']) if s['layer'] else ''}: {html.escape(s['reason'])}</li>"
        for s in doc["skipped"]
    )
    tracebacks = "".join(
        f"<h3>{html.escape(c['name'])}</h3><pre>{html.escape(c['traceback'])}</pre>"
        for c in doc["candidates"]
        if c.get("traceback")
    )
    images = "".join(
        f'<img alt="{html.escape(p.stem)}" src="data:image/png;base64,'
        f'{base64.b64encode(p.read_bytes()).decode()}">'
        for p in plots
    )
    m = doc["measurement"]
    est = "estimated" if m.get("estimated") else "measured"
    ratio = doc.get("energy_ratio")
    return f"""<!doctype html>
<html lang="en"><head><meta charset="utf-8">
<title>wattwise optimize: {html.escape(doc["workload"])}</title>
<style>body{{font-family:system-ui,sans-serif;margin:2em;max-width:72em}}
table{{border-collapse:collapse;font-size:.85em}}td,th{{border:1px solid #ccc;padding:.25em .5em}}
th{{background:#f3f3f3}}img{{max-width:100%;margin:1em 0;display:block}}</style></head>
<body><h1>wattwise optimize: {html.escape(doc["workload"])}</h1>
<p><b>{html.escape(doc["message"])}</b></p>
<p>Budget: {html.escape(doc["budget"]["text"])} (floor {_fmt(doc["quality_floor"])} {
        html.escape(doc["metric"]["name"])
    }). Energy ratio baseline/chosen: {_fmt(ratio, 3)}×.
Energy source: {html.escape(str(m.get("source")))} ({est}), medians of {m.get("rounds")}
interleaved rounds over {m.get("items_per_pass")} items. Saved model: {
        html.escape(str(doc.get("saved_model")))
    }.</p>
{images}
<h2>Recipes</h2>
<table><tr><th>recipe</th><th>mJ / item</th><th>quality</th><th>test quality</th>
<th>cosine to fp32</th><th>latency ms/batch</th><th>items/s</th><th>size MB</th>
<th>keeps budget</th><th>Pareto</th><th>error</th></tr>
{"".join(rows)}</table>
<h2>Skipped</h2><ul>{skipped or "<li>nothing</li>"}</ul>
{"<h2>Errors</h2>" + tracebacks if tracebacks else ""}
<p>Report id {html.escape(doc["id"])}, created {html.escape(doc["created_utc"])}.</p>
</body></html>
"""


def write_report(
    result: OptimizeResult, out_dir: Path | None = None, report_id: str | None = None
) -> ReportPaths:
    """Write JSON, HTML and PNGs to ``$WATTWISE_HOME/optimize/<id>/`` and ``out_dir``."""
    rid = report_id or new_report_id(result.workload)
    from wattwise.config import private_dir, private_file

    home = report_dir(rid)
    try:
        # Folders 0700 and files 0600, like everything else under the home; the plots
        # are created empty and private first (savefig keeps the mode it finds).
        private_dir(home)
        pngs = [private_file(home / "energy_quality.png"), private_file(home / "energy_bars.png")]
    except OSError as err:
        raise StoreError(f"cannot write reports under {home}: {err}") from err
    plots = [plot_energy_quality(result, pngs[0]), plot_energy_bars(result, pngs[1])]
    doc = report_dict(result, rid)
    doc["plots"] = [p.name for p in plots]
    json_path = _write_private(
        home / "report.json", json.dumps(doc, indent=2, default=_json_default) + "\n"
    )
    html_path = _write_private(home / "report.html", render_html(doc, plots))
    user_dir = None
    if out_dir is not None:
        user_dir = Path(out_dir)
        try:
            user_dir.mkdir(parents=True, exist_ok=True)
            for f in (json_path, html_path, *plots):
                shutil.copyfile(f, user_dir / f.name)
        except OSError as err:
            raise StoreError(f"cannot write the report to {user_dir}: {err}") from err
    return ReportPaths(rid, home, json_path, html_path, tuple(plots), user_dir)


def _json_default(value: Any) -> Any:
    if isinstance(value, Path):
        return str(value)
    if hasattr(value, "item"):
        return value.item()
    raise TypeError(f"not JSON serialisable: {type(value).__name__}")
