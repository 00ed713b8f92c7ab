"""The connectivity matrix of pods under their NetworkPolicies, as an independent analyzer sees it.

The analyzer is np-guard's network-config-analyzer (NCA), which reads Kubernetes objects and
computes, from the NetworkPolicy semantics alone, which traffic each pod may send to each other
pod and to addresses outside the cluster. It shares no code with netsched and needs no CNI, so
it checks what ``netsched.domain.manifests`` builds without trusting it. NCA pins old
dependencies, so it lives in a virtualenv of its own, ``.venv-nca``, that ``make nca`` builds.

    >>> connectivity([*namespaces, *pods, *policies])  # doctest: +SKIP
    {('ml/llm-0', 'ml/llm-1', 'All connections'),
     ('ml/llm-0', 'kube-system/coredns', '{protocols:TCP, UDP,dst_ports:53}'), ...}
"""

from __future__ import annotations

import ipaddress
import subprocess
import tempfile
from collections.abc import Iterable, Mapping
from pathlib import Path
from typing import Any

import yaml

NCA = Path(__file__).resolve().parents[2] / ".venv-nca" / "bin" / "nca"
KINDS = ("Namespace", "Pod", "NetworkPolicy")
TIMEOUT_SECONDS = 120

Connection = tuple[str, str, str]
"""``(source, destination, allowed)``: a pod as ``namespace/name``, addresses outside the
cluster as CIDRs (``0.0.0.0/0`` for anywhere), and what is allowed in NCA's own words."""

ALL_CONNECTIONS = "All connections"
"""NCA's words for every protocol on every port."""


def only(*protocols: str, port: int) -> str:
    """NCA's words for ``protocols`` (in NCA's order: by protocol number) to one port.

    >>> only("TCP", "UDP", port=53)
    '{protocols:TCP, UDP,dst_ports:53}'
    """
    return f"{{protocols:{', '.join(protocols)},dst_ports:{port}}}"


def connectivity(objects: Iterable[Mapping[str, Any]]) -> set[Connection]:
    """Every allowed connection between distinct endpoints of ``objects``, computed by NCA.

    ``objects`` are Namespaces, Pods and NetworkPolicies as the API server returns them
    (extra fields such as ``status`` or ``managedFields`` are fine). A pod's traffic to
    itself is not listed; a pod no policy selects talks to everything, anywhere.

    Raises:
        ValueError: an object of another kind, which NCA would silently ignore.
        AssertionError: NCA is not installed, failed, or printed a line this cannot read;
            the message carries NCA's command and output.
    """
    by_kind: dict[str, list[Mapping[str, Any]]] = {kind: [] for kind in KINDS}
    for item in objects:
        if item.get("kind") not in by_kind:
            raise ValueError(f"connectivity takes {', '.join(KINDS)}; got {item.get('kind')!r}")
        by_kind[item["kind"]].append(item)
    if not NCA.exists():
        raise AssertionError(f"{NCA} is missing: run `make nca` to build NCA's virtualenv")
    with tempfile.TemporaryDirectory(prefix="netsched-nca-") as scratch:
        return _parse(_run(Path(scratch), by_kind))


def _run(scratch: Path, by_kind: Mapping[str, list[Mapping[str, Any]]]) -> str:
    """NCA's connectivity report, one ``source => destination : allowed`` line per pair.

    Namespaces and pods go in their own lists, read before the policies, so that
    namespace labels are known when the policies' namespaceSelectors are resolved.
    """
    namespaces, pods, policies = scratch / "namespaces.yaml", scratch / "pods.yaml", scratch / "np"
    for path, kind in ((namespaces, "Namespace"), (pods, "Pod")):
        listed = {"apiVersion": "v1", "kind": "List", "items": by_kind[kind]}
        path.write_text(yaml.safe_dump(listed))
    policies.mkdir()
    for index, policy in enumerate(by_kind["NetworkPolicy"]):
        meta = policy["metadata"]
        name = f"{index:03d}-{meta.get('namespace', 'default')}-{meta['name']}.yaml"
        (policies / name).write_text(yaml.safe_dump(dict(policy)))
    report = scratch / "connectivity.txt"
    command = [
        str(NCA), "--connectivity",
        "--ns_list", str(namespaces), "--pod_list", str(pods), "--resource_list", str(policies),
        "--output_endpoints", "pods", "--output_format", "txt_no_fw_rules",
        "--file_out", str(report),
    ]  # fmt: skip
    result = subprocess.run(
        command, capture_output=True, text=True, timeout=TIMEOUT_SECONDS, check=False
    )
    if result.returncode != 0 or not report.exists():
        raise AssertionError(
            f"NCA failed ({result.returncode}): {' '.join(command)}\n"
            f"stdout:\n{result.stdout}\nstderr:\n{result.stderr}"
        )
    return report.read_text()


def _parse(report: str) -> set[Connection]:
    connections: set[Connection] = set()
    for line in report.splitlines():
        if not line.strip():
            continue
        source, arrow, rest = line.partition(" => ")
        destination, colon, allowed = rest.partition(" : ")
        if not (arrow and colon):
            raise AssertionError(f"NCA printed a line that is no connection: {line!r}\n{report}")
        connections.add((_endpoint(source), _endpoint(destination), allowed.strip()))
    return connections


def _endpoint(name: str) -> str:
    """A pod's ``namespace/name`` as is; NCA's address ranges (``10.99.0.0-10.99.255.255``,
    comma-separated when there are several) as the CIDRs they cover (``10.99.0.0/16``)."""
    try:
        networks = [
            network
            for span in name.split(",")
            for first, _, last in [span.partition("-")]
            for network in ipaddress.summarize_address_range(
                ipaddress.ip_address(first), ipaddress.ip_address(last or first)
            )
        ]
    except (ValueError, TypeError):
        return name
    return ",".join(str(network) for network in networks)
