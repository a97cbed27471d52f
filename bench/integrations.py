"""bench/integrations.py: what the training callbacks cost (issue 17).

Measured in one run, variants interleaved round by round, medians:
  1. callback overhead per training step (goal < 50 µs median), per framework:
     - Transformers: a tight loop of the hooks the ``Trainer`` calls each step, through
       the real ``CallbackHandler`` (``on_step_begin``, ``on_pre_optimizer_step``,
       ``on_optimizer_step``, ``on_step_end``; ``on_log`` every ``logging_steps``, an
       evaluation and a save every 100 steps), with ``[DefaultFlowCallback,
       WattwiseCallback]`` minus the same loop with ``[DefaultFlowCallback]`` alone.
     - Keras: started through a real ``CallbackList``, then a tight loop of its
       ``on_train_batch_begin``/``on_train_batch_end`` (epoch and validation hooks every
       100 steps) minus the same loop on a no-op ``keras.callbacks.Callback``.
     - Lightning: its per-step hook needs a live ``Trainer`` (``LightningModule.log``
       only works inside the Trainer's hook dispatch), so the callback's hooks are
       timed in place during real ``fit`` runs of examples/lightning_digits.py; the
       timer's own cost (calibrated on an empty function) is subtracted.
     The loops are timed in the training thread's CPU time (``time.thread_time_ns``):
     the meter's sampler thread is not in it (its cost shows in part 2's CPU figures).
     Every loop runs with the meter really sampling (default interval), the window
     turning over every ``every_n_steps`` (50) steps, and carbon at 400 g/kWh.
  2. training slowdown (goal < 1 %): examples/hf_trainer.py's tiny BERT (built from a
     config, CPU, nothing downloaded) trained N steps with and without the callback,
     rounds in ABBA order, median of the paired ratios of ``trainer.train()``'s CPU
     time (all threads, so the meter's sampler thread is in it); the callback's start
     and stop (meter start, store write) are inside. The goal is on CPU time: on this
     2-core machine shared with other work, paired wall times of the same run differ
     by tens of percent (they are reported too). In the runs with the callback, the
     CPU time in its hooks and in its sampler thread is also measured directly.

Lightning and Keras are measured where importable (from this virtualenv, else from
bench/.venv-frameworks if it exists; this bench never installs anything).

Run: .venv/bin/python bench/integrations.py [--rounds N] [--steps N] [--train-steps N]
"""

from __future__ import annotations

import argparse
import importlib.util
import os
import sys
import tempfile
import threading
import time
import warnings
from collections.abc import Callable
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))
FRAMEWORKS = ROOT / "bench" / ".venv-frameworks"
if FRAMEWORKS.is_dir():
    sys.path.append(str(FRAMEWORKS))
os.environ.setdefault("KERAS_BACKEND", "torch")

from bench._common import goal, median, write  # noqa: E402

#: The hook loops' clock: this thread's CPU time, so that other processes preempting
#: it (2 shared cores here) do not land in one variant. Units: ns.
CLOCK = time.thread_time_ns
#: Goals of issue 17. Units: µs per step; percent of training wall time.
STEP_GOAL_US = 50.0
SLOWDOWN_GOAL_PERCENT = 1.0
LOGGING_STEPS = 10  # as examples/hf_trainer.py logs
HF_DEFAULT_LOGGING = 500  # TrainingArguments' default logging_steps
EVAL_EVERY = 100  # an evaluation (and a save) every this many steps in the hook loops
INTENSITY = 400.0  # gCO2e/kWh, so the log lines carry CO2e as they would with a zone


def load_example(name: str) -> Any:
    path = ROOT / "examples" / f"{name}.py"
    spec = importlib.util.spec_from_file_location(f"bench_example_{name}", path)
    assert spec and spec.loader
    mod = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(mod)
    return mod


def available(module: str) -> bool:
    return importlib.util.find_spec(module) is not None


# -- 1. per-step hook cost -----------------------------------------------------------


def hf_hook_rounds(rounds: int, steps: int, logging_steps: int, eval_every: int) -> list[float]:
    """Per-step cost of the HF callback in each round. Units: µs."""
    import torch
    from transformers import TrainerControl, TrainerState, TrainingArguments
    from transformers.trainer_callback import CallbackHandler, DefaultFlowCallback

    from wattwise.integrations.transformers import WattwiseCallback

    model = load_example("hf_trainer").tiny_bert()
    optimizer = torch.optim.AdamW(model.parameters())
    with tempfile.TemporaryDirectory() as out:
        args = TrainingArguments(
            output_dir=out,
            max_steps=steps,
            logging_steps=logging_steps,
            eval_strategy="steps",
            eval_steps=eval_every,
            save_strategy="steps",
            save_steps=eval_every,
            report_to=[],
            use_cpu=True,
        )

    def loop(callbacks: list[Any]) -> float:
        handler = CallbackHandler(callbacks, model, None, optimizer, None)
        state, control = TrainerState(), TrainerControl()
        state.max_steps = steps
        # The Trainer copies these from its arguments when training starts; the flow
        # callback reads them from the state.
        state.logging_steps, state.eval_steps, state.save_steps = (
            logging_steps,
            eval_every,
            eval_every,
        )
        control = handler.on_train_begin(args, state, control)
        t = CLOCK()
        for step in range(steps):
            control = handler.on_step_begin(args, state, control)
            control = handler.on_pre_optimizer_step(args, state, control)
            control = handler.on_optimizer_step(args, state, control)
            state.global_step = step + 1
            state.epoch = state.global_step / steps
            control = handler.on_step_end(args, state, control)
            if control.should_log:
                logs = {"loss": 2.3, "grad_norm": 1.1, "learning_rate": 3e-3, "epoch": state.epoch}
                state.log_history.append({**logs, "step": state.global_step})
                control = handler.on_log(args, state, control, logs)
            if control.should_evaluate:
                control = handler.on_evaluate(args, state, control, metrics={"eval_loss": 2.2})
            if control.should_save:
                control.should_save = False
                control = handler.on_save(args, state, control)
        elapsed = CLOCK() - t
        assert len(state.log_history) == steps // logging_steps  # the cadence asked for
        handler.on_train_end(args, state, control)
        return elapsed / steps / 1e3

    cost: list[float] = []
    for r in range(rounds):
        cb = WattwiseCallback("bench hf hooks", intensity_g_per_kwh=INTENSITY)
        pair = {}
        for variant in ("base", "cb") if r % 2 == 0 else ("cb", "base"):
            flow = DefaultFlowCallback()
            pair[variant] = loop([flow, cb] if variant == "cb" else [flow])
        assert cb.result is not None and cb.result.meta["steps"] == steps
        cost.append(pair["cb"] - pair["base"])
    return cost


def keras_hook_rounds(rounds: int, steps: int) -> list[float]:
    """Per-step cost of the Keras callback in each round. Units: µs."""
    import keras

    from wattwise.integrations.keras import WattwiseCallback

    model = load_example("keras_digits").mlp()
    logs_per_step = {"loss": 2.3, "accuracy": 0.5}

    def loop(cb: Any) -> float:
        # Started through a real CallbackList (the callback finds it, as in fit), then
        # its hooks are called directly: Keras' own dispatch costs 70-140 µs a batch
        # here, empty list or not, and its noise would swamp the difference.
        cbl = keras.callbacks.CallbackList([cb], model=model)
        cbl.on_train_begin()
        cb.on_epoch_begin(0)
        t = CLOCK()
        for step in range(steps):
            cb.on_train_batch_begin(step)
            cb.on_train_batch_end(step, dict(logs_per_step))
            if (step + 1) % EVAL_EVERY == 0:
                epoch = (step + 1) // EVAL_EVERY
                cb.on_test_begin()
                cb.on_test_end({"loss": 2.2})
                cb.on_epoch_end(epoch - 1, {"loss": 2.3, "val_loss": 2.2})
                cb.on_epoch_begin(epoch)
        elapsed = CLOCK() - t
        cbl.on_train_end()
        return elapsed / steps / 1e3

    cost: list[float] = []
    for r in range(rounds):
        cb = WattwiseCallback("bench keras hooks", intensity_g_per_kwh=INTENSITY)
        pair = {}
        for variant in ("base", "cb") if r % 2 == 0 else ("cb", "base"):
            pair[variant] = loop(cb if variant == "cb" else keras.callbacks.Callback())
        assert cb.result is not None and cb.result.meta["steps"] == steps
        cost.append(pair["cb"] - pair["base"])
    return cost


def _timed(fn: Callable[..., Any], total: list[int]) -> Callable[..., Any]:
    def timed(*args: Any, **kwargs: Any) -> Any:
        t = CLOCK()
        try:
            return fn(*args, **kwargs)
        finally:
            total[0] += CLOCK() - t
            total[1] += 1

    return timed


def _timer_cost_ns(n: int = 20_000) -> float:
    """What ``_timed`` adds around a call (an empty one). Units: ns per call."""
    total = [0, 0]
    empty = _timed(lambda *a, **k: None, total)
    for _ in range(n):
        empty(1, 2, 3, 4, 5)
    return total[0] / n


#: The HF callback's hooks that run inside ``trainer.train()``.
HF_HOOKS: tuple[str, ...] = ("on_train_begin", "on_epoch_begin", "on_step_end", "on_epoch_end")
HF_HOOKS += ("on_evaluate", "on_save", "on_log", "on_train_end")
LIGHTNING_LOG_EVERY = 50  # the Trainer's default log_every_n_steps
LIGHTNING_HOOKS = (
    "on_train_batch_end",
    "on_train_epoch_start",
    "on_train_epoch_end",
    "on_validation_start",
    "on_validation_end",
)


def lightning_hook_rounds(rounds: int, epochs: int) -> tuple[dict[int, list[float]], int]:
    """Per-step time inside the Lightning callback's hooks, per fit, by the Trainer's
    ``log_every_n_steps`` (its default 50, and the example's 5). Units: µs."""
    import logging

    from wattwise.integrations.lightning import WattwiseCallback

    logging.getLogger("lightning.pytorch").setLevel(logging.ERROR)
    ex = load_example("lightning_digits")
    cost: dict[int, list[float]] = {LIGHTNING_LOG_EVERY: [], 5: []}
    steps = 0
    for r in range(rounds):
        for log_every in list(cost) if r % 2 == 0 else list(cost)[::-1]:
            cb = WattwiseCallback("bench lightning hooks", intensity_g_per_kwh=INTENSITY)
            total = [0, 0]
            for hook in LIGHTNING_HOOKS:
                setattr(cb, hook, _timed(getattr(cb, hook), total))
            train, val = ex.digits_loaders(batch_size=4)  # 337 steps an epoch
            with tempfile.TemporaryDirectory() as out, warnings.catch_warnings():
                warnings.simplefilter("ignore")
                trainer = ex.trainer(out, [cb], max_epochs=epochs, log_every_n_steps=log_every)
                trainer.fit(ex.DigitsMLP(width=32), train, val)
            steps = trainer.global_step
            overhead = total[1] * _timer_cost_ns()
            cost[log_every].append(max(0.0, total[0] - overhead) / steps / 1e3)
    return cost, steps


def log_line_cost(sizes: tuple[int, ...] = (0, 1_000, 10_000)) -> dict[str, float]:
    """What one log line's figures (``RunHandle.so_far``) cost once the run's window
    holds N samples, as after N x 0.5 s of training; the samples are real snapshots,
    taken as the sampler takes them. Units: µs."""
    from wattwise.node_run import RunHandle

    handle = RunHandle("bench log line", store=False, intensity_g_per_kwh=INTENSITY)
    meter = handle.meter
    assert meter is not None
    out: dict[str, float] = {}
    for n in sizes:
        with meter._lock:
            while len(meter._timeline) < n:
                meter._take()
        reps = 50 if n < 5_000 else 5
        t = CLOCK()
        for _ in range(reps):
            handle.so_far()
        out[str(n)] = (CLOCK() - t) / reps / 1e3
        del meter._timeline[n:]
    handle.close()
    return out


# -- 2. training slowdown ----------------------------------------------------------


def _sampler_cpu_s() -> float:
    """CPU time of the live wattwise sampler threads so far. Units: s."""
    return sum(
        time.clock_gettime(time.pthread_getcpuclockid(t.ident))
        for t in threading.enumerate()
        if t.name == "wattwise-meter" and t.ident is not None and t.is_alive()
    )


def hf_training_rounds(rounds: int, train_steps: int) -> dict[str, Any]:
    """``trainer.train()`` wall and CPU time with and without the callback, ABBA order;
    and, in the runs with it, the CPU time spent in its hooks and its sampler thread."""
    from transformers.trainer_callback import PrinterCallback

    from wattwise.integrations.transformers import WattwiseCallback

    ex = load_example("hf_trainer")
    direct: list[float] = []  # hooks + sampler CPU, % of the training's CPU time

    def run(with_cb: bool) -> tuple[float, float]:
        cb = WattwiseCallback("bench hf train", intensity_g_per_kwh=INTENSITY)
        total = [0, 0]  # CPU time inside the callback's hooks. Units: ns
        sampler = [0.0]
        end = cb.on_train_end

        def on_train_end(*args: Any, **kwargs: Any) -> None:
            sampler[0] = _sampler_cpu_s()  # read before the hook stops the thread
            end(*args, **kwargs)

        cb.on_train_end = on_train_end
        for hook in HF_HOOKS:
            setattr(cb, hook, _timed(getattr(cb, hook), total))
        with tempfile.TemporaryDirectory() as out:
            t = ex.trainer(
                out,
                [cb] if with_cb else [],
                max_steps=train_steps,
                eval_strategy="no",
                save_strategy="no",
            )
            t.remove_callback(PrinterCallback)  # no log lines on stdout, in both variants
            wall, cpu = time.perf_counter(), time.process_time()
            t.train()
            wall, cpu = time.perf_counter() - wall, time.process_time() - cpu
        if with_cb:
            assert cb.result is not None and cb.result.meta["steps"] == train_steps
            direct.append(100 * (total[0] / 1e9 + sampler[0]) / cpu)
        return wall, cpu

    run(True)  # warm-up: imports, first allocations, the store's schema
    walls: dict[bool, list[float]] = {True: [], False: []}
    cpus: dict[bool, list[float]] = {True: [], False: []}
    ratios: list[float] = []
    cpu_ratios: list[float] = []
    for r in range(rounds):
        order = (False, True) if r % 2 == 0 else (True, False)
        got = {}
        for with_cb in order:
            got[with_cb] = run(with_cb)
            walls[with_cb].append(got[with_cb][0])
            cpus[with_cb].append(got[with_cb][1])
        ratios.append(got[True][0] / got[False][0])
        cpu_ratios.append(got[True][1] / got[False][1])
    return {
        "steps": train_steps,
        "wall_s_without": median(walls[False]),
        "wall_s_with": median(walls[True]),
        "cpu_s_without": median(cpus[False]),
        "cpu_s_with": median(cpus[True]),
        "wall_slowdown_percent": 100 * (median(ratios) - 1),
        "cpu_slowdown_percent": 100 * (median(cpu_ratios) - 1),
        "wall_slowdown_percent_rounds": [round(100 * (x - 1), 2) for x in ratios],
        "cpu_slowdown_percent_rounds": [round(100 * (x - 1), 2) for x in cpu_ratios],
        "direct_cpu_percent": median(direct),
    }


def spread(xs: list[float]) -> str:
    return f"{min(xs):.1f}..{max(xs):.1f}"


def main() -> int:
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--rounds", type=int, default=11, help="hook-loop rounds (default 11)")
    p.add_argument("--steps", type=int, default=2000, help="steps per hook loop (default 2000)")
    p.add_argument("--train-rounds", type=int, default=8, help="training pairs (default 8)")
    p.add_argument("--train-steps", type=int, default=200, help="steps per training (200)")
    p.add_argument("--threads", type=int, default=1, help="torch threads (default 1)")
    a = p.parse_args()
    if min(a.rounds, a.steps, a.train_rounds, a.train_steps, a.threads) < 1:
        p.error("--rounds, --steps, --train-rounds, --train-steps, --threads must be >= 1")

    import torch

    torch.set_num_threads(a.threads)
    home = tempfile.mkdtemp(prefix="wattwise-bench-integrations-")
    os.environ["WATTWISE_HOME"] = home  # runs are stored, as by default, but not in ~

    goals: list[dict[str, Any]] = []
    extra: dict[str, Any] = {"per_step_us": {}, "skipped": []}
    print(f"per-step callback cost ({a.rounds} rounds, median; goal < {STEP_GOAL_US:g} µs)")
    print(f"{'framework':<19}{'µs/step':>9}  {'rounds':>14}  method")
    hf_method = "tight loop via CallbackHandler, {} steps, log every {}, eval+save every {}"
    runs: list[tuple[str, str, Callable[[], list[float]], str]] = [
        (
            "transformers",
            "transformers",
            lambda: hf_hook_rounds(a.rounds, a.steps, HF_DEFAULT_LOGGING, HF_DEFAULT_LOGGING),
            hf_method.format(a.steps, HF_DEFAULT_LOGGING, HF_DEFAULT_LOGGING)
            + ", minus flow-only loop",
        ),
        (
            "transformers_log10",
            "transformers",
            lambda: hf_hook_rounds(a.rounds, a.steps, LOGGING_STEPS, EVAL_EVERY),
            hf_method.format(a.steps, LOGGING_STEPS, EVAL_EVERY) + ", minus flow-only loop",
        ),
        (
            "keras",
            "keras",
            lambda: keras_hook_rounds(a.rounds, a.steps),
            f"tight loop of its hooks, {a.steps} steps, minus a no-op Callback's",
        ),
    ]
    for framework, module, measure, method in runs:
        if not available(module):
            extra["skipped"].append(f"{framework}: not installed")
            print(f"{framework:<19}{'-':>9}  {'':>14}  not installed: skipped")
            continue
        xs = measure()
        value = median(xs)
        extra["per_step_us"][framework] = {"median": value, "rounds": xs, "method": method}
        if framework != "transformers_log10":  # frequent logging: shown, not the goal
            goals.append(goal(f"{framework} callback per step", value, "µs", STEP_GOAL_US))
        print(f"{framework:<19}{value:>9.2f}  {spread(xs):>14}  {method}")
    if available("lightning"):
        lrounds = max(3, a.rounds // 2)
        by_every, steps = lightning_hook_rounds(lrounds, epochs=2)
        for log_every, xs in by_every.items():
            value = median(xs)
            method = (
                f"hooks timed in {lrounds} real fits of {steps} steps, log_every_n_steps"
                f" {log_every}, timer cost subtracted"
            )
            key = "lightning" if log_every == LIGHTNING_LOG_EVERY else f"lightning_log{log_every}"
            extra["per_step_us"][key] = {"median": value, "rounds": xs, "method": method}
            if log_every == LIGHTNING_LOG_EVERY:
                goals.append(goal("lightning callback per step", value, "µs", STEP_GOAL_US))
            print(f"{key:<19}{value:>9.2f}  {spread(xs):>14}  {method}")
    else:
        extra["skipped"].append("lightning: not installed")
        print(f"{'lightning':<19}{'-':>9}  {'':>14}  not installed: skipped")

    lines = log_line_cost()
    extra["log_line_us_by_run_samples"] = lines
    print(
        "\none log line's figures (so_far) once the run holds N samples (0.5 s each): "
        + ", ".join(f"{n}: {us / 1e3:.2f} ms" for n, us in lines.items())
    )

    print(
        f"\ntraining slowdown, examples/hf_trainer.py tiny BERT, {a.train_steps} steps,"
        f" {a.train_rounds} ABBA pairs, torch threads {a.threads}"
    )
    tr = hf_training_rounds(a.train_rounds, a.train_steps)
    extra["training"] = tr
    goals.append(
        goal(
            "hf tiny-bert training slowdown (CPU time)",
            tr["cpu_slowdown_percent"],
            "%",
            SLOWDOWN_GOAL_PERCENT,
        )
    )
    print(
        f"  CPU time (all threads, sampler included): {tr['cpu_s_without']:.3f} s without,"
        f" {tr['cpu_s_with']:.3f} s with; median paired {tr['cpu_slowdown_percent']:+.2f} %"
        f" (goal < {SLOWDOWN_GOAL_PERCENT:g} %; pairs {tr['cpu_slowdown_percent_rounds']})"
    )
    print(
        f"  wall: {tr['wall_s_without']:.3f} s without, {tr['wall_s_with']:.3f} s with;"
        f" median paired {tr['wall_slowdown_percent']:+.2f} %"
        f" (pairs {tr['wall_slowdown_percent_rounds']})"
    )
    print(
        "  measured directly in the runs with it: hooks + sampler thread ="
        f" {tr['direct_cpu_percent']:.2f} % of the training's CPU time (median)"
    )
    out = write("integrations", goals, torch_threads=a.threads, **extra)
    print(f"\nwrote {out.relative_to(ROOT)}")
    for g in goals:
        print(f"  {'met ' if g['met'] else 'MISSED'} {g['name']}: {g['value']:.2f} {g['goal']}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
