"""Real pods on real kubelet nodes (``dev-cluster up --real-nodes``): traffic across the fabric,
cluster DNS, ``kubectl logs``/``exec``, and each job's NetworkPolicy enforced on real traffic.

The isolation test runs two TrainingJobs placed by the operator, a metrics scraper and an
unrelated pod, every one a TCP server on port 8080 that answers with its hostname. Every
pod then tries every other, and the matrix of connections that answered must equal the
intended one, and the one the independent analyzer (network-config-analyzer) computes from
the same objects.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import pytest

from conftest import Cluster
from integration.connectivity import ALL_CONNECTIONS, connectivity, only
from netsched.devcluster.images import TOOLS, TRAINER
from netsched.devcluster.realnodes import REAL_NODE_LABEL
from netsched.domain.manifests import RESTARTS_ANNOTATION

pytestmark = [pytest.mark.integration, pytest.mark.realnodes]

PORT = 8080
SERVE = ["nc", "-ll", "-p", str(PORT), "-e", "/bin/hostname"]
"""Every pod's server: each connection is answered with the pod's hostname."""
ON_REAL_NODES: dict[str, Any] = {
    "nodeSelector": {REAL_NODE_LABEL: "true"},
    "tolerations": [{"key": REAL_NODE_LABEL, "operator": "Exists", "effect": "NoSchedule"}],
}
MONITORING = "monitoring"


def container(name: str, *, gpus: int = 0) -> dict[str, Any]:
    limits = {"nvidia.com/gpu": gpus} if gpus else {}
    return {
        "name": name,
        "image": TOOLS,
        "imagePullPolicy": "Never",
        "command": SERVE,
        "resources": {"limits": limits},
    }


def pod(name: str, namespace: str, labels: dict[str, str]) -> dict[str, Any]:
    return {
        "apiVersion": "v1",
        "kind": "Pod",
        "metadata": {"name": name, "namespace": namespace, "labels": labels},
        "spec": {**ON_REAL_NODES, "containers": [container(name)]},
    }


def job(name: str, namespace: str, replicas: int, isolation: dict[str, Any]) -> dict[str, Any]:
    return {
        "apiVersion": "netsched.io/v1alpha1",
        "kind": "TrainingJob",
        "metadata": {"name": name, "namespace": namespace},
        "spec": {
            "replicas": replicas,
            "template": {"spec": {**ON_REAL_NODES, "containers": [container("worker", gpus=1)]}},
            "communication": {"pattern": "DataParallel", "bytesPerStep": "1Mi"},
            "isolation": isolation,
        },
    }


def running_pods(cluster: Cluster, namespace: str, count: int) -> list[dict[str, Any]]:
    def ready() -> list[dict[str, Any]] | None:
        items = cluster.get("pods", "-n", namespace)["items"]
        up = [p for p in items if (p.get("status") or {}).get("phase") == "Running"]
        return up if len(up) == count and all(p["status"].get("podIP") for p in up) else None

    found: list[dict[str, Any]] = cluster.wait_for(
        ready, what=f"{count} running pods in {namespace}", timeout=120
    )
    return found


def answers(cluster: Cluster, source: dict[str, Any], targets: list[dict[str, Any]]) -> set[str]:
    """The targets (``namespace/name``) that answered ``source`` on TCP 8080."""
    meta = source["metadata"]
    script = "; ".join(
        f"echo {t['metadata']['namespace']}/{t['metadata']['name']}=$(nc -w 2 "
        f"{t['status']['podIP']} {PORT} </dev/null)"
        for t in targets
    )
    out = cluster.kubectl("exec", "-n", meta["namespace"], meta["name"], "--", "sh", "-c", script)
    reached = set()
    for line in out.stdout.splitlines():
        target, _, reply = line.partition("=")
        if reply.strip() == target.split("/")[1]:  # the target's hostname is its pod name
            reached.add(target)
    return reached


def key(item: dict[str, Any]) -> str:
    return f"{item['metadata']['namespace']}/{item['metadata']['name']}"


def test_real_pods_talk_across_leaves_resolve_names_and_show_logs(
    real_nodes: Cluster, namespace: str
) -> None:
    cluster = real_nodes
    nodes = [n["metadata"]["name"] for n in cluster.get("nodes", "-l", REAL_NODE_LABEL)["items"]]
    for index, node in enumerate(nodes):
        manifest = pod(f"p{index}", namespace, {"app": "p"})
        manifest["spec"]["nodeName"] = node
        cluster.apply(manifest)
    service = {
        "apiVersion": "v1",
        "kind": "Service",
        "metadata": {"name": "peers", "namespace": namespace},
        "spec": {"clusterIP": "None", "selector": {"app": "p"}, "ports": [{"port": PORT}]},
    }
    cluster.apply(service)
    pods = running_pods(cluster, namespace, len(nodes))
    assert {p["spec"]["nodeName"] for p in pods} == set(nodes)  # one on each leaf's nodes
    for source in pods:
        assert answers(cluster, source, [p for p in pods if p is not source]) == {
            key(p) for p in pods if p is not source
        }
    first = pods[0]["metadata"]["name"]

    def resolved() -> str | None:
        out = cluster.kubectl(
            "exec", "-n", namespace, first, "--", "nslookup",
            f"peers.{namespace}.svc.cluster.local", check=False,
        ).stdout  # fmt: skip
        ips = {p["status"]["podIP"] for p in pods}
        return out if all(ip in out for ip in ips) else None

    cluster.wait_for(resolved, what="the headless Service to resolve to every pod", timeout=30)
    logs = cluster.kubectl("logs", "-n", namespace, first).stdout
    assert logs == ""  # nc prints nothing; the request itself reached the kubelet
    hostname = cluster.kubectl("exec", "-n", namespace, first, "--", "hostname").stdout
    assert hostname.strip() == first


def test_each_job_reaches_its_own_pods_and_its_peers_only_on_real_traffic(
    real_nodes: Cluster, operator: Any, namespaces: Callable[[], str]
) -> None:
    cluster = real_nodes
    ns_a, ns_b, elsewhere = namespaces(), namespaces(), namespaces()
    cluster.kubectl("create", "namespace", MONITORING, check=False)
    scraped = {
        "ingress": [
            {
                "namespaceSelector": {"matchLabels": {"kubernetes.io/metadata.name": MONITORING}},
                "ports": [{"protocol": "TCP", "port": PORT}],
            }
        ]
    }
    cluster.apply(job("job-a", ns_a, 3, scraped))
    cluster.apply(job("job-b", ns_b, 2, {}))
    scraper = pod("prometheus", MONITORING, {"app.kubernetes.io/name": "prometheus"})
    cluster.apply(scraper)
    cluster.apply(pod("web", elsewhere, {"app": "web"}))
    gang_a = running_pods(cluster, ns_a, 3)
    gang_b = running_pods(cluster, ns_b, 2)
    everyone = [
        *gang_a,
        *gang_b,
        *running_pods(cluster, MONITORING, 1),
        *running_pods(cluster, elsewhere, 1),
    ]
    web = everyone[-1]
    scraper_key = key(everyone[5])

    def enforced() -> bool:  # kube-router applies a new policy within a few seconds
        return answers(cluster, web, everyone[:-1]) == {scraper_key}

    cluster.wait_for(enforced, what="kube-router to enforce both jobs' NetworkPolicies", timeout=90)
    observed = {
        (key(source), target)
        for source in everyone
        for target in answers(cluster, source, [p for p in everyone if p is not source])
    }

    names = [key(p) for p in everyone]
    a, b = names[:3], names[3:5]
    prometheus, web_name = names[5], names[6]
    intended = {(s, d) for gang in (a, b) for s in gang for d in gang if s != d}
    intended |= {(prometheus, d) for d in a} | {(prometheus, web_name), (web_name, prometheus)}
    assert observed == intended

    # The analyzer, from the same objects as the API server holds them.
    objects = [
        *(cluster.get("namespace", n) for n in (ns_a, ns_b, elsewhere, MONITORING)),
        *everyone,
        *cluster.get("networkpolicies", "-n", ns_a)["items"],
        *cluster.get("networkpolicies", "-n", ns_b)["items"],
    ]
    analyzed = {
        (source, target)
        for source, target, allowed in connectivity(objects)
        if source in names
        and target in names
        and allowed in (ALL_CONNECTIONS, only("TCP", port=PORT))
    }
    assert analyzed == intended

    cluster.kubectl("delete", "trainingjob", "job-b", "-n", ns_b)
    cluster.wait_for(
        lambda: not cluster.get("pods,networkpolicies", "-n", ns_b)["items"] or None,
        what="job-b's pods and NetworkPolicy to go with it",
        timeout=180,
    )
    assert cluster.get("trainingjob", "job-a", "-n", ns_a)["status"]["phase"] == "Running"


def trainer_job(name: str, namespace: str, **spec: Any) -> dict[str, Any]:
    """A 3-pod DataParallel job of the trainer image: one gloo all-reduce from netsched's env."""
    worker = {
        "name": "trainer",
        "image": TRAINER,
        "imagePullPolicy": "Never",
        "env": [{"name": "TIMEOUT", "value": "30"}],
        "resources": {"limits": {"nvidia.com/gpu": 1}},
    }
    return {
        "apiVersion": "netsched.io/v1alpha1",
        "kind": "TrainingJob",
        "metadata": {"name": name, "namespace": namespace},
        "spec": {
            "replicas": 3,
            "template": {"spec": {**ON_REAL_NODES, "containers": [worker]}},
            "communication": {"pattern": "DataParallel", "bytesPerStep": "4Ki"},
            **spec,
        },
    }


def phase(cluster: Cluster, name: str, namespace: str) -> str:
    found = cluster.get("trainingjob", name, "-n", namespace)
    return str((found.get("status") or {}).get("phase", ""))


def test_a_gang_rendezvous_through_its_headless_service_and_all_reduces(
    real_nodes: Cluster, operator: Any, namespace: str
) -> None:
    cluster = real_nodes
    cluster.apply(trainer_job("ddp", namespace))
    cluster.wait_for(
        lambda: phase(cluster, "ddp", namespace) == "Succeeded" or None,
        what="the all-reduce job to succeed",
        timeout=240,
    )
    for rank in range(3):
        log = cluster.kubectl("logs", "-n", namespace, f"ddp-{rank}").stdout
        assert "rendezvous at ddp-0.ddp:" in log
        assert f"rank {rank}: all-reduce sum 6, expected 6" in log


def test_a_gang_that_cannot_reach_itself_fails_visibly(
    real_nodes: Cluster, operator: Any, namespace: str
) -> None:
    cluster = real_nodes
    deny_all = {
        "apiVersion": "networking.k8s.io/v1",
        "kind": "NetworkPolicy",
        "metadata": {"name": "deny-all", "namespace": namespace},
        "spec": {"podSelector": {}, "policyTypes": ["Ingress"]},
    }
    cluster.apply(deny_all)  # and no policy of netsched's to let the gang in
    cluster.apply(
        trainer_job(
            "cut",
            namespace,
            isolation={"networkPolicy": False},
            runPolicy={"failurePolicy": "FailJob", "backoffLimit": 0},
        )
    )
    cluster.wait_for(
        lambda: phase(cluster, "cut", namespace) == "Failed" or None,
        what="the job whose pods cannot meet to fail",
        timeout=240,
    )
    found = cluster.get("trainingjob", "cut", "-n", namespace)
    failed = next(c for c in found["status"]["conditions"] if c["type"] == "Failed")
    assert failed["reason"] == "PodFailed"


def test_a_rank_that_exits_non_zero_restarts_the_gang_on_real_nodes(
    real_nodes: Cluster, operator: Any, namespace: str
) -> None:
    cluster = real_nodes
    manifest = job("flaky", namespace, 3, {})
    worker = manifest["spec"]["template"]["spec"]["containers"][0]
    # The gang's first run: rank 1 exits 1 after a moment, as a crashing trainer would.
    worker["env"] = [
        {
            "name": "RESTARTS",
            "valueFrom": {
                "fieldRef": {"fieldPath": f"metadata.annotations['{RESTARTS_ANNOTATION}']"}
            },
        }
    ]
    crash_once = 'if [ "$RESTARTS" = 0 ] && [ "$RANK" = 1 ]; then sleep 3; exit 1; fi'
    worker["command"] = ["sh", "-c", f"{crash_once}; exec {' '.join(SERVE)}"]
    cluster.apply(manifest)

    def restarted() -> dict[str, Any] | None:
        found = cluster.get("trainingjob", "flaky", "-n", namespace)
        status = found.get("status") or {}
        return found if status.get("restarts") == 1 and status.get("phase") == "Running" else None

    found = cluster.wait_for(restarted, what="the gang to restart once and run", timeout=180)
    running = [c for c in found["status"]["conditions"] if c["type"] == "Running"]
    assert running and running[0]["status"] == "True"
    pods = running_pods(cluster, namespace, 3)
    assert {p["metadata"]["annotations"][RESTARTS_ANNOTATION] for p in pods} == {"1"}
    assert all(p["spec"]["nodeName"].startswith("real-") for p in pods)
    events = cluster.get("events", "-n", namespace, "--field-selector", "involvedObject.name=flaky")
    assert any(e["reason"] == "PodFailed" for e in events["items"])
