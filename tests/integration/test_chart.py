"""netsched's Helm chart with the helm built here: lint and render with every switch, the plain
manifests current, and a real install, upgrade and uninstall on the dev cluster, into a
namespace that enforces the restricted pod security profile.

The operator's pod runs on a KWOK node here (admitted and scheduled is what this checks; the
real-node tests run the image for real).
"""

from __future__ import annotations

import json
from collections.abc import Iterator
from typing import Any

import pytest
import yaml

from conftest import Cluster
from netsched import observe
from netsched.devcluster import chart

pytestmark = pytest.mark.integration

RELEASE, NAMESPACE, PROBES = "nsched", "nsched-system", "nsched-probe"
SWITCHES = {
    "probe.enabled=false": lambda objects: "DaemonSet" not in {k for k, _ in objects},
    "probe.createNamespace=false": lambda objects: ("Namespace", "netsched-probe") not in objects,
    "metrics.service.enabled=false": lambda objects: "Service" not in {k for k, _ in objects},
    "metrics.serviceMonitor.enabled=true": lambda objects: (
        "ServiceMonitor" in {k for k, _ in objects}
    ),
    "metrics.prometheusRule.enabled=true": lambda objects: (
        "PrometheusRule" in {k for k, _ in objects}
    ),
    "dashboard.enabled=false": lambda objects: "ConfigMap" not in {k for k, _ in objects},
    "operator.networkPolicy.enabled=false": lambda objects: (
        "NetworkPolicy" not in {k for k, _ in objects}
    ),
    "defaultTopology.enabled=false": lambda objects: (
        "NetworkTopology" not in {k for k, _ in objects}
    ),
}
"""Every switch of values.yaml flipped from its default, and what that changes."""
KINDS = "deployments,daemonsets,services,serviceaccounts,networkpolicies,pods,configmaps"
CLUSTER_KINDS = "clusterroles,clusterrolebindings,networktopologies,namespaces"


def rendered(values: list[str]) -> list[dict[str, Any]]:
    return [d for d in yaml.safe_load_all(chart.render(values)) if d]


def test_the_chart_lints_and_renders_with_its_defaults() -> None:
    chart.run_helm("lint", "--strict", str(chart.CHART))
    kinds = {d["kind"] for d in rendered([])}
    assert {"Deployment", "DaemonSet", "Service", "NetworkPolicy", "NetworkTopology"} <= kinds
    assert "ServiceMonitor" not in kinds


@pytest.mark.parametrize("switch", list(SWITCHES))
def test_the_chart_lints_and_renders_with_each_switch_flipped(switch: str) -> None:
    chart.run_helm("lint", "--strict", str(chart.CHART), f"--set={switch}")
    objects = {(d["kind"], d["metadata"]["name"]) for d in rendered([switch])}
    assert SWITCHES[switch](objects), sorted(objects)
    assert ("Deployment", "netsched") in objects


def test_the_alerts_and_the_dashboard_are_rendered_as_observe_makes_them() -> None:
    docs = {d["kind"]: d for d in rendered(["metrics.prometheusRule.enabled=true"])}
    assert docs["PrometheusRule"]["spec"] == observe.alert_rules()
    board = docs["ConfigMap"]
    assert board["metadata"]["labels"]["grafana_dashboard"] == "1"
    assert json.loads(board["data"]["netsched-dashboard.json"]) == observe.dashboard()


def test_a_value_of_the_wrong_type_is_refused_by_the_schema() -> None:
    with pytest.raises(Exception, match=r"pullPolicy"):
        chart.render(["image.pullPolicy=Sometimes"])


def test_the_plain_manifests_are_the_chart_rendered() -> None:
    assert chart.INSTALL_MANIFESTS.read_text() == chart.render(), "run `make manifests`"


def test_the_operator_is_restricted_and_the_probe_is_where_host_networking_is_allowed() -> None:
    docs = {(d["kind"], d["metadata"]["name"]): d for d in rendered([])}
    operator = docs[("Deployment", "netsched")]["spec"]
    assert operator["replicas"] == 1 and operator["strategy"]["type"] == "Recreate"
    [container] = operator["template"]["spec"]["containers"]
    assert container["securityContext"]["runAsNonRoot"] is True
    assert container["livenessProbe"]["httpGet"]["path"] == "/healthz"
    assert container["resources"]["limits"]["memory"]
    probe = docs[("DaemonSet", "netsched-probe")]
    assert probe["metadata"]["namespace"] == "netsched-probe"
    labels = docs[("Namespace", "netsched-probe")]["metadata"]["labels"]
    assert labels["pod-security.kubernetes.io/enforce"] == "privileged"
    args = probe["spec"]["template"]["spec"]["containers"][0]["args"]
    assert "--node-selector=nvidia.com/gpu.present=true" in args


@pytest.fixture
def release(api: Cluster) -> Iterator[Cluster]:
    api.kubectl("create", "namespace", NAMESPACE)
    api.kubectl("label", "namespace", NAMESPACE, "pod-security.kubernetes.io/enforce=restricted")
    try:
        yield api
    finally:
        chart.run_helm("uninstall", RELEASE, "-n", NAMESPACE, "--ignore-not-found", "--wait",
                       kubeconfig=api.kubeconfig)  # fmt: skip
        api.kubectl("delete", "namespace", NAMESPACE, "--ignore-not-found", "--wait=false")


def leftovers(cluster: Cluster) -> list[str]:
    selector = f"app.kubernetes.io/instance={RELEASE}"
    found = cluster.get(KINDS, "-A", "-l", selector)["items"]
    found += cluster.get(CLUSTER_KINDS, "-l", selector)["items"]
    return [f"{o['kind']}/{o['metadata']['name']}" for o in found]


def test_install_upgrade_and_uninstall_on_the_dev_cluster(release: Cluster) -> None:
    cluster = release
    values = [f"--set=probe.namespace={PROBES}", "--set=image.pullPolicy=Never"]
    out = chart.run_helm(
        "install", RELEASE, str(chart.CHART), "-n", NAMESPACE, *values, "--wait",
        "--timeout=120s", kubeconfig=cluster.kubeconfig,
    )  # fmt: skip
    assert "STATUS: deployed" in out and "nsched-netsched-probe" in out  # NOTES.txt
    [pod] = cluster.get("pods", "-n", NAMESPACE, "-l", "app.kubernetes.io/component=operator")[
        "items"
    ]
    assert pod["spec"].get("nodeName"), "the operator's pod was not scheduled"
    assert pod["status"]["phase"] == "Running"
    # Admitted under the restricted profile: the namespace enforces it, and the pod exists.
    assert (
        cluster.get("namespace", NAMESPACE)["metadata"]["labels"][
            "pod-security.kubernetes.io/enforce"
        ]
        == "restricted"
    )
    assert cluster.get("networktopology", "default")["spec"]["hostGbps"] == 400
    board = cluster.get("configmap", "-n", NAMESPACE, "nsched-netsched-dashboard")
    assert json.loads(board["data"]["netsched-dashboard.json"])["uid"] == observe.DASHBOARD_UID
    assert cluster.get("daemonset", "-n", PROBES, "nsched-netsched-probe")["spec"]["template"][
        "spec"
    ]["hostNetwork"]

    chart.run_helm(
        "upgrade", RELEASE, str(chart.CHART), "-n", NAMESPACE, *values,
        "--set=operator.starvationSeconds=120", "--wait", "--timeout=120s",
        kubeconfig=cluster.kubeconfig,
    )  # fmt: skip
    args = cluster.get("deployment", "-n", NAMESPACE, "nsched-netsched")["spec"]["template"][
        "spec"
    ]["containers"][0]["args"]
    assert "--starvation-seconds=120" in args

    chart.run_helm("uninstall", RELEASE, "-n", NAMESPACE, "--wait", kubeconfig=cluster.kubeconfig)
    cluster.wait_for(lambda: not leftovers(cluster), what="every object of the release to go")
    # As Helm does, the CRDs stay.
    assert cluster.get("crd", "trainingjobs.netsched.io")["metadata"]["name"]


def test_the_monitoring_objects_are_accepted_by_the_real_api_server(api: Cluster) -> None:
    """With the Prometheus Operator's CRDs installed (from its Go module), the chart's
    ServiceMonitor and PrometheusRule pass the API server's schema validation."""
    crds = chart.monitoring_crds()
    for crd in crds:
        api.kubectl("apply", "--server-side", "-f", str(crd))
    names = [f"crd/{chart.MONITORING_CRDS[i]}.monitoring.coreos.com" for i in range(len(crds))]
    api.kubectl("wait", "--for=condition=Established", "--timeout=60s", *names)
    namespace = "nsched-monitoring"
    api.kubectl("create", "namespace", namespace)
    values = [
        "--set=metrics.serviceMonitor.enabled=true", "--set=metrics.prometheusRule.enabled=true",
        "--set=probe.enabled=false", "--set=defaultTopology.enabled=false",
    ]  # fmt: skip
    try:
        chart.run_helm("install", "mon", str(chart.CHART), "-n", namespace, *values,
                       kubeconfig=api.kubeconfig)  # fmt: skip
        monitor = api.get("servicemonitor", "-n", namespace, "mon-netsched")
        assert monitor["spec"]["jobLabel"] == "app.kubernetes.io/name"
        rule = api.get("prometheusrule", "-n", namespace, "mon-netsched")
        assert rule["spec"] == observe.alert_rules()
    finally:
        chart.run_helm("uninstall", "mon", "-n", namespace, "--ignore-not-found",
                       kubeconfig=api.kubeconfig)  # fmt: skip
        api.kubectl("delete", "namespace", namespace, "--wait=false", check=False)
        api.kubectl("delete", *names, "--wait=false", check=False)
