"""Build the dev cluster's Go binaries once and cache them outside the repository.

Each component is built from a wrapper Go module under ``hack/`` (go.mod and
go.sum committed, binaries never) into
``$NETSCHED_CACHE/<component>/<version>/`` (default ``~/.cache/netsched``).
A cached binary is reused as long as its stamp records the same wrapper
go.sum, so bumping a version in ``hack/`` rebuilds exactly what changed.

The wrapper modules are kept apart so that the dependency graphs of Kubernetes, KWOK,
etcd, CoreDNS and kube-router never mix.
"""

from __future__ import annotations

import hashlib
import json
import os
import shutil
import subprocess
from dataclasses import dataclass
from pathlib import Path

from netsched.devcluster.failures import ComponentError, tail

SOURCE_HACK_DIR = Path(__file__).resolve().parents[3] / "hack"
BUILD_TIMEOUT_SECONDS = 45 * 60

KUBERNETES_VERSION = "v1.36.3"
KWOK_VERSION = "v0.8.0"
ETCD_VERSION = "v3.6.16"
COREDNS_VERSION = "v1.14.7"
KUBE_ROUTER_VERSION = "v2.1.0"
HELM_VERSION = "v3.22.0"
PROMETHEUS_OPERATOR_VERSION = "v0.85.0"
"""Whose CRDs (ServiceMonitor, PrometheusRule) the chart's tests install: the newest the
module proxy serves."""
PROMETHEUS_VERSION = "v0.316.0"
"""The Go module's version of Prometheus 3.16.0 (module versions v0.3xx are the 3.x releases)."""


def _kubernetes_ldflags(version: str) -> str:
    """The version stamps upstream's hack/lib/version.sh sets, so ``--version`` is real."""
    major, minor = version.lstrip("v").split(".")[:2]
    stamps = []
    for package in ("k8s.io/component-base/version", "k8s.io/client-go/pkg/version"):
        stamps += [
            f"-X {package}.gitVersion={version}",
            f"-X {package}.gitMajor={major}",
            f"-X {package}.gitMinor={minor}",
            f"-X {package}.gitTreeState=clean",
        ]
    return " ".join(["-s", "-w", *stamps])


def _prometheus_ldflags(module_version: str) -> str:
    """The stamps Prometheus's own build sets, so ``--version`` names the release."""
    _, minor, patch = module_version.lstrip("v").split(".")
    release = f"3.{int(minor) - 300}.{patch}"  # v0.316.0 is 3.16.0
    common = "github.com/prometheus/common/version"
    return f"-s -w -X {common}.Version={release} -X {common}.Branch=release"


@dataclass(frozen=True, slots=True)
class Component:
    """One Go-built binary of the dev cluster."""

    name: str
    version: str
    module_dir: str
    package: str
    ldflags: str = "-s -w"
    tags: str = ""
    """Go build tags, comma-separated."""

    @property
    def wrapper(self) -> Path:
        return hack_dir() / self.module_dir


def _kubernetes(*names: str) -> tuple[Component, ...]:
    """Commands of the Kubernetes wrapper module (``hack/kubernetes``), version-stamped."""
    return tuple(
        Component(
            name=name,
            version=KUBERNETES_VERSION,
            module_dir="kubernetes",
            package=f"k8s.io/kubernetes/cmd/{name}",
            ldflags=_kubernetes_ldflags(KUBERNETES_VERSION),
        )
        for name in names
    )


COMPONENTS: tuple[Component, ...] = (
    *_kubernetes("kube-apiserver", "kube-controller-manager", "kube-scheduler", "kubectl"),
    Component(
        name="kwok",
        version=KWOK_VERSION,
        module_dir="kwok",
        package="sigs.k8s.io/kwok/cmd/kwok",
    ),
    Component(name="etcd", version=ETCD_VERSION, module_dir="etcd", package="."),
)
"""The control plane and its fake nodes: built for every dev cluster."""

REAL_NODE_COMPONENTS: tuple[Component, ...] = (
    *_kubernetes("kubelet", "kube-proxy"),
    Component(name="coredns", version=COREDNS_VERSION, module_dir="coredns", package="."),
    Component(
        name="kube-router",
        version=KUBE_ROUTER_VERSION,
        module_dir="kube-router",
        package="github.com/cloudnativelabs/kube-router/v2/cmd/kube-router",
    ),
)
"""What real nodes add (``dev-cluster up --real-nodes N``): built only when asked for.
kube-proxy gives the pods ClusterIP Services: cluster DNS and the API server."""

TOOL_COMPONENTS: tuple[Component, ...] = (
    Component(
        name="helm",
        version=HELM_VERSION,
        module_dir="helm",
        package="helm.sh/helm/v3/cmd/helm",
        ldflags=f"-s -w -X helm.sh/helm/v3/internal/version.version={HELM_VERSION}",
    ),
    *(
        Component(
            name=name,
            version=PROMETHEUS_VERSION,
            module_dir="prometheus",
            package=f"github.com/prometheus/prometheus/cmd/{name}",
            ldflags=_prometheus_ldflags(PROMETHEUS_VERSION),
            # Static scrape configs only: no service discovery (half the build), no web UI.
            tags="remove_all_sd",
        )
        for name in ("prometheus", "promtool")
    ),
)
"""The install path's tools (``dev-cluster build --tools``): helm, for the chart's tests;
Prometheus and promtool, for the metrics, the dashboard's queries and the alerts."""


def hack_dir() -> Path:
    """The wrapper modules: ``$NETSCHED_HACK_DIR``, else ``hack/`` of this source checkout."""
    configured = os.environ.get("NETSCHED_HACK_DIR")
    return Path(configured) if configured else SOURCE_HACK_DIR


def cache_root() -> Path:
    """Where built binaries live: ``$NETSCHED_CACHE`` or ``~/.cache/netsched``."""
    configured = os.environ.get("NETSCHED_CACHE")
    return Path(configured) if configured else Path.home() / ".cache" / "netsched"


def binary_path(component: Component) -> Path:
    return cache_root() / component.name / component.version / component.name


def _stamp(component: Component) -> str:
    digest = hashlib.sha256()
    digest.update((component.wrapper / "go.sum").read_bytes())
    digest.update(component.ldflags.encode())
    digest.update(component.tags.encode())
    return digest.hexdigest()


def _require_wrapper(component: Component) -> None:
    if not (component.wrapper / "go.sum").is_file():
        raise ComponentError(
            component=component.name,
            what=f"its wrapper Go module {component.wrapper} (go.mod and go.sum) is missing",
            remedy="run netsched from a checkout of its repository, which has hack/, or set "
            "NETSCHED_HACK_DIR to that checkout's hack/ directory",
        )


def is_cached(component: Component) -> bool:
    _require_wrapper(component)
    binary = binary_path(component)
    stamp = binary.with_name(".stamp")
    return binary.is_file() and stamp.is_file() and stamp.read_text() == _stamp(component)


def _go_environment() -> dict[str, str]:
    env = dict(os.environ)
    env.update(CGO_ENABLED="0", GOFLAGS="-mod=readonly")
    env.setdefault("GOTOOLCHAIN", "local")
    return env


def _require_go() -> str:
    go = shutil.which("go")
    if go is None:
        raise ComponentError(
            component="go toolchain",
            what="the `go` command is not on PATH, so the control-plane binaries cannot be built",
            remedy=(
                "install Go 1.26 or newer (Debian: apt-get install golang, or the tarball from "
                "your package mirror) or point KUBECONFIG at an existing cluster instead"
            ),
        )
    return go


def build(component: Component) -> Path:
    """Build one component into the cache (or reuse it) and return the binary's path.

    Raises:
        ComponentError: Go is missing, the module proxy did not serve a module,
            or the compiler failed; the message carries the tail of Go's output.
    """
    binary = binary_path(component)
    if is_cached(component):
        return binary
    go = _require_go()
    binary.parent.mkdir(parents=True, exist_ok=True)
    partial = binary.with_name(f".{component.name}.partial")
    command = [go, "build", "-trimpath", "-ldflags", component.ldflags, "-o", str(partial)]
    if component.tags:
        command += ["-tags", component.tags]
    try:
        result = subprocess.run(
            [*command, component.package],
            cwd=component.wrapper,
            env=_go_environment(),
            capture_output=True,
            text=True,
            timeout=BUILD_TIMEOUT_SECONDS,
            check=False,
        )
    except subprocess.TimeoutExpired as expired:
        raise ComponentError(
            component=component.name,
            what=f"`go build` did not finish within {BUILD_TIMEOUT_SECONDS} s",
            remedy="check network access to the Go module proxy and free CPU, then retry",
        ) from expired
    if result.returncode != 0:
        raise ComponentError(
            component=component.name,
            what=f"`go build {component.package}` in {component.wrapper} failed "
            f"(exit {result.returncode})",
            log_tail=tail(result.stderr),
            remedy=(
                "if a module was not served, check `go list -m -versions` for it and pin a "
                "served version in the wrapper go.mod under hack/; otherwise read the compiler "
                "output above"
            ),
        )
    partial.replace(binary)
    binary.with_name(".stamp").write_text(_stamp(component))
    return binary


def ensure_all(
    components: tuple[Component, ...] = COMPONENTS, *, announce: bool = False
) -> dict[str, Path]:
    """Build (or reuse) ``components`` (the control plane's); returns ``{name: path}``."""
    paths = {}
    for component in components:
        if announce and not is_cached(component):
            print(f"building {component.name} {component.version} (cached after the first time)…")
        paths[component.name] = build(component)
    return paths


def module_source(module: str, version: str) -> Path:
    """A Go module's source tree in the module cache, downloaded if needed (for the files
    it carries: KWOK's stages, the Prometheus Operator's CRDs)."""
    result = subprocess.run(
        [_require_go(), "mod", "download", "-json", f"{module}@{version}"],
        cwd=hack_dir(),
        env=_go_environment(),
        capture_output=True,
        text=True,
        timeout=300,
        check=False,
    )
    if result.returncode != 0:
        raise ComponentError(
            component=module,
            what=f"could not download {module}@{version} into the Go module cache",
            log_tail=tail(result.stdout + result.stderr),
            remedy="check that the Go module proxy serves that version (go list -m -versions)",
        )
    return Path(json.loads(result.stdout)["Dir"])
