"""A Ray worker imports only what running a task or a meter needs.

Every worker process imports ``wattwise.engine.ray_backend`` before its first task;
with the store and the scheduler in that import (SQLAlchemy, NumPy) each worker paid
about 0.7 s of CPU, and on a small machine a burst of starts queued behind it.
"""

from __future__ import annotations

import subprocess
import sys


def test_the_worker_side_import_leaves_out_the_store_and_the_scheduler() -> None:
    code = (
        "import sys, wattwise.engine.ray_backend;"
        "print(sorted(m for m in ('sqlalchemy', 'numpy', 'wattwise.store.jobs',"
        " 'wattwise.engine.scheduler') if m in sys.modules))"
    )
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True)
    assert out.stdout.strip() == "[]"


def test_the_package_still_offers_its_client_names() -> None:
    import wattwise.engine as engine
    from wattwise.engine.client import EngineClient

    assert engine.EngineClient is EngineClient
    assert callable(engine.parse_spec)
