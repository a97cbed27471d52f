from __future__ import annotations

import pytest


def pytest_configure(config: pytest.Config) -> None:
    config.addinivalue_line(
        "markers", "multinode: runs on a real multi-node Ray cluster on this machine (slow)"
    )
