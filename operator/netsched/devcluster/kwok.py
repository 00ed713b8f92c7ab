"""KWOK's configuration, assembled at run time from KWOK's own module.

KWOK ships its lifecycle stages as kustomize trees in its Go module
(``kustomize/stage/...``). Rather than copy them into this repository, we read
the module from the Go module cache and follow the ``fast`` kustomization
(nodes become Ready at once and keep a lease; pods go Running at once), plus its
chaos stage that makes a labelled node NotReady, so the
stages always match the KWOK version that ``hack/kwok/go.mod`` pins.
"""

from __future__ import annotations

from pathlib import Path

import yaml

from netsched.devcluster.binaries import KWOK_VERSION, module_source

STAGE_SET = "kustomize/stage/fast"
NOT_READY_STAGE = "kustomize/stage/node/chaos/node-not-ready.yaml"
"""KWOK's own chaos stage: a node labelled :data:`NOT_READY_LABEL` goes NotReady (and
comes back when the label goes), so tests can lose a node as a dead kubelet would."""
NOT_READY_LABEL = "node-not-ready.stage.kwok.x-k8s.io"
FAKE_NODE_ANNOTATION = ("kwok.x-k8s.io/node", "fake")
NODE_LEASE_SECONDS = 160
"""KWOK renews each fake node's Lease every quarter of this (40 s). Kubelets renew every
10 s; with thousands of fake nodes on two cores that would be hundreds of writes a second,
KWOK falls behind, and the node lifecycle controller marks nodes NotReady (on 5000 nodes
1270 NotReady events in one benchmark run, each restarting the gangs on them). The
controller-manager's grace period is raised to match (:data:`NODE_MONITOR_GRACE`)."""
NODE_MONITOR_GRACE = "180s"
"""``--node-monitor-grace-period``: a Lease older than this makes its node NotReady. More
than the renew interval plus the lag of a busy machine; tests that lose a node use KWOK's
chaos stage, which sets the node NotReady at once."""


def module_dir() -> Path:
    """The KWOK module's directory in the Go module cache (downloading it if needed)."""
    return module_source("sigs.k8s.io/kwok", KWOK_VERSION)


def _stage_files(kustomization_dir: Path) -> list[Path]:
    """Every Stage manifest a kustomization includes, depth first, in its order."""
    kustomization = yaml.safe_load((kustomization_dir / "kustomization.yaml").read_text())
    files: list[Path] = []
    for resource in kustomization.get("resources", []):
        target = (kustomization_dir / resource).resolve()
        files += _stage_files(target) if target.is_dir() else [target]
    return files


def stage_documents(root: Path) -> list[dict[str, object]]:
    """The Stage objects of KWOK's ``fast`` stage set, and its node-not-ready stage."""
    documents: list[dict[str, object]] = []
    for path in [*_stage_files(root / STAGE_SET), root / NOT_READY_STAGE]:
        documents += [doc for doc in yaml.safe_load_all(path.read_text()) if doc]
    return documents


def write_config(path: Path, *, root: Path | None = None) -> Path:
    """Write KWOK's ``--config`` file: its KwokConfiguration plus the fast stages."""
    configuration = {
        "apiVersion": "config.kwok.x-k8s.io/v1alpha1",
        "kind": "KwokConfiguration",
        # Stages come from this file, not from CRDs. KWOK applies its parallelism
        # defaults only when it generates the configuration itself, so set them.
        "options": {
            "enableCRDs": [],
            "nodeLeaseParallelism": 16,
            "nodePlayStageParallelism": 8,
            "podPlayStageParallelism": 8,
            "podsOnNodeSyncParallelism": 4,
        },
    }
    documents = [configuration, *stage_documents(root or module_dir())]
    path.write_text(yaml.safe_dump_all(documents, sort_keys=False))
    return path


def arguments(*, config: Path, kubeconfig: Path, server_port: int) -> list[str]:
    """Command-line flags: manage only our annotated fake nodes, serve on 127.0.0.1."""
    key, value = FAKE_NODE_ANNOTATION
    return [
        f"--config={config}",
        f"--kubeconfig={kubeconfig}",
        f"--manage-nodes-with-annotation-selector={key}={value}",
        f"--node-lease-duration-seconds={NODE_LEASE_SECONDS}",
        f"--server-address=127.0.0.1:{server_port}",
        "--node-ip=127.0.0.1",
        "--cidr=10.0.0.1/16",
    ]
