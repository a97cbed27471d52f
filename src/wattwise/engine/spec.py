"""What a user submits: a job spec, validated with one-line messages.

A job is a command (``command: [python, train.py]``) or a Python entry point
(``entry: pkg.module:function`` with ``args``), with resources, a deadline or slack,
an interruptible flag, an optional checkpoint folder, and optionally ``shards``: a
data-parallel batch whose command runs once per shard (``{shard}`` in the command
and ``$WATTWISE_SHARD`` name it).

Durations are ``90s``, ``30m``, ``6h``, ``1d``, ``1h30m`` or plain seconds. A
deadline is a duration from submission or an ISO-8601 instant. Units: s, epoch s.
"""

from __future__ import annotations

import json
import math
import re
import shlex
from dataclasses import asdict, dataclass, field
from datetime import UTC, datetime
from functools import partial
from pathlib import Path
from typing import Any

from wattwise.errors import ConfigError, DataFormatError
from wattwise.units import latest_start_s
from wattwise.units import parse_duration_s as units_parse_duration_s

_ENTRY = re.compile(r"^[A-Za-z_][\w.]*:[A-Za-z_]\w*$")

#: Keys a job file may hold.
SPEC_KEYS = (
    "name",
    "command",
    "entry",
    "args",
    "cpus",
    "gpus",
    "runtime",
    "deadline",
    "slack",
    "interruptible",
    "checkpoint_dir",
    "shards",
    "node_type",
    "zone",
    "env",
    "cwd",
    "max_attempts",
    "grace",
    "priority",
    "power",
)

#: ``power:`` values. ``carbon``: the node sets the job's GPU power limit by the grid's
#: intensity (``wattwise.engine.power``); ``default``: the card is left as it is.
POWER_POLICIES = ("default", "carbon")


class SpecError(ConfigError):
    """A job spec is invalid; the message names the field."""


#: Ray keeps resource amounts as whole multiples of 1/10000 (its fixed-point
#: ``ResourceSet``); a finer amount makes it raise when the task is submitted.
RESOURCE_STEP = 0.0001
#: Ray's fixed point is a signed 64-bit count of steps: the most any amount can be.
RESOURCE_MAX = (2**63 - 1) * RESOURCE_STEP


@dataclass(frozen=True)
class NodeSizes:
    """The most CPUs and GPUs any one live node has (what a job may ask for at most)."""

    cpus: float
    gpus: float


def check_resources(cpus: float, gpus: float, largest: NodeSizes | None = None) -> None:
    """Refuse amounts Ray cannot place: not finite, cpus <= 0, gpus < 0, finer than
    :data:`RESOURCE_STEP`, or more than ``largest`` (when the nodes are known).
    Raises :class:`SpecError` naming the field and the range allowed. Units: cores, GPUs.
    """
    for key, value, low in (("cpus", cpus, RESOURCE_STEP), ("gpus", gpus, 0.0)):
        most = RESOURCE_MAX
        where = ""
        if largest is not None:
            most = getattr(largest, key)
            where = " (the largest live node)"
        steps = value / RESOURCE_STEP if math.isfinite(value) else math.nan
        fine = math.isfinite(steps) and abs(steps - round(steps)) <= 1e-6 * max(1.0, abs(steps))
        if not (math.isfinite(value) and low <= value <= most and fine):
            raise SpecError(
                f"{key}: must be a multiple of {RESOURCE_STEP:g} from {low:g} to {most:g}"
                f"{where}, got {value:g}"
            )


#: The one duration parser (:func:`wattwise.units.parse_duration_s`), raising SpecError.
parse_duration_s = partial(units_parse_duration_s, error=SpecError)


def parse_deadline_s(value: object, submitted_s: float) -> float:
    """A duration from ``submitted_s`` or an ISO-8601 instant. Units: epoch s."""
    if isinstance(value, datetime):
        instant = value if value.tzinfo else value.replace(tzinfo=UTC)
        return instant.timestamp()
    if isinstance(value, str) and re.match(r"^\d{4}-\d{2}-\d{2}", value.strip()):
        try:
            instant = datetime.fromisoformat(value.strip().replace("Z", "+00:00"))
        except ValueError:
            raise SpecError(f"deadline: {value!r} is not an ISO-8601 instant") from None
        if instant.tzinfo is None:
            instant = instant.replace(tzinfo=UTC)
        return instant.timestamp()
    return submitted_s + parse_duration_s(value, "deadline")


@dataclass(frozen=True)
class JobSpec:
    """A validated job. Units: ``cpus`` cores, ``runtime_s``/``grace_s`` s, ``deadline_s``
    epoch s (``None``: as soon as possible)."""

    name: str
    command: tuple[str, ...] = ()
    entry: str | None = None
    args: tuple[Any, ...] = ()
    cpus: float = 1.0
    gpus: int = 0
    runtime_s: float | None = None
    deadline_s: float | None = None
    interruptible: bool = False
    checkpoint_dir: str | None = None
    shards: tuple[str, ...] = ()
    node_type: str | None = None
    zone: str | None = None
    env: dict[str, str] = field(default_factory=dict)
    cwd: str | None = None
    max_attempts: int = 3
    grace_s: float = 10.0
    priority: int = 0
    #: One of :data:`POWER_POLICIES`; ``power_eta`` weighs carbon (1) against time (0).
    power: str = "default"
    power_eta: float = 0.5

    @property
    def n_tasks(self) -> int:
        """How many tasks the job runs: one per shard, or one."""
        return max(1, len(self.shards))

    def latest_start_s(self, submitted_s: float) -> float:
        """Latest start that still meets the deadline if the job runs ``runtime_s``.

        Without a deadline the job should start at once (``submitted_s``). Units: epoch s.
        """
        return latest_start_s(submitted_s, self.deadline_s, self.runtime_s or 0.0)

    def argv(self, shard: str | None = None) -> list[str]:
        """The command line one task runs (``{shard}`` filled in)."""
        if self.entry is not None:
            import sys

            module, func = self.entry.split(":")
            code = (
                "import importlib, json, sys; "
                f"f = getattr(importlib.import_module({module!r}), {func!r}); "
                "r = f(*json.loads(sys.argv[1])); "
                "sys.exit(r if isinstance(r, int) and not isinstance(r, bool) else 0)"
            )
            args = [shard if a == "{shard}" else a for a in self.args]
            return [sys.executable, "-c", code, json.dumps(args)]
        if shard is None:
            return list(self.command)
        return [part.replace("{shard}", shard) for part in self.command]

    def to_dict(self) -> dict[str, Any]:
        data = asdict(self)
        data["command"] = list(self.command)
        data["args"] = list(self.args)
        data["shards"] = list(self.shards)
        return data

    @classmethod
    def from_dict(cls, data: dict[str, Any]) -> JobSpec:
        """Rebuild a spec stored by :meth:`to_dict`. Its resources are checked again: an
        older version may have stored amounts Ray cannot place (:class:`SpecError`)."""
        spec = cls(
            **{
                **data,
                "command": tuple(data.get("command", ())),
                "args": tuple(data.get("args", ())),
                "shards": tuple(data.get("shards", ())),
            }
        )
        check_resources(spec.cpus, spec.gpus)
        return spec


def _positive_number(data: dict[str, Any], key: str, default: float) -> float:
    value = data.get(key, default)
    if isinstance(value, bool) or not isinstance(value, int | float):
        raise SpecError(f"{key}: expected a number, got {value!r}")
    if not math.isfinite(value) or value <= 0:
        raise SpecError(f"{key}: must be > 0, got {value!r}")
    return float(value)


def _int(data: dict[str, Any], key: str, default: int, minimum: int) -> int:
    value = data.get(key, default)
    if isinstance(value, bool) or not isinstance(value, int):
        raise SpecError(f"{key}: expected a whole number, got {value!r}")
    if value < minimum:
        raise SpecError(f"{key}: must be >= {minimum}, got {value}")
    return value


def _optional_str(data: dict[str, Any], key: str) -> str | None:
    value = data.get(key)
    if value is None:
        return None
    if not isinstance(value, str) or not value.strip():
        raise SpecError(f"{key}: expected a non-empty string, got {value!r}")
    return value.strip()


def parse_spec(data: object, submitted_s: float, largest: NodeSizes | None = None) -> JobSpec:
    """Validate a job given as a mapping (a parsed YAML file or an API body).

    Relative deadlines count from ``submitted_s`` (epoch s); ``largest``, when the
    nodes are known, bounds cpus and gpus. Raises :class:`SpecError` with a one-line
    message naming the bad field.
    """
    if not isinstance(data, dict):
        raise SpecError(f"a job spec must be a mapping of fields, got {type(data).__name__}")
    unknown = sorted(str(k) for k in data if k not in SPEC_KEYS)
    if unknown:
        raise SpecError(f"unknown field {unknown[0]!r}; known fields: {', '.join(SPEC_KEYS)}")
    command_raw = data.get("command")
    entry = _optional_str(data, "entry")
    if (command_raw is None) == (entry is None):
        raise SpecError("give exactly one of `command` (a program) or `entry` (module:function)")
    command: tuple[str, ...] = ()
    if command_raw is not None:
        if isinstance(command_raw, str):
            try:
                command = tuple(shlex.split(command_raw))
            except ValueError as err:
                raise SpecError(f"command: cannot split {command_raw!r}: {err}") from None
        elif isinstance(command_raw, list) and all(
            isinstance(x, str | int | float) and not isinstance(x, bool) for x in command_raw
        ):
            command = tuple(str(x) for x in command_raw)
        else:
            raise SpecError(f"command: expected a string or a list of strings, got {command_raw!r}")
        if not command or not command[0]:
            raise SpecError("command: is empty")
    if entry is not None and not _ENTRY.match(entry):
        raise SpecError(f"entry: {entry!r} is not of the form package.module:function")
    args = data.get("args", [])
    if not isinstance(args, list):
        raise SpecError(f"args: expected a list, got {args!r}")
    if args and entry is None:
        raise SpecError("args: only an `entry` job takes args; put them in `command`")
    shards_raw = data.get("shards", [])
    if not isinstance(shards_raw, list) or not all(
        isinstance(s, str | int) and not isinstance(s, bool) for s in shards_raw
    ):
        raise SpecError(f"shards: expected a list of strings, got {shards_raw!r}")
    if "shards" in data and not shards_raw:
        raise SpecError("shards: is empty; leave it out for a single task")
    try:
        json.dumps(args)
    except (TypeError, ValueError):
        raise SpecError(
            f"args: must be plain JSON values (strings, numbers, lists), got {args!r}"
        ) from None
    env = data.get("env", {})
    if not isinstance(env, dict) or not all(isinstance(k, str) for k in env):
        raise SpecError(f"env: expected a mapping of names to values, got {env!r}")
    interruptible = data.get("interruptible", False)
    if not isinstance(interruptible, bool):
        raise SpecError(f"interruptible: expected true or false, got {interruptible!r}")
    runtime_s = None
    if data.get("runtime") is not None:
        runtime_s = parse_duration_s(data["runtime"], "runtime")
        if runtime_s <= 0:
            raise SpecError(f"runtime: must be > 0, got {data['runtime']!r}")
    if data.get("deadline") is not None and data.get("slack") is not None:
        raise SpecError("give either `deadline` or `slack`, not both")
    deadline_s = None
    if data.get("deadline") is not None:
        deadline_s = parse_deadline_s(data["deadline"], submitted_s)
        if deadline_s <= submitted_s:
            raise SpecError(f"deadline: {data['deadline']!r} is already past")
        if runtime_s is not None and deadline_s - submitted_s < runtime_s:
            raise SpecError(
                f"deadline: {data['deadline']!r} leaves less time than the runtime "
                f"({runtime_s:g} s); the job cannot finish in time"
            )
    if data.get("slack") is not None:
        slack_s = parse_duration_s(data["slack"], "slack")
        deadline_s = submitted_s + (runtime_s or 0.0) + slack_s
    name = _optional_str(data, "name")
    if name is None:
        name = Path(command[0]).name if command else str(entry).split(":")[-1]
    cpus = _positive_number(data, "cpus", 1.0)
    gpus = _int(data, "gpus", 0, 0)
    check_resources(cpus, gpus, largest)
    power, power_eta = _power(data.get("power"), gpus)
    return JobSpec(
        name=name[:200],
        command=command,
        entry=entry,
        args=tuple(args),
        cpus=cpus,
        gpus=gpus,
        runtime_s=runtime_s,
        deadline_s=deadline_s,
        interruptible=interruptible,
        checkpoint_dir=_optional_str(data, "checkpoint_dir"),
        shards=tuple(str(s) for s in shards_raw),
        node_type=_optional_str(data, "node_type"),
        zone=_optional_str(data, "zone"),
        env={k: str(v) for k, v in env.items()},
        cwd=_optional_str(data, "cwd"),
        max_attempts=_int(data, "max_attempts", 3, 1),
        grace_s=parse_duration_s(data.get("grace", 10.0), "grace"),
        priority=_int(data, "priority", 0, -1_000_000),
        power=power,
        power_eta=power_eta,
    )


def _power(raw: object, gpus: int) -> tuple[str, float]:
    """``power: carbon`` or ``power: {policy: carbon, eta: 0.7}``; absent: default."""
    eta = 0.5
    if raw is None:
        return "default", eta
    if isinstance(raw, dict):
        unknown = sorted(set(raw) - {"policy", "eta"})
        if unknown:
            raise SpecError(
                f"power: unknown key(s) {', '.join(map(str, unknown))}; use policy, eta"
            )
        policy = raw.get("policy", "carbon")
        eta_raw = raw.get("eta", eta)
        if isinstance(eta_raw, bool) or not isinstance(eta_raw, int | float):
            raise SpecError(f"power.eta: expected a number in [0, 1], got {eta_raw!r}")
        eta = float(eta_raw)
        if not 0.0 <= eta <= 1.0:  # NaN fails this too
            raise SpecError(f"power.eta: must be within [0, 1], got {eta_raw!r}")
    else:
        policy = raw
    if policy not in POWER_POLICIES:
        raise SpecError(f"power: expected one of {', '.join(POWER_POLICIES)}, got {policy!r}")
    if policy == "carbon" and gpus == 0:
        raise SpecError("power: carbon sets GPU power limits, but the job asks for no GPUs")
    return str(policy), eta


def load_spec_file(path: str | Path, submitted_s: float) -> JobSpec:
    """Read and validate a YAML (or JSON) job file."""
    data = load_spec_data(path)
    try:
        return parse_spec(data, submitted_s)
    except SpecError as err:
        raise DataFormatError(path, err.message) from None


def load_spec_data(path: str | Path) -> dict[str, Any]:
    """Read a YAML (or JSON) job file as a mapping, not yet validated."""
    import yaml

    p = Path(path)
    try:
        raw = p.read_bytes()
    except FileNotFoundError:
        raise DataFormatError(p, "no such job file") from None
    except OSError as err:
        raise DataFormatError(p, f"cannot read ({err.strerror})") from None
    try:
        text = raw.decode("utf-8")
    except UnicodeDecodeError as err:
        at_line = raw[: err.start].count(b"\n") + 1
        raise DataFormatError(
            p, f"not UTF-8 text (byte {err.start})", line=at_line, hint="save the job file as UTF-8"
        ) from None
    try:
        data = yaml.safe_load(text)
    except yaml.YAMLError as err:
        mark = getattr(err, "problem_mark", None)
        line = mark.line + 1 if mark is not None else None
        problem = getattr(err, "problem", None) or "not valid YAML"
        raise DataFormatError(p, f"not valid YAML ({problem})", line=line) from None
    if not isinstance(data, dict):
        raise DataFormatError(p, "a job file must be a mapping of fields (name: ..., command: ...)")
    return data
