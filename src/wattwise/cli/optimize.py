"""``wattwise optimize WORKLOAD.py [--budget 1%] [--json]``: search recipes, keep the cheapest.

The workload file defines ``workload()`` (see ``examples/``). The table goes to stderr
with the progress bar; ``--json`` prints the report as one JSON object on stdout.
"""

from __future__ import annotations

import json
import sys
from pathlib import Path
from typing import Annotated, Any

import typer

from wattwise.errors import ConfigError


def register(app: typer.Typer) -> None:
    app.command(
        "optimize",
        help="Search recipes (int8, bf16, ONNX Runtime, pruning, threads, batch size; or "
        "AMP, accumulation, freezing for training) and keep the least energy per item "
        "within a quality budget.",
    )(optimize_command)


def optimize_command(
    workload_file: Annotated[Path, typer.Argument(help="Python file defining workload()")],
    budget: Annotated[
        str | None,
        typer.Option(
            "--budget",
            help="quality budget: '1%' (relative drop), '0.005' (absolute) or '>=0.815' "
            "(default: the workload's)",
        ),
    ] = None,
    as_json: Annotated[
        bool, typer.Option("--json", help="print the report as one JSON object on stdout")
    ] = False,
    out: Annotated[
        Path | None,
        typer.Option("--out", help="also write report.json/.html and the model here"),
    ] = None,
    rounds: Annotated[int, typer.Option("--rounds", help="interleaved energy rounds", min=1)] = 5,
    runtimes: Annotated[
        str | None,
        typer.Option("--runtimes", help="comma-separated subset, e.g. 'bf16,ort-int8-channel'"),
    ] = None,
    window: Annotated[
        float,
        typer.Option("--window", help="shortest measured window, s (repeats a pass)", min=0.0),
    ] = 0.5,
    min_cosine: Annotated[
        float | None,
        typer.Option("--min-cosine", help="also require this mean cosine to fp32 outputs"),
    ] = None,
    energy_budget: Annotated[
        float | None,
        typer.Option("--energy-budget", help="training: also try stopping at this energy, J"),
    ] = None,
    no_progress: Annotated[bool, typer.Option("--no-progress", help="no progress bar")] = False,
) -> None:
    from wattwise.optimize.budget import QualityBudget
    from wattwise.optimize.report import report_dir, write_report
    from wattwise.optimize.workload import InferenceWorkload, load_workload

    qb = QualityBudget.parse(budget) if budget is not None else None
    workload = load_workload(workload_file)
    if isinstance(workload, InferenceWorkload):
        from wattwise.optimize.search import ALL_RUNTIMES, SearchSettings, optimize_inference

        chosen_rt: tuple[str, ...] = ALL_RUNTIMES
        if runtimes:
            chosen_rt = tuple(r.strip() for r in runtimes.split(",") if r.strip())
            unknown = [r for r in chosen_rt if r not in ALL_RUNTIMES]
            if unknown:
                raise ConfigError(
                    f"unknown runtime(s) {', '.join(unknown)}",
                    hint="choose from " + ", ".join(ALL_RUNTIMES),
                )
        settings = SearchSettings(
            runtimes=chosen_rt,
            rounds=rounds,
            knob_rounds=rounds,
            progress=not no_progress,
            min_window_s=window,
            min_agreement=min_cosine,
        )
        from wattwise.optimize.report import new_report_id

        rid = new_report_id(workload.name)
        save_dir = out if out is not None else report_dir(rid)
        result = optimize_inference(workload, qb, settings=settings, save_to=save_dir)
    else:
        from wattwise.optimize.training import TrainingSettings, optimize_training

        rid = None
        result = optimize_training(
            workload,
            qb,
            settings=TrainingSettings(
                rounds=rounds, progress=not no_progress, energy_budget_j=energy_budget
            ),
        )
    paths = write_report(result, out, report_id=rid)
    doc = json.loads(paths.json.read_text())
    if as_json:
        print(json.dumps(doc))
    _print_table(doc, paths.html)


def _print_table(doc: dict[str, Any], html_path: Path) -> None:
    from rich.console import Console
    from rich.table import Table

    console = Console(file=sys.stderr)
    m = doc["measurement"]
    unit = doc.get("extra", {}).get("item", "item")
    table = Table(
        title=f"{doc['workload']}: energy per {unit} "
        f"({m.get('source')}, {'estimated' if m.get('estimated') else 'measured'})"
    )
    for col in ("recipe", f"mJ/{unit}", doc["metric"]["name"], "test", "keeps", "Pareto"):
        table.add_column(col)
    cands = [c for c in doc["candidates"] if c["energy_per_item_j"] is not None]
    cands.sort(key=lambda c: c["energy_per_item_j"])
    for c in cands[:15]:
        style = "bold green" if c["name"] == doc["chosen"]["name"] else None
        table.add_row(
            c["name"],
            f"{c['energy_per_item_j'] * 1e3:.4g}",
            "–" if c["quality"] is None else f"{c['quality']:.4f}",
            "–" if c["test_quality"] is None else f"{c['test_quality']:.4f}",
            "yes" if c["meets_budget"] else "no",
            "yes" if c["pareto"] else "",
            style=style,
        )
    console.print(table)
    console.print(doc["message"])
    if doc.get("saved_model"):
        console.print(f"model: {doc['saved_model']}")
    console.print(f"report: {html_path}")
