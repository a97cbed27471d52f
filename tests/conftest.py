"""Shared fixtures: every test gets its own WATTWISE_HOME, never the user's."""

from __future__ import annotations

import os
from pathlib import Path

import pytest

REPO_ROOT = Path(__file__).resolve().parents[1]


def shared_data_dir() -> Path:
    """Real public data beside the repository (``../shared/data``) or WATTWISE_SHARED_DATA."""
    override = os.environ.get("WATTWISE_SHARED_DATA")
    return Path(override) if override else REPO_ROOT.parent / "shared" / "data"


def shared_file(*parts: str, whole_module: bool = False) -> Path:
    """A path under the shared data. Where a checkout has none beside it the calling test
    (or, with ``whole_module``, its module) is skipped, never failed: the data is public
    but not shipped in the repository."""
    path = shared_data_dir().joinpath(*parts)
    if not path.exists():
        pytest.skip(
            f"shared data missing: {path} (lay ../shared beside the checkout"
            " or set WATTWISE_SHARED_DATA)",
            allow_module_level=whole_module,
        )
    return path


@pytest.fixture(autouse=True)
def _isolated_home(
    tmp_path_factory: pytest.TempPathFactory, monkeypatch: pytest.MonkeyPatch
) -> Path:
    home = tmp_path_factory.mktemp("wattwise-home")
    monkeypatch.setenv("WATTWISE_HOME", str(home))
    monkeypatch.delenv("WATTWISE_DB", raising=False)
    monkeypatch.delenv("WATTWISE_SOURCES", raising=False)
    return home


@pytest.fixture
def wattwise_home(_isolated_home: Path) -> Path:
    return _isolated_home
