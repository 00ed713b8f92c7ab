"""``netsched place``: a saved cluster and a TrainingJob in, a placement (or a reason) out.

The shared fixture, ``data/cluster.yaml``, is what kubectl prints for this cluster,
where the probe measured spine-a's leaf uplinks at 100 Gbps (nominal 1600)::

    #                 core
    #        spine-a           spine-b
    #     leaf-1   leaf-2   leaf-3   leaf-4
    #     n1 n2    n3 n4    n5 n6    n7 n8
    #        full                       not Ready

Edge cases build small Lists with the builders below instead of YAML walls.
"""

from __future__ import annotations

import json
import subprocess
import sys
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import pytest
import yaml
from typer.testing import CliRunner

from netsched.api import TrainingJob
from netsched.cli import app
from netsched.clusterfile import ClusterFileError, parse_cluster

DATA = Path(__file__).parent / "data"
CLUSTER = DATA / "cluster.yaml"
JOB = DATA / "job.yaml"
NOW = "2025-01-01T12:00:00Z"

runner = CliRunner()


def place(*args: str | Path) -> Any:
    return runner.invoke(app, ["place", *map(str, args)])


def node(
    name: str, *, leaf: str = "leaf-1", spine: str = "spine-a", gpus: int = 8
) -> dict[str, Any]:
    labels = {"netsched.io/core": "core", "netsched.io/spine": spine, "netsched.io/leaf": leaf}
    return {
        "kind": "Node",
        "metadata": {"name": name, "labels": labels},
        "status": {"allocatable": {"nvidia.com/gpu": str(gpus)}},
    }


def pod(node_name: str, *gpus: int, phase: str = "Running", init: tuple[int, ...] = ()) -> Any:
    def container(count: int) -> dict[str, Any]:
        return {"name": "c", "resources": {"limits": {"nvidia.com/gpu": count}}}

    spec: dict[str, Any] = {"nodeName": node_name, "containers": [container(g) for g in gpus]}
    if init:
        spec["initContainers"] = [container(g) for g in init]
    return {"kind": "Pod", "metadata": {"name": "p"}, "spec": spec, "status": {"phase": phase}}


def listing(*items: Any) -> dict[str, Any]:
    return {"apiVersion": "v1", "kind": "List", "items": list(items)}


def job(**spec: Any) -> dict[str, Any]:
    manifest = yaml.safe_load(JOB.read_text())
    manifest["spec"].update(spec)
    return manifest


def write(tmp_path: Path, name: str, content: Any) -> Path:
    path = tmp_path / name
    path.write_text(content if isinstance(content, str) else yaml.safe_dump(content))
    return path


# --- good input ---------------------------------------------------------------------------------


def test_json_output_has_the_documented_shape_and_avoids_the_measured_slow_spine() -> None:
    result = place("--cluster", CLUSTER, "--job", JOB, "-o", "json", "--now", NOW)

    assert result.exit_code == 0, result.output
    out = json.loads(result.output)
    assert set(out) == {"strategy", "placement", "predicted", "explanation"}
    assert out["strategy"] == "netsched"
    assert [r["node"] for r in out["placement"]] == ["gpu-node-5", "gpu-node-6", "gpu-node-7"]
    assert [(r["rank"], r["gpus"]) for r in out["placement"]] == [(0, 8), (1, 8), (2, 8)]
    predicted = out["predicted"]
    assert set(predicted) == {
        "commSecondsPerStep",
        "crossTierBytesPerStep",
        "tiersSpanned",
        "bottleneckGbps",
    }
    assert predicted["tiersSpanned"] == "spine"
    assert predicted["bottleneckGbps"] == 400.0
    assert set(predicted["crossTierBytesPerStep"]) == {"host", "leaf", "spine"}
    assert predicted["crossTierBytesPerStep"]["spine"] == 0
    assert "spine core/spine-b" in out["explanation"]


def test_tas_ignores_measurements_and_lands_on_the_slow_uplinks() -> None:
    result = place(
        "--cluster", CLUSTER, "--job", JOB, "--strategy", "tas", "-o", "json", "--now", NOW
    )

    out = json.loads(result.output)
    assert out["strategy"] == "tas"
    assert out["predicted"]["bottleneckGbps"] == 100.0
    assert out["predicted"]["commSecondsPerStep"] > 3.9 * 0.4


def test_measurements_older_than_the_topology_ttl_fall_back_to_nominal() -> None:
    result = place(
        "--cluster",
        CLUSTER,
        "--job",
        JOB,
        "--strategy",
        "tas",
        "-o",
        "json",
        "--now",
        "2025-01-03T12:00:00Z",
    )

    assert json.loads(result.output)["predicted"]["bottleneckGbps"] == 400.0


def test_table_output_has_a_header_ranks_by_leaf_and_the_explanation() -> None:
    result = place("--cluster", CLUSTER, "--job", JOB, "--now", NOW)

    assert result.exit_code == 0, result.output
    lines = result.output.splitlines()
    header = lines[0]
    for part in (
        "job team-a/llama-7b-ddp",
        "strategy netsched",
        "tier spine",
        "comm/step",
        "bottleneck 400 Gbps",
    ):
        assert part in header
    table = lines[lines.index("") + 1 :]
    assert table[0].split() == ["LEAF", "NODE", "RANKS", "GPUS"]
    assert table[1].split() == ["core/spine-b/leaf-3", "gpu-node-5", "0", "8"]
    assert table[2].split() == ["gpu-node-6", "1", "8"]  # same leaf: not repeated
    assert lines[-1].startswith("24 GPUs on 3 nodes under spine core/spine-b")


def test_unschedulable_job_exits_zero_with_a_reason(tmp_path: Path) -> None:
    too_big = write(tmp_path, "job.yaml", job(replicas=4))

    for output in ("json", "table"):
        result = place("--cluster", CLUSTER, "--job", too_big, "-o", output, "--now", NOW)
        assert result.exit_code == 0, result.output
        if output == "json":
            out = json.loads(result.output)
            assert set(out) == {"strategy", "unschedulable"}
            assert "needs 4 pods of 8 GPUs" in out["unschedulable"]["reason"]
            assert "excluded" in out["unschedulable"]["explanation"]
        else:
            assert "UNSCHEDULABLE" in result.output.splitlines()[0]


def gpuless(item: dict[str, Any]) -> dict[str, Any]:
    del item["status"]["allocatable"]["nvidia.com/gpu"]
    return item


def unlabelled(item: dict[str, Any]) -> dict[str, Any]:
    del item["metadata"]["labels"]["netsched.io/leaf"]
    return item


@pytest.mark.parametrize(
    ("nodes", "says"),
    [
        (
            [gpuless(node("n1")), gpuless(node("n2", leaf="leaf-2"))],
            "no schedulable node advertises nvidia.com/gpu in status.allocatable: install the "
            "NVIDIA device plugin",
        ),
        (
            [unlabelled(node("n1")), unlabelled(node("n2"))],
            "every node lacks the tier label netsched.io/leaf: label the nodes, or name a "
            "NetworkTopology whose levels match their labels",
        ),
    ],
)
def test_a_cluster_no_job_fits_gets_a_reason_that_can_help(
    tmp_path: Path, nodes: list[Any], says: str
) -> None:
    cluster = write(tmp_path, "c.yaml", listing(*nodes))

    result = place("--cluster", cluster, "--job", JOB, "-o", "json")

    assert result.exit_code == 0, result.output
    out = json.loads(result.output)["unschedulable"]
    assert says in out["reason"]
    assert "Wait for running jobs" not in out["explanation"]
    assert "widen maxTier" not in out["explanation"]


def test_without_topology_or_measurements_the_default_scheme_applies(tmp_path: Path) -> None:
    cluster = write(tmp_path, "c.yaml", listing(node("n1"), node("n2", leaf="leaf-2")))

    result = place("--cluster", cluster, "--job", JOB, "-o", "json")

    out = json.loads(result.output)
    assert "unschedulable" in out  # 2 nodes, 3 pods


# --- what the cluster file means --------------------------------------------------------------


@pytest.mark.parametrize(
    ("pods", "used"),
    [
        ([pod("n1", 2, 3)], 5),  # containers add up
        ([pod("n1", 2), pod("n1", 1)], 3),  # pods add up
        ([pod("n1", 2, init=(6,))], 6),  # an init container larger than the app wins
        ([pod("n1", 4, init=(1,))], 4),
        ([pod("n1", 8, phase="Succeeded")], 0),  # finished pods hold nothing
        ([pod("n1", 8, phase="Failed")], 0),
    ],
)
def test_bound_pods_occupy_the_gpus_they_request(pods: list[Any], used: int) -> None:
    state = parse_cluster(listing(node("n1"), *pods), source="c.yaml")

    assert state.used_gpus.get("n1", 0) == used


def test_ready_condition_and_cordon_map_to_node_info() -> None:
    sick, cordoned = node("n1"), node("n2")
    sick["status"]["conditions"] = [{"type": "Ready", "status": "Unknown"}]
    cordoned["spec"] = {"unschedulable": True}

    state = parse_cluster(listing(sick, cordoned, node("n3")), source="c.yaml")

    assert [(n.ready, n.unschedulable) for n in state.nodes] == [
        (False, False),
        (True, True),
        (True, False),
    ]


# --- bad input: exit 2 and a message naming the file and the field ------------------------------


def measurement(source: str, target: str, *, gbps: float = 100.0) -> dict[str, Any]:
    return {
        "apiVersion": "netsched.io/v1alpha1",
        "kind": "LinkMeasurement",
        "metadata": {"name": f"{source}.{target}"},
        "spec": {
            "sourceNode": source,
            "targetNode": target,
            "level": "spine",
            "gbps": gbps,
            "measuredAt": "2025-01-01T11:50:00Z",
        },
    }


def topology(*levels: dict[str, Any]) -> dict[str, Any]:
    return {
        "apiVersion": "netsched.io/v1alpha1",
        "kind": "NetworkTopology",
        "metadata": {"name": "default"},
        "spec": {"levels": list(levels)},
    }


def bad_cases(tmp_path: Path) -> dict[str, tuple[list[str | Path], list[str]]]:
    nameless = node("x")
    del nameless["metadata"]["name"]
    fractional = node("n1", gpus=1)
    fractional["status"]["allocatable"]["nvidia.com/gpu"] = "1.5"
    good = ["--cluster", CLUSTER, "--job", JOB]
    return {
        "missing cluster": (
            ["--cluster", tmp_path / "nope.yaml", "--job", JOB],
            ["nope.yaml", "cannot read"],
        ),
        "missing job": (["--cluster", CLUSTER, "--job", tmp_path / "nojob.yaml"], ["nojob.yaml"]),
        "not yaml": (
            ["--cluster", write(tmp_path, "broken.yaml", "items: [a, b\n"), "--job", JOB],
            ["broken.yaml", "not valid YAML"],
        ),
        "not a list": (
            ["--cluster", write(tmp_path, "one.yaml", node("n1")), "--job", JOB],
            ["one.yaml", "expected a Kubernetes List", "got Node"],
        ),
        "no nodes": (
            ["--cluster", write(tmp_path, "empty.yaml", listing()), "--job", JOB],
            ["empty.yaml", "holds no Node"],
        ),
        "node without name": (
            ["--cluster", write(tmp_path, "anon.yaml", listing(node("a"), nameless)), "--job", JOB],
            ["anon.yaml", "items[1] (Node)", "metadata.name is missing"],
        ),
        "fractional gpus": (
            ["--cluster", write(tmp_path, "frac.yaml", listing(fractional)), "--job", JOB],
            ["frac.yaml", "items[0] (Node n1)", "status.allocatable", "'1.5'"],
        ),
        "bad topology": (
            [
                "--cluster",
                write(tmp_path, "topo.yaml", listing(node("n1"), topology())),
                "--job",
                JOB,
            ],
            ["topo.yaml", "items[1] (NetworkTopology default)", "spec.levels"],
        ),
        "two levels on one label": (
            [
                "--cluster",
                write(
                    tmp_path,
                    "labels.yaml",
                    listing(
                        node("n1"),
                        topology(
                            {"name": "spine", "nodeLabel": "netsched.io/leaf"},
                            {"name": "leaf", "nodeLabel": "netsched.io/leaf"},
                        ),
                    ),
                ),
                "--job",
                JOB,
            ],
            [
                "labels.yaml",
                "items[1] (NetworkTopology default)",
                "spec.levels: each level needs its own nodeLabel",
                'levels "spine" and "leaf" both use netsched.io/leaf',
            ],
        ),
        "measured zero bandwidth": (
            [
                "--cluster",
                write(tmp_path, "z.yaml", listing(node("n1"), measurement("n1", "n2", gbps=0))),
                "--job",
                JOB,
            ],
            ["z.yaml", "items[1] (LinkMeasurement n1.n2)", "spec.gbps", "greater than 0"],
        ),
        "nominal zero bandwidth": (
            [
                "--cluster",
                write(
                    tmp_path,
                    "zn.yaml",
                    listing(
                        node("n1"),
                        topology(
                            {"name": "core", "nodeLabel": "netsched.io/core", "uplinkGbps": 0},
                            {"name": "spine", "nodeLabel": "netsched.io/spine", "uplinkGbps": 0},
                            {"name": "leaf", "nodeLabel": "netsched.io/leaf", "uplinkGbps": 1600},
                        ),
                    ),
                ),
                "--job",
                JOB,
            ],
            [
                "zn.yaml",
                "items[1] (NetworkTopology default)",
                "spec.levels: every level but the widest needs uplinkGbps > 0",
                'level "spine" has 0',
            ],
        ),
        "measurement of a node to itself": (
            [
                "--cluster",
                write(tmp_path, "self.yaml", listing(node("n1"), measurement("n1", "n1"))),
                "--job",
                JOB,
            ],
            [
                "self.yaml",
                "items[1] (LinkMeasurement n1.n1)",
                "spec.targetNode: sourceNode and targetNode must differ",
            ],
        ),
        "job fails validation": (
            ["--cluster", CLUSTER, "--job", write(tmp_path, "j.yaml", job(replicas=0))],
            ["j.yaml", "not a valid TrainingJob", "spec.replicas", "greater than or equal to 1"],
        ),
        "job asks for no GPU": (
            [
                "--cluster",
                CLUSTER,
                "--job",
                write(
                    tmp_path,
                    "cpu.yaml",
                    job(template={"spec": {"containers": [{"name": "t", "image": "busybox"}]}}),
                ),
            ],
            [
                "cpu.yaml",
                "spec.template.spec.containers[*].resources.limits['nvidia.com/gpu']",
                "every worker pod must ask for at least one nvidia.com/gpu",
                "run CPU-only gangs with Kueue or Volcano",
            ],
        ),
        "job names an unknown tier": (
            [
                "--cluster",
                CLUSTER,
                "--job",
                write(tmp_path, "t.yaml", job(topology={"maxTier": "rack"})),
            ],
            ["t.yaml", "spec.topology.maxTier", '"rack" is not a tier'],
        ),
        "job missing a field": (
            [
                "--cluster",
                CLUSTER,
                "--job",
                write(
                    tmp_path,
                    "m.yaml",
                    {
                        "apiVersion": "netsched.io/v1alpha1",
                        "kind": "TrainingJob",
                        "spec": {"replicas": 1},
                    },
                ),
            ],
            ["m.yaml", "spec.template: Field required", "spec.communication: Field required"],
        ),
        "unknown strategy": (
            [*good, "--strategy", "fastest"],
            ["unknown strategy 'fastest'", "netsched, tas, spread, binpack, random, optimal"],
        ),
    }


@pytest.mark.parametrize(
    "case",
    [
        "missing cluster",
        "missing job",
        "not yaml",
        "not a list",
        "no nodes",
        "node without name",
        "fractional gpus",
        "bad topology",
        "two levels on one label",
        "measured zero bandwidth",
        "nominal zero bandwidth",
        "measurement of a node to itself",
        "job fails validation",
        "job asks for no GPU",
        "job names an unknown tier",
        "job missing a field",
        "unknown strategy",
    ],
)
def test_bad_input_exits_2_with_a_message_naming_file_and_field(tmp_path: Path, case: str) -> None:
    args, expected = bad_cases(tmp_path)[case]

    result = place(*args)

    assert result.exit_code == 2, result.output
    assert result.output.startswith("error: ")
    for text in expected:
        assert text in result.output


def refuse_constant(name: str) -> Any:
    raise AssertionError(f"{name} is not JSON")


@pytest.mark.parametrize("strategy", ["netsched", "tas", "spread", "binpack", "random"])
@pytest.mark.parametrize("replicas", [1, 3, 4])
def test_json_output_is_strict_json(strategy: str, replicas: int, tmp_path: Path) -> None:
    """No Infinity or NaN, whatever the answer: jq, Go and JavaScript refuse them."""
    answer = write(tmp_path, "job.yaml", job(replicas=replicas))

    result = place(
        "--cluster", CLUSTER, "--job", answer, "--strategy", strategy, "-o", "json", "--now", NOW
    )

    assert result.exit_code == 0, result.output
    json.loads(result.output, parse_constant=refuse_constant)


def test_parse_errors_are_cluster_file_errors() -> None:
    with pytest.raises(ClusterFileError, match="items\\[0\\]: expected an object"):
        parse_cluster(listing("just a string"), source="c.yaml")


def test_json_from_the_optimal_strategy_is_pure_json_on_stdout() -> None:
    # HiGHS prints a banner from C++ to file descriptor 1, which CliRunner cannot see:
    # run the real command in a process of its own.
    result = subprocess.run(
        [
            sys.executable,
            "-m",
            "netsched.cli",
            "place",
            "--cluster",
            str(CLUSTER),
            "--job",
            str(JOB),
            "--now",
            NOW,
            "--strategy",
            "optimal",
            "-o",
            "json",
        ],
        capture_output=True,
        text=True,
        timeout=120,
        check=False,
    )

    assert result.returncode == 0, result.stderr
    answer = json.loads(result.stdout)
    assert answer["strategy"] == "optimal"
    assert "placement" in answer or "unschedulable" in answer


# --- running gangs share the uplinks they cross ---------------------------------------------


def running_job(name: str, nodes: list[str], *, phase: str = "Running") -> dict[str, Any]:
    """A placed TrainingJob of one 8-GPU pod per node in ``nodes``, as kubectl prints it."""
    manifest = job(replicas=len(nodes))
    manifest["metadata"] = {"name": name, "namespace": "team-b"}
    ranks = [{"rank": r, "node": n, "gpus": 8} for r, n in enumerate(nodes)]
    manifest["status"] = {"phase": phase, "placement": {"ranks": ranks}}
    return manifest


def busy_cluster(phase: str, *, with_job: bool = True) -> dict[str, Any]:
    # leaf-1 (spine-a): n1 n2 (16 GPUs) run one 8-GPU pod each of team-b/other, whose
    # ring crosses their host uplinks; leaf-3 (spine-b): n5 n6 (8 GPUs) are idle. Both
    # leaves have room for two more 8-GPU pods, one per node.
    nodes = [node("n1", gpus=16), node("n2", gpus=16)]
    nodes += [node(n, leaf="leaf-3", spine="spine-b") for n in ("n5", "n6")]
    pods = [pod("n1", 8, phase=phase), pod("n2", 8, phase=phase)]
    other = [running_job("other", ["n1", "n2"], phase=phase)] if with_job else []
    return listing(*nodes, *pods, *other)


def test_a_running_gang_shares_the_uplinks_its_traffic_crosses() -> None:
    state = parse_cluster(busy_cluster("Running"), source="c.yaml")
    snap = state.snapshot(now=datetime.now(UTC))

    crossing = {d.id: snap.crossing_gangs(d.index) for d in snap.domains if d.parent is not None}
    assert crossing["n1"] == crossing["n2"] == 1  # its ring crosses both host uplinks
    assert crossing["core/spine-a/leaf-1"] == 0  # and stays inside the leaf
    assert crossing["n5"] == crossing["n6"] == 0


@pytest.mark.parametrize(
    ("with_job", "nodes", "gbps"),
    [
        # Sharing n1's and n2's uplinks would halve them: the idle leaf is faster.
        (True, ["n5", "n6"], 400.0),
        # Without the TrainingJob in the file, its pods hold GPUs but no link: the two
        # leaves tie and the first in path order wins.
        (False, ["n1", "n2"], 400.0),
    ],
)
def test_place_avoids_the_uplinks_of_running_gangs(
    tmp_path: Path, with_job: bool, nodes: list[str], gbps: float
) -> None:
    cluster = write(tmp_path, "c.yaml", busy_cluster("Running", with_job=with_job))
    new = write(tmp_path, "j.yaml", job(replicas=2))

    out = json.loads(place("--cluster", cluster, "--job", new, "-o", "json").output)

    assert [r["node"] for r in out["placement"]] == nodes
    assert out["predicted"]["bottleneckGbps"] == gbps


def test_a_finished_job_shares_no_uplink() -> None:
    snap = parse_cluster(busy_cluster("Succeeded"), source="c.yaml").snapshot(now=datetime.now(UTC))

    assert not snap.flows


def test_the_job_being_placed_does_not_share_with_itself() -> None:
    state = parse_cluster(busy_cluster("Running"), source="c.yaml")
    itself = running_job("other", ["n1", "n2"])

    snap = state.snapshot_for(TrainingJob.model_validate(itself), now=datetime.now(UTC))

    assert not snap.flows


# --- two zones: a gang neither holds is split over both -------------------------------------


def zone_node(name: str, zone: str) -> dict[str, Any]:
    item = node(name)
    item["metadata"]["labels"]["netsched.io/core"] = zone
    return item


def test_a_gang_no_zone_holds_is_split_over_both_and_costed_on_the_interconnect(
    tmp_path: Path,
) -> None:
    # zone-a: a1 a2; zone-b: b1. The NetworkTopology's widest level sets the interconnect.
    levels = [
        {"name": "core", "nodeLabel": "netsched.io/core", "uplinkGbps": 100},
        {"name": "spine", "nodeLabel": "netsched.io/spine", "uplinkGbps": 3200},
        {"name": "leaf", "nodeLabel": "netsched.io/leaf", "uplinkGbps": 1600},
    ]
    zones = listing(
        zone_node("a1", "zone-a"), zone_node("a2", "zone-a"), zone_node("b1", "zone-b"),
        topology(*levels),
    )  # fmt: skip
    cluster = write(tmp_path, "c.yaml", zones)
    unbounded = job()
    del unbounded["spec"]["topology"]  # no maxTier: the split is allowed
    new = write(tmp_path, "j.yaml", unbounded)

    out = json.loads(place("--cluster", cluster, "--job", new, "-o", "json").output)

    assert [r["node"] for r in out["placement"]] == ["a1", "a2", "b1"]
    assert out["predicted"]["tiersSpanned"] == "core"
    assert out["predicted"]["bottleneckGbps"] == 100.0
    assert out["predicted"]["crossTierBytesPerStep"]["core"] > 0
    assert "split over 2 cores (zone-a, zone-b" in out["explanation"]

    bounded = write(tmp_path, "k.yaml", job(topology={"maxTier": "core"}))
    refused = json.loads(place("--cluster", cluster, "--job", bounded, "-o", "json").output)
    assert "unschedulable" in refused
