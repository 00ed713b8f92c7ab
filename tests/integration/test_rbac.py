"""The chart's RBAC, proven against the dev cluster's API server, which enforces RBAC: the
operator and the probe agent run with tokens of the chart's own ServiceAccounts
(``kubectl create token``), never as an administrator.

- the operator, as a real ``netsched run`` process, takes jobs through their whole lifecycle
  (placed, running, succeeded, deleted by their TTL) and reports a NetworkTopology, and not
  one request is refused;
- the probe agent makes every request it makes (settings, peers, busy nodes, a measurement
  written, its own pruned) and none is refused; with any one rule removed, the request that
  needs it fails with the API server's message naming the verb and the resource.
"""

from __future__ import annotations

import json
from collections.abc import Iterator
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import pytest
import yaml
from gangs import (
    OperatorProcess,
    network_topology,
    phase,
    pods,
    set_pod_phase,
    status_of,
    training_job,
    wait_phase,
)

from conftest import Cluster
from netsched.devcluster import chart
from netsched.devcluster.controlplane import audit_log

pytestmark = pytest.mark.integration

RELEASE, NAMESPACE, PROBES = "rbac", "rbac-system", "rbac-probe"
OPERATOR_ACCOUNT, PROBE_ACCOUNT = "rbac-netsched", "rbac-netsched-probe"
Permission = tuple[str, str, str]
"""(API group, resource[/subresource], verb), as RBAC rules and audit events name them."""


@pytest.fixture(scope="module")
def accounts(api: Cluster) -> Iterator[Cluster]:
    """The chart installed (its operator's pod lands on a KWOK node: only its account is used)."""
    api.kubectl("create", "namespace", NAMESPACE, check=False)
    chart.run_helm(
        "install", RELEASE, str(chart.CHART), "-n", NAMESPACE, f"--set=probe.namespace={PROBES}",
        "--set=defaultTopology.enabled=false", "--set=operator.networkPolicy.enabled=false",
        kubeconfig=api.kubeconfig,
    )  # fmt: skip

    def bound() -> bool:  # the authorizer has the new bindings (a moment after the write)
        account = "system:serviceaccount:{}:{}".format
        checks = [
            (account(NAMESPACE, OPERATOR_ACCOUNT), "trainingjobs.netsched.io"),
            (account(PROBES, PROBE_ACCOUNT), "linkmeasurements.netsched.io"),
        ]
        return all(
            api.kubectl(
                "auth", "can-i", "list", resource, f"--as={user}", check=False
            ).stdout.strip()
            == "yes"
            for user, resource in checks
        )

    Cluster.wait_for(bound, what="the chart's RoleBindings to take effect")
    try:
        yield api
    finally:
        chart.run_helm("uninstall", RELEASE, "-n", NAMESPACE, "--wait",
                       kubeconfig=api.kubeconfig)  # fmt: skip
        api.kubectl("delete", "namespace", NAMESPACE, "--wait=false", check=False)


def as_account(cluster: Cluster, account: str, namespace: str, directory: Path) -> Cluster:
    """The cluster as the ServiceAccount sees it: a kubeconfig with one of its tokens."""
    token = cluster.kubectl("create", "token", account, "-n", namespace, "--duration=1h").stdout
    config = yaml.safe_load(cluster.kubeconfig.read_text())
    config["users"] = [{"name": account, "user": {"token": token.strip()}}]
    config["contexts"] = [{"name": account, "context": {"cluster": config["clusters"][0]["name"],
                                                         "user": account}}]  # fmt: skip
    config["current-context"] = account
    path = directory / f"{account}.kubeconfig"
    path.write_text(yaml.safe_dump(config))
    return Cluster(kubeconfig=path, kubectl_binary=cluster.kubectl_binary)


def test_the_operator_runs_a_whole_lifecycle_with_its_accounts_token_and_no_403(
    accounts: Cluster, namespace: str, tmp_path: Path
) -> None:
    admin = accounts
    limited = as_account(admin, OPERATOR_ACCOUNT, NAMESPACE, tmp_path)
    # It can do no more than its role: reading a Secret is refused.
    assert limited.kubectl("get", "secrets", "-A", check=False).returncode != 0
    operator = OperatorProcess(cluster=limited, log_dir=tmp_path)
    admin.apply(network_topology("rbac-fabric", host_gbps=400, spine_gbps=3200, leaf_gbps=1600))
    operator.start()
    try:
        admin.apply(training_job("life", namespace, runPolicy={"ttlSecondsAfterFinished": 2}))
        found = wait_phase(admin, namespace, "life", "Running")
        assert found["status"]["placement"]["ranks"]
        assert admin.get("networkpolicy", "life", "-n", namespace)
        set_pod_phase(admin, namespace, "life-1", "Failed")  # the gang restarts: pods deleted
        Cluster.wait_for(
            lambda: (status_of(admin, namespace, "life").get("restarts") == 1
                     and phase(admin, namespace, "life") == "Running"),
            what="the gang to restart and run",
        )  # fmt: skip
        for pod in pods(admin, namespace, "life"):
            set_pod_phase(admin, namespace, pod["metadata"]["name"], "Succeeded")
        wait_phase(admin, namespace, "life", "Succeeded")
        Cluster.wait_for(
            lambda: admin.kubectl("get", "tj", "life", "-n", namespace, check=False).returncode,
            what="the TTL to delete the job",
        )
        Cluster.wait_for(
            lambda: (admin.get("networktopology", "rbac-fabric").get("status") or {}).get(
                "domains"
            ),
            what="the operator to write the topology's status",
        )
    finally:
        operator.stop()
        admin.kubectl("delete", "networktopology", "rbac-fabric", check=False)
    log = operator.log_text()
    # Each line opens with its time, whose milliseconds can read 403: look past it.
    said = "\n".join(line.split(" ", 2)[-1] for line in log.splitlines())
    assert "403" not in said and "orbidden" not in said, log[-3000:]
    # What it asked for is what its role grants: not a verb more, not a verb less.
    user = f"system:serviceaccount:{NAMESPACE}:{OPERATOR_ACCOUNT}"
    assert_exactly_granted(admin, user, OPERATOR_ACCOUNT)


def test_without_any_one_rule_the_operator_names_what_it_lacks(
    accounts: Cluster, namespace: str, tmp_path: Path
) -> None:
    """Each rule of the operator's role removed in turn: the operator, given a job, logs the
    API server's refusal naming the verb and the resource it lacks."""
    admin = accounts
    role = _clean(admin.get("clusterrole", OPERATOR_ACCOUNT))
    limited = as_account(admin, OPERATOR_ACCOUNT, NAMESPACE, tmp_path)
    try:
        for index, rule in enumerate(role["rules"]):
            fewer = {**role, "rules": role["rules"][:index] + role["rules"][index + 1 :]}
            admin.apply(fewer, "--force-conflicts")
            Cluster.wait_for(lambda r=rule: not _can(admin, r), what=f"{rule} to be removed")
            named = [f'cannot {v} resource "{r}"' for r in rule["resources"] for v in rule["verbs"]]
            log = _operator_log_with_a_job(
                admin, limited, namespace, tmp_path / f"rule-{index}", refusals=named
            )
            assert any(n in log for n in named), (rule, log[-3000:])
            admin.apply(role, "--force-conflicts")
            Cluster.wait_for(lambda r=rule: _can(admin, r), what=f"{rule} to be back")
    finally:
        admin.apply(role, "--force-conflicts")


def _can(admin: Cluster, rule: dict[str, Any]) -> bool:
    """Whether the operator's account may do the rule's first verb on its first resource."""
    group, resource, verb = rule["apiGroups"][0], rule["resources"][0], rule["verbs"][0]
    resource, _, subresource = resource.partition("/")
    target = f"{resource}.{group}" if group else resource
    user = f"--as=system:serviceaccount:{NAMESPACE}:{OPERATOR_ACCOUNT}"
    extra = [f"--subresource={subresource}"] if subresource else []
    answer = admin.kubectl("auth", "can-i", verb, target, *extra, user, check=False)
    return answer.stdout.strip() == "yes"


def _operator_log_with_a_job(
    admin: Cluster, limited: Cluster, namespace: str, logs: Path, *, refusals: list[str]
) -> str:
    """Start the operator with ``limited``'s token, give it a job, and return its log once
    it has logged one of ``refusals`` (the wait fails, with the log, if it never does)."""
    logs.mkdir()
    operator = OperatorProcess(cluster=limited, log_dir=logs)
    operator.start()
    name = f"lacks-{logs.name}"
    try:
        admin.apply(training_job(name, namespace, replicas=1))
        Cluster.wait_for(
            lambda: any(r in operator.log_text() for r in refusals),
            what=f"one of {refusals} in its log ({operator.log})",
        )
        return operator.log_text()
    finally:
        operator.stop()
        admin.kubectl("delete", "tj", name, "-n", namespace, "--wait=false")


def audited_requests(cluster: Cluster, user: str) -> set[Permission]:
    """Every (API group, resource, verb) ``user`` asked for, from the dev cluster's audit log
    (devcluster.controlplane.AUDIT_POLICY keeps it for every ServiceAccount)."""
    log = audit_log(cluster.kubeconfig.parent)
    assert log.is_file(), f"{log}: this test reads the dev cluster's audit log"
    asked = set()
    for line in log.read_text().splitlines():
        event = json.loads(line)
        ref = event.get("objectRef")
        if event["user"]["username"] != user or not ref:  # no ref: /api, /version, ...
            continue
        if event.get("userAgent", "").startswith("kubectl"):  # the test, with the same token
            continue
        resource = ref["resource"] + (f"/{ref['subresource']}" if ref.get("subresource") else "")
        asked.add((ref.get("apiGroup", ""), resource, event["verb"]))
    return asked


def granted(role: dict[str, Any]) -> set[Permission]:
    return {
        (group, resource, verb)
        for rule in role["rules"]
        for group in rule["apiGroups"]
        for resource in rule["resources"]
        for verb in rule["verbs"]
    }


def assert_exactly_granted(cluster: Cluster, user: str, role_name: str) -> None:
    grants = granted(cluster.get("clusterrole", role_name))
    asked = Cluster.wait_for(  # the audit log is written a moment after each request
        lambda: audited_requests(cluster, user) or None, what=f"{user}'s audit events"
    )
    unused, refused = sorted(grants - asked), sorted(asked - grants)
    assert not unused and not refused, (
        f"granted, never asked for: {unused}; asked, not granted: {refused}"
    )


def probe_requests(agent: Any) -> list[str]:
    """Every request the probe agent makes, in turn; returns the names of those made."""
    from netsched.domain.probe_schedule import Probe
    from netsched.probe.agent import measurement_manifest
    from netsched.probe.iperf3 import Measured

    settings = agent.settings()
    peers = agent.peers(settings.scheme)
    agent.busy(*list(peers)[:2])
    node = next(iter(peers.values()))
    manifest = measurement_manifest(
        Probe(node.info.name, "somewhere-else", "leaf", 0),
        Measured(gbps=1.0, rtt_microseconds=None, seconds=1, streams=1),
        round_index=0, source_uid=node.uid, measured_at=datetime.now(UTC), duration_seconds=1,
    )  # fmt: skip
    agent.write(manifest)
    agent.write(manifest)  # the second time, a patch
    agent.prune(settings.scheme, peers)  # its target is no peer: deleted
    return ["settings", "peers", "busy", "write", "prune"]


def test_the_probe_agent_needs_exactly_its_rules(accounts: Cluster, tmp_path: Path) -> None:
    """Each verb of each rule: without it, a request fails with a message naming it."""
    from netsched.kubeclient import connect
    from netsched.probe.agent import Agent, AgentOptions

    admin = accounts
    limited = as_account(admin, PROBE_ACCOUNT, PROBES, tmp_path)
    node = admin.get("nodes")["items"][0]["metadata"]["name"]
    role = _clean(admin.get("clusterrole", PROBE_ACCOUNT))
    with connect(limited.kubeconfig) as api:
        agent = Agent(api, AgentOptions(node=node))
        assert probe_requests(agent)  # everything it does, allowed
        try:
            for index, rule in enumerate(role["rules"]):
                for verb in rule["verbs"]:
                    fewer = [dict(r) for r in role["rules"]]
                    fewer[index]["verbs"] = [v for v in rule["verbs"] if v != verb]
                    admin.apply(
                        {**role, "rules": [r for r in fewer if r["verbs"]]}, "--force-conflicts"
                    )
                    message = str(_refusal(agent))
                    named = [
                        f'cannot {verb} resource "{resource}"' for resource in rule["resources"]
                    ]
                    assert any(n in message for n in named), (verb, rule, message)
                    admin.apply(role, "--force-conflicts")
                    Cluster.wait_for(lambda: _allowed(agent), what="the whole role back")
        finally:
            admin.apply(role, "--force-conflicts")
    assert_exactly_granted(admin, f"system:serviceaccount:{PROBES}:{PROBE_ACCOUNT}", PROBE_ACCOUNT)


def _clean(role: dict[str, Any]) -> dict[str, Any]:
    """The role as applied by hand: its name and rules."""
    return {"apiVersion": role["apiVersion"], "kind": role["kind"],
            "metadata": {"name": role["metadata"]["name"]}, "rules": role["rules"]}  # fmt: skip


def _refusal(agent: Any) -> Exception:
    """The 403 the agent's requests meet once the API server has the smaller role."""
    from netsched.kubeclient import HTTPError, Rejected

    found: list[Exception] = []

    def refused() -> bool:
        try:
            probe_requests(agent)
        except Rejected as error:  # a create refused (403 on POST)
            found.append(error)
            return True
        except HTTPError as error:
            if error.status != 403:
                raise
            found.append(error)
            return True
        return False

    Cluster.wait_for(refused, what="a request to be refused without the permission", timeout=15)
    return found[-1]


def _allowed(agent: Any) -> bool:
    from netsched.kubeclient import HTTPError, Rejected

    try:
        return bool(probe_requests(agent))
    except (HTTPError, Rejected):
        return False
