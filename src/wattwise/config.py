"""Where wattwise keeps its state, and the user's settings.

``WATTWISE_HOME`` (default ``~/.wattwise``) holds the store and ``config.toml``::

    zone = "DE"              # grid zone for carbon (static table or live provider)
    carbon_file = "..."      # or a carbon-intensity trace
    providers = ["electricitymaps", "watttime", "trace:grid.csv", "static"]  # or a chain
    cpu_tdp_w = 165          # estimate: the CPU's TDP, W
    cpu_threads = 64         # estimate: the CPU's hardware threads
    dram_w_per_gib = 0.375   # estimate: DRAM power per GiB resident, W/GiB
    interval_s = 0.5         # meter sampling interval, s (0.01 to 3600)
    database_url = "sqlite:///..."  # any SQLAlchemy URL
    api_require_token_for_reads = false   # API: the token on every read, loopback too
    api_trusted_proxies = ["127.0.0.1"]   # API: proxies whose X-Forwarded-For is believed
    api_allowed_hosts = ["wattwise.lan"]  # API: Host names answered beyond loopback/IPs
    pue = 1.2                # report: power usage effectiveness (>= 1; default 1.0)
    market_factor_g_per_kwh = 50  # report: contract (market-based) factor, gCO2e/kWh

The PUE may instead be a table, per grid zone and per cluster node group (a node's
``node_type`` label); the most specific one that matches a run wins::

    [pue]
    default = 1.2
    zones = { DE = 1.3, "US-CAL-CISO" = 1.15 }
    node_groups = { gpu-a100 = 1.1 }

A malformed file is rejected with its path and line; unknown keys, wrong types and
values out of range too. The numeric limits (:data:`LIMITS`) are the same ones the
command-line flags are held to (:func:`check_number`).

The home is created private (0700, files 0600): the store and job logs hold job
``env`` values. Everything that creates something there goes through :func:`home`,
:func:`private_dir` or :func:`private_file`.
"""

from __future__ import annotations

import contextlib
import math
import os
import re
from dataclasses import dataclass, field, fields
from pathlib import Path
from typing import Any

from wattwise.errors import ConfigError

#: Mode of every folder wattwise creates in its home, and of its files.
DIR_MODE = 0o700
FILE_MODE = 0o600


def home() -> Path:
    """``$WATTWISE_HOME`` or ``~/.wattwise``, created 0700 when missing.

    Best effort: a home that cannot be created is reported by whoever writes there, with
    the path and what to do.
    """
    path = Path(os.environ.get("WATTWISE_HOME") or Path.home() / ".wattwise")
    if not path.is_dir():
        with contextlib.suppress(OSError):
            private_dir(path)
    return path


def private_dir(path: Path) -> Path:
    """``mkdir -p`` where every folder it creates is 0700 (``Path.mkdir`` gives parents 0755)."""
    missing: list[Path] = []
    here = path
    while not here.exists():
        missing.append(here)
        if here.parent == here:
            break
        here = here.parent
    for folder in reversed(missing):
        try:
            folder.mkdir(mode=DIR_MODE)
        except FileExistsError:
            pass  # another process made it meanwhile
        else:
            folder.chmod(DIR_MODE)  # the umask may have taken bits we want gone anyway
    return path


def private_file(path: Path) -> Path:
    """Create ``path`` (and its folders) as an empty 0600 file if absent; leave it otherwise."""
    private_dir(path.parent)
    os.close(os.open(path, os.O_WRONLY | os.O_CREAT | os.O_APPEND, FILE_MODE))
    return path


def open_private(path: Path) -> int:
    """A file descriptor for writing ``path`` afresh, created 0600 (job logs)."""
    private_dir(path.parent)
    return os.open(path, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, FILE_MODE)


@dataclass(frozen=True)
class Config:
    """User settings; ``None`` means: not set, use the default."""

    zone: str | None = None
    carbon_file: str | None = None
    providers: tuple[str, ...] | None = None
    cpu_tdp_w: float | None = None
    cpu_threads: int | None = None
    dram_w_per_gib: float | None = None
    interval_s: float | None = None
    database_url: str | None = None
    api_require_token_for_reads: bool | None = None
    api_trusted_proxies: tuple[str, ...] | None = None
    api_allowed_hosts: tuple[str, ...] | None = None
    pue: PueSettings | None = None
    market_factor_g_per_kwh: float | None = None


@dataclass(frozen=True)
class PueSettings:
    """Power usage effectiveness from config: a default, per zone, per node group (ratios >= 1)."""

    default: float | None = None
    zones: dict[str, float] = field(default_factory=dict)
    node_groups: dict[str, float] = field(default_factory=dict)


_TYPES: dict[str, tuple[type, ...]] = {
    "zone": (str,),
    "carbon_file": (str,),
    "providers": (list,),
    "cpu_tdp_w": (int, float),
    "cpu_threads": (int,),
    "dram_w_per_gib": (int, float),
    "interval_s": (int, float),
    "database_url": (str,),
    "api_require_token_for_reads": (bool,),
    "api_trusted_proxies": (list,),
    "api_allowed_hosts": (list,),
    "pue": (int, float, dict),
    "market_factor_g_per_kwh": (int, float),
}
_STRING_LISTS = {"api_trusted_proxies", "api_allowed_hosts", "providers"}


@dataclass(frozen=True)
class Limit:
    """The range a numeric setting must lie in (inclusive unless ``above``). Units: the key's."""

    minimum: float
    maximum: float
    unit: str
    above: bool = False  # strictly greater than ``minimum``

    def problem(self, value: float) -> str | None:
        """Why ``value`` is refused, or None."""
        if not math.isfinite(value):
            return f"must be a finite number of {self.unit}"
        low = value <= self.minimum if self.above else value < self.minimum
        if low or value > self.maximum:
            op = ">" if self.above else "at least"
            return f"must be {op} {self.minimum:g} and at most {self.maximum:g} {self.unit}"
        return None


#: One rule per numeric setting, for config.toml and the flags that override it.
LIMITS: dict[str, Limit] = {
    # Below 10 ms the sampler spends more than it measures; above an hour it is no timeline.
    "interval_s": Limit(0.01, 3600.0, "s"),
    "cpu_tdp_w": Limit(0.0, 10_000.0, "W", above=True),
    "cpu_threads": Limit(1, 1_000_000, "threads"),
    "dram_w_per_gib": Limit(0.0, 100.0, "W/GiB", above=True),
    # Facility energy / IT energy: 1 is a perfect data centre; below 1 is impossible.
    "pue": Limit(1.0, 10.0, "(facility/IT energy)"),
    "market_factor_g_per_kwh": Limit(0.0, 5000.0, "gCO2e/kWh"),
}


def check_number(key: str, value: float, where: str) -> float:
    """``value`` if it is within :data:`LIMITS` for ``key``; else a ConfigError naming ``where``."""
    problem = LIMITS[key].problem(value)
    if problem:
        raise ConfigError(f"{where} {problem}, not {value!r}")
    return value


def parse_networks(values: Any, where: str = "api_trusted_proxies") -> tuple[Any, ...]:
    """``["127.0.0.1", "10.0.0.0/8"]`` as ``ipaddress`` networks; a bad entry is a ConfigError."""
    import ipaddress

    out = []
    for value in values:
        try:
            out.append(ipaddress.ip_network(str(value).strip(), strict=False))
        except ValueError:
            raise ConfigError(
                f"{where}: {value!r} is not an IP address or network",
                hint="write addresses such as 127.0.0.1 or 10.0.0.0/8",
            ) from None
    return tuple(out)


def _line_of(text: str, key: str) -> int | None:
    for number, line in enumerate(text.splitlines(), start=1):
        if re.match(rf"\s*({re.escape(key)}\s*=|\[\s*{re.escape(key)}\s*\])", line):
            return number
    return None


def _pue_settings(value: Any, where: str) -> PueSettings:
    """``pue = 1.2`` or a ``[pue]`` table of ``default``, ``zones``, ``node_groups``."""
    if not isinstance(value, dict):
        return PueSettings(default=check_number("pue", value, f"{where}: pue"))
    unknown = set(value) - {"default", "zones", "node_groups"}
    if unknown:
        raise ConfigError(
            f"{where}: unknown pue setting {sorted(unknown)[0]!r}",
            hint="known: default, zones, node_groups",
        )

    def number(raw: Any, name: str) -> float:
        if isinstance(raw, bool) or not isinstance(raw, int | float):
            raise ConfigError(f"{where}: {name} must be a number, not {raw!r}")
        return check_number("pue", raw, f"{where}: {name}")

    def table(name: str) -> dict[str, float]:
        raw = value.get(name, {})
        if not isinstance(raw, dict):
            raise ConfigError(f"{where}: pue.{name} must be a table like {{ DE = 1.3 }}")
        return {str(k): number(v, f"pue.{name}.{k}") for k, v in raw.items()}

    default = value.get("default")
    return PueSettings(
        default=None if default is None else number(default, "pue.default"),
        zones=table("zones"),
        node_groups=table("node_groups"),
    )


def load_config(path: Path | None = None) -> Config:
    """Read ``config.toml`` from ``WATTWISE_HOME``; missing file = all defaults."""
    path = path or home() / "config.toml"
    try:
        raw = path.read_bytes()
    except FileNotFoundError:
        return Config()
    except OSError as err:
        raise ConfigError(f"{path}: cannot read ({err.strerror})") from None
    import tomllib  # only when there is a file: `wattwise measure` starts faster without

    try:
        text = raw.decode("utf-8")
    except UnicodeDecodeError as err:
        at_line = raw[: err.start].count(b"\n") + 1
        raise ConfigError(
            f"{path}:{at_line}: not UTF-8 text (byte {err.start})",
            hint="write config.toml as UTF-8 TOML, or move it away",
        ) from None
    try:
        data: dict[str, Any] = tomllib.loads(text)
    except tomllib.TOMLDecodeError as err:
        # Python 3.11's TOMLDecodeError only carries the position in its message.
        found = re.search(r"at line (\d+)", str(err))
        where = f"{path}:{found.group(1)}" if found else str(path)
        reason = str(err).split(" (at")[0]
        raise ConfigError(f"{where}: not valid TOML ({reason})") from None
    known = {f.name for f in fields(Config)}
    for key, value in list(data.items()):
        line = _line_of(text, key)
        where = f"{path}:{line}" if line else str(path)
        if key not in known:
            raise ConfigError(
                f"{where}: unknown setting {key!r}", hint=f"known: {', '.join(sorted(known))}"
            )
        wrong_bool = isinstance(value, bool) and bool not in _TYPES[key]
        if wrong_bool or not isinstance(value, _TYPES[key]):
            expected = " or ".join(t.__name__ for t in _TYPES[key])
            raise ConfigError(f"{where}: {key} must be {expected}, not {value!r}")
        checked: Any = value  # its type is checked just above
        if key == "pue":
            data[key] = _pue_settings(checked, where)
            continue
        if key in LIMITS:
            check_number(key, checked, f"{where}: {key}")
        if key in _STRING_LISTS:
            if not all(isinstance(v, str) for v in checked):
                raise ConfigError(f"{where}: {key} must be a list of strings, not {value!r}")
            data[key] = tuple(checked)
        if key == "api_trusted_proxies":
            parse_networks(checked, f"{where}: {key}")
    return Config(**data)
