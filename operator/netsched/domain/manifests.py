"""The objects netsched creates for a TrainingJob, built as plain dicts.

For a job ``llm`` of 4 replicas in namespace ``ml``:

- pods ``llm-0`` .. ``llm-3`` from the job's template, labelled :data:`JOB_LABEL` and
  :data:`RANK_LABEL`, owned by the job, created **gated** by :data:`PLACEMENT_GATE`
  with ``hostname``/``subdomain`` set so that ``llm-0.llm`` resolves, and the
  rendezvous environment torchrun and Kubeflow's PyTorchJob users expect;
- :func:`placement_patch`: the one patch per pod that pins it to its node with a
  ``kubernetes.io/hostname`` nodeSelector and removes the gate, after which the
  stock kube-scheduler binds it;
- a headless Service ``llm`` (the rendezvous name);
- a NetworkPolicy ``llm`` (see :func:`network_policy`).

The job arrives as its manifest (a mapping, as the API server holds it, defaults
filled), so this module needs nothing but the standard library. Every name netsched
puts on an object lives here and nowhere else.
"""

from __future__ import annotations

import copy
from collections.abc import Mapping, Sequence
from typing import Any

from netsched.domain.scheme import HOSTNAME_LABEL

GROUP = "netsched.io"
JOB_LABEL = f"{GROUP}/job"
"""Label on every pod of a gang: the TrainingJob's name."""
RANK_LABEL = f"{GROUP}/rank"
"""Label on every pod of a gang: its rank (ring position)."""
PLACEMENT_GATE = f"{GROUP}/placement"
"""Scheduling gate a gang pod carries until netsched has chosen its node."""
RESTARTS_ANNOTATION = f"{GROUP}/restart"
"""Annotation on a gang pod: the job's restart count when the pod was made."""
RENDEZVOUS_PORT = 29500
"""torchrun's default master port, served by rank 0 and named in the Service."""
DNS_PORT = 53
CLUSTER_DNS_SELECTOR = {"k8s-app": "kube-dns"}
"""Labels of the cluster DNS pods (CoreDNS and kube-dns both carry them)."""


def pod_name(job: str, rank: int) -> str:
    """``llm``, 3 -> ``llm-3``."""
    return f"{job}-{rank}"


def owner_reference(job: Mapping[str, Any]) -> dict[str, Any]:
    """The job as the controlling owner, so the garbage collector removes what we made."""
    metadata = job["metadata"]
    return {
        "apiVersion": job.get("apiVersion", f"{GROUP}/v1alpha1"),
        "kind": job.get("kind", "TrainingJob"),
        "name": metadata["name"],
        "uid": metadata["uid"],
        "controller": True,
        "blockOwnerDeletion": True,
    }


def _metadata(job: Mapping[str, Any], name: str, **extra: Any) -> dict[str, Any]:
    return {
        "name": name,
        "namespace": job["metadata"]["namespace"],
        "ownerReferences": [owner_reference(job)],
        **extra,
    }


def rendezvous_env(
    *, job: str, rank: int, replicas: int, gpus_per_pod: int
) -> list[dict[str, str]]:
    """torchrun's and Kubeflow Trainer's variables for one rank.

    ``WORLD_SIZE`` and ``RANK`` count pods, as Kubeflow's PyTorchJob sets them; the
    ``PET_*`` variables are what ``torchrun`` reads for ``--nnodes``, ``--node-rank``,
    ``--nproc-per-node`` and the rendezvous endpoint.
    """
    master = f"{pod_name(job, 0)}.{job}"
    values = {
        "MASTER_ADDR": master,
        "MASTER_PORT": str(RENDEZVOUS_PORT),
        "WORLD_SIZE": str(replicas),
        "RANK": str(rank),
        "PET_NNODES": str(replicas),
        "PET_NODE_RANK": str(rank),
        "PET_NPROC_PER_NODE": str(gpus_per_pod) if gpus_per_pod > 0 else "auto",
        "PET_MASTER_ADDR": master,
        "PET_MASTER_PORT": str(RENDEZVOUS_PORT),
    }
    return [{"name": name, "value": value} for name, value in values.items()]


def gang_pod(
    job: Mapping[str, Any], *, rank: int, gpus_per_pod: int, restarts: int = 0
) -> dict[str, Any]:
    """Rank ``rank``'s pod: the template, gated, labelled, owned and named for rendezvous.

    Variables the template already sets (say its own ``MASTER_PORT``) win over ours.
    ``restartPolicy`` defaults to ``Never``: a failed worker must fail its pod, so that
    the job's ``failurePolicy`` decides, not the kubelet.
    """
    name = job["metadata"]["name"]
    spec = job["spec"]
    template = copy.deepcopy(dict(spec["template"]))
    meta = template.get("metadata") or {}
    pod_spec = template["spec"]
    labels = {**(meta.get("labels") or {}), JOB_LABEL: name, RANK_LABEL: str(rank)}
    annotations = {**(meta.get("annotations") or {}), RESTARTS_ANNOTATION: str(restarts)}
    env = rendezvous_env(job=name, rank=rank, replicas=spec["replicas"], gpus_per_pod=gpus_per_pod)
    for container in pod_spec["containers"]:
        own = container.get("env") or []
        taken = {variable.get("name") for variable in own}
        container["env"] = [*own, *(v for v in env if v["name"] not in taken)]
    pod_spec.setdefault("restartPolicy", "Never")
    pod_spec["hostname"] = pod_name(name, rank)
    pod_spec["subdomain"] = name
    pod_spec["schedulingGates"] = [
        *(g for g in pod_spec.get("schedulingGates") or [] if g.get("name") != PLACEMENT_GATE),
        {"name": PLACEMENT_GATE},
    ]
    if spec.get("priorityClassName"):
        pod_spec["priorityClassName"] = spec["priorityClassName"]
    return {
        "apiVersion": "v1",
        "kind": "Pod",
        "metadata": _metadata(job, pod_name(name, rank), labels=labels, annotations=annotations),
        "spec": pod_spec,
    }


def placement_patch(node: str, *, gates: Sequence[Mapping[str, Any]]) -> dict[str, Any]:
    """The JSON merge patch that pins a gated pod to ``node`` and lifts netsched's gate.

    ``gates`` are the pod's current scheduling gates; others' gates are kept (a merge
    patch replaces the list whole). Kubernetes lets a gated pod's nodeSelector grow,
    so this is the only write a placement makes to a pod.
    """
    kept = [dict(g) for g in gates if g.get("name") != PLACEMENT_GATE]
    return {"spec": {"nodeSelector": {HOSTNAME_LABEL: node}, "schedulingGates": kept or None}}


def headless_service(job: Mapping[str, Any]) -> dict[str, Any]:
    """The Service that gives every pod the name ``<job>-<rank>.<job>``.

    It publishes pods before they are ready: rendezvous happens before readiness.
    """
    name = job["metadata"]["name"]
    return {
        "apiVersion": "v1",
        "kind": "Service",
        "metadata": _metadata(job, name, labels={JOB_LABEL: name}),
        "spec": {
            "clusterIP": "None",
            "publishNotReadyAddresses": True,
            "selector": {JOB_LABEL: name},
            "ports": [{"name": "rendezvous", "port": RENDEZVOUS_PORT, "protocol": "TCP"}],
        },
    }


def network_policy(job: Mapping[str, Any]) -> dict[str, Any] | None:
    """The job's NetworkPolicy, or None when ``spec.isolation.networkPolicy`` is false.

    The gang's pods select each other on every port, in and out; they may resolve
    names through the cluster DNS; the spec's ``isolation.ingress`` peers (the
    metrics scraper's namespace, say) may reach them and its ``isolation.egress``
    peers (storage) may be reached, each on the peer's ports or on all ports.
    Nothing else gets in or out.
    """
    name = job["metadata"]["name"]
    isolation = job["spec"].get("isolation") or {}
    if not isolation.get("networkPolicy", True):
        return None

    def gang() -> dict[str, Any]:  # a fresh dict each time: no aliasing in the YAML
        return {"podSelector": {"matchLabels": {JOB_LABEL: name}}}

    dns = {
        "to": [{"namespaceSelector": {}, "podSelector": {"matchLabels": CLUSTER_DNS_SELECTOR}}],
        "ports": [{"protocol": p, "port": DNS_PORT} for p in ("UDP", "TCP")],
    }
    ingress = [{"from": [gang()]}, *(_rule("from", p) for p in isolation.get("ingress") or [])]
    egress = [{"to": [gang()]}, dns, *(_rule("to", p) for p in isolation.get("egress") or [])]
    return {
        "apiVersion": "networking.k8s.io/v1",
        "kind": "NetworkPolicy",
        "metadata": _metadata(job, name, labels={JOB_LABEL: name}),
        "spec": {
            "podSelector": {"matchLabels": {JOB_LABEL: name}},
            "policyTypes": ["Ingress", "Egress"],
            "ingress": ingress,
            "egress": egress,
        },
    }


def _rule(direction: str, peer: Mapping[str, Any]) -> dict[str, Any]:
    """One NetworkPolicy rule from a TrainingJob peer (its ``ports`` move onto the rule)."""
    selector = {k: copy.deepcopy(v) for k, v in peer.items() if k != "ports"}
    rule: dict[str, Any] = {direction: [selector]}
    if peer.get("ports"):
        rule["ports"] = copy.deepcopy(list(peer["ports"]))
    return rule
