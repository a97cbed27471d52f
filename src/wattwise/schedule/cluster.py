"""Cluster description files (YAML or TOML) and on-site PV per node group.

```yaml
name: hetero-solar
groups:
  - name: epyc
    count: 4            # nodes
    cpus: 32            # cores per node
    gpus: 0
    idle_w: 100         # per node, W
    active_w_per_cpu: 7.03
    active_w_per_gpu: 0
    speed: 1.0          # throughput relative to the reference node
    zone: DE            # Zone Id of a --carbon file (default: the first one)
    solar: {kwp: 1.3, latitude: 52.52, longitude: 13.40,
            profile: solar_example.csv, column: Berlin}   # optional
```
A relative ``profile`` path is resolved against the cluster file's folder.
"""

from __future__ import annotations

import tomllib
from pathlib import Path
from typing import Any

from wattwise.config import Limit
from wattwise.errors import ConfigError, DataFormatError
from wattwise.schedule.model import DEFAULT_ACTIVE_W_PER_CPU, Cluster, NodeGroup
from wattwise.units import TimeSeries, shown

_GROUP_KEYS = {
    "name",
    "count",
    "cpus",
    "gpus",
    "idle_w",
    "active_w_per_cpu",
    "active_w_per_gpu",
    "speed",
    "zone",
    "solar",
}
_SOLAR_KEYS = {"kwp", "latitude", "longitude", "profile", "column"}
#: Counts past these are typos (and overflow the int64 capacity arrays).
COUNT_LIMITS: dict[str, Limit] = {
    "count": Limit(1, 1_000_000, "nodes"),
    "cpus": Limit(1, 1_000_000, "cores per node"),
    "gpus": Limit(0, 1_000, "GPUs per node"),
}


def load_cluster(path: str | Path) -> Cluster:
    """Read a cluster file. Raises :class:`DataFormatError` / :class:`ConfigError`."""
    p = Path(path)
    try:
        text = p.read_text(encoding="utf-8-sig")
    except OSError as err:
        raise DataFormatError(p, f"cannot read cluster file: {err.strerror}") from err
    except UnicodeDecodeError:
        raise DataFormatError(p, "not UTF-8 text", hint="save the cluster file as UTF-8") from None
    data: Any
    if p.suffix.lower() == ".toml":
        try:
            data = tomllib.loads(text)
        except tomllib.TOMLDecodeError as err:
            raise DataFormatError(p, f"invalid TOML: {err}") from err
    else:
        import yaml

        try:
            data = yaml.safe_load(text)
        except yaml.YAMLError as err:
            mark = getattr(err, "problem_mark", None)
            line = mark.line + 1 if mark is not None else None
            raise DataFormatError(p, f"invalid YAML: {err}", line) from err
    if not isinstance(data, dict) or not isinstance(data.get("groups"), list):
        raise DataFormatError(p, "expected a mapping with a 'groups' list")
    groups = tuple(_group(p, i, g) for i, g in enumerate(data["groups"]))
    try:
        return Cluster(groups=groups, name=str(data.get("name", p.stem)))
    except ConfigError as err:
        raise DataFormatError(p, str(err)) from err


def _group(path: Path, i: int, raw: Any) -> NodeGroup:
    where = f"groups[{i}]"
    if not isinstance(raw, dict):
        raise DataFormatError(path, f"{where} must be a mapping")
    unknown = set(raw) - _GROUP_KEYS
    if unknown:
        raise DataFormatError(path, f"{where}: unknown key(s) {sorted(unknown)}")
    for key in ("name", "count", "cpus"):
        if key not in raw:
            raise DataFormatError(path, f"{where}: missing '{key}'")

    def num(key: str, default: float, positive: bool = False) -> float:
        value = raw.get(key, default)
        if isinstance(value, bool) or not isinstance(value, int | float):
            raise DataFormatError(path, f"{where}.{key} must be a number, got {shown(value)}")
        if value < 0 or (positive and value == 0):
            sign = "> 0" if positive else ">= 0"
            raise DataFormatError(path, f"{where}.{key} must be {sign}, got {shown(value)}")
        return float(value)

    def whole(key: str, default: int, positive: bool) -> int:
        value = num(key, default, positive)
        problem = COUNT_LIMITS[key].problem(value)
        if problem:
            raise DataFormatError(path, f"{where}.{key} {problem}, got {shown(value)}")
        if value != int(value):
            raise DataFormatError(path, f"{where}.{key} must be a whole number, got {shown(value)}")
        return int(value)

    solar = raw.get("solar") or {}
    if not isinstance(solar, dict):
        raise DataFormatError(path, f"{where}.solar must be a mapping")
    unknown = set(solar) - _SOLAR_KEYS
    if unknown:
        raise DataFormatError(path, f"{where}.solar: unknown key(s) {sorted(unknown)}")
    kwp = 0.0
    lat = lon = None
    profile = column = None
    if solar:
        for key in ("kwp", "latitude", "longitude"):
            if not isinstance(solar.get(key), int | float):
                raise DataFormatError(path, f"{where}.solar.{key} must be a number")
        kwp = float(solar["kwp"])
        lat, lon = float(solar["latitude"]), float(solar["longitude"])
        if kwp <= 0 or not -90 <= lat <= 90 or not -180 <= lon <= 180:
            raise DataFormatError(path, f"{where}.solar: kwp > 0 and a valid latitude/longitude")
        if "profile" in solar:
            prof = Path(str(solar["profile"]))
            profile = str(prof if prof.is_absolute() else path.parent / prof)
            column = str(solar.get("column", ""))
            if not column:
                raise DataFormatError(path, f"{where}.solar: a profile needs a 'column'")
    return NodeGroup(
        name=str(raw["name"]),
        count=whole("count", 1, True),
        cpus=whole("cpus", 1, True),
        gpus=whole("gpus", 0, False),
        idle_w=num("idle_w", 0.0),
        active_w_per_cpu=num("active_w_per_cpu", DEFAULT_ACTIVE_W_PER_CPU),
        active_w_per_gpu=num("active_w_per_gpu", 0.0),
        speed=num("speed", 1.0, True),
        zone=None if raw.get("zone") is None else str(raw["zone"]),
        solar_peak_w=kwp * 1000.0,
        solar_latitude_deg=lat,
        solar_longitude_deg=lon,
        solar_profile=profile,
        solar_profile_column=column,
    )


def pv_series(group: NodeGroup, start_s: float, hours: int) -> TimeSeries:
    """Hourly on-site PV power of ``group`` from ``start_s`` (pvlib clear sky, scaled
    by the measured profile when one is given). Units: W."""
    from wattwise.grid.solar import PVSite, load_solar_profile, pv_power

    if group.solar_peak_w <= 0 or group.solar_latitude_deg is None:
        raise ConfigError(f"node group {group.name!r} has no on-site solar")
    site = PVSite(
        latitude_deg=group.solar_latitude_deg,
        longitude_deg=float(group.solar_longitude_deg or 0.0),
        kwp=group.solar_peak_w / 1000.0,
    )
    profile = None
    if group.solar_profile:
        profile = load_solar_profile(group.solar_profile, str(group.solar_profile_column))
    return pv_power(site, start_s, start_s + hours * 3600.0, 3600.0, profile=profile)
