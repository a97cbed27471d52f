"""Demo job: an interruptible training run that checkpoints and resumes exactly.

Trains a small MLP on scikit-learn's bundled digits with PyTorch, one thread. It keeps
wattwise's checkpoint contract for interruptible jobs:

- state (weights, optimizer, step, data-order RNG) is saved atomically to
  ``$WATTWISE_CHECKPOINT_DIR/train.pt`` every ``--every`` steps;
- on SIGTERM (the engine suspending the job) it finishes the current step, saves, and
  exits 0 with "suspended at step N";
- started again with the same folder, on any node, it resumes from the checkpoint.

A resumed run ends with bit-identical weights to an uninterrupted one; the last line
prints their SHA-256 and the test accuracy so that can be checked.

Run: ``WATTWISE_CHECKPOINT_DIR=/tmp/ck python examples/jobs/checkpoint_train.py
[--steps 400] [--every 50] [--pause-ms 0]`` (``--pause-ms`` stretches each step to
stand in for a longer job).
"""

from __future__ import annotations

import signal

# Installed before the slow imports, so a suspend that arrives during start-up still
# ends in a clean "suspended at step 0" instead of a kill.
_STOP = {"requested": False}
signal.signal(signal.SIGTERM, lambda signum, frame: _STOP.update(requested=True))

import argparse  # noqa: E402
import hashlib  # noqa: E402
import os  # noqa: E402
import time  # noqa: E402
from pathlib import Path  # noqa: E402

import torch  # noqa: E402
from sklearn.datasets import load_digits  # noqa: E402


def build() -> tuple[torch.nn.Module, torch.optim.Optimizer]:
    torch.manual_seed(0)
    model = torch.nn.Sequential(torch.nn.Linear(64, 128), torch.nn.ReLU(), torch.nn.Linear(128, 10))
    return model, torch.optim.SGD(model.parameters(), lr=0.05, momentum=0.9)


def weights_sha256(model: torch.nn.Module) -> str:
    h = hashlib.sha256()
    for name, tensor in sorted(model.state_dict().items()):
        h.update(name.encode())
        h.update(tensor.detach().contiguous().numpy().tobytes())
    return h.hexdigest()


def save(path: Path, state: dict[str, object]) -> None:
    tmp = path.with_suffix(".tmp")
    torch.save(state, tmp)
    os.replace(tmp, path)  # atomic: a kill mid-save leaves the previous checkpoint


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--steps", type=int, default=400)
    ap.add_argument("--every", type=int, default=50)
    ap.add_argument("--pause-ms", type=float, default=0.0)
    args = ap.parse_args()
    torch.set_num_threads(1)
    folder = Path(os.environ.get("WATTWISE_CHECKPOINT_DIR") or ".")
    folder.mkdir(parents=True, exist_ok=True)
    ckpt = folder / "train.pt"

    digits = load_digits()
    x = torch.tensor(digits.data, dtype=torch.float32) / 16.0
    y = torch.tensor(digits.target)
    x_train, y_train, x_test, y_test = x[:1400], y[:1400], x[1400:], y[1400:]
    model, opt = build()
    order = torch.Generator().manual_seed(1)
    step = 0
    if ckpt.exists():
        state = torch.load(ckpt, weights_only=False)
        model.load_state_dict(state["model"])
        opt.load_state_dict(state["opt"])
        order.set_state(state["order"])
        step = int(state["step"])
        print(f"resumed at step {step}", flush=True)

    def snapshot() -> dict[str, object]:
        return {"model": model.state_dict(), "opt": opt.state_dict(),
                "order": order.get_state(), "step": step}  # fmt: skip

    while step < args.steps:
        stop = _STOP["requested"]
        if stop:
            save(ckpt, snapshot())
            print(f"suspended at step {step}", flush=True)
            return 0
        idx = torch.randint(0, len(x_train), (64,), generator=order)
        opt.zero_grad()
        loss = torch.nn.functional.cross_entropy(model(x_train[idx]), y_train[idx])
        loss.backward()
        opt.step()
        step += 1
        if args.pause_ms:
            time.sleep(args.pause_ms / 1000.0)
        if step % args.every == 0:
            save(ckpt, snapshot())
    with torch.no_grad():
        accuracy = (model(x_test).argmax(1) == y_test).float().mean().item()
    print(f"done {step} steps, test accuracy {accuracy:.4f}, weights {weights_sha256(model)}")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
