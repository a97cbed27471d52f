"""``import wattwise`` and ``wattwise.integrations`` load no training framework or tracker."""

from __future__ import annotations

import subprocess
import sys

HEAVY = ("torch", "lightning", "keras", "transformers", "mlflow", "wandb", "tensorboard", "IPython")


def test_no_framework_loaded_until_a_callback_module_is_imported() -> None:
    code = (
        "import sys, wattwise, wattwise.integrations\n"
        f"print(','.join(m for m in {HEAVY!r} if m in sys.modules))"
    )
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True)
    assert out.stdout.strip() == ""


def test_the_trackers_module_loads_a_tracker_only_when_it_logs_to_it() -> None:
    code = (
        "import sys, wattwise.integrations.trackers\n"
        f"print(','.join(m for m in {HEAVY!r} if m in sys.modules))"
    )
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True)
    assert out.stdout.strip() == ""
