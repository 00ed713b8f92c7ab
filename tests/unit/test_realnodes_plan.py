"""The real nodes' plan: leaves, addresses, names and the configuration each daemon gets."""

from __future__ import annotations

from pathlib import Path

import pytest

from netsched.devcluster import realnodes
from netsched.devcluster.fabric import Fabric, parse_degrade, prefix_for


def test_three_nodes_put_a_pair_under_one_leaf_and_one_across_the_spine() -> None:
    plan = Fabric.plan(3, prefix="rnab12")
    assert [(n.name, n.leaf, n.address, n.pod_cidr) for n in plan.nodes] == [
        ("real-1", 0, "10.10.0.1", "10.244.1.0/24"),
        ("real-2", 0, "10.10.0.2", "10.244.2.0/24"),
        ("real-3", 1, "10.10.0.3", "10.244.3.0/24"),
    ]
    assert plan.leaves == [0, 1]
    assert plan.uplink_rate(1) == "200mbit"


def test_interface_names_fit_the_kernels_fifteen_characters() -> None:
    plan = Fabric.plan(200, prefix=prefix_for(Path("/a/very/long/run/directory/for/a/test")))
    names = [plan.host_link, *(n.port for n in plan.nodes)]
    assert max(len(name) for name in names) <= 15


def test_a_degraded_leaf_gets_its_own_uplink_rate() -> None:
    plan = Fabric.plan(4, prefix="rnab12", degraded=parse_degrade(["1=50mbit"]))
    assert (plan.uplink_rate(0), plan.uplink_rate(1)) == ("200mbit", "50mbit")


@pytest.mark.parametrize("value", ["1", "x=50mbit", "1=", "1=fast"])
def test_a_malformed_degrade_says_how_to_write_it(value: str) -> None:
    with pytest.raises(ValueError, match="LEAF=RATE"):
        parse_degrade([value])


def test_degrading_a_leaf_without_nodes_names_the_leaves_there_are() -> None:
    with pytest.raises(ValueError, match=r"leaves \[0, 1\]"):
        Fabric.plan(3, prefix="rnab12", degraded={5: "10mbit"})


def test_each_kubelet_has_a_cgroup_root_logs_and_runtime_of_its_own() -> None:
    plan = Fabric.plan(2, prefix="rnab12")
    configs = [realnodes.kubelet_config(realnodes.Paths(n, Path("/run-dir"))) for n in plan.nodes]
    for key in ("cgroupRoot", "podLogsDir", "containerRuntimeEndpoint"):
        assert configs[0][key] != configs[1][key]
    assert configs[0]["failCgroupV1"] is False  # this machine has cgroup v1 only
    assert configs[0]["registerWithTaints"][0]["key"] == realnodes.REAL_NODE_LABEL


def test_containerd_clamps_oom_score_adj_and_uses_the_local_pause_image() -> None:
    paths = realnodes.Paths(Fabric.plan(1, prefix="rnab12").nodes[0], Path("/run-dir"))
    config = realnodes.containerd_config(paths)
    assert "restrict_oom_score_adj = true" in config
    assert 'sandbox_image = "localhost/pause:local"' in config
    assert len(str(paths.containerd_socket)) < 108


def test_beyond_the_first_pair_every_node_has_a_leaf_of_its_own() -> None:
    # So a 3-pod gang over 4 nodes chooses between the uplinks of leaves 1 and 2.
    plan = Fabric.plan(4, prefix="rnab12")
    assert [n.leaf for n in plan.nodes] == [0, 0, 1, 2]


def test_real_nodes_refuse_a_disk_too_small_for_their_images(tmp_path: Path) -> None:
    from netsched.devcluster.failures import ComponentError
    from netsched.devcluster.realnodes import DISK_MARGIN_BYTES, disk_needed, require_disk

    image = tmp_path / "image.tar"
    image.write_bytes(b"x" * 1000)
    assert disk_needed([image, image], nodes=4) == 4 * 2 * 2000 + DISK_MARGIN_BYTES
    refused = r"4 real nodes need about 1048576.0 GiB free for their images in .*, and .* GiB"
    with pytest.raises(ComponentError, match=refused):
        require_disk(tmp_path / "run", 1024**5, nodes=4)
    require_disk(tmp_path / "run", 1024, nodes=4)  # a kilobyte: this disk has it
