"""The Ray edge: connect, list nodes with their wattwise labels, one meter actor per
node, and the task that runs a batch of job tasks on a chosen node; ``RayBackend`` is
all of it behind the head's ``backend.Backend``. Every Ray call and Ray exception of
the engine is in this module.

Node labels (``ray start --labels``, ``ray.init(labels=...)``): ``wattwise.io/zone``
(grid zone for carbon), ``wattwise.io/node-type`` (what jobs may ask for) and
``wattwise.io/name`` (a readable name). Placement is hard node affinity.
"""

from __future__ import annotations

import contextlib
import os
import resource
import signal
import threading
import time
from collections.abc import Iterator, Sequence
from typing import TYPE_CHECKING, Any

from wattwise.engine import job_procs
from wattwise.engine.backend import (
    BatchHandle,
    BatchOutcome,
    Cancelled,
    Finished,
    MeterReady,
    NodeInfo,
    NodeLost,
    SourcesFactory,
    TaskRaised,
    WorkerDied,
    one_line,
    task_token,
)
from wattwise.engine.node_meter import JobEnergy, NodeMeter, NodeTotals
from wattwise.engine.worker import TaskItem, TaskResult, run_items
from wattwise.errors import EngineError, HardwareUnavailableError

LABEL_ZONE = "wattwise.io/zone"
LABEL_TYPE = "wattwise.io/node-type"
LABEL_NAME = "wattwise.io/name"

__all__ = ["NodeInfo", "RayBackend", "SourcesFactory", "task_token"]


def import_ray() -> Any:
    try:
        import ray
    except ImportError:
        raise HardwareUnavailableError(
            "Ray is not installed", hint="pip install 'wattwise[engine]'"
        ) from None
    return ray


#: Where the embedded Ray instance listens unless told otherwise: this machine only.
LOOPBACK = "127.0.0.1"
#: ``host`` values meaning: every interface (Ray picks the address other nodes use).
ALL_INTERFACES = ("0.0.0.0", "::", "*")


def connect(
    address: str | None,
    num_cpus: int | None = None,
    labels: dict[str, str] | None = None,
    host: str = LOOPBACK,
) -> None:
    """Join the Ray cluster at ``address``, or start an embedded local one.

    The embedded instance listens on ``host``: loopback by default (Ray then binds its
    GCS, raylet, workers and agents to 127.0.0.1; measured with ``ss`` on Ray 2.60),
    another address for other nodes to join it, or ``0.0.0.0`` for all interfaces. Its
    processes carry a token, and a watchdog kills them once this process is gone.
    """
    ray = import_ray()
    if ray.is_initialized():
        return
    kwargs: dict[str, Any] = {"include_dashboard": False, "log_to_driver": False}
    if address is not None:
        _probe(address)
    if address is None:
        kwargs.update(num_cpus=num_cpus, labels=labels or None)
        if host not in ALL_INTERFACES:
            kwargs["_node_ip_address"] = host
        _die_with_this_process()
    try:
        # "local" starts a fresh embedded instance; plain None would silently join any
        # cluster a `ray start` left on this machine (or RAY_ADDRESS points at).
        with _loopback_allowed(address is None and _is_loopback(host)):
            ray.init(address=address or "local", **kwargs)
    except (ConnectionError, RuntimeError, ValueError) as err:
        first = str(err).strip().splitlines()[0] if str(err).strip() else type(err).__name__
        raise EngineError(
            f"cannot connect to the Ray cluster at {address}: {first}",
            hint="start it with `ray start --head`, or leave out --address for a local one",
        ) from None


def _is_loopback(host: str) -> bool:
    import ipaddress

    if host == "localhost":
        return True
    try:
        return ipaddress.ip_address(host).is_loopback
    except ValueError:
        return False


@contextlib.contextmanager
def _loopback_allowed(loopback: bool) -> Iterator[None]:
    """Let Ray keep 127.0.0.1 as the node address while it starts.

    Ray replaces a loopback ``_node_ip_address`` with the machine's outward address
    (``services.resolve_ip_for_localhost``) unless clusters are off, as on macOS
    (``ray_constants.ENABLE_RAY_CLUSTER``); off only for this start, then restored.
    """
    if not loopback:
        yield
        return
    from ray._private import ray_constants

    before = getattr(ray_constants, "ENABLE_RAY_CLUSTER", None)
    if before is None:  # another Ray version: it decides the address itself
        yield
        return
    ray_constants.ENABLE_RAY_CLUSTER = False
    try:
        yield
    finally:
        ray_constants.ENABLE_RAY_CLUSTER = before


def _die_with_this_process() -> None:
    """Tag the embedded Ray's processes (they inherit this environment) and start the
    watchdog that kills them once this process is gone."""
    token = job_procs.new_token()
    os.environ[job_procs.RAY_TOKEN_VAR] = token
    try:
        job_procs.spawn_watchdog(os.getpid(), token)
    except OSError as err:
        raise EngineError(
            f"cannot start the watchdog of the embedded Ray: {err.strerror or err}",
            hint="check that this Python can start processes",
        ) from None


def _probe(address: str, timeout_s: float = 3.0) -> None:
    """Fail in seconds on an address nothing listens on (Ray itself retries for minutes)."""
    import socket

    if "://" in address or address == "auto":
        return
    host, sep, port = address.rpartition(":")
    if not sep or not port.isdigit():
        raise EngineError(
            f"bad Ray address {address!r}", hint="give HOST:PORT of the head, e.g. 10.0.0.5:6379"
        )
    try:
        with socket.create_connection((host, int(port)), timeout=timeout_s):
            pass
    except OSError as err:
        raise EngineError(
            f"cannot connect to the Ray cluster at {address}: {err.strerror or err}",
            hint="start it with `ray start --head`, or leave out --address for a local one",
        ) from None


def list_nodes() -> list[NodeInfo]:
    ray = import_ray()
    out = []
    for n in ray.nodes():
        labels = n.get("Labels") or {}
        res = n.get("Resources") or {}
        node_id = n["NodeID"]
        out.append(
            NodeInfo(
                node_id=node_id,
                name=labels.get(LABEL_NAME) or f"{n.get('NodeManagerAddress', '?')}/{node_id[:8]}",
                alive=bool(n.get("Alive")),
                cpus=float(res.get("CPU", 0.0)),
                gpus=float(res.get("GPU", 0.0)),
                zone=labels.get(LABEL_ZONE),
                node_type=labels.get(LABEL_TYPE),
            )
        )
    return out


class NodeMeterActor:
    """Ray actor (one per node, 0 CPUs) holding that node's :class:`NodeMeter`."""

    def __init__(self, sources: SourcesFactory | None, interval_s: float) -> None:
        from wattwise.engine.power import restore_leftover_limits

        restore_leftover_limits()  # a head killed mid-job may have left a card capped
        self.meter = NodeMeter(None if sources is None else sources(), interval_s=interval_s)

    def register_many(self, jobs: Sequence[tuple[str, int]]) -> None:
        self.meter.register_many(jobs)

    def finish_many(self, jobs: Sequence[tuple[str, float | None]]) -> list[JobEnergy]:
        return self.meter.finish_many(jobs)

    def totals(self) -> NodeTotals:
        return self.meter.totals()

    def kill_tasks(self, tokens: Sequence[str]) -> int:
        """SIGKILL the processes of these tasks on this node (their worker died)."""
        return job_procs.kill_all(tokens)

    def cpu_s(self) -> float:
        """CPU time this meter process has used. Units: s."""
        usage = resource.getrusage(resource.RUSAGE_SELF)
        return usage.ru_utime + usage.ru_stime


class _ActorLink:
    """The worker's view of its node's meter actor (calls arrive in order)."""

    def __init__(self, handle: Any) -> None:
        self.handle = handle

    def register_many(self, jobs: Sequence[tuple[str, int]]) -> None:
        self.handle.register_many.remote(list(jobs))

    def finish_many(self, jobs: Sequence[tuple[str, float | None]]) -> list[JobEnergy]:
        ray = import_ray()
        try:
            result: list[JobEnergy] = ray.get(self.handle.finish_many.remote(list(jobs)))
        except ray.exceptions.RayError:
            return []  # the meter died with its node; the head reports no energy
        return result


def _run_batch(items: list[TaskItem], meter: Any) -> list[TaskResult]:
    ray = import_ray()
    # Ray cancels a running task with SIGINT. A worker whose Ray was started from a
    # background shell inherits SIGINT ignored, and cancel would never arrive.
    if (
        threading.current_thread() is threading.main_thread()
        and signal.getsignal(signal.SIGINT) is signal.SIG_IGN
    ):
        signal.signal(signal.SIGINT, signal.default_int_handler)
    node_id = ray.get_runtime_context().get_node_id()
    return run_items(items, _ActorLink(meter) if meter is not None else None, node_id)


_REMOTE: dict[str, Any] = {}


def meter_actor_class() -> Any:
    if "meter" not in _REMOTE:
        ray = import_ray()
        _REMOTE["meter"] = ray.remote(num_cpus=0, max_restarts=0)(NodeMeterActor)
    return _REMOTE["meter"]


def batch_task() -> Any:
    if "batch" not in _REMOTE:
        ray = import_ray()
        _REMOTE["batch"] = ray.remote(max_retries=0)(_run_batch)
    return _REMOTE["batch"]


def start_meter(node_id: str, sources: SourcesFactory | None, interval_s: float) -> Any:
    import_ray()
    from ray.util.scheduling_strategies import NodeAffinitySchedulingStrategy

    return (
        meter_actor_class()
        .options(scheduling_strategy=NodeAffinitySchedulingStrategy(node_id, soft=False))
        .remote(sources, interval_s)
    )


def kill_tasks(meter: Any, tokens: Sequence[str], timeout_s: float = 10.0) -> int | None:
    """Have the node's meter actor kill the processes of tasks whose worker died, so
    none runs on unmetered beside its rerun. ``None``: no actor, or it did not answer."""
    if meter is None or not tokens:
        return None
    ray = import_ray()
    try:
        return int(ray.get(meter.kill_tasks.remote(list(tokens)), timeout=timeout_s))
    except (ray.exceptions.RayError, TimeoutError):
        return None


def submit_batch(items: list[TaskItem], node_id: str, cpus: float, gpus: float, meter: Any) -> Any:
    """Run ``items`` together on node ``node_id``; returns the ObjectRef of their results."""
    from ray.util.scheduling_strategies import NodeAffinitySchedulingStrategy

    return (
        batch_task()
        .options(
            num_cpus=cpus,
            num_gpus=gpus,
            scheduling_strategy=NodeAffinitySchedulingStrategy(node_id, soft=False),
        )
        .remote(items, meter)
    )


class RayBackend:
    """The head's cluster on Ray: the module's functions above, with Ray's errors turned
    into :mod:`wattwise.engine.backend` outcomes. Ray is imported on first use."""

    def __init__(
        self,
        address: str | None = None,
        num_cpus: int | None = None,
        labels: dict[str, str] | None = None,
        host: str = LOOPBACK,
    ) -> None:
        self.address, self.num_cpus, self.labels, self.host = address, num_cpus, labels, host
        self._meters: dict[str, Any] = {}
        self._starting: dict[Any, str] = {}  # the meter's first call -> node id
        self._next = 0

    def connect(self) -> None:
        connect(self.address, self.num_cpus, self.labels, self.host)

    def list_nodes(self) -> list[NodeInfo]:
        return list_nodes()

    def start_meter(self, node_id: str, sources: SourcesFactory | None, interval_s: float) -> None:
        actor = start_meter(node_id, sources, interval_s)
        self._meters[node_id] = actor
        self._starting[actor.cpu_s.remote()] = node_id

    def meters_ready(self, timeout_s: float) -> list[MeterReady]:
        if not self._starting:
            return []
        ray = import_ray()
        refs = list(self._starting)
        ready, _ = ray.wait(refs, num_returns=1, timeout=timeout_s)
        if ready:  # and any others done by now
            ready, _ = ray.wait(refs, num_returns=len(refs), timeout=0)
        out = []
        for ref in ready:
            node_id = self._starting.pop(ref)
            try:
                ray.get(ref)
            except ray.exceptions.RayError as err:
                self._meters.pop(node_id, None)
                out.append(MeterReady(node_id, one_line(err)))
                continue
            out.append(MeterReady(node_id))
        return out

    def drop_meter(self, node_id: str) -> None:
        self._meters.pop(node_id, None)

    def submit(
        self, items: Sequence[TaskItem], node_id: str, cpus: float, gpus: float
    ) -> BatchHandle:
        ref = submit_batch(list(items), node_id, cpus, gpus, self._meters.get(node_id))
        self._next += 1
        return BatchHandle(self._next, node_id, ref)

    def wait(self, handles: Sequence[BatchHandle], timeout_s: float) -> list[BatchHandle]:
        if not handles:
            time.sleep(timeout_s)
            return []
        ray = import_ray()
        by_ref = {h.native: h for h in handles}
        ready, _ = ray.wait(list(by_ref), num_returns=1, timeout=timeout_s)
        if ready and len(by_ref) > 1:
            ready, _ = ray.wait(list(by_ref), num_returns=len(by_ref), timeout=0)
        return [by_ref[r] for r in ready]

    def outcome(self, handle: BatchHandle) -> BatchOutcome:
        ray = import_ray()
        try:
            results: list[TaskResult] = ray.get(handle.native)
        except ray.exceptions.TaskCancelledError:
            return Cancelled()
        except ray.exceptions.RayError as err:
            why = one_line(err)
            # Ray's node table can lag behind the task error: ask it as well.
            if isinstance(err, ray.exceptions.NodeDiedError) or not self._node_alive(
                handle.node_id
            ):
                return NodeLost(why)
            if isinstance(err, ray.exceptions.RayTaskError):
                return TaskRaised(why)
            return WorkerDied(why)
        return Finished(results)

    def _node_alive(self, node_id: str) -> bool:
        return any(n.node_id == node_id and n.alive for n in list_nodes())

    def cancel(self, handle: BatchHandle) -> None:
        import_ray().cancel(handle.native)

    def kill_tasks(self, node_id: str, tokens: Sequence[str]) -> int | None:
        return kill_tasks(self._meters.get(node_id), tokens)

    def node_totals(self) -> dict[str, NodeTotals]:
        ray = import_ray()
        return {node: ray.get(actor.totals.remote()) for node, actor in self._meters.items()}

    def meter_cpu_s(self) -> float:
        ray = import_ray()
        return float(sum(ray.get([a.cpu_s.remote() for a in self._meters.values()])))

    def close(self) -> None:
        self._meters.clear()
        self._starting.clear()


if TYPE_CHECKING:
    from wattwise.engine.backend import Backend

    _CONFORMS: type[Backend] = RayBackend
