"""Job isolation, verified twice: the REAL API server accepts each job's NetworkPolicy, and an
independent analyzer (np-guard's network-config-analyzer, see ``connectivity``) finds exactly
the intended connectivity between two jobs, a metrics scraper, the cluster DNS and bystanders.

    namespace A: job-a-0 job-a-1 job-a-2, notebook (not in the gang)   in: monitoring, TCP 8080
    namespace B: job-b-0 job-b-1                                      out: 10.99.0.0/16, TCP 443
    monitoring/prometheus   kube-system/coredns   <another namespace>/web

What goes through the API server: both TrainingJobs, so that pods and policies are built from
the job as the server holds it (defaults filled, a real uid to own them), and each job's
NetworkPolicy, created and read back. Every pod is a manifest only, as ``gang_pod`` builds it:
an operator watching the cluster (``netsched run`` on a shared dev cluster, or another test's)
creates the gang's pods itself under the same names, and a pod labelled ``k8s-app: kube-dns`` in
a shared cluster's kube-system would join its DNS Service. NCA analyses objects, so no pod needs
to run.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import pytest
from gangs import training_job

from conftest import Cluster
from integration.connectivity import ALL_CONNECTIONS, Connection, connectivity, only
from netsched.api import TrainingJob
from netsched.domain.manifests import gang_pod, network_policy

pytestmark = pytest.mark.integration

ANYWHERE = "0.0.0.0/0"
STORAGE = "10.99.0.0/16"
SCRAPE_PORT = 8080
MONITORING = "monitoring"
FIELD_MANAGER = "isolation-test"


def bystander(name: str, namespace: str, labels: dict[str, str]) -> dict[str, Any]:
    """A pod no netsched policy selects."""
    return {
        "apiVersion": "v1",
        "kind": "Pod",
        "metadata": {"name": name, "namespace": namespace, "labels": labels},
        "spec": {"containers": [{"name": name, "image": f"{name}:test"}]},
    }


def launch(api: Cluster, manifest: dict[str, Any]) -> list[dict[str, Any]]:
    """Create the job and its NetworkPolicy as netsched does; return the gang's pods as built
    and the policy as the server holds it.

    Strict field validation makes the server refuse a field it does not know, where by default
    it would drop it with a warning: accepted here means accepted whole. An operator that
    reconciles the job meanwhile builds the same policy, so this apply co-owns that object
    (server-side apply conflicts only on differing values) instead of racing it.
    """
    api.apply(manifest)
    meta = manifest["metadata"]
    job = api.get("trainingjob", meta["name"], "-n", meta["namespace"])
    gpus_per_pod = TrainingJob.model_validate(job).spec.template.gpus_per_pod()
    pods = [
        gang_pod(job, rank=rank, gpus_per_pod=gpus_per_pod)
        for rank in range(job["spec"]["replicas"])
    ]
    policy = network_policy(job)
    assert policy is not None, "isolation.networkPolicy defaults to true"
    api.apply(policy, "--validate=strict", f"--field-manager={FIELD_MANAGER}")
    held = api.get("networkpolicy", meta["name"], "-n", meta["namespace"])
    assert held["spec"] == policy["spec"], "the server holds the policy as built"
    return [*pods, held]


def names(objects: list[dict[str, Any]]) -> list[str]:
    """``namespace/name`` of each Pod, as NCA names them."""
    pods = (o["metadata"] for o in objects if o["kind"] == "Pod")
    return [f"{meta['namespace']}/{meta['name']}" for meta in pods]


def test_each_job_talks_to_itself_dns_and_its_peers_only(
    api: Cluster, namespaces: Callable[[], str], namespace: str
) -> None:
    # Phase 1: two jobs, each in its own namespace, made for real.
    ns_a, ns_b = namespaces(), namespaces()
    scraped = {
        "ingress": [
            {
                "namespaceSelector": {"matchLabels": {"kubernetes.io/metadata.name": MONITORING}},
                "ports": [{"protocol": "TCP", "port": SCRAPE_PORT}],
            }
        ]
    }
    to_storage = {"egress": [{"ipBlock": {"cidr": STORAGE}, "ports": [{"port": 443}]}]}
    job_a = launch(api, training_job("job-a", ns_a, replicas=3, gpus=1, isolation=scraped))
    job_b = launch(api, training_job("job-b", ns_b, replicas=2, gpus=1, isolation=to_storage))

    # Phase 2: the bystanders and every namespace, then the analyzer's matrix.
    scraper = bystander("prometheus", MONITORING, {"app.kubernetes.io/name": "prometheus"})
    dns = bystander("coredns", "kube-system", {"k8s-app": "kube-dns"})
    neighbour = bystander("notebook", ns_a, {"app": "notebook"})
    unrelated = bystander("web", namespace, {"app": "web"})
    monitoring_namespace = {
        "apiVersion": "v1",
        "kind": "Namespace",
        "metadata": {"name": MONITORING, "labels": {"kubernetes.io/metadata.name": MONITORING}},
    }
    held_namespaces = [
        api.get("namespace", name) for name in (ns_a, ns_b, namespace, "kube-system")
    ]
    measured = connectivity(
        [
            *held_namespaces, monitoring_namespace,
            *job_a, *job_b, scraper, dns, neighbour, unrelated,
        ]
    )  # fmt: skip

    # Phase 3: exactly the intended matrix.
    gang_a, gang_b = names(job_a), names(job_b)
    (scraper_pod, dns_pod, neighbour_pod, unrelated_pod) = names(
        [scraper, dns, neighbour, unrelated]
    )
    # No policy selects the bystanders: they talk to each other and to anywhere.
    free = [scraper_pod, dns_pod, neighbour_pod, unrelated_pod, ANYWHERE]
    intended: set[Connection] = {(s, d, ALL_CONNECTIONS) for s in free for d in free if s != d}
    for gang in (gang_a, gang_b):
        intended |= {(s, d, ALL_CONNECTIONS) for s in gang for d in gang if s != d}
        intended |= {(pod, dns_pod, only("TCP", "UDP", port=53)) for pod in gang}
    intended |= {(scraper_pod, pod, only("TCP", port=SCRAPE_PORT)) for pod in gang_a}
    intended |= {(pod, STORAGE, only("TCP", port=443)) for pod in gang_b}
    assert measured == intended


def test_the_policy_is_removed_with_its_job(api: Cluster, namespace: str) -> None:
    launch(api, training_job("job-c", namespace, replicas=2, gpus=1, isolation={}))

    api.kubectl("delete", "trainingjob", "job-c", "-n", namespace, "--cascade=background")

    # The garbage collector watches a resource only once its discovery resync (every 30 s)
    # has seen it: on a fresh cluster, whose CRDs the `api` fixture has just installed, the
    # first deletion of a TrainingJob took 41 s here.
    api.wait_for(
        lambda: not api.get("networkpolicies", "-n", namespace)["items"] or None,
        what="the garbage collector to delete job-c's NetworkPolicy",
        timeout=180,
    )
