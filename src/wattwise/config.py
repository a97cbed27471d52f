"""Where wattwise keeps its state, and the user's settings.

``WATTWISE_HOME`` (default ``~/.wattwise``) holds the store and ``config.toml``::

    zone = "DE"              # grid zone for carbon (static table or live provider)
    carbon_file = "..."      # or a carbon-intensity trace
    cpu_tdp_w = 165          # estimate: the CPU's TDP, W
    cpu_threads = 64         # estimate: the CPU's hardware threads
    dram_w_per_gib = 0.375   # estimate: DRAM power per GiB resident, W/GiB
    interval_s = 0.5         # meter sampling interval, s
    database_url = "sqlite:///..."  # any SQLAlchemy URL

A malformed file is rejected with its path and line; unknown keys and wrong types too.
"""

from __future__ import annotations

import os
import re
import tomllib
from dataclasses import dataclass, fields
from pathlib import Path
from typing import Any

from wattwise.errors import ConfigError


def home() -> Path:
    """``$WATTWISE_HOME`` or ``~/.wattwise`` (not created here)."""
    return Path(os.environ.get("WATTWISE_HOME") or Path.home() / ".wattwise")


@dataclass(frozen=True)
class Config:
    """User settings; ``None`` means: not set, use the default."""

    zone: str | None = None
    carbon_file: str | None = None
    cpu_tdp_w: float | None = None
    cpu_threads: int | None = None
    dram_w_per_gib: float | None = None
    interval_s: float | None = None
    database_url: str | None = None


_TYPES: dict[str, tuple[type, ...]] = {
    "zone": (str,),
    "carbon_file": (str,),
    "cpu_tdp_w": (int, float),
    "cpu_threads": (int,),
    "dram_w_per_gib": (int, float),
    "interval_s": (int, float),
    "database_url": (str,),
}
_POSITIVE = {"cpu_tdp_w", "cpu_threads", "dram_w_per_gib", "interval_s"}


def _line_of(text: str, key: str) -> int | None:
    for number, line in enumerate(text.splitlines(), start=1):
        if re.match(rf"\s*{re.escape(key)}\s*=", line):
            return number
    return None


def load_config(path: Path | None = None) -> Config:
    """Read ``config.toml`` from ``WATTWISE_HOME``; missing file = all defaults."""
    path = path or home() / "config.toml"
    try:
        text = path.read_text(encoding="utf-8")
    except FileNotFoundError:
        return Config()
    except OSError as err:
        raise ConfigError(f"{path}: cannot read ({err.strerror})") from None
    try:
        data: dict[str, Any] = tomllib.loads(text)
    except tomllib.TOMLDecodeError as err:
        # Python 3.11's TOMLDecodeError only carries the position in its message.
        found = re.search(r"at line (\d+)", str(err))
        where = f"{path}:{found.group(1)}" if found else str(path)
        reason = str(err).split(" (at")[0]
        raise ConfigError(f"{where}: not valid TOML ({reason})") from None
    known = {f.name for f in fields(Config)}
    for key, value in data.items():
        line = _line_of(text, key)
        where = f"{path}:{line}" if line else str(path)
        if key not in known:
            raise ConfigError(
                f"{where}: unknown setting {key!r}", hint=f"known: {', '.join(sorted(known))}"
            )
        if isinstance(value, bool) or not isinstance(value, _TYPES[key]):
            expected = " or ".join(t.__name__ for t in _TYPES[key])
            raise ConfigError(f"{where}: {key} must be {expected}, not {value!r}")
        if key in _POSITIVE and isinstance(value, int | float) and value <= 0:
            raise ConfigError(f"{where}: {key} must be positive, not {value!r}")
    return Config(**data)
