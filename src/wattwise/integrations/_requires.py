"""Is a framework installed, and new enough? One-line errors that say what to install."""

from __future__ import annotations

import re
from importlib import metadata

from wattwise.errors import ConfigError


def _version_tuple(text: str) -> tuple[int, ...]:
    parts = re.findall(r"\d+", text.split("+")[0])[:3]
    return tuple(int(p) for p in parts)


def require(distribution: str, minimum: str, extra: str, what: str) -> str:
    """The installed version of ``distribution``; ``ConfigError`` if absent or older."""
    try:
        installed = metadata.version(distribution)
    except metadata.PackageNotFoundError:
        raise ConfigError(
            f"{what} needs {distribution}, which is not installed",
            hint=f"pip install 'wattwise[{extra}]'",
        ) from None
    if _version_tuple(installed) < _version_tuple(minimum):
        raise ConfigError(
            f"{what} needs {distribution} >= {minimum}, found {installed}",
            hint=f"pip install -U 'wattwise[{extra}]'",
        )
    return installed
