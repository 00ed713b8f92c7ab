"""netsched installed by its Helm chart on the dev cluster's real nodes: the operator and the
probe agents as real pods from the locally built image (``localhost/netsched:local``).

The values put both on the real nodes (their label and taint) and open the operator's own
NetworkPolicy, which kube-router enforces there, to the API server's fabric address (where
the ``kubernetes`` Service leads) and to the host, which scrapes its metrics.
"""

from __future__ import annotations

import urllib.request
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any
from urllib.parse import urlparse

import yaml
from gangs import netsched_samples

from conftest import Cluster
from netsched.devcluster import chart
from netsched.devcluster.fabric import HOST_ADDRESS
from netsched.devcluster.realnodes import REAL_NODE_LABEL

RELEASE, NAMESPACE = "netsched", "netsched-system"
ON_REAL_NODES: dict[str, Any] = {
    "nodeSelector": {REAL_NODE_LABEL: "true"},
    "tolerations": [{"key": REAL_NODE_LABEL, "operator": "Exists", "effect": "NoSchedule"}],
}


def probe_on_real_nodes() -> dict[str, Any]:
    """The DaemonSet on the real nodes only: null drops the chart's default GPU-node selector
    (Helm merges maps)."""
    return {
        "nodeSelector": {**ON_REAL_NODES["nodeSelector"], "nvidia.com/gpu.present": None},
        "tolerations": ON_REAL_NODES["tolerations"],
    }


def values(cluster: Cluster, *, probe: dict[str, Any] | None) -> dict[str, Any]:
    server = yaml.safe_load(cluster.kubeconfig.read_text())["clusters"][0]["cluster"]["server"]
    host = {"ipBlock": {"cidr": f"{HOST_ADDRESS}/32"}}
    return {
        "image": {"repository": "localhost/netsched", "tag": "local", "pullPolicy": "Never"},
        "operator": {
            **ON_REAL_NODES,
            "extraArgs": ["--verbose"],
            "networkPolicy": {
                "metricsFrom": [host],
                "apiServer": {"cidr": f"{HOST_ADDRESS}/32", "port": urlparse(server).port},
            },
        },
        "probe": {"enabled": False}
        if probe is None
        else {"enabled": True, **probe_on_real_nodes(), **probe},
        "defaultTopology": {"enabled": False},
    }


@contextmanager
def installed(
    cluster: Cluster, tmp: Path, *, probe: dict[str, Any] | None = None
) -> Iterator[None]:
    """``helm install`` into a namespace enforcing the restricted profile; uninstalled after."""
    cluster.kubectl("create", "namespace", NAMESPACE, check=False)
    cluster.kubectl("label", "--overwrite", "namespace", NAMESPACE,
                    "pod-security.kubernetes.io/enforce=restricted")  # fmt: skip
    file = tmp / "values.yaml"
    file.write_text(yaml.safe_dump(values(cluster, probe=probe)))
    try:
        chart.run_helm("install", RELEASE, str(chart.CHART), "-n", NAMESPACE, "-f", str(file),
                       "--wait", "--timeout=180s", kubeconfig=cluster.kubeconfig)  # fmt: skip
        yield
    finally:
        chart.run_helm("uninstall", RELEASE, "-n", NAMESPACE, "--ignore-not-found", "--wait",
                       kubeconfig=cluster.kubeconfig)  # fmt: skip
        cluster.kubectl("delete", "namespace", NAMESPACE, "--ignore-not-found", check=False)


def operator_pod(cluster: Cluster) -> dict[str, Any]:
    [pod] = cluster.get("pods", "-n", NAMESPACE, "-l", "app.kubernetes.io/component=operator")[
        "items"
    ]
    return dict(pod)


def scrape(cluster: Cluster) -> dict[str, float]:
    """The in-cluster operator's ``/metrics``, from the host, as ``{'name{labels}': value}``."""
    url = f"http://{operator_pod(cluster)['status']['podIP']}:9090/metrics"
    with urllib.request.urlopen(url, timeout=5) as response:
        return netsched_samples(response.read().decode())
