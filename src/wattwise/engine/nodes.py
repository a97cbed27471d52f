"""Which nodes the head may use, and how much room each has free.

:class:`NodeRegistry` keeps the backend's live nodes less those the head saw die (a
cluster's node table can lag behind a task's error), each node's meter from start to
ready (a node takes jobs only once its meter runs, so no job goes unmetered), and the
store's node table (``engine_nodes``). :meth:`NodeRegistry.sync` says which nodes
joined and which left (:class:`NodeChange`); the caller requeues the tasks lost with a
node. :meth:`NodeRegistry.node_views` gives the nodes that take jobs with what is free
on each, given what the tasks in flight hold (:class:`NodeUse`). Units: cores, GPUs,
s (UTC epoch s).
"""

from __future__ import annotations

import logging
import time
from collections.abc import Mapping
from dataclasses import dataclass

from wattwise.engine.backend import Backend, NodeInfo, SourcesFactory
from wattwise.engine.scheduler import NodeView
from wattwise.store.jobs import JobStore, NodeRecord

log = logging.getLogger("wattwise.engine")


@dataclass(frozen=True)
class NodeUse:
    """What tasks in flight hold on one node. Units: cores, GPUs."""

    cpus: float = 0.0
    gpus: float = 0.0


@dataclass(frozen=True)
class NodeChange:
    """What one node refresh found: node ids that joined and that left."""

    joined: tuple[str, ...]
    gone: tuple[str, ...]


class NodeRegistry:
    """The live nodes of ``backend``, their meters, and their rows in ``store``.

    ``meter``: start a meter on each node that joins (``meter_sources`` builds its
    energy sources there, sampled every ``meter_interval_s``) and give a node jobs only
    once it runs; ``refresh_s``: how often :meth:`due` asks for a new node list.
    """

    def __init__(
        self,
        backend: Backend,
        store: JobStore,
        *,
        meter: bool = True,
        meter_sources: SourcesFactory | None = None,
        meter_interval_s: float = 0.5,
        refresh_s: float = 1.0,
    ) -> None:
        self.backend = backend
        self.store = store
        self.meter = meter
        self.meter_sources = meter_sources
        self.meter_interval_s = meter_interval_s
        self.refresh_s = refresh_s
        self.live: dict[str, NodeInfo] = {}
        self.dead: set[str] = set()  # nodes whose tasks died with them
        self.meter_starting: set[str] = set()  # nodes whose meter is starting
        self.meter_ready: set[str] = set()
        self.last_sync_s = 0.0

    def __contains__(self, node_id: object) -> bool:
        return node_id in self.live

    def get(self, node_id: str) -> NodeInfo | None:
        """A live node by id (``None`` once it left)."""
        return self.live.get(node_id)

    @property
    def starting(self) -> bool:
        """Some node's meter is still starting."""
        return bool(self.meter_starting)

    def due(self, now_s: float) -> bool:
        """Time to read the node list again."""
        return now_s - self.last_sync_s >= self.refresh_s

    def mark_dead(self, node_id: str) -> None:
        """A task died with ``node_id``: never use it again, whatever the cluster says."""
        self.dead.add(node_id)

    def sync(self, force: bool = False) -> NodeChange | None:
        """Read the live nodes; ``None`` when the set is unchanged (and not ``force``).

        A node that left loses its meter; one that joined gets one started. Every live
        node (and each that left, as not alive) is written to the store.
        """
        self.last_sync_s = time.time()
        nodes = {
            n.node_id: n
            for n in self.backend.list_nodes()
            if n.alive and n.node_id not in self.dead
        }
        if not force and nodes.keys() == self.live.keys():
            return None
        gone = tuple(self.live.keys() - nodes.keys())
        joined = tuple(nodes.keys() - self.live.keys())
        self.live = nodes
        for node_id in gone:
            self.backend.drop_meter(node_id)
            self.meter_starting.discard(node_id)
            self.meter_ready.discard(node_id)
        if self.meter:
            for node_id in joined:
                self.backend.start_meter(node_id, self.meter_sources, self.meter_interval_s)
                # A node takes jobs once its meter runs, so no job goes unmetered.
                self.meter_starting.add(node_id)
        now = time.time()
        self.store.upsert_nodes(
            [
                NodeRecord(n.node_id, n.name, n.node_type, n.zone, n.cpus, n.gpus, True, now)
                for n in nodes.values()
            ]
            + [NodeRecord(i, i[:12], None, None, 0.0, 0.0, False, now) for i in gone]
        )
        if gone or joined:
            log.info("nodes: %d live (+%d, -%d)", len(nodes), len(joined), len(gone))
        return NodeChange(joined, gone)

    def check_meters(self, timeout_s: float = 0.0) -> bool:
        """Take the meters that finished starting; whether any did (the plan may grow)."""
        any_ready = False
        for ready in self.backend.meters_ready(timeout_s):
            if ready.node_id not in self.meter_starting:
                continue  # the node left meanwhile
            self.meter_starting.discard(ready.node_id)
            if ready.error is not None:
                # Run jobs there anyway; their tasks will say they have no energy figure.
                log.warning("meter on node %s failed to start: %s", ready.node_id[:12],
                            ready.error)  # fmt: skip
            self.meter_ready.add(ready.node_id)
            any_ready = True
        return any_ready

    def wait_for_meters(self, timeout_s: float = 120.0) -> bool:
        """Block until every node's meter runs (or ``timeout_s`` passes); whether any
        became ready."""
        deadline = time.monotonic() + timeout_s
        any_ready = False
        while self.meter_starting and time.monotonic() < deadline:
            any_ready |= self.check_meters(timeout_s=0.5)
        return any_ready

    def node_views(self, used: Mapping[str, NodeUse]) -> list[NodeView]:
        """The nodes that take jobs (meter running, unless metering is off) and what is
        free on each once ``used`` (by node id) is taken."""
        idle = NodeUse()
        return [
            NodeView(
                node_id=n.node_id,
                name=n.name,
                cpus=n.cpus,
                gpus=n.gpus,
                free_cpus=n.cpus - used.get(n.node_id, idle).cpus,
                free_gpus=n.gpus - used.get(n.node_id, idle).gpus,
                node_type=n.node_type,
                zone=n.zone,
            )
            for n in self.live.values()
            if not self.meter or n.node_id in self.meter_ready
        ]
