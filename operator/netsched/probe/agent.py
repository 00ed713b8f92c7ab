"""``netsched probe-agent``: measure from one node, and write down what was measured.

One agent runs on every node that should be measured (a DaemonSet with host networking,
so its iperf3 server listens on the node's own address). Every agent keeps an iperf3
server up and, every round, computes the cluster's whole probe schedule
(:func:`netsched.domain.probe_schedule.plan_round`) from the same inputs as every other
agent: the nodes its ``--node-selector`` picks (Ready, with the NetworkTopology's tier
labels) and the round's number. It runs the probes it is the source of, each at its
wave's time, and writes each result as the LinkMeasurement
``<source>.<level>.<round mod K>``:

- **K = 3 per source and level**, so at most 3 per pair: a round's sample replaces the
  one of three rounds before. Peers rotate every round, so the three are usually three
  different paths, and the estimate can tell a slow link from a slow peer (a link's
  culprit is judged by the best recent sample through it); one sample would leave
  that to chance in a small cluster, and keeping every pair's history would grow with
  the peers a node rotates through. The objects stay bounded at ``K x nodes x levels``
  (9000 for 1000 nodes under three tiers). Each is owned by its source Node, so the
  garbage collector removes a node's measurements with the node; the agent deletes
  its own objects for levels the topology no longer has, slots beyond K, and peers
  that are gone.
- **Never through busy nodes.** Before each probe the agent lists the netsched gang pods
  (bound, or pinned and not yet bound) and skips the probe if one holds GPUs on either
  end (``--probe-busy`` turns that off).
- **Nothing poisons the aggregate.** A probe that failed (peer unreachable or busy, iperf3
  missing, no traffic, an unreadable report) is logged and counted, and writes nothing.
  So is a result faster than the node's NIC (the NetworkTopology's ``hostGbps``), and
  every result while this node's clock is more than
  :data:`~netsched.domain.bandwidth.MAX_SKEW` away from the API server's.

The agent never exits on a bad answer from the API server: it logs it and tries again
next round.
"""

from __future__ import annotations

import logging
import math
import time
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any
from urllib.parse import quote

from kubernetes import client

from netsched import metrics
from netsched.api import API_VERSION, LinkMeasurement, NetworkTopology
from netsched.api.networktopology import ProbeSettings
from netsched.api.occupancy import ObjectError, node_info, pod_occupancy
from netsched.domain.bandwidth import ABOVE_NOMINAL, MAX_SKEW
from netsched.domain.manifests import JOB_LABEL
from netsched.domain.nodes import NodeInfo, sanitize_label_value
from netsched.domain.probe_schedule import Probe, plan_round, slots_per_round, wave_start
from netsched.domain.scheme import DEFAULT_SCHEME, DEFAULT_TOPOLOGY, TopologyScheme
from netsched.kubeclient import MERGE_PATCH, HTTPError, request, server_time
from netsched.probe import iperf3

log = logging.getLogger("netsched.probe")
GROUP_PATH = "/apis/netsched.io/v1alpha1"
SOURCE_LABEL = "netsched.io/source-node"
LEVEL_LABEL = "netsched.io/level"
SAMPLES_PER_LEVEL = 3
"""K: the measurements one source keeps per level (see the module's docstring)."""
RETRY_SECONDS = 30.0


@dataclass(frozen=True, slots=True)
class AgentOptions:
    """How one agent runs; the ``None`` settings come from the NetworkTopology's ``probe``."""

    node: str
    topology: str = DEFAULT_TOPOLOGY
    node_selector: str = ""
    port: int = iperf3.DEFAULT_PORT
    interval_seconds: int | None = None
    duration_seconds: int | None = None
    streams: int | None = None
    probe_busy: bool = False
    rounds: int | None = None
    """Stop after this many rounds (None: run until stopped)."""


@dataclass(frozen=True, slots=True)
class Settings:
    """The settings one round runs with."""

    scheme: TopologyScheme
    enabled: bool
    interval_seconds: int
    duration_seconds: int
    streams: int

    @property
    def slots(self) -> int:
        return slots_per_round(
            interval_seconds=self.interval_seconds, duration_seconds=self.duration_seconds
        )


@dataclass(frozen=True, slots=True)
class Peer:
    info: NodeInfo
    address: str
    uid: str


def measurement_name(source: str, level: str, round_index: int) -> str:
    """The LinkMeasurement ``source`` writes at ``level`` in round ``round_index``: one of
    :data:`SAMPLES_PER_LEVEL` (a DNS subdomain, as node names are)."""
    return f"{source}.{level}.{round_index % SAMPLES_PER_LEVEL}"


def measurement_manifest(
    probe: Probe,
    result: iperf3.Measured,
    *,
    round_index: int,
    source_uid: str,
    measured_at: datetime,
    duration_seconds: int,
) -> dict[str, Any]:
    """The LinkMeasurement one probe writes, checked against the API's model.

    Raises:
        pydantic.ValidationError: the result does not make a valid measurement.
    """
    manifest = {
        "apiVersion": API_VERSION,
        "kind": "LinkMeasurement",
        "metadata": {
            "name": measurement_name(probe.source, probe.level, round_index),
            "labels": {
                SOURCE_LABEL: sanitize_label_value(probe.source),
                LEVEL_LABEL: probe.level,
            },
            "ownerReferences": [
                {"apiVersion": "v1", "kind": "Node", "name": probe.source, "uid": source_uid}
            ],
        },
        "spec": {
            "sourceNode": probe.source,
            "targetNode": probe.target,
            "level": probe.level,
            "gbps": round(result.gbps, 6),
            "rttMicroseconds": result.rtt_microseconds,
            "measuredAt": measured_at.strftime("%Y-%m-%dT%H:%M:%SZ"),
            "tool": "iperf3",
            "durationSeconds": duration_seconds,
            "parallelStreams": result.streams,
        },
    }
    LinkMeasurement.model_validate(manifest)
    return manifest


def busy_nodes(pods: list[Mapping[str, Any]]) -> set[str]:
    """Nodes where a netsched gang pod holds GPUs (bound, or pinned and not yet bound)."""
    busy = set()
    for pod in pods:
        try:
            held = pod_occupancy(pod)
        except ObjectError:
            continue
        if held is not None and held.gpus > 0:
            busy.add(held.node)
    return busy


def _internal_ip(node: Mapping[str, Any]) -> str | None:
    for address in (node.get("status") or {}).get("addresses") or []:
        if address.get("type") == "InternalIP":
            return str(address.get("address"))
    return None


class Agent:
    """The probe loop of one node (see the module's docstring)."""

    def __init__(
        self,
        api: client.ApiClient,
        options: AgentOptions,
        *,
        clock: Callable[[], float] = time.time,
        sleep: Callable[[float], None] = time.sleep,
    ) -> None:
        self.api, self.options = api, options
        self.clock, self.sleep = clock, sleep
        self.server: iperf3.Server | None = None

    # --- reading the cluster ----------------------------------------------------------------

    def settings(self) -> Settings:
        """The NetworkTopology's probe settings, with the agent's overrides.

        Raises:
            LookupError: the topology does not exist (and is not ``default``).
        """
        name = self.options.topology
        try:
            body = request(self.api, "GET", f"{GROUP_PATH}/networktopologies/{quote(name)}")
        except HTTPError as error:
            if error.status != 404:
                raise
            if name != DEFAULT_TOPOLOGY:
                raise LookupError(f'NetworkTopology "{name}" does not exist') from None
            scheme, probe = DEFAULT_SCHEME, ProbeSettings()
        else:
            topology = NetworkTopology.model_validate(body)
            scheme, probe = topology.to_scheme(), topology.spec.probe
        options = self.options
        return Settings(
            scheme=scheme,
            enabled=probe.enabled,
            interval_seconds=options.interval_seconds or probe.interval_seconds,
            duration_seconds=options.duration_seconds or probe.duration_seconds,
            streams=options.streams or probe.parallel_streams,
        )

    def peers(self, scheme: TopologyScheme) -> dict[str, Peer]:
        """Every Ready node the selector picks, with the tier labels and an InternalIP."""
        query = (
            f"?labelSelector={quote(self.options.node_selector)}"
            if self.options.node_selector
            else ""
        )
        peers = {}
        for body in request(self.api, "GET", f"/api/v1/nodes{query}")["items"]:
            try:
                info = node_info(body)
            except ObjectError as error:
                log.warning("node ignored: %s", error)
                continue
            address = _internal_ip(body)
            labelled = all(info.labels.get(level.label_key) for level in scheme.levels)
            if info.ready and labelled and address:
                peers[info.name] = Peer(info, address, body["metadata"].get("uid", ""))
        return peers

    def busy(self, *nodes: str) -> set[str]:
        """Which of ``nodes`` a netsched gang holds GPUs on, bound or only pinned there (none
        with ``--probe-busy``). One list of the gang pods, from the API server's watch cache
        (``resourceVersion=0``): a pinned pod has no ``spec.nodeName`` to select on yet."""
        if self.options.probe_busy:
            return set()
        path = f"/api/v1/pods?labelSelector={quote(JOB_LABEL)}&resourceVersion=0"
        return busy_nodes(request(self.api, "GET", path)["items"]) & set(nodes)

    def clock_skew(self) -> float:
        """This node's clock minus the API server's, in seconds."""
        return self.clock() - server_time(self.api).timestamp()

    # --- one round --------------------------------------------------------------------------

    def run(self) -> None:
        """Rounds until stopped (or ``options.rounds`` of them: then the agent serves its
        peers' probes to the end of its last round before it stops its server)."""
        done = 0
        try:
            while self.options.rounds is None or done < self.options.rounds:
                try:
                    ended = self.round()
                except Exception as error:  # the API server unreachable, a refusal, a bad object
                    log.error("round skipped, retrying in %.0f s: %s", RETRY_SECONDS, error)
                    metrics.PROBE_ROUNDS.labels(result="failed").inc()
                    self.sleep(RETRY_SECONDS)
                    continue
                if ended is not None:
                    done += 1
                    if self.options.rounds is not None and done == self.options.rounds:
                        self.sleep(max(0.0, ended - self.clock()))
        finally:
            if self.server is not None:
                self.server.stop()

    def round(self) -> float | None:
        """Run this node's probes of the next round; returns when that round ends (epoch
        seconds), or None when no round ran (probing disabled, or this node not among the
        measured: the agent then waits one interval)."""
        settings = self.settings()
        if not settings.enabled:
            log.info("probing is disabled in NetworkTopology %s", self.options.topology)
            self.sleep(settings.interval_seconds)
            return None
        peers = self.peers(settings.scheme)
        me = peers.get(self.options.node)
        if me is None:
            log.warning(
                "node %s is not Ready, lacks a tier label or an InternalIP, or the selector "
                "%r leaves it out: nothing to measure from here",
                self.options.node,
                self.options.node_selector,
            )
            self.sleep(settings.interval_seconds)
            return None
        self._serve(me.address)
        index, probes = self._next_round(settings, peers)
        if not probes:
            log.info("no probe from here in round %d", index)
        for probe in probes:
            start = wave_start(
                index, probe.wave,
                interval_seconds=settings.interval_seconds,
                duration_seconds=settings.duration_seconds,
            )  # fmt: skip
            self.sleep(max(0.0, start - self.clock()))
            self._probe(probe, index, settings, me, peers[probe.target])
        self.prune(settings.scheme, peers)
        metrics.PROBE_ROUNDS.labels(result="ran").inc()
        return (index + 1) * settings.interval_seconds

    def _serve(self, address: str) -> None:
        if self.server is None:
            self.server = iperf3.Server(bind=address, port=self.options.port)
        problem = self.server.ensure()
        if problem:
            log.error("no iperf3 server on this node: %s", problem)

    def _next_round(self, settings: Settings, peers: Mapping[str, Peer]) -> tuple[int, list[Probe]]:
        """The round starting next, and this node's probes in it. Every agent joins at a
        round's start, so agents started a moment apart run the same rounds."""
        index = math.ceil(self.clock() / settings.interval_seconds)
        infos = [peer.info for peer in peers.values()]
        plan = plan_round(infos, settings.scheme, round_index=index, slots=settings.slots)
        if plan.deferred:
            log.warning("%d probes do not fit in one round: raise intervalSeconds", plan.deferred)
        return index, list(plan.of(self.options.node))

    def _probe(self, probe: Probe, index: int, settings: Settings, me: Peer, peer: Peer) -> None:
        busy = self.busy(probe.source, probe.target)
        if busy:
            log.info("skipped %s -> %s: a running gang holds %s", probe.source, probe.target,
                     ", ".join(sorted(busy)))  # fmt: skip
            metrics.PROBES.labels(level=probe.level, result="busy-skipped").inc()
            return
        result = iperf3.measure(
            peer.address,
            port=self.options.port,
            duration_seconds=settings.duration_seconds,
            streams=settings.streams,
            bind=me.address,
        )
        outcome = self._judge(result, settings)
        if isinstance(outcome, iperf3.Failed):
            log.warning("probe %s -> %s (%s) failed: %s", probe.source, probe.target,
                        probe.level, outcome.reason)  # fmt: skip
            metrics.PROBES.labels(level=probe.level, result=outcome.kind).inc()
            return
        manifest = measurement_manifest(
            probe,
            outcome,
            round_index=index,
            source_uid=me.uid,
            measured_at=datetime.fromtimestamp(self.clock(), UTC),
            duration_seconds=settings.duration_seconds,
        )
        self.write(manifest)
        log.info("probe %s -> %s (%s): %.4f Gbps, rtt %s us", probe.source, probe.target,
                 probe.level, outcome.gbps, outcome.rtt_microseconds)  # fmt: skip
        metrics.PROBES.labels(level=probe.level, result="ok").inc()

    def _judge(
        self, result: iperf3.Measured | iperf3.Failed, settings: Settings
    ) -> iperf3.Measured | iperf3.Failed:
        """Refuse what must not be written: faster than the NIC, or a clock out of step."""
        if isinstance(result, iperf3.Failed):
            return result
        nic = settings.scheme.host_gbps
        if result.gbps > ABOVE_NOMINAL * nic:
            return iperf3.Failed(
                f"{result.gbps:.3f} Gbps is faster than this node's NIC ({nic:g} Gbps, the "
                "NetworkTopology's hostGbps): not written; correct hostGbps if the NIC is faster",
                "above-nic-rate",
            )
        skew = self.clock_skew()
        if abs(skew) > MAX_SKEW.total_seconds():
            return iperf3.Failed(
                f"this node's clock is {skew:+.0f} s off the API server's: not written "
                "(fix the node's time sync)",
                "clock-skew",
            )
        return result

    # --- writing ----------------------------------------------------------------------------

    def write(self, manifest: Mapping[str, Any]) -> None:
        """Create the LinkMeasurement, or replace the one of the same name."""
        path = f"{GROUP_PATH}/linkmeasurements/{manifest['metadata']['name']}"
        try:
            request(self.api, "PATCH", path, manifest, content_type=MERGE_PATCH)
        except HTTPError as error:
            if error.status != 404:
                raise
            request(self.api, "POST", f"{GROUP_PATH}/linkmeasurements", manifest)

    def prune(self, scheme: TopologyScheme, peers: Mapping[str, Peer]) -> list[str]:
        """Delete this node's measurements of levels the scheme lacks, of slots beyond K, or
        of peers that are gone; returns their names."""
        selector = quote(f"{SOURCE_LABEL}={sanitize_label_value(self.options.node)}")
        items = request(self.api, "GET", f"{GROUP_PATH}/linkmeasurements?labelSelector={selector}")
        levels = set(scheme.tier_names[1:])
        pruned = []
        for item in items["items"]:
            spec = item.get("spec") or {}
            if spec.get("sourceNode") != self.options.node:
                continue
            name = item["metadata"]["name"]
            slots = {measurement_name(self.options.node, str(spec.get("level")), k)
                     for k in range(SAMPLES_PER_LEVEL)}  # fmt: skip
            if spec.get("level") in levels and spec.get("targetNode") in peers and name in slots:
                continue
            try:
                request(self.api, "DELETE", f"{GROUP_PATH}/linkmeasurements/{name}")
            except HTTPError as error:
                if error.status != 404:
                    raise
            pruned.append(name)
        if pruned:
            log.info("pruned %s", ", ".join(pruned))
        return pruned
