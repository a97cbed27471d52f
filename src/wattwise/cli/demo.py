"""``wattwise demo``: measure a few real small AI workloads and print what they cost.

This first version runs the workloads in-process, one after another, under the
:class:`~wattwise.meter.Meter`, records each as a run in the store and prints a table.
"""

from __future__ import annotations

import time
from collections.abc import Callable

import typer


def _train_digits_mlp() -> str:
    """Train a small MLP on scikit-learn's bundled 8x8 digits; returns the test accuracy."""
    from sklearn.datasets import load_digits
    from sklearn.model_selection import train_test_split
    from sklearn.neural_network import MLPClassifier

    x, y = load_digits(return_X_y=True)
    x_train, x_test, y_train, y_test = train_test_split(x / 16.0, y, random_state=0)
    model = MLPClassifier(hidden_layer_sizes=(128,), max_iter=200, random_state=0)
    model.fit(x_train, y_train)
    return f"accuracy {model.score(x_test, y_test):.3f}"


def _infer_digits_logreg() -> str:
    """Fit a logistic regression on digits and classify the whole set 20 times."""
    from sklearn.datasets import load_digits
    from sklearn.linear_model import LogisticRegression

    x, y = load_digits(return_X_y=True)
    model = LogisticRegression(max_iter=300).fit(x / 16.0, y)
    for _ in range(20):
        model.predict(x / 16.0)
    return f"{20 * len(x)} predictions"


_WORKLOADS: dict[str, Callable[[], str]] = {
    "train digits-mlp": _train_digits_mlp,
    "infer digits-logreg": _infer_digits_logreg,
}


def demo() -> None:
    """Measure a few small real AI workloads and print energy and CO2."""
    from wattwise.meter import Meter
    from wattwise.store import RunStore
    from wattwise.units import co2e_grams, joules_to_kwh

    store = RunStore()
    intensity_g_per_kwh = 300.0  # placeholder until the carbon trace is wired in
    rows: list[tuple[str, float, float, float, str]] = []
    with Meter() as meter:
        for name, work in _WORKLOADS.items():
            started = time.time()
            run_id = store.start_run(name, kind="demo", started_s=started)
            meter.begin(name)
            detail = work()
            measurement = meter.end(name)
            store.finish_run(run_id, measurement, exit_code=0)
            co2 = co2e_grams(measurement.energy_j, intensity_g_per_kwh)
            rows.append((name, measurement.duration_s, measurement.energy_j, co2, detail))
    typer.echo(f"{'job':<22}{'time s':>8}{'energy J':>10}{'CO2 g':>9}  result")
    for name, dur, energy, co2, detail in rows:
        typer.echo(f"{name:<22}{dur:>8.1f}{energy:>10.1f}{co2:>9.4f}  {detail}")
    total_j = sum(r[2] for r in rows)
    typer.echo(f"total {total_j:.1f} J = {joules_to_kwh(total_j) * 1000:.4f} Wh (estimated)")


def register(app: typer.Typer) -> None:
    app.command("demo")(demo)
