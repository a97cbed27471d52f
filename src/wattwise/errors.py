"""The wattwise exception tree.

Every error a user can cause (bad file, missing permission, absent hardware, dead
node) is a :class:`WattwiseError` whose ``str()`` is one line that says what went
wrong and what to do. The CLI prints that line and exits with status 2; it never
shows a traceback for these.
"""

from __future__ import annotations

from pathlib import Path


class WattwiseError(Exception):
    """Base class: a problem the user can fix. ``str(err)`` is one line."""

    def __init__(self, message: str, hint: str | None = None) -> None:
        self.message = message
        self.hint = hint
        super().__init__(message)

    def __str__(self) -> str:
        return f"{self.message} ({self.hint})" if self.hint else self.message


class ConfigError(WattwiseError):
    """A configuration value or file is invalid."""


class DataFormatError(WattwiseError):
    """An input file is malformed. Names the file and, where known, the line."""

    def __init__(
        self, path: str | Path, message: str, line: int | None = None, hint: str | None = None
    ) -> None:
        self.path = str(path)
        self.line = line
        where = f"{self.path}:{line}" if line is not None else self.path
        super().__init__(f"{where}: {message}", hint)


class HardwareUnavailableError(WattwiseError):
    """A device or counter is absent (no GPU, no RAPL, library missing)."""


class DevicePermissionError(WattwiseError):
    """A counter exists but cannot be read (or a knob cannot be set) without privilege."""


class DeviceError(WattwiseError):
    """A device library reported an error while reading or actuating."""


class ProviderError(WattwiseError):
    """A grid-signal provider failed (bad token, unknown zone, outage)."""


class CoverageError(WattwiseError):
    """Data does not cover the period asked for (e.g. a carbon trace too short)."""


class ScheduleError(WattwiseError):
    """A job or cluster cannot be scheduled as specified."""


class OptimizeError(WattwiseError):
    """An optimisation run could not proceed (bad model factory, failing evaluation)."""


class EngineError(WattwiseError):
    """The execution engine (Ray) could not run or track a job."""


class StoreError(WattwiseError):
    """The store could not be opened or written."""
