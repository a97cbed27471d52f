"""``wattwise predict``: the runtime predictor the head plans with, on the store's history.

``wattwise predict eval`` holds out the latest finished jobs and reports the error of
predicting them from the older ones, and the engine's own running error on the jobs
it ran. ``wattwise predict job -- CMD`` shows what a job would be planned with now.
"""

from __future__ import annotations

import json
from typing import Annotated, Any

import typer

predict_app = typer.Typer(
    help="How long and how much power a job will take, learnt from the store's history.",
    no_args_is_help=True,
)


def register(app: typer.Typer) -> None:
    app.add_typer(predict_app, name="predict")


@predict_app.command("eval")
def eval_command(
    holdout: Annotated[
        float, typer.Option("--holdout", help="share of the latest jobs held out")
    ] = 0.25,
    coverage: Annotated[
        float, typer.Option("--coverage", help="probability the upper bound is meant to cover")
    ] = 0.9,
    as_json: Annotated[bool, typer.Option("--json", help="print JSON on stdout")] = False,
) -> None:
    """Error of the predictor on the store's own history, held out, and the engine's
    running error on the jobs it planned."""
    from wattwise.predict.evaluate import evaluate_history
    from wattwise.predict.history import job_history, running_error
    from wattwise.store.jobs import JobStore

    store = JobStore()
    report = evaluate_history(job_history(store), holdout, coverage)
    running = running_error(store)
    if as_json:
        print(json.dumps({"held_out": report.as_dict(), "running": [e.as_dict() for e in running]}))
        return
    r = report
    lines = [
        f"held out: the latest {r.n_test} of {r.n_train + r.n_test} finished jobs, "
        f"predicted from the {r.n_train} before them "
        f"({r.n_history} from history, {r.n_cold} cold starts)",
        f"  runtime MAPE           {r.runtime_mape_pct:.1f} %  "
        f"(median {r.runtime_median_ape_pct:.1f} %, n={r.n_test})",
        f"  upper-bound coverage   {100 * r.coverage:.1f} %  "
        f"(target {100 * r.target_coverage:.0f} %, n={r.n_test})",
    ]
    if r.runtime_mape_history_pct is not None and r.coverage_history is not None:
        lines.append(
            f"  from history only      MAPE {r.runtime_mape_history_pct:.1f} %, "
            f"coverage {100 * r.coverage_history:.1f} %  (n={r.n_history})"
        )
    lines.append(f"  power MAPE             {_pct(r.power_mape_pct)}  (n={r.n_power} metered jobs)")
    total = running[0].n if running else 0
    lines.append(f"running error of the engine: {total} job(s) planned with a prediction")
    for e in running:
        lines.append(
            f"  {e.source:<11} MAE {e.runtime_mae_s:.1f} s, MAPE {_pct(e.runtime_mape_pct)}, "
            f"within the upper bound {100 * e.coverage:.1f} %  (n={e.n})"
        )
    print("\n".join(lines))


@predict_app.command("job")
def job_command(
    cmd: Annotated[list[str], typer.Argument(help="the job's command, after --")],
    name: Annotated[str | None, typer.Option("--name", help="job name")] = None,
    cpus: Annotated[float | None, typer.Option("--cpus", help="cores per task")] = None,
    gpus: Annotated[int | None, typer.Option("--gpus", help="GPUs per task")] = None,
    runtime: Annotated[str | None, typer.Option("--runtime", help="declared runtime")] = None,
    node_type: Annotated[str | None, typer.Option("--node-type", help="node type")] = None,
    shards: Annotated[
        str | None, typer.Option("--shards", help="comma-separated inputs: one task each")
    ] = None,
    as_json: Annotated[bool, typer.Option("--json", help="print JSON on stdout")] = False,
) -> None:
    """What a job would be planned with now: runtime, upper bound, power, source."""
    import time

    from wattwise.engine.spec import parse_spec
    from wattwise.predict.history import model_from_store
    from wattwise.predict.records import features_of
    from wattwise.store.jobs import JobStore

    data: dict[str, Any] = {"command": cmd}
    for key, value in (
        ("name", name),
        ("cpus", cpus),
        ("gpus", gpus),
        ("runtime", runtime),
        ("node_type", node_type),
    ):
        if value is not None:
            data[key] = value
    if shards is not None:
        data["shards"] = [s for s in shards.split(",") if s]
    spec = parse_spec(data, time.time())
    p = model_from_store(JobStore()).predict(features_of(spec.to_dict()))
    if as_json:
        print(json.dumps(p.to_dict()))
        return
    basis = f"history of {p.n} run(s)" if p.source == "history" else str(p.source)
    print(
        f"{spec.name}: runtime {p.runtime_s:.1f} s, upper {p.runtime_upper_s:.1f} s "
        f"({100 * p.coverage:.0f} % bound), power {p.power_w:.1f} W; {basis}"
    )


def _pct(value: float | None) -> str:
    return "-" if value is None else f"{value:.1f} %"
