"""The demo's job bodies import: a renamed API must not leave `make run` failing."""

from __future__ import annotations

import importlib.util
import signal
from pathlib import Path

import pytest

JOBS = sorted((Path(__file__).resolve().parents[1] / "examples" / "jobs").glob("*.py"))


@pytest.mark.parametrize("path", JOBS, ids=[p.stem for p in JOBS])
def test_each_example_job_imports(path: Path) -> None:
    pytest.importorskip("torch")
    spec = importlib.util.spec_from_file_location(f"example_job_{path.stem}", path)
    assert spec is not None and spec.loader is not None
    module = importlib.util.module_from_spec(spec)
    sigterm = signal.getsignal(signal.SIGTERM)  # checkpoint_train sets its own at import
    try:
        spec.loader.exec_module(module)  # runs the imports, not main (guarded by __main__)
    finally:
        signal.signal(signal.SIGTERM, sigterm)
    assert callable(module.main)
