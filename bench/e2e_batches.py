"""One batch of gangs submitted to the live cluster, placed by kube-scheduler alone or by netsched.

Both kinds are submitted the same way (:func:`e2e_kube.Api.create_all`) and timed by
the same watch (:class:`e2e_kube.BindWatch`):

- **kube-scheduler alone**: the gangs' plain pods, gang after gang, no operator running;
- **netsched**: one TrainingJob per gang, the operator creating, placing and pinning the
  pods, the stock kube-scheduler binding them.

A gang's latency runs from the moment its first object (its first pod, or its
TrainingJob) was sent to the moment its last pod was seen bound; a batch's throughput
is its pods over the span from the first object sent to the last pod bound.
:func:`clear` empties a namespace again, so the next batch sees an empty cluster.
"""

from __future__ import annotations

import os
import statistics
from collections.abc import Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import e2e_gangs
from e2e_gangs import Gang
from e2e_kube import Api, BindWatch, wait_for

KUBE = "kube-scheduler"
NETSCHED = "netsched"
JOBS = "/apis/netsched.io/v1alpha1/namespaces/{ns}/trainingjobs"
BIND_TIMEOUT = 1800.0


@dataclass
class Batch:
    """What one batch did: when each gang was sent, when and where each pod bound.

    Attributes:
        scheduler: :data:`KUBE` or :data:`NETSCHED`.
        gangs: the gangs, in the order they were sent.
        sent: gang name -> when its first object was sent (epoch seconds).
        bound: pod name -> when the watch first saw it bound.
        nodes: pod name -> its node, as listed from the API once every pod was bound.
        jobs: gang name -> its TrainingJob as listed then (netsched batches only).
    """

    scheduler: str
    gangs: list[Gang]
    sent: dict[str, float]
    bound: dict[str, float]
    nodes: dict[str, str]
    created: dict[str, float] = field(default_factory=dict)
    pinned: dict[str, float] = field(default_factory=dict)
    jobs: dict[str, dict[str, Any]] = field(default_factory=dict)
    cpu: dict[str, float] = field(default_factory=dict)
    """Process name -> CPU seconds it spent during the batch (see :func:`cpu_seconds`)."""

    @property
    def pods(self) -> int:
        return sum(g.pods for g in self.gangs)

    @property
    def span_seconds(self) -> float:
        return max(self.bound.values()) - min(self.sent.values())

    @property
    def pods_per_second(self) -> float:
        return self.pods / self.span_seconds

    def stages(self) -> tuple[float, float, float]:
        """Seconds from the first send until the last pod was created, pinned (netsched's
        nodeSelector; 0 without) and bound: where a batch's time goes."""
        start = min(self.sent.values())
        names = _pod_names(self.gangs)

        def last(times: dict[str, float]) -> float:
            seen = [times[n] for n in names if n in times]
            return max(seen) - start if seen else 0.0

        return last(self.created), last(self.pinned), last(self.bound)

    def order(self, gang: Gang) -> list[str]:
        """The gang's nodes by rank (netsched's ring order) or pod index (kube-scheduler's)."""
        return [self.nodes[f"{gang.name}-{rank}"] for rank in range(gang.pods)]

    def latencies(self) -> list[float]:
        """Create-to-all-bound seconds per gang, in the order sent."""
        return [
            max(self.bound[f"{g.name}-{rank}"] for rank in range(g.pods)) - self.sent[g.name]
            for g in self.gangs
        ]


def cpu_seconds(pids: dict[str, int]) -> dict[str, float]:
    """Each process's CPU seconds so far (user + system, from ``/proc/PID/stat``).

    Taken before and after a batch, the difference is what the batch cost each component
    of the cluster, the operator and the benchmark's own client: on a machine whose cores a
    burst saturates, a steadier figure than pods/s, which moves with the machine's load.
    """
    tick = os.sysconf("SC_CLK_TCK")
    seconds = {}
    for name, pid in pids.items():
        # the fields after the command's closing parenthesis: utime and stime are 12 and 13
        fields = Path(f"/proc/{pid}/stat").read_text().rpartition(")")[2].split()
        seconds[name] = (int(fields[11]) + int(fields[12])) / tick
    return seconds


def percentile(values: Sequence[float], q: float) -> float:
    """The nearest-rank percentile (as bench/runs.py computes it)."""
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, round(q * (len(ordered) - 1)))]


def median(values: Sequence[float]) -> float:
    return statistics.median(values)


def run_kube(
    api: Api, gangs: list[Gang], namespace: str, *, threads: int, every: float = 0.0
) -> Batch:
    """Submit the gangs as plain pods; kube-scheduler alone places them.

    ``every`` > 0 paces them: one gang's pods every ``every`` seconds (see :func:`_send`)."""
    api.apply_namespace(namespace)
    bodies = e2e_gangs.pod_bodies(gangs, namespace)
    with BindWatch(api, namespace) as watch:
        times = _send(api, bodies, [g.pods for g in gangs], threads=threads, every=every)
        watch.wait_bound(_pod_names(gangs), timeout=BIND_TIMEOUT)
    sent: dict[str, float] = {}
    position = 0
    for gang in gangs:
        sent[gang.name] = min(times[position : position + gang.pods])
        position += gang.pods
    nodes = _nodes(api, namespace)
    return Batch(KUBE, gangs, sent, watch.bound, nodes, watch.created, watch.pinned)


def run_netsched(
    api: Api, gangs: list[Gang], namespace: str, *, threads: int, every: float = 0.0
) -> Batch:
    """Submit the gangs as TrainingJobs to the running operator; wait until each is Running.

    ``every`` > 0 paces them: one TrainingJob every ``every`` seconds (see :func:`_send`)."""
    api.apply_namespace(namespace)
    bodies = e2e_gangs.job_bodies(gangs, namespace)
    with BindWatch(api, namespace) as watch:
        times = _send(api, bodies, [1] * len(gangs), threads=threads, every=every)
        watch.wait_bound(_pod_names(gangs), timeout=BIND_TIMEOUT)
    sent = {gang.name: at for gang, at in zip(gangs, times, strict=True)}
    jobs: dict[str, dict[str, Any]] = {}

    def running() -> bool:
        jobs.clear()
        jobs.update((j["metadata"]["name"], j) for j in api.items(JOBS.format(ns=namespace)))
        return all((j.get("status") or {}).get("phase") == "Running" for j in jobs.values())

    wait_for(running, what=f"every TrainingJob of {namespace} to be Running", timeout=300)
    nodes = _nodes(api, namespace)
    return Batch(NETSCHED, gangs, sent, watch.bound, nodes, watch.created, watch.pinned, jobs)


def _send(
    api: Api,
    bodies: list[tuple[str, bytes]],
    arrivals: list[int],
    *,
    threads: int,
    every: float,
) -> list[float]:
    """At once (``threads`` concurrent creates), or paced: a gang's objects (``arrivals``)
    every ``every`` seconds, a steady stream the cluster can keep up with."""
    if every > 0:
        return api.create_paced(bodies, arrivals=arrivals, every=every)
    return api.create_all(bodies, threads=threads)


def _pod_names(gangs: list[Gang]) -> list[str]:
    return [f"{g.name}-{rank}" for g in gangs for rank in range(g.pods)]


def _nodes(api: Api, namespace: str) -> dict[str, str]:
    pods = api.items(f"/api/v1/namespaces/{namespace}/pods")
    return {p["metadata"]["name"]: p["spec"]["nodeName"] for p in pods}


def clear(api: Api, namespace: str) -> None:
    """Delete the namespace's TrainingJobs and pods (stop the operator first) and wait."""
    api.delete_collection(JOBS.format(ns=namespace))
    for kind in ("/api/v1/namespaces/{ns}/services", "/api/v1/namespaces/{ns}/pods"):
        api.delete_collection(kind.format(ns=namespace))
    api.delete_collection(f"/apis/networking.k8s.io/v1/namespaces/{namespace}/networkpolicies")
    api.wait_empty(f"/api/v1/namespaces/{namespace}/pods", what=f"the pods of {namespace} to go")
    api.wait_empty(JOBS.format(ns=namespace), what=f"the TrainingJobs of {namespace} to go")
