"""``wattwise.measure()``: meter a code region, add its carbon, store it.

    import wattwise
    with wattwise.measure("train") as m:
        train()
    print(m.result.energy_j, m.result.co2e_g)

Sub-windows (``m.window("epoch-1")``) are stored with the run so ``wattwise show``
can say where the energy went. ``@wattwise.measured("infer")`` does the same for a
function.
"""

from __future__ import annotations

import functools
import warnings
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any, ParamSpec, TypeVar

from wattwise.errors import WattwiseError
from wattwise.meter import EstimateSettings, Measurement, Meter
from wattwise.meter.sources.estimate import DEFAULT_DRAM_W_PER_GIB

P = ParamSpec("P")
R = TypeVar("R")


def estimate_settings_from_config(cpu_tdp_w: float | None = None) -> EstimateSettings:
    """Estimate settings: explicit argument > config file > CPU table."""
    from wattwise.config import load_config

    cfg = load_config()
    return EstimateSettings(
        cpu_tdp_w=cpu_tdp_w if cpu_tdp_w is not None else cfg.cpu_tdp_w,
        cpu_threads=cfg.cpu_threads,
        dram_w_per_gib=cfg.dram_w_per_gib or DEFAULT_DRAM_W_PER_GIB,
    )


def carbon_provider(
    zone: str | None = None,
    carbon_file: str | Path | None = None,
    fixed_g_per_kwh: float | None = None,
) -> Any:
    """Intensity provider from arguments, else the config file, else the world average
    (:func:`wattwise.grid.resolve_provider`)."""
    from wattwise.grid import resolve_provider

    # replay=True: a historical trace (e.g. a 2023 year) stands for the same time of
    # year today; the provider's label says it was replayed.
    return resolve_provider(
        zone=zone, carbon_file=carbon_file, fixed_g_per_kwh=fixed_g_per_kwh, replay=True
    )


class MeasuredRegion:
    """Handle yielded by :func:`measure`. ``result`` is set when the block exits."""

    def __init__(self, name: str, meter: Meter) -> None:
        self.name = name
        self.meter = meter
        self.result: Measurement | None = None
        self.windows: list[Measurement] = []
        self.run_id: int | None = None

    @contextmanager
    def window(self, name: str) -> Iterator[None]:
        """A named sub-window, stored with the run."""
        with self.meter.window(f"{self.name}/{name}") as out:
            yield
        self.windows.append(out[0])


@contextmanager
def measure(
    name: str = "region",
    *,
    zone: str | None = None,
    carbon_file: str | Path | None = None,
    intensity_g_per_kwh: float | None = None,
    store: bool = True,
    interval_s: float | None = None,
    meter: Meter | None = None,
) -> Iterator[MeasuredRegion]:
    """Meter the block: energy per device, duration, power, gCO₂e; stored unless ``store=False``.

    In a multi-process job (torchrun, accelerate, Slurm, Open MPI) one rank per node
    meters the whole node and stores one run; see :mod:`wattwise.node_run`.
    """
    from wattwise.config import load_config
    from wattwise.meter.ranks import rank_layout

    layout = rank_layout() if meter is None else None
    if layout is not None:
        from wattwise.node_run import measure_node

        with measure_node(
            name,
            layout,
            zone=zone,
            carbon_file=carbon_file,
            intensity_g_per_kwh=intensity_g_per_kwh,
            store=store,
            interval_s=interval_s,
        ) as node_region:
            yield node_region
        return
    provider = carbon_provider(zone, carbon_file, intensity_g_per_kwh)
    own_meter = meter is None
    if meter is None:
        interval = interval_s or load_config().interval_s
        kwargs: dict[str, Any] = {"estimate": estimate_settings_from_config()}
        if interval:
            kwargs["interval_s"] = interval
        meter = Meter(**kwargs)
    region = MeasuredRegion(name, meter)
    meter.begin(name)
    try:
        yield region
    finally:
        raw = meter.end(name)
        if own_meter:
            meter.close()
        region.result = _finish(raw, provider, store, region.windows)
        region.run_id = region.result.meta.get("run_id")


def _finish(
    raw: Measurement, provider: Any, store: bool, windows: list[Measurement]
) -> Measurement:
    from wattwise.carbon import with_carbon

    try:
        result = with_carbon(raw, provider)
    except WattwiseError as err:
        # Never lose the energy because carbon data is missing: keep it, say why.
        warnings.warn(f"wattwise: no carbon figure: {err}", stacklevel=3)
        result = raw
    if store:
        from dataclasses import replace

        from wattwise.store import RunStore

        try:
            run_id = RunStore().record(result, windows=windows)
            result = replace(result, meta={**result.meta, "run_id": run_id})
        except WattwiseError as err:
            warnings.warn(f"wattwise: measurement not stored: {err}", stacklevel=3)
    return result


def measured(name: str | None = None, **options: Any) -> Callable[[Callable[P, R]], Callable[P, R]]:
    """Decorator: each call of the function is one measured, stored region."""

    def decorate(fn: Callable[P, R]) -> Callable[P, R]:
        label = name or fn.__qualname__

        @functools.wraps(fn)
        def wrapper(*args: P.args, **kwargs: P.kwargs) -> R:
            with measure(label, **options) as region:
                out = fn(*args, **kwargs)
            wrapper.last_result = region.result  # type: ignore[attr-defined]
            return out

        return wrapper

    return decorate
