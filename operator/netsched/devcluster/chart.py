"""netsched's Helm chart, driven by the helm built here: render, lint, install.

The chart lives in ``deploy/helm/netsched``; ``deploy/manifests/install.yaml`` is
:func:`render` with the default values (``make manifests`` rewrites it, a test fails when it
is stale). helm is built from its Go module like the control plane
(:data:`netsched.devcluster.binaries.TOOL_COMPONENTS`).
"""

from __future__ import annotations

import subprocess
from collections.abc import Sequence
from pathlib import Path

from netsched.devcluster.binaries import (
    PROMETHEUS_OPERATOR_VERSION,
    TOOL_COMPONENTS,
    ensure_all,
    module_source,
)
from netsched.devcluster.failures import ComponentError, tail

SOURCE = Path(__file__).resolve().parents[3]
CHART = SOURCE / "deploy" / "helm" / "netsched"
INSTALL_MANIFESTS = SOURCE / "deploy" / "manifests" / "install.yaml"
RELEASE = "netsched"
NAMESPACE = "netsched-system"
HEADER = f"""\
# netsched's plain manifests: the Helm chart in deploy/helm/netsched rendered with its default
# values (release "{RELEASE}", namespace "{NAMESPACE}", created here with the restricted pod
# security profile), CRDs included. Do not edit: `make manifests` writes this file.
#
#   kubectl apply --server-side -f deploy/helm/netsched/crds/     # first: the kinds
#   kubectl apply --server-side -f deploy/manifests/install.yaml
---
apiVersion: v1
kind: Namespace
metadata:
  name: {NAMESPACE}
  labels:
    pod-security.kubernetes.io/enforce: restricted
    pod-security.kubernetes.io/warn: restricted
"""


def helm() -> Path:
    """The helm binary (built once, then cached)."""
    return ensure_all(TOOL_COMPONENTS)["helm"]


def run_helm(*argv: str, kubeconfig: Path | None = None) -> str:
    """``helm argv...``; its stdout, or a ComponentError with its stderr."""
    command = [str(helm()), *argv]
    if kubeconfig is not None:
        command += ["--kubeconfig", str(kubeconfig)]
    result = subprocess.run(command, capture_output=True, text=True, check=False)
    if result.returncode != 0:
        raise ComponentError(
            component="helm",
            what=f"`helm {' '.join(argv)}` failed (exit {result.returncode})",
            log_tail=tail(result.stderr or result.stdout),
            remedy="read helm's message above; `helm lint deploy/helm/netsched` checks the chart",
        )
    return result.stdout


def render(values: Sequence[str] = ()) -> str:
    """The chart's manifests (``--set`` ``values``), CRDs first, as install.yaml holds them."""
    sets = [f"--set={value}" for value in values]
    rendered = run_helm(
        "template", RELEASE, str(CHART), "--namespace", NAMESPACE, "--include-crds", *sets
    )
    return HEADER + rendered


MONITORING_CRDS = ("servicemonitors", "prometheusrules")


def monitoring_crds() -> list[Path]:
    """The Prometheus Operator's ServiceMonitor and PrometheusRule CRDs, from its Go module
    (:data:`~netsched.devcluster.binaries.PROMETHEUS_OPERATOR_VERSION`): installed, they let the
    real API server validate the chart's monitoring objects against their schemas."""
    source = module_source(
        "github.com/prometheus-operator/prometheus-operator", PROMETHEUS_OPERATOR_VERSION
    )
    folder = source / "example" / "prometheus-operator-crd"
    return [folder / f"monitoring.coreos.com_{kind}.yaml" for kind in MONITORING_CRDS]
