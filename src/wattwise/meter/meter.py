"""The Meter: named, nestable, overlapping measurement windows over energy sources.

A window is two snapshots of every source's cumulative energy (at ``begin`` and
``end``) plus the samples a background thread takes in between, which give the power
timeline and keep counters that wrap (RAPL) or only report power (some GPUs) exact.
"""

from __future__ import annotations

import threading
import time
from collections.abc import Iterator, Sequence
from contextlib import contextmanager
from dataclasses import dataclass

from wattwise.errors import WattwiseError
from wattwise.meter.sources.base import EnergySource
from wattwise.meter.sources.estimate import EstimateSettings
from wattwise.meter.types import Device, Measurement, PowerSample

#: Default time between background samples. Units: s. bench/meter.py measures its overhead.
DEFAULT_INTERVAL_S = 0.5


class WindowError(WattwiseError):
    """A window was begun twice or ended without being begun."""


@dataclass(frozen=True)
class _Snapshot:
    t_s: float  # wall clock, UTC epoch seconds
    mono_s: float  # monotonic clock, for durations
    energy_j: dict[str, float]


@dataclass(frozen=True)
class _Window:
    start: _Snapshot
    first: int  # absolute index in the meter's timeline of this window's first interval


class Meter:
    """Measures the energy of named windows. Thread-safe.

    ``Meter()`` detects the sources this machine has (see ``detect_sources``); pass
    ``sources`` to choose them. ``interval_s`` is the background sampling interval;
    it is shortened automatically to stay below the fastest counter wrap.
    """

    def __init__(
        self,
        sources: Sequence[EnergySource] | None = None,
        *,
        interval_s: float = DEFAULT_INTERVAL_S,
        pid: int | None = None,
        children_only: bool = False,
        estimate: EstimateSettings | None = None,
        sample: bool = True,
    ) -> None:
        if interval_s <= 0:
            raise WattwiseError(f"sampling interval must be positive, got {interval_s} s")
        self.warnings: list[str] = []
        self.missing: dict[str, str] = {}
        if sources is None:
            from wattwise.meter.detect import detect_sources

            found = detect_sources(pid=pid, children_only=children_only, estimate=estimate)
            sources = found.sources
            self.warnings, self.missing = found.warnings, found.missing
        self.sources = list(sources)
        limits = [s.max_poll_interval_s() for s in self.sources]
        self.interval_s = min([interval_s, *(x for x in limits if x is not None)])
        self._devices = [d for s in self.sources for d in s.devices()]
        self._lock = threading.Lock()
        self._counted = [d.name for d in self._devices if d.in_total]
        self._open: dict[str, _Window] = {}
        # Every snapshot taken while a window is open becomes one interval of the shared
        # timeline as it is taken (its power since the previous snapshot), so a window's
        # timeline is a slice of it and neither peek nor end rebuilds it.
        self._last: _Snapshot | None = None
        self._timeline: list[PowerSample] = []
        self._pruned = 0  # intervals dropped from the front of _timeline
        self._sampling = sample
        self._stop = threading.Event()
        self._thread: threading.Thread | None = None

    # -- reading -----------------------------------------------------------------

    @property
    def devices(self) -> list[Device]:
        return list(self._devices)

    def _snapshot(self) -> _Snapshot:
        energy: dict[str, float] = {}
        for source in self.sources:
            energy.update(source.read_j())
        return _Snapshot(time.time(), time.monotonic(), energy)

    def _take(self) -> _Snapshot:
        """Read every source and add the interval since the last reading. Call with the lock."""
        snap = self._snapshot()
        prev = self._last
        if prev is not None:
            dt = snap.mono_s - prev.mono_s
            if dt > 0:
                e = sum(snap.energy_j[n] - prev.energy_j[n] for n in self._counted)
                self._timeline.append(PowerSample(t_s=snap.t_s, power_w=e / dt, energy_j=e))
        self._last = snap
        return snap

    def _position(self) -> int:
        return self._pruned + len(self._timeline)

    def _slice(self, window: _Window) -> tuple[PowerSample, ...]:
        return tuple(self._timeline[window.first - self._pruned :])

    def _sample_loop(self) -> None:
        while not self._stop.wait(self.interval_s):
            with self._lock:
                if not self._open:
                    continue
                try:
                    self._take()
                except (WattwiseError, OSError, ValueError) as err:
                    # Keep sampling: end() reads afresh and raises if the fault persists.
                    message = f"sampling failed: {err}"
                    if message not in self.warnings:
                        self.warnings.append(message)

    def _ensure_sampler(self) -> None:
        if self._sampling and self._thread is None:
            self._thread = threading.Thread(
                target=self._sample_loop, name="wattwise-meter", daemon=True
            )
            self._thread.start()

    # -- windows -----------------------------------------------------------------

    def begin(self, name: str) -> None:
        """Open window ``name``. Windows may nest and overlap; names must be unique while open."""
        with self._lock:
            if name in self._open:
                raise WindowError(f"window {name!r} is already open")
            snap = self._take()
            self._open[name] = _Window(snap, self._position())
        self._ensure_sampler()

    def end(self, name: str) -> Measurement:
        """Close window ``name`` and return what it cost."""
        with self._lock:
            window = self._open.pop(name, None)
            if window is None:
                raise WindowError(f"window {name!r} was not begun")
            stop = self._take()
            timeline = self._slice(window)
            self._prune()
        return self._measurement(name, window.start, stop, timeline)

    def peek(self, name: str) -> Measurement:
        """What open window ``name`` has cost so far, without closing it.

        Costs one reading of the sources and a copy of the window's timeline: the
        intervals are computed once, as they are sampled (bench/integrations.py).
        """
        with self._lock:
            window = self._open.get(name)
            if window is None:
                raise WindowError(f"window {name!r} was not begun")
            now = self._take()
            timeline = self._slice(window)
        return self._measurement(name, window.start, now, timeline)

    def is_open(self, name: str) -> bool:
        with self._lock:
            return name in self._open

    @contextmanager
    def window(self, name: str) -> Iterator[list[Measurement]]:
        """``with meter.window("step") as out: ...`` then ``out[0]`` is the Measurement."""
        out: list[Measurement] = []
        self.begin(name)
        try:
            yield out
        finally:
            out.append(self.end(name))

    def _prune(self) -> None:
        # Keep only the intervals some open window still needs.
        if not self._open:
            self._pruned = self._position()
            self._timeline.clear()
            self._last = None
            return
        oldest = min(w.first for w in self._open.values())
        if oldest > self._pruned:
            del self._timeline[: oldest - self._pruned]
            self._pruned = oldest

    def _measurement(
        self,
        name: str,
        start: _Snapshot,
        stop: _Snapshot,
        timeline: tuple[PowerSample, ...],
    ) -> Measurement:
        devices = tuple(
            d.used(max(0.0, stop.energy_j[d.name] - start.energy_j[d.name])) for d in self._devices
        )
        duration = stop.mono_s - start.mono_s
        return Measurement(
            name=name,
            start_s=start.t_s,
            end_s=start.t_s + duration,
            devices=devices,
            timeline=timeline,
        )

    def close(self) -> None:
        """Stop the sampler and release the sources."""
        self._stop.set()
        if self._thread is not None:
            self._thread.join(timeout=5)
        for source in self.sources:
            source.close()

    def __enter__(self) -> Meter:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()
