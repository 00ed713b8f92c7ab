"""Where nodes come from when there is no cluster: a parametric fat tree and Lingjun.

Tests, benchmarks and the dev cluster (which turns these very
:class:`~netsched.domain.nodes.NodeInfo`\\ s into real Node objects) all build nodes
here; labels come from :func:`netsched.domain.nodes.node_labels`.

The only I/O in :mod:`netsched.domain` is :func:`load_lingjun` reading the file it
is given.
"""

from __future__ import annotations

import csv
from pathlib import Path

from netsched.domain.nodes import NodeInfo, node_labels
from netsched.domain.scheme import DEFAULT_SCHEME, TopologyScheme

LINGJUN_COLUMNS = ("DSW", "PSW", "ASW")
"""Lingjun's switch columns, widest first: core (DSW), spine (PSW), leaf (ASW)."""
LINGJUN_NODE_PREFIX = "lingjun-"
LINGJUN_NAME_HEX = 16


def fat_tree(
    *,
    cores: int,
    spines_per_core: int,
    leaves_per_spine: int,
    hosts_per_leaf: int,
    gpus_per_host: int = 8,
    scheme: TopologyScheme = DEFAULT_SCHEME,
) -> list[NodeInfo]:
    """A regular three-level tree of GPU hosts, leaf by leaf.

    Domain label values repeat under different parents (``leaf-0`` exists under
    every spine), as real switch names often do; domain ids are paths, so they
    stay distinct. Nodes are named ``node-c{core}-s{spine}-l{leaf}-h{host}`` and come
    out in path order, so ``fat_tree(...)[:n]`` fills the first leaves first.

    >>> [n.name for n in fat_tree(cores=1, spines_per_core=1, leaves_per_spine=1,
    ...                           hosts_per_leaf=2)]
    ['node-c0-s0-l0-h0', 'node-c0-s0-l0-h1']

    Raises:
        ValueError: the scheme does not have exactly three levels, or a width is < 1.
    """
    widths = (cores, spines_per_core, leaves_per_spine, hosts_per_leaf)
    if len(scheme.levels) != 3 or min(widths) < 1:
        raise ValueError(
            "fat_tree needs a three-level scheme and widths of at least 1, got "
            f"{len(scheme.levels)} levels and widths {widths}"
        )
    nodes = []
    for c in range(cores):
        for s in range(spines_per_core):
            for leaf in range(leaves_per_spine):
                for h in range(hosts_per_leaf):
                    name = f"node-c{c}-s{s}-l{leaf}-h{h}"
                    path = (f"core-{c}", f"spine-{s}", f"leaf-{leaf}")
                    labels = node_labels(hostname=name, path=path, scheme=scheme)
                    nodes.append(NodeInfo(name=name, labels=labels, allocatable_gpus=gpus_per_host))
    return nodes


def load_lingjun(
    path: Path | str, *, gpus_per_host: int = 8, scheme: TopologyScheme = DEFAULT_SCHEME
) -> list[NodeInfo]:
    """Nodes of Alibaba's Lingjun 2023 cluster from its ``topo.csv``.

    The file has one row per host: ``ip`` (a 64-hex-digit hash), ``DSW``, ``PSW`` and
    ``ASW`` (its core, spine and leaf switches). Nodes are named
    ``lingjun-<first 16 hex digits of ip>``, a valid DNS name that stays unique.

    Raises:
        ValueError: the file lacks a column, the scheme is not three levels deep, or
            two rows shorten to the same node name.
    """
    with Path(path).open(newline="") as handle:
        rows = list(csv.DictReader(handle))
    missing = {"ip", *LINGJUN_COLUMNS} - set(rows[0] if rows else ())
    if missing:
        raise ValueError(f"{path}: missing column(s) {', '.join(sorted(missing))}")
    nodes = []
    for row in rows:
        name = LINGJUN_NODE_PREFIX + row["ip"].lower()[:LINGJUN_NAME_HEX]
        switches = [row[column] for column in LINGJUN_COLUMNS]
        labels = node_labels(hostname=name, path=switches, scheme=scheme)
        nodes.append(NodeInfo(name=name, labels=labels, allocatable_gpus=gpus_per_host))
    if len({n.name for n in nodes}) != len(nodes):
        raise ValueError(f"{path}: two hosts share the first {LINGJUN_NAME_HEX} hex digits")
    return nodes
