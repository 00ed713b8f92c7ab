"""The operator as a background process of the dev cluster, for the demo.

``netsched dev-cluster up --operator`` installs the CRDs and starts ``netsched run``
detached, its log beside the other components' logs; it is recorded with them, so
``netsched dev-cluster down`` stops it too. Tests that reuse a dev cluster stop it
first (:func:`stop_operator`): two operators on one cluster would both hand out GPUs.
"""

from __future__ import annotations

import subprocess
import sys

from netsched.api.crd import RESOURCES, render_all
from netsched.devcluster.binaries import COMPONENTS, binary_path
from netsched.devcluster.controlplane import OPERATOR, ControlPlane
from netsched.devcluster.failures import ComponentError, tail
from netsched.devcluster.processes import Running, http_ok, start, stop, wait_until

DEFAULT_METRICS_PORT = 9090
START_TIMEOUT_SECONDS = 60.0


def install_crds(plane: ControlPlane) -> None:
    """Apply netsched's CRDs (generated from the installed package) and wait until Established."""
    kubectl = str(binary_path(next(c for c in COMPONENTS if c.name == "kubectl")))
    base = [kubectl, f"--kubeconfig={plane.kubeconfig}"]
    manifests = "---\n".join(render_all().values())
    names = [f"crd/{resource.INFO.crd_name}" for resource in RESOURCES]
    for argv, text in (
        ([*base, "apply", "--server-side", "--force-conflicts", "-f", "-"], manifests),
        ([*base, "wait", "--for=condition=Established", "--timeout=60s", *names], None),
    ):
        result = subprocess.run(argv, input=text, capture_output=True, text=True, check=False)
        if result.returncode != 0:
            raise ComponentError(
                component="crds",
                what=f"{' '.join(argv[2:4])} failed",
                log_tail=tail(result.stdout + result.stderr),
                remedy="check the API server log (netsched dev-cluster status)",
            )


def operator_of(plane: ControlPlane) -> Running | None:
    return next((p for p in plane.processes if p.name == OPERATOR), None)


def start_operator(plane: ControlPlane, *, metrics_port: int = DEFAULT_METRICS_PORT) -> Running:
    """(Re)start ``netsched run`` against the dev cluster; returns once /metrics answers.

    Raises:
        ComponentError: the operator exited or did not serve its metrics in time.
    """
    stop_operator(plane)
    install_crds(plane)
    argv = [
        sys.executable, "-m", "netsched.cli", "run", f"--kubeconfig={plane.kubeconfig}",
        f"--metrics-port={metrics_port}", "--metrics-address=127.0.0.1",
    ]  # fmt: skip
    running = start(OPERATOR, argv, log=plane.log(OPERATOR))
    plane.processes.append(running)
    plane.save()
    url = metrics_url(metrics_port)
    wait_until(
        running,
        lambda: http_ok(url),
        timeout=START_TIMEOUT_SECONDS,
        what=f"the operator to serve {url}",
        remedy=f"read {running.log}; is port {metrics_port} free?",
    )
    return running


def stop_operator(plane: ControlPlane) -> bool:
    """Stop the dev cluster's operator; False if none was recorded."""
    running = operator_of(plane)
    if running is None:
        return False
    stop(running)
    plane.processes.remove(running)
    plane.save()
    return True


def metrics_url(port: int = DEFAULT_METRICS_PORT) -> str:
    return f"http://127.0.0.1:{port}/metrics"
