"""The operator for real: ``netsched run`` against the real control plane, jobs from kubectl.

Every test leaves the cluster to :func:`gangs.assert_invariants` (no over-commit, no
orphans, every gang where its status says). The test cluster is a leaf/spine of 8-GPU
KWOK nodes (8 nodes a leaf)::

    #                 core-0
    #                spine-0
    #         leaf-0          leaf-1    ...
    #     h0 .. h7         h0 .. h7
"""

from __future__ import annotations

import json
import subprocess
import sys
import time
from collections import defaultdict
from pathlib import Path
from typing import Any

import pytest
import yaml
from gangs import (
    STARVATION_SECONDS,
    OperatorProcess,
    condition,
    events,
    job,
    phase,
    pods,
    set_pod_phase,
    status_of,
    training_job,
    wait_phase,
)

from conftest import Cluster
from netsched.devcluster.kwok import NOT_READY_LABEL

pytestmark = pytest.mark.integration

PATTERNS = ["DataParallel", "ModelParallel", "PipelineParallel", "ExpertParallel", "Hybrid", "None"]
LEAF = "netsched.io/leaf"


@pytest.mark.parametrize("pattern", PATTERNS)
def test_each_pattern_is_placed_started_and_reported(api: Cluster, jobs: str, pattern: str) -> None:
    name = f"j-{pattern.lower()}"
    api.apply(training_job(name, jobs, replicas=3, pattern=pattern))
    found = wait_phase(api, jobs, name, "Running")
    status = found["status"]
    assert status["gpus"] == 24
    assert status["observedGeneration"] == found["metadata"]["generation"]
    assert status["startTime"]
    for kind, reason in (("Ready", "Valid"), ("Placed", "Placed"), ("Running", "AllPodsRunning")):
        entry = condition(found, kind)
        assert (entry["status"], entry["reason"]) == ("True", reason)
        assert entry["observedGeneration"] == found["metadata"]["generation"]
    placement = status["placement"]
    assert [r["rank"] for r in placement["ranks"]] == [0, 1, 2]
    assert placement["tiersSpanned"] in ("leaf", "spine")
    assert placement["strategy"] == "netsched"
    gang = pods(api, jobs, name)
    assert [p["spec"]["nodeName"] for p in gang] == [r["node"] for r in placement["ranks"]]
    Cluster.wait_for(  # an Event is posted just after the status write it reports
        lambda: {"Placed", "AllPodsRunning"} <= {e["reason"] for e in events(api, jobs, name)},
        what="the Placed and AllPodsRunning Events",
    )


def test_pods_carry_labels_owner_rendezvous_and_environment(api: Cluster, jobs: str) -> None:
    api.apply(training_job("ddp", jobs, replicas=2, gpus=4))
    found = wait_phase(api, jobs, "ddp", "Running")
    uid = found["metadata"]["uid"]
    for rank, pod in enumerate(pods(api, jobs, "ddp")):
        metadata, spec = pod["metadata"], pod["spec"]
        assert metadata["name"] == f"ddp-{rank}"
        assert metadata["labels"]["netsched.io/job"] == "ddp"
        assert metadata["labels"]["netsched.io/rank"] == str(rank)
        assert [o["uid"] for o in metadata["ownerReferences"]] == [uid]
        assert (spec["hostname"], spec["subdomain"]) == (f"ddp-{rank}", "ddp")
        assert not spec.get("schedulingGates")
        assert spec["nodeSelector"] == {"kubernetes.io/hostname": spec["nodeName"]}
        env = {e["name"]: e["value"] for e in spec["containers"][0]["env"]}
        assert env == {
            "MASTER_ADDR": "ddp-0.ddp",
            "MASTER_PORT": "29500",
            "WORLD_SIZE": "2",
            "RANK": str(rank),
            "PET_NNODES": "2",
            "PET_NODE_RANK": str(rank),
            "PET_NPROC_PER_NODE": "4",
            "PET_MASTER_ADDR": "ddp-0.ddp",
            "PET_MASTER_PORT": "29500",
        }
    service = api.get("service", "ddp", "-n", jobs)
    assert service["spec"]["clusterIP"] == "None"
    assert service["spec"]["selector"] == {"netsched.io/job": "ddp"}
    policy = api.get("networkpolicy", "ddp", "-n", jobs)
    assert policy["spec"]["podSelector"] == {"matchLabels": {"netsched.io/job": "ddp"}}
    assert [o["uid"] for o in policy["metadata"]["ownerReferences"]] == [uid]


def test_an_invalid_spec_creates_nothing_and_says_which_field(api: Cluster, jobs: str) -> None:
    bad = training_job("bad", jobs, topology={"maxTier": "rack"})
    api.apply(bad)
    api.apply(training_job("good", jobs))
    wait_phase(api, jobs, "good", "Running")
    Cluster.wait_for(
        lambda: (job(api, jobs, "bad").get("status") or {}).get("conditions"),
        what="the invalid job's condition",
    )
    ready = condition(job(api, jobs, "bad"), "Ready")
    assert (ready["status"], ready["reason"]) == ("False", "InvalidSpec")
    assert "spec.topology.maxTier" in ready["message"] and "rack" in ready["message"]
    assert not pods(api, jobs, "bad")
    assert not api.get("networkpolicies", "-n", jobs, "-l", "netsched.io/job=bad")["items"]
    warning = Cluster.wait_for(
        lambda: [e for e in events(api, jobs, "bad") if e["reason"] == "InvalidSpec"],
        what="the InvalidSpec Event",
    )
    assert "spec.topology.maxTier" in warning[0]["message"]


def test_a_stream_of_invalid_specs_does_not_stop_the_valid_ones(api: Cluster, jobs: str) -> None:
    for index in range(6):
        api.apply(training_job(f"bad-{index}", jobs, topology={"networkTopology": "nowhere"}))
        api.apply(training_job(f"good-{index}", jobs, replicas=1, gpus=2))
    for index in range(6):
        wait_phase(api, jobs, f"good-{index}", "Running")
        Cluster.wait_for(
            lambda i=index: (job(api, jobs, f"bad-{i}").get("status") or {}).get("conditions"),
            what=f"bad-{index} to be judged",
        )
        assert condition(job(api, jobs, f"bad-{index}"), "Ready")["reason"] == "InvalidSpec"


def test_a_gang_too_big_waits_unschedulable_and_is_placed_when_capacity_frees(
    api: Cluster, jobs: str
) -> None:
    leaves = _free_leaves(api)
    # Fill every leaf but one to the brim, then take one node of the last one too.
    for index, nodes in enumerate(leaves[:-1]):
        api.apply(
            training_job(f"fill-{index}", jobs, replicas=len(nodes), topology={"maxTier": "leaf"})
        )
    last = leaves[-1]
    api.apply(training_job("part", jobs, replicas=1))
    for index in range(len(leaves) - 1):
        wait_phase(api, jobs, f"fill-{index}", "Running")
    wait_phase(api, jobs, "part", "Running")
    api.apply(training_job("whole-leaf", jobs, replicas=len(last), topology={"maxTier": "leaf"}))
    found = wait_phase(api, jobs, "whole-leaf", "Unschedulable")
    placed = condition(found, "Placed")
    assert (placed["status"], placed["reason"]) == ("False", "Unschedulable")
    assert f"needs {len(last)} pods of 8 GPUs" in placed["message"]
    assert "under one leaf" in placed["message"]
    assert found["status"]["queuePosition"] == 1
    assert not any(p["spec"].get("nodeSelector") for p in pods(api, jobs, "whole-leaf"))
    Cluster.wait_for(
        lambda: any(e["reason"] == "Unschedulable" for e in events(api, jobs, "whole-leaf")),
        what="the Unschedulable Event",
    )
    api.kubectl("delete", "tj", "part", "-n", jobs)
    found = wait_phase(api, jobs, "whole-leaf", "Running")
    assert found["status"]["placement"]["tiersSpanned"] == "leaf"
    assert "queuePosition" not in found["status"]


def test_all_pods_succeeding_finishes_the_job_and_the_ttl_deletes_it(
    api: Cluster, jobs: str
) -> None:
    api.apply(training_job("done", jobs, runPolicy={"ttlSecondsAfterFinished": 3}))
    wait_phase(api, jobs, "done", "Running")
    for pod in pods(api, jobs, "done"):
        set_pod_phase(api, jobs, pod["metadata"]["name"], "Succeeded")
    found = wait_phase(api, jobs, "done", "Succeeded")
    assert found["status"]["completionTime"]
    assert condition(found, "Succeeded")["status"] == "True"
    Cluster.wait_for(
        lambda: api.kubectl("get", "tj", "done", "-n", jobs, check=False).returncode != 0,
        what="the TTL to delete the job",
    )
    # Deleted in the foreground: once the job is gone, so is everything it owned.
    owned = api.get("pods,services,networkpolicies", "-n", jobs, "-l", "netsched.io/job=done")
    assert not [o for o in owned["items"] if not o["metadata"].get("deletionTimestamp")], owned


@pytest.mark.parametrize(
    ("policy", "expected"), [("RestartGang", "Running"), ("FailJob", "Failed")]
)
def test_a_failed_pod_restarts_the_gang_or_fails_the_job(
    api: Cluster, jobs: str, policy: str, expected: str
) -> None:
    api.apply(training_job("flaky", jobs, runPolicy={"failurePolicy": policy, "backoffLimit": 2}))
    wait_phase(api, jobs, "flaky", "Running")
    before = {p["metadata"]["uid"] for p in pods(api, jobs, "flaky")}
    set_pod_phase(api, jobs, "flaky-1", "Failed")
    if expected == "Failed":
        found = wait_phase(api, jobs, "flaky", "Failed")
        assert condition(found, "Failed")["reason"] == "PodFailed"
        Cluster.wait_for(
            lambda: all(p["status"]["phase"] != "Running" for p in pods(api, jobs, "flaky")),
            what="the failed job's pods to stop",
        )
        return
    Cluster.wait_for(
        lambda: (status_of(api, jobs, "flaky").get("restarts") == 1
                 and phase(api, jobs, "flaky") == "Running"),
        what="the gang to restart and run",
    )  # fmt: skip
    after = pods(api, jobs, "flaky")
    assert not before & {p["metadata"]["uid"] for p in after}
    assert all(p["metadata"]["annotations"]["netsched.io/restart"] == "1" for p in after)


def test_the_backoff_limit_fails_the_job(api: Cluster, jobs: str) -> None:
    api.apply(training_job("doomed", jobs, replicas=1, runPolicy={"backoffLimit": 1}))
    for restarts in (0, 1):
        Cluster.wait_for(
            lambda r=restarts: (status_of(api, jobs, "doomed").get("restarts", 0) == r
                                and phase(api, jobs, "doomed") == "Running"),
            what=f"run {restarts}",
        )  # fmt: skip
        set_pod_phase(api, jobs, "doomed-0", "Failed")
    found = wait_phase(api, jobs, "doomed", "Failed")
    assert condition(found, "Failed")["reason"] == "BackoffLimitExceeded"


def test_a_lost_node_restarts_the_gang_elsewhere(api: Cluster, jobs: str) -> None:
    api.apply(training_job("survivor", jobs))
    found = wait_phase(api, jobs, "survivor", "Running")
    lost = found["status"]["placement"]["ranks"][0]["node"]
    node = api.get("node", lost)
    api.kubectl("delete", "node", lost)
    try:
        Cluster.wait_for(
            lambda: (status_of(api, jobs, "survivor").get("restarts") == 1
                     and phase(api, jobs, "survivor") == "Running"),
            what="the gang to restart off the deleted node",
        )  # fmt: skip
        nodes = {r["node"] for r in status_of(api, jobs, "survivor")["placement"]["ranks"]}
        assert lost not in nodes
    finally:
        _recreate(api, node)


def test_a_node_going_not_ready_restarts_the_gang(api: Cluster, jobs: str) -> None:
    api.apply(training_job("steady", jobs))
    found = wait_phase(api, jobs, "steady", "Running")
    sick = found["status"]["placement"]["ranks"][1]["node"]
    # KWOK's own chaos stage turns the node's Ready condition False, as a failed kubelet.
    api.kubectl("label", "node", sick, f"{NOT_READY_LABEL}=true")
    try:
        Cluster.wait_for(
            lambda: (status_of(api, jobs, "steady").get("restarts") == 1
                     and phase(api, jobs, "steady") == "Running"),
            what="the gang to restart off the NotReady node",
            timeout=120,
        )  # fmt: skip
        nodes = {r["node"] for r in status_of(api, jobs, "steady")["placement"]["ranks"]}
        assert sick not in nodes
        assert condition(job(api, jobs, "steady"), "Placed")["status"] == "True"
    finally:
        api.kubectl("label", "node", sick, f"{NOT_READY_LABEL}-")
        Cluster.wait_for(lambda: _ready(api, sick), what=f"{sick} Ready again", timeout=120)


def test_the_operator_killed_mid_placement_leaves_no_duplicate_and_no_lost_job(
    api: Cluster, operator: OperatorProcess, jobs: str
) -> None:
    names = [f"burst-{i}" for i in range(8)]
    for name in names:
        api.apply(training_job(name, jobs, replicas=2, gpus=4))
    Cluster.wait_for(
        lambda: any(p["spec"].get("nodeSelector") for p in pods(api, jobs)),
        what="the first pins",
    )
    operator.kill()
    operator.start()
    for name in names:
        wait_phase(api, jobs, name, "Running")
        gang = pods(api, jobs, name)
        assert [p["metadata"]["name"] for p in gang] == [f"{name}-0", f"{name}-1"]
    assert len(pods(api, jobs)) == 2 * len(names)


def test_conflicting_writes_are_retried(api: Cluster, jobs: str) -> None:
    """A concurrent writer keeps bumping the job's resourceVersion; status writes that
    lose the race (HTTP 409) are retried on a fresh read, and the job still runs."""
    api.apply(training_job("contested", jobs))
    script = (
        "import subprocess, sys, time\n"
        "end = time.monotonic() + 6\n"
        "i = 0\n"
        "while time.monotonic() < end:\n"
        "    i += 1\n"
        "    subprocess.run(sys.argv[1:] + [f'touch={i}', '--overwrite'], capture_output=True)\n"
    )
    writer = subprocess.Popen([
        sys.executable, "-c", script, str(api.kubectl_binary), f"--kubeconfig={api.kubeconfig}",
        "annotate", "tj", "contested", "-n", jobs,
    ])  # fmt: skip
    try:
        wait_phase(api, jobs, "contested", "Running")
    finally:
        writer.wait(timeout=30)
    assert int(job(api, jobs, "contested")["metadata"]["annotations"]["touch"]) > 1


def test_the_operator_decides_what_netsched_place_decides_on_a_dump(
    api: Cluster, jobs: str, tmp_path: Path
) -> None:
    manifest = training_job("replayed", jobs, replicas=3, pattern="ExpertParallel")
    api.apply(manifest)
    found = wait_phase(api, jobs, "replayed", "Running")
    dump = api.get("nodes,pods,networktopologies,linkmeasurements,trainingjobs", "-A")
    dump["items"] = [
        item for item in dump["items"]
        if not (item["kind"] == "Pod"
                and item["metadata"].get("labels", {}).get("netsched.io/job") == "replayed"
                and item["metadata"]["namespace"] == jobs)
    ]  # fmt: skip
    (tmp_path / "cluster.yaml").write_text(yaml.safe_dump(dump))
    (tmp_path / "job.yaml").write_text(yaml.safe_dump(manifest))
    result = subprocess.run(
        [sys.executable, "-m", "netsched.cli", "place", "--cluster", str(tmp_path / "cluster.yaml"),
         "--job", str(tmp_path / "job.yaml"), "-o", "json"],
        capture_output=True, text=True, check=True,
    )  # fmt: skip
    answer = json.loads(result.stdout)
    assert [r["node"] for r in answer["placement"]] == [
        r["node"] for r in found["status"]["placement"]["ranks"]
    ]
    assert answer["predicted"]["commSecondsPerStep"] == pytest.approx(
        found["status"]["placement"]["predictedCommSecondsPerStep"]
    )


def test_priority_goes_first_and_the_queue_position_is_shown(api: Cluster, jobs: str) -> None:
    leaves = _free_leaves(api)
    for index, nodes in enumerate(leaves):
        api.apply(
            training_job(f"fill-{index}", jobs, replicas=len(nodes), topology={"maxTier": "leaf"})
        )
    for index in range(len(leaves)):
        wait_phase(api, jobs, f"fill-{index}", "Running")
    api.apply(training_job("low", jobs, replicas=1, priority=1))
    wait_phase(api, jobs, "low", "Unschedulable")
    api.apply(training_job("high", jobs, replicas=1, priority=10))
    Cluster.wait_for(
        lambda: (status_of(api, jobs, "high").get("queuePosition"),
                 status_of(api, jobs, "low").get("queuePosition")) == (1, 2),
        what="high to be first in the queue",
    )  # fmt: skip
    api.kubectl("delete", "tj", "fill-0", "-n", jobs)
    wait_phase(api, jobs, "high", "Running")
    wait_phase(api, jobs, "low", "Running")


def test_the_metrics_follow_what_happens(
    api: Cluster, operator: OperatorProcess, jobs: str
) -> None:
    before = operator.scrape()
    api.apply(training_job("counted", jobs, replicas=2))
    api.apply(training_job("refused", jobs, topology={"maxTier": "nowhere"}))
    wait_phase(api, jobs, "counted", "Running")
    Cluster.wait_for(
        lambda: operator.scrape().get('netsched_jobs{phase="Running"}', 0) >= 1,
        what="the Running gauge",
    )
    after = operator.scrape()
    placed = 'netsched_schedule_attempts_total{result="placed"}'
    assert after[placed] >= before.get(placed, 0) + 1
    assert after["netsched_placement_decision_seconds_count"] > before.get(
        "netsched_placement_decision_seconds_count", 0
    )
    assert after["netsched_create_to_bound_seconds_count"] > before.get(
        "netsched_create_to_bound_seconds_count", 0
    )
    tiers = [k for k in after if k.startswith("netsched_placements_total{")]
    assert tiers and sum(after[k] for k in tiers) >= 1
    assert any(k.startswith("netsched_placement_cross_tier_bytes_count{level=") for k in after)
    assert any(k.startswith('netsched_free_gpus{domain="core-0') for k in after)
    assert "netsched_build_info{python" in "".join(after)


# --- helpers -----------------------------------------------------------------------------------


def _free_leaves(api: Cluster) -> list[list[str]]:
    """Nodes per leaf with nothing running, leaves with only empty nodes, in path order."""
    nodes = api.get("nodes", "-l", LEAF)["items"]
    busy = {
        p["spec"].get("nodeName")
        for p in api.get("pods", "-A")["items"]
        if p["status"].get("phase") not in ("Succeeded", "Failed")
    }
    leaves: dict[tuple[str, ...], list[str]] = defaultdict(list)
    for node in nodes:
        labels = node["metadata"]["labels"]
        path = (labels["netsched.io/core"], labels["netsched.io/spine"], labels[LEAF])
        if _ready(api, node=node):
            leaves[path].append(node["metadata"]["name"])
    full = [sorted(names) for _, names in sorted(leaves.items()) if not busy & set(names)]
    assert len(full) >= 2, f"the test needs two idle leaves, found {len(full)}"
    return full


def _ready(api: Cluster, name: str | None = None, *, node: dict[str, Any] | None = None) -> bool:
    node = node or api.get("node", name or "")
    conditions = node.get("status", {}).get("conditions") or []
    return any(c["type"] == "Ready" and c["status"] == "True" for c in conditions)


def _recreate(api: Cluster, node: dict[str, Any]) -> None:
    from netsched.devcluster.nodes import node_manifest
    from netsched.domain.nodes import NodeInfo

    name = node["metadata"]["name"]
    info = NodeInfo(name=name, labels=node["metadata"]["labels"], allocatable_gpus=8)
    api.kubectl("create", "-f", "-", input=json.dumps(node_manifest(info)))
    Cluster.wait_for(lambda: _ready(api, name), what="the node to come back")


def test_a_large_gang_behind_a_stream_of_small_ones_is_placed_within_the_bound(
    api: Cluster, jobs: str
) -> None:
    """Starvation: the cluster is full of one-node jobs and more keep coming as others end.

    Backfilling alone would hand every freed node to the next small job and the
    whole-leaf job would wait forever. Once it has waited STARVATION_SECONDS, the jobs
    behind it are held, the nodes that free up are kept for it, and it runs as soon as a
    leaf is free: within the bound plus the time the running jobs take to free a leaf.
    """
    leaves = _free_leaves(api)
    nodes = sum(len(leaf) for leaf in leaves)
    small = [f"small-{i}" for i in range(nodes)]
    for name in small:
        api.apply(training_job(name, jobs, replicas=1))
    for name in small:
        wait_phase(api, jobs, name, "Running")
    leaf_size = len(leaves[0])
    api.apply(training_job("large", jobs, replicas=leaf_size, topology={"maxTier": "leaf"}))
    wait_phase(api, jobs, "large", "Unschedulable")
    started = time.monotonic()
    submitted, backfilled, held = len(small), set(), set()
    while True:
        listed = {
            j["metadata"]["name"]: j.get("status") or {} for j in api.get("tj", "-n", jobs)["items"]
        }
        if listed["large"].get("phase") in ("Placing", "Running"):
            break
        assert time.monotonic() - started < STARVATION_SECONDS + 60, "the large job starved"
        for name, status in listed.items():
            if name == "large":
                continue
            reasons = {c["type"]: c["reason"] for c in status.get("conditions") or []}
            if reasons.get("Placed") == "HeldBehind":
                held.add(name)
            if int(name.rpartition("-")[2]) >= len(small) and status.get("phase") == "Running":
                backfilled.add(name)
        # The stream: the oldest running small job ends, a new one arrives.
        oldest = min(
            (n for n, st in listed.items() if n != "large" and st.get("phase") == "Running"),
            key=lambda n: int(n.rpartition("-")[2]),
        )
        set_pod_phase(api, jobs, f"{oldest}-0", "Succeeded")
        api.apply(training_job(f"small-{submitted}", jobs, replicas=1))
        submitted += 1
        time.sleep(0.5)  # the stream's pace: one job ends and one arrives twice a second
    waited = time.monotonic() - started
    wait_phase(api, jobs, "large", "Running")
    assert backfilled, "small jobs should backfill while the large one is young"
    assert held, "small jobs should be held behind the starving large one"
    assert waited >= STARVATION_SECONDS - 1


def test_a_gang_that_does_not_bind_in_time_is_unreserved_and_replanned(
    api: Cluster, jobs: str
) -> None:
    """kube-scheduler refuses the pinned pods (they ask for more CPU than any node has, which
    netsched does not count): after the bind timeout the pins are released and re-planned."""
    manifest = training_job("stuck", jobs, runPolicy={"schedulingTimeoutSeconds": 5})
    container = manifest["spec"]["template"]["spec"]["containers"][0]
    container["resources"]["requests"] = {"cpu": "1000"}
    api.apply(manifest)
    wait_phase(api, jobs, "stuck", "Placing")
    # Placing is written before the pins: wait for them, then for the timeout.
    pinned = Cluster.wait_for(
        lambda: (len(gang := pods(api, jobs, "stuck")) == 2
                 and all(p["spec"].get("nodeSelector") for p in gang) and gang),
        what="the stuck gang pinned",
    )  # fmt: skip
    first = {p["metadata"]["uid"] for p in pinned}
    Cluster.wait_for(
        lambda: any(e["reason"] == "BindTimeout" for e in events(api, jobs, "stuck")),
        what="the bind timeout",
    )
    Cluster.wait_for(
        lambda: (len(gang := pods(api, jobs, "stuck")) == 2
                 and not first & {p["metadata"]["uid"] for p in gang}),
        what="a new gang",
    )  # fmt: skip
    timeout = next(e for e in events(api, jobs, "stuck") if e["reason"] == "BindTimeout")
    assert "did not bind within 5 s" in timeout["message"]
    assert status_of(api, jobs, "stuck").get("restarts", 0) == 0


def test_explain_and_queue_read_the_decisions_back(api: Cluster, jobs: str) -> None:
    api.apply(training_job("shown", jobs, replicas=2))
    found = wait_phase(api, jobs, "shown", "Running")
    api.apply(training_job("too-big", jobs, replicas=2, gpus=16))
    wait_phase(api, jobs, "too-big", "Unschedulable")

    def netsched(*args: str) -> str:
        command = [sys.executable, "-m", "netsched.cli", *args, f"--kubeconfig={api.kubeconfig}"]
        return subprocess.run(command, capture_output=True, text=True, check=True).stdout

    shown = netsched("explain", "shown", "-n", jobs)
    for entry in found["status"]["placement"]["ranks"]:
        assert entry["node"] in shown
    assert "labels-only (tas) on the cluster now, without this job: comm/step" in shown
    waiting = netsched("explain", "too-big", "-n", jobs)
    assert "Unschedulable" in waiting and "needs 2 pods of 16 GPUs" in waiting
    queue = netsched("queue")
    line = next(row for row in queue.splitlines() if f"{jobs}/too-big" in row)
    assert line.split()[0] == "1" and "Unschedulable" in line


def test_a_new_gang_keeps_off_the_uplinks_a_running_gang_crosses(api: Cluster, jobs: str) -> None:
    # 3 pods of 4 GPUs: two share a node, the third sits on another, so the ring crosses
    # both host uplinks. The next such gang could fill the second node (best fit, as
    # Kueue's TAS would), but its traffic would then share that node's uplink.
    api.apply(training_job("crosser", jobs, replicas=3, gpus=4, topology={"maxTier": "leaf"}))
    first = wait_phase(api, jobs, "crosser", "Running")
    crossed = {r["node"] for r in first["status"]["placement"]["ranks"]}
    assert len(crossed) == 2
    api.apply(training_job("neighbour", jobs, replicas=3, gpus=4, topology={"maxTier": "leaf"}))
    second = wait_phase(api, jobs, "neighbour", "Running")
    assert not {r["node"] for r in second["status"]["placement"]["ranks"]} & crossed
    assert "shared with" not in second["status"]["placement"]["explanation"]


def test_a_leaf_tainted_for_maintenance_is_avoided_unless_tolerated(
    api: Cluster, jobs: str
) -> None:
    leaves = _free_leaves(api)
    first = leaves[0]
    for index, nodes in enumerate(leaves[2:]):  # leave two idle leaves: one tainted, one not
        api.apply(
            training_job(f"fill-{index}", jobs, replicas=len(nodes), topology={"maxTier": "leaf"})
        )
    for index in range(len(leaves) - 2):
        wait_phase(api, jobs, f"fill-{index}", "Running")
    api.kubectl("taint", "nodes", *first, "maintenance=yes:NoSchedule")
    try:
        api.apply(training_job("avoids", jobs, replicas=len(first), topology={"maxTier": "leaf"}))
        found = wait_phase(api, jobs, "avoids", "Running")
        assert not {r["node"] for r in found["status"]["placement"]["ranks"]} & set(first)
        tolerant = training_job(
            "tolerates", jobs, replicas=len(first), topology={"maxTier": "leaf"}
        )
        tolerant["spec"]["template"]["spec"]["tolerations"] = [
            {"key": "maintenance", "operator": "Exists", "effect": "NoSchedule"}
        ]
        api.apply(tolerant)
        found = wait_phase(api, jobs, "tolerates", "Running")
        assert {r["node"] for r in found["status"]["placement"]["ranks"]} == set(first)
    finally:
        api.kubectl("taint", "nodes", *first, "maintenance-")
