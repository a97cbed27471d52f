"""One stored run per node, opened and closed by hand (training callbacks) or as a block.

A :class:`RunHandle` is what a training callback holds between "training began" and
"training ended": a meter, the run's row in the store (inserted as ``running`` at
once, so a killed job leaves an ``interrupted`` row) and its windows. In a
multi-process job (see :mod:`wattwise.meter.ranks`) exactly one rank per node meters
(``Role.NODE``): its meter follows the launcher's process tree, so the estimate covers
every local rank, and hardware counters cover the node's devices. The other ranks
(``Role.FOLLOWER``) open no meter and no store; they write their pid and CPU time to
the node's rendezvous folder, and the node's run lists each rank's part in
``meta["ranks"]``. A rank that dies before finishing closes the node run as
``interrupted``.
"""

from __future__ import annotations

import os
import sys
import threading
import time
import warnings
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import replace
from enum import StrEnum
from pathlib import Path
from typing import Any

from wattwise.errors import WattwiseError
from wattwise.meter import Measurement, Meter
from wattwise.meter.ranks import MemberStatus, NodeRendezvous, RankLayout, rank_layout
from wattwise.session import MeasuredRegion, carbon_provider, estimate_settings_from_config

#: A running node run saves its energy so far at most this often. Units: s.
CHECKPOINT_EVERY_S = 30.0

_seq_lock = threading.Lock()
_seq: dict[str, int] = {}


class Role(StrEnum):
    SINGLE = "single"  # not a multi-process job: this process is the run
    NODE = "node"  # the elected rank that meters this node for all local ranks
    FOLLOWER = "follower"  # another local rank: measures nothing


def _next_region_key(name: str) -> str:
    # Every rank opens its regions in the same order, so (name, n) names the same
    # region in all of them, and a second region of the same name gets a new folder.
    with _seq_lock:
        n = _seq.get(name, 0)
        _seq[name] = n + 1
    return f"{name}-{n}"


def _own_cpu_s() -> float:
    from wattwise.meter.process_tree import ProcessTree

    return ProcessTree(os.getpid()).usage().cpu_s


def _cuda_device() -> str | None:
    """The GPU this rank computes on (as ``CUDA_VISIBLE_DEVICES`` names it), if torch says."""
    torch = sys.modules.get("torch")
    if torch is None:
        return None
    try:
        if not torch.cuda.is_initialized():
            return None
        ordinal = int(torch.cuda.current_device())
    except Exception:  # torch without CUDA, or a broken driver: no GPU to attribute
        return None
    from wattwise.meter.sources.nvml import visible_gpu_selectors

    visible = visible_gpu_selectors()
    return visible[ordinal] if visible and ordinal < len(visible) else str(ordinal)


class RunHandle:
    """A run being measured. See the module docstring for the roles."""

    def __init__(
        self,
        name: str,
        *,
        kind: str = "region",
        zone: str | None = None,
        carbon_file: str | Path | None = None,
        intensity_g_per_kwh: float | None = None,
        store: bool = True,
        interval_s: float | None = None,
        meta: dict[str, Any] | None = None,
        layout: RankLayout | str | None = "auto",
    ) -> None:
        from wattwise.config import load_config

        self.name = name
        self.kind = kind
        self.provider = carbon_provider(zone, carbon_file, intensity_g_per_kwh)
        self.layout = rank_layout() if layout == "auto" else layout
        assert not isinstance(self.layout, str)
        self.meta: dict[str, Any] = dict(meta or {})
        self.windows: list[Measurement] = []
        self.result: Measurement | None = None
        self.run_id: int | None = None
        self.meter: Meter | None = None
        self._store: Any = None
        self._rendezvous: NodeRendezvous | None = None
        self._cpu_s0 = 0.0
        self._open_windows: list[str] = []
        self._last_checkpoint = time.monotonic()
        self.role = Role.SINGLE
        if self.layout is not None:
            self._rendezvous = NodeRendezvous(self.layout, _next_region_key(name))
            if self._rendezvous.elect():
                self.role = Role.NODE
            else:
                self.role = Role.FOLLOWER
                if self._rendezvous.closed:
                    warnings.warn(
                        f"wattwise: region {name!r} of this node was already closed;"
                        " this rank joined too late and is not counted",
                        stacklevel=2,
                    )
            self._cpu_s0 = _own_cpu_s()
            self._rendezvous.join(_cuda_device())
            self.meta["ranks"] = self.layout.to_meta()
        if self.role is Role.FOLLOWER:
            return  # pays nothing more: no meter, no store
        interval = interval_s or load_config().interval_s
        kwargs: dict[str, Any] = {"estimate": estimate_settings_from_config()}
        if interval:
            kwargs["interval_s"] = interval
        if self.role is Role.NODE:
            # The launcher's tree holds every local rank (torchrun's agent, slurmstepd).
            kwargs["pid"] = os.getppid()
            self.meta["ranks"]["metered_by_rank"] = self.layout.rank if self.layout else 0
        self.meter = Meter(**kwargs)
        if store:
            self._open_store()
        self.meter.begin(name)

    @property
    def measuring(self) -> bool:
        return self.meter is not None

    def _open_store(self) -> None:
        from wattwise.store import RunStore

        try:
            self._store = RunStore()
            self.run_id = self._store.start_run(self.name, kind=self.kind, meta=self.meta)
        except WattwiseError as err:
            # Training goes on; only the record is lost, and the user is told once.
            warnings.warn(f"wattwise: run not stored: {err}", stacklevel=3)
            self._store = None
        except Exception as err:  # an unwritable path surfaces as an SQLAlchemy error
            warnings.warn(
                f"wattwise: run not stored: {type(err).__name__}: {str(err).splitlines()[0]}"
                " (check WATTWISE_HOME is writable)",
                stacklevel=3,
            )
            self._store = None

    def window_key(self, name: str) -> str:
        return f"{self.name}/{name}"

    def begin_window(self, name: str) -> None:
        if self.meter is not None:
            self.meter.begin(self.window_key(name))
            self._open_windows.append(name)

    def end_window(self, name: str) -> Measurement | None:
        if self.meter is None:
            return None
        out = self.meter.end(self.window_key(name))
        self._open_windows.remove(name)
        self.windows.append(out)
        return out

    def so_far(self) -> Measurement | None:
        """What the run has cost until now (the meter's window is left open)."""
        if self.meter is None:
            return None
        m = self.meter.peek(self.name)
        if self._store is not None and self.run_id is not None:
            now = time.monotonic()
            if now - self._last_checkpoint >= CHECKPOINT_EVERY_S:
                self._last_checkpoint = now
                try:
                    self._store.checkpoint(self.run_id, m.energy_j, m.duration_s)
                except WattwiseError as err:
                    warnings.warn(f"wattwise: checkpoint not stored: {err}", stacklevel=2)
        return m

    def close(
        self, status: str = "completed", meta: dict[str, Any] | None = None
    ) -> Measurement | None:
        """End the run, add carbon, store it. Returns ``None`` on a follower rank."""
        if self._rendezvous is not None and self.role is Role.FOLLOWER:
            self._rendezvous.leave(_own_cpu_s() - self._cpu_s0, _cuda_device())
            return None
        assert self.meter is not None
        if self._rendezvous is not None:
            self._rendezvous.leave(_own_cpu_s() - self._cpu_s0, _cuda_device())
        for name in list(self._open_windows):
            self.end_window(name)  # windows left open end with the run
        members = self._rendezvous.gather() if self._rendezvous is not None else []
        raw = self.meter.end(self.name)
        self.meter.close()
        all_meta = {**self.meta, **(meta or {})}
        if members:
            all_meta["ranks"] = {**all_meta["ranks"], "members": [m.to_meta() for m in members]}
            lost = [m for m in members if m.status is not MemberStatus.FINISHED]
            if any(m.status is MemberStatus.DIED for m in lost):
                status = "interrupted"
            if lost:
                warnings.warn(
                    "wattwise: node run closed without "
                    + ", ".join(f"local rank {m.local_rank} ({m.status.value})" for m in lost),
                    stacklevel=2,
                )
        if self._rendezvous is not None:
            self._rendezvous.close()
        result = _with_carbon(raw, self.provider)
        result = replace(result, meta={**result.meta, **all_meta})
        if self._store is not None and self.run_id is not None:
            try:
                self._store.finish_run(
                    self.run_id, result, status=status, windows=self.windows, meta=all_meta
                )
                result = replace(result, meta={**result.meta, "run_id": self.run_id})
            except WattwiseError as err:
                warnings.warn(f"wattwise: measurement not stored: {err}", stacklevel=2)
        self.result = result
        return result


def _with_carbon(raw: Measurement, provider: Any) -> Measurement:
    from wattwise.carbon import with_carbon

    try:
        return with_carbon(raw, provider)
    except WattwiseError as err:
        warnings.warn(f"wattwise: no carbon figure: {err}", stacklevel=3)
        return raw


class NodeRegion(MeasuredRegion):
    """What ``wattwise.measure()`` yields in a multi-process job.

    On the rank that meters the node ``result`` is the node's measurement when the
    block exits; on the other ranks it stays ``None`` (they measure nothing).
    """

    def __init__(self, handle: RunHandle) -> None:
        super().__init__(handle.name, handle.meter)  # type: ignore[arg-type]
        self.handle = handle
        self.role = handle.role

    @contextmanager
    def window(self, name: str) -> Iterator[None]:
        self.handle.begin_window(name)
        try:
            yield
        finally:
            out = self.handle.end_window(name)
            if out is not None:
                self.windows.append(out)


@contextmanager
def measure_node(
    name: str,
    layout: RankLayout,
    *,
    zone: str | None = None,
    carbon_file: str | Path | None = None,
    intensity_g_per_kwh: float | None = None,
    store: bool = True,
    interval_s: float | None = None,
) -> Iterator[NodeRegion]:
    """``wattwise.measure()`` under a multi-process launcher: one run per node."""
    handle = RunHandle(
        name,
        zone=zone,
        carbon_file=carbon_file,
        intensity_g_per_kwh=intensity_g_per_kwh,
        store=store,
        interval_s=interval_s,
        layout=layout,
    )
    region = NodeRegion(handle)
    try:
        yield region
    finally:
        region.result = handle.close()
        region.run_id = handle.run_id if region.result is not None else None
