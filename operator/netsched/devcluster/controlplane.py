"""A real Kubernetes control plane on 127.0.0.1: etcd, kube-apiserver,
kube-controller-manager, kube-scheduler and KWOK.

Phases of :func:`start`:

1. build or reuse the binaries (:mod:`netsched.devcluster.binaries`);
2. write a CA, serving certificate, service-account keys, a static token file
   (one token per identity: admin in ``system:masters``, the controller-manager
   and the scheduler under their default RBAC users) and a kubeconfig per identity;
3. start each component on free ports of 127.0.0.1, waiting for its health
   endpoint before starting the next; RBAC authorization is on;
4. record pids and ports in ``state.json`` so another process can stop it.

Any failure stops whatever was started and raises a
:class:`~netsched.devcluster.failures.ComponentError` with the log tail.
"""

from __future__ import annotations

import json
import shutil
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path

import yaml

from netsched.devcluster import binaries, fabric, kwok, pki, realnodes
from netsched.devcluster.failures import ComponentError
from netsched.devcluster.processes import (
    Running,
    free_port,
    http_ok,
    https_ok,
    is_alive,
    port_is_open,
    start,
    stop_all,
    wait_until,
)

READY_TIMEOUT_SECONDS = 120.0
SERVICE_CIDR = "10.96.0.0/16"
OPERATOR = "netsched-operator"
"""The demo's operator process, when ``up --operator`` started one."""
STATE_FILE = "state.json"
ADMIN_USER = "netsched-admin"
IDENTITIES = {
    # identity -> (user name, groups) in the static token file
    "admin": (ADMIN_USER, "system:masters"),
    "kube-controller-manager": ("system:kube-controller-manager", ""),
    "kube-scheduler": ("system:kube-scheduler", ""),
}


@dataclass
class ControlPlane:
    """A running (or stopped) control plane and where its files are."""

    run_dir: Path
    server: str
    ports: dict[str, int]
    processes: list[Running] = field(default_factory=list)
    real_prefix: str | None = None
    """The prefix of the real nodes' namespaces, cgroups and links, if it has real nodes."""

    @property
    def kubeconfig(self) -> Path:
        return self.run_dir / "kubeconfig"

    @property
    def ca_cert(self) -> Path:
        return self.run_dir / "pki" / "ca.crt"

    @property
    def admin_token(self) -> str:
        return _read_kubeconfig_token(self.kubeconfig)

    def log(self, component: str) -> Path:
        return self.run_dir / "logs" / f"{component}.log"

    def save(self) -> None:
        state = {
            "server": self.server,
            "ports": self.ports,
            "processes": [
                {"name": p.name, "pid": p.pid, "log": str(p.log)} for p in self.processes
            ],
            "real_prefix": self.real_prefix,
        }
        (self.run_dir / STATE_FILE).write_text(json.dumps(state, indent=2))

    @classmethod
    def load(cls, run_dir: Path) -> ControlPlane | None:
        """The control plane recorded in ``run_dir``, or None if there is none."""
        try:
            state = json.loads((run_dir / STATE_FILE).read_text())
        except FileNotFoundError:
            return None
        processes = [
            Running(name=p["name"], pid=p["pid"], log=Path(p["log"])) for p in state["processes"]
        ]
        return cls(
            run_dir=run_dir,
            server=state["server"],
            ports=state["ports"],
            processes=processes,
            real_prefix=state.get("real_prefix"),
        )

    def health(self) -> dict[str, bool]:
        """Per component: is its process alive?  Plus ``apiserver-ready`` from /readyz."""
        report = {p.name: is_alive(p.pid) for p in self.processes}
        report["apiserver-ready"] = https_ok(
            f"{self.server}/readyz", token=self.admin_token, ca=self.ca_cert
        )
        return report

    def is_healthy(self) -> bool:
        """The control plane is up; the demo's operator (optional) does not count."""
        health = self.health()
        return bool(self.processes) and all(v for k, v in health.items() if k != OPERATOR)

    def stop(self) -> None:
        """Stop every component, newest first, and remove the run directory."""
        stop_all(self.processes)
        if self.real_prefix is not None:
            realnodes.remove_leftovers(self.real_prefix, run_dir=self.run_dir)
        shutil.rmtree(self.run_dir, ignore_errors=True)


def _read_kubeconfig_token(path: Path) -> str:
    config = yaml.safe_load(path.read_text())
    return str(config["users"][0]["user"]["token"])


def _write_kubeconfig(path: Path, *, server: str, ca: Path, user: str, token: str) -> Path:
    config = {
        "apiVersion": "v1",
        "kind": "Config",
        "clusters": [
            {
                "name": "netsched-dev",
                "cluster": {"server": server, "certificate-authority": str(ca)},
            }
        ],
        "users": [{"name": user, "user": {"token": token}}],
        "contexts": [
            {"name": "netsched-dev", "context": {"cluster": "netsched-dev", "user": user}}
        ],
        "current-context": "netsched-dev",
    }
    path.write_text(yaml.safe_dump(config, sort_keys=False))
    path.chmod(0o600)
    return path


def _write_identities(run_dir: Path, *, server: str, ca: Path) -> dict[str, Path]:
    """A token file for the API server and one kubeconfig per identity."""
    lines, kubeconfigs = [], {}
    for index, (identity, (user, groups)) in enumerate(IDENTITIES.items()):
        token = pki.new_token()
        lines.append(
            f'{token},{user},uid-{index},"{groups}"' if groups else f"{token},{user},uid-{index}"
        )
        name = "kubeconfig" if identity == "admin" else f"{identity}.kubeconfig"
        kubeconfigs[identity] = _write_kubeconfig(
            run_dir / name, server=server, ca=ca, user=user, token=token
        )
    tokens = run_dir / "pki" / "tokens.csv"
    tokens.write_text("\n".join(lines) + "\n")
    tokens.chmod(0o600)
    return kubeconfigs


AUDIT_POLICY = {
    "apiVersion": "audit.k8s.io/v1",
    "kind": "Policy",
    "omitStages": ["RequestReceived"],
    "rules": [
        # The controller-manager's own accounts: thousands of requests, none of ours.
        {"level": "None", "userGroups": ["system:serviceaccounts:kube-system"]},
        {"level": "Metadata", "userGroups": ["system:serviceaccounts"]},
        {"level": "None"},
    ],
}
"""What the API server's audit log keeps: who asked for which verb on which resource, for
every ServiceAccount outside kube-system. The RBAC test reads it to compare what netsched's
workloads really ask for with what their ClusterRoles grant."""


def audit_log(run_dir: Path) -> Path:
    return run_dir / "logs" / "audit.log"


def _component_arguments(
    run_dir: Path,
    *,
    bins: dict[str, Path],
    ports: dict[str, int],
    keys: pki.ClusterPKI,
    kubeconfigs: dict[str, Path],
    kwok_config: Path,
) -> dict[str, list[str]]:
    etcd_url = f"http://127.0.0.1:{ports['etcd']}"
    peer_url = f"http://127.0.0.1:{ports['etcd-peer']}"

    def component(name: str) -> list[str]:
        own = kubeconfigs[name]
        return [
            str(bins[name]),
            f"--kubeconfig={own}",
            f"--authentication-kubeconfig={own}",
            f"--authorization-kubeconfig={own}",
            "--bind-address=127.0.0.1",
            f"--secure-port={ports[name]}",
            "--leader-elect=false",
        ]

    return {
        "etcd": [
            str(bins["etcd"]),
            "--name=netsched-dev",
            f"--data-dir={run_dir / 'etcd'}",
            f"--listen-client-urls={etcd_url}",
            f"--advertise-client-urls={etcd_url}",
            f"--listen-peer-urls={peer_url}",
            f"--initial-advertise-peer-urls={peer_url}",
            f"--initial-cluster=netsched-dev={peer_url}",
            # A throw-away cluster: durability is not worth the fsync latency.
            "--unsafe-no-fsync",
            "--quota-backend-bytes=4294967296",
            "--log-level=warn",
        ],
        "kube-apiserver": [
            str(bins["kube-apiserver"]),
            f"--etcd-servers={etcd_url}",
            "--bind-address=127.0.0.1",
            f"--secure-port={ports['kube-apiserver']}",
            f"--tls-cert-file={keys.serving_cert}",
            f"--tls-private-key-file={keys.serving_key}",
            f"--client-ca-file={keys.ca_cert}",
            f"--token-auth-file={run_dir / 'pki' / 'tokens.csv'}",
            "--authorization-mode=RBAC",
            f"--audit-policy-file={run_dir / 'audit-policy.yaml'}",
            f"--audit-log-path={audit_log(run_dir)}",
            "--audit-log-maxsize=64",  # MB, then one backup: a long benchmark stays bounded
            "--audit-log-maxbackup=1",
            "--service-account-issuer=https://kubernetes.default.svc.cluster.local",
            f"--service-account-key-file={keys.service_account_pub}",
            f"--service-account-signing-key-file={keys.service_account_key}",
            f"--service-cluster-ip-range={SERVICE_CIDR}",
            "--allow-privileged=true",
            "--profiling=false",
            # Real nodes (dev-cluster up --real-nodes): the API server reaches kubelets at
            # their fabric address (kubectl logs/exec), and pods reach it through the
            # `kubernetes` Service at the host's fabric address, where a relay listens.
            "--kubelet-preferred-address-types=InternalIP",
            f"--advertise-address={fabric.HOST_ADDRESS}",
            "--max-requests-inflight=1000",
            "--max-mutating-requests-inflight=500",
        ],
        "kube-controller-manager": [
            *component("kube-controller-manager"),
            f"--service-account-private-key-file={keys.service_account_key}",
            f"--root-ca-file={keys.ca_cert}",
            "--use-service-account-credentials=true",
            f"--node-monitor-grace-period={kwok.NODE_MONITOR_GRACE}",
            "--kube-api-qps=200",
            "--kube-api-burst=400",
        ],
        "kube-scheduler": [
            *component("kube-scheduler"),
            "--kube-api-qps=200",
            "--kube-api-burst=400",
        ],
        "kwok": [
            str(bins["kwok"]),
            *kwok.arguments(
                config=kwok_config, kubeconfig=kubeconfigs["admin"], server_port=ports["kwok"]
            ),
        ],
    }


def _readiness(name: str, *, ports: dict[str, int], ca: Path, token: str) -> Callable[[], bool]:
    port = ports[name]
    if name == "etcd":
        return lambda: http_ok(f"http://127.0.0.1:{port}/health")
    if name == "kube-apiserver":
        return lambda: https_ok(f"https://127.0.0.1:{port}/readyz", token=token, ca=ca)
    if name == "kwok":
        return lambda: http_ok(f"http://127.0.0.1:{port}/healthz")
    # controller-manager and scheduler serve a self-signed certificate of their own
    return lambda: https_ok(f"https://127.0.0.1:{port}/healthz")


REMEDIES = {
    "etcd": "check that the data directory is writable and the ports are free",
    "kube-apiserver": "read the log above; a port taken by another process or a bad flag "
    "after a version bump are the usual causes",
    "kube-controller-manager": "read the log above; it needs the API server and its token",
    "kube-scheduler": "read the log above; it needs the API server and its token",
    "kwok": "read the log above; the stage configuration comes from KWOK's module",
}
START_ORDER = ("etcd", "kube-apiserver", "kube-controller-manager", "kube-scheduler", "kwok")


def _claim_ports(requested: dict[str, int]) -> dict[str, int]:
    """Free ports for every component; a requested port that is taken is an error, not a retry."""
    for name, port in requested.items():
        if port_is_open(port):
            raise ComponentError(
                component=name,
                what=f"port {port} on 127.0.0.1 is already in use by another process",
                remedy=f"stop whatever listens there (ss -ltnp 'sport = :{port}') or choose "
                "another port, or leave it unset to get a free one",
            )
    return {name: requested.get(name) or free_port() for name in (*START_ORDER, "etcd-peer")}


def start_control_plane(
    run_dir: Path, *, ports: dict[str, int] | None = None, announce: bool = False
) -> ControlPlane:
    """Start a fresh control plane whose files live in ``run_dir`` (created, must be empty).

    ``ports`` pins some components' ports (``{"kube-apiserver": 6443}``); the rest get
    free ones.

    Raises:
        ComponentError: a component failed to build, start or become ready; whatever
            had started is stopped again and ``run_dir`` removed.
    """
    # phase 1: binaries and ports
    bins = binaries.ensure_all(announce=announce)
    ports = _claim_ports(ports or {})
    # phase 2: keys, tokens, kubeconfigs, KWOK's stages
    run_dir.mkdir(parents=True, exist_ok=False)
    server = f"https://127.0.0.1:{ports['kube-apiserver']}"
    keys = pki.write_pki(run_dir / "pki")
    kubeconfigs = _write_identities(run_dir, server=server, ca=keys.ca_cert)
    plane = ControlPlane(run_dir=run_dir, server=server, ports=ports)
    try:
        kwok_config = kwok.write_config(run_dir / "kwok.yaml")
        (run_dir / "audit-policy.yaml").write_text(yaml.safe_dump(AUDIT_POLICY))
        argv = _component_arguments(
            run_dir,
            bins=bins,
            ports=ports,
            keys=keys,
            kubeconfigs=kubeconfigs,
            kwok_config=kwok_config,
        )
        # phase 3: start in dependency order, each ready before the next
        for name in START_ORDER:
            if announce:
                print(f"starting {name} on 127.0.0.1:{ports[name]}")
            running = start(name, argv[name], log=plane.log(name))
            plane.processes.append(running)
            plane.save()
            wait_until(
                running,
                _readiness(name, ports=ports, ca=keys.ca_cert, token=plane.admin_token),
                timeout=READY_TIMEOUT_SECONDS,
                what=f"its health endpoint on port {ports[name]}",
                remedy=REMEDIES[name],
            )
    except BaseException:
        plane.stop()
        raise
    # phase 4: recorded for `dev-cluster down|status` from another process
    plane.save()
    return plane


def describe(plane: ControlPlane) -> dict[str, object]:
    """What ``dev-cluster status`` prints."""
    return {
        "server": plane.server,
        "kubeconfig": str(plane.kubeconfig),
        "health": plane.health(),
        "ports": plane.ports,
        "logs": {p.name: str(p.log) for p in plane.processes},
    }


__all__ = ["ComponentError", "ControlPlane", "describe", "start_control_plane"]
