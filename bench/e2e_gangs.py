"""The gangs of the end-to-end benchmark, built twice: as TrainingJobs and as plain pods.

A :class:`Gang` is one job: a size (8-GPU pods), a communication pattern and a payload.
:func:`training_job` makes it the TrainingJob netsched places; :func:`plain_pods` the
same pods as kube-scheduler alone would get them (no gate, no nodeSelector), labelled
:data:`GANG_LABEL`/:data:`INDEX_LABEL` so that the benchmark can group them again.
:func:`cost` prices a placement of either kind with netsched's one cost model.
"""

from __future__ import annotations

import json
import random
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any

from netsched.api import TrainingJob
from netsched.api.occupancy import node_info
from netsched.clusterfile import ClusterState
from netsched.domain.cost import Cost, predict
from netsched.domain.topology import ClusterSnapshot

GPUS_PER_POD = 8
SIZES = (2, 4, 8, 16)
"""Pods per gang in the mixed batches."""
PAYLOADS = {
    # pattern -> bytesPerStep: gradients, activations, tokens, a Hybrid GPU's shard
    "DataParallel": "1Gi",
    "PipelineParallel": "256Mi",
    "ModelParallel": "256Mi",
    "ExpertParallel": "512Mi",
    "Hybrid": "1Gi",
}
PATTERNS = tuple(PAYLOADS)
GANG_LABEL = "e2e.netsched.io/gang"
INDEX_LABEL = "e2e.netsched.io/index"
IMAGE = "trainer:bench"


@dataclass(frozen=True, slots=True)
class Gang:
    name: str
    pods: int
    pattern: str

    @property
    def gpus(self) -> int:
        return self.pods * GPUS_PER_POD


def mixed(count: int, *, seed: int, prefix: str = "mix") -> list[Gang]:
    """``count`` gangs of 2, 4, 8 or 16 pods, each of the five patterns; seeded."""
    draw = random.Random(seed)
    return [
        Gang(f"{prefix}-{i:03d}", draw.choice(SIZES), draw.choice(PATTERNS)) for i in range(count)
    ]


def filling(gpus: int, *, seed: int, prefix: str) -> list[Gang]:
    """Mixed gangs (as :func:`mixed`) until they ask for ``gpus`` GPUs, the last one cut."""
    gangs: list[Gang] = []
    for gang in mixed(10 * gpus // (2 * GPUS_PER_POD) + 1, seed=seed, prefix=prefix):
        asked = sum(g.gpus for g in gangs)
        if asked >= gpus:
            break
        if asked + gang.gpus > gpus:
            gang = Gang(gang.name, (gpus - asked) // GPUS_PER_POD, gang.pattern)
        if gang.pods >= 1:
            gangs.append(gang)
    return gangs


def uniform(count: int, *, pods: int, prefix: str) -> list[Gang]:
    """``count`` gangs of ``pods`` pods, the patterns in turn."""
    return [Gang(f"{prefix}-{i:03d}", pods, PATTERNS[i % len(PATTERNS)]) for i in range(count)]


def _communication(gang: Gang) -> dict[str, Any]:
    communication: dict[str, Any] = {
        "pattern": gang.pattern,
        "bytesPerStep": PAYLOADS[gang.pattern],
    }
    if gang.pattern == "Hybrid":
        # tensor parallel inside the pod; the pods split into pipeline stages x replicas
        pipeline = 2 if gang.pods % 2 == 0 and gang.pods < 8 else (4 if gang.pods % 4 == 0 else 1)
        communication |= {
            "tensorParallel": GPUS_PER_POD,
            "pipelineParallel": pipeline,
            "dataParallel": gang.pods // pipeline,
        }
    return communication


def _pod_spec() -> dict[str, Any]:
    return {
        "containers": [
            {
                "name": "trainer",
                "image": IMAGE,
                "resources": {"limits": {"nvidia.com/gpu": GPUS_PER_POD}},
            }
        ],
        "restartPolicy": "Never",
    }


def training_job(gang: Gang, namespace: str) -> dict[str, Any]:
    """The TrainingJob for ``gang``."""
    return {
        "apiVersion": "netsched.io/v1alpha1",
        "kind": "TrainingJob",
        "metadata": {"name": gang.name, "namespace": namespace},
        "spec": {
            "replicas": gang.pods,
            "template": {"spec": _pod_spec()},
            "communication": _communication(gang),
        },
    }


def plain_pods(gang: Gang, namespace: str) -> list[dict[str, Any]]:
    """The gang's pods as kube-scheduler alone gets them: no gate, no nodeSelector."""
    return [
        {
            "apiVersion": "v1",
            "kind": "Pod",
            "metadata": {
                "name": f"{gang.name}-{index}",
                "namespace": namespace,
                "labels": {GANG_LABEL: gang.name, INDEX_LABEL: str(index)},
            },
            "spec": _pod_spec(),
        }
        for index in range(gang.pods)
    ]


def job_bodies(gangs: Iterable[Gang], namespace: str) -> list[tuple[str, bytes]]:
    path = f"/apis/netsched.io/v1alpha1/namespaces/{namespace}/trainingjobs"
    return [(path, json.dumps(training_job(g, namespace)).encode()) for g in gangs]


def pod_bodies(gangs: Iterable[Gang], namespace: str) -> list[tuple[str, bytes]]:
    path = f"/api/v1/namespaces/{namespace}/pods"
    return [(path, json.dumps(pod).encode()) for g in gangs for pod in plain_pods(g, namespace)]


# --- the cost model, the same for both schedulers ----------------------------------------------


def empty_snapshot(nodes: Sequence[Mapping[str, Any]]) -> ClusterSnapshot:
    """The live cluster's fabric with every GPU free and no gang running.

    Costs read only the fabric (which uplinks a placement crosses, at what bandwidth),
    so the one snapshot prices every placement of a batch, each gang costed alone as
    DESIGN.md's cost model does.
    """
    state = ClusterState(nodes=tuple(node_info(n) for n in nodes))
    probe = TrainingJob.model_validate(training_job(Gang("probe", 2, "DataParallel"), "bench"))
    return state.snapshot_for(probe, now=datetime.now(UTC))


def cost(gang: Gang, order: Sequence[str], snapshot: ClusterSnapshot) -> Cost:
    """Rank ``i`` of ``gang`` on node ``order[i]``, priced by ``netsched.domain.cost``."""
    demand = TrainingJob.model_validate(training_job(gang, "bench")).to_demand()
    return predict(demand, order, snapshot)


def cost_shared(
    gangs: Sequence[Gang], orders: Sequence[Sequence[str]], snapshot: ClusterSnapshot
) -> list[Cost]:
    """Each gang priced while every other gang of the batch runs: DESIGN.md's shared links.

    An uplink's share is its bandwidth / (1 + the other gangs whose traffic crosses it),
    as ``netsched.domain.cost`` defines it for running gangs.
    """
    alone = [cost(g, o, snapshot) for g, o in zip(gangs, orders, strict=True)]
    everyone = snapshot
    for price in alone:
        everyone = everyone.with_allocation({}, links=price.crossed_uplinks)
    return [
        cost(g, o, everyone.without_allocation({}, links=price.crossed_uplinks))
        for g, o, price in zip(gangs, orders, alone, strict=True)
    ]


def cross_tier_bytes(price: Cost) -> float:
    """Bytes per step over the uplinks above the host (leaf and spine uplinks)."""
    return sum(size for tier, size in price.cross_tier_bytes.items() if tier != "host")
