"""How ``netsched run`` was asked to run: the operator's own settings, in one place."""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

from netsched.domain.placement import DEFAULT_STRATEGY
from netsched.domain.queue import DEFAULT_STARVATION_SECONDS


@dataclass(frozen=True, slots=True)
class Options:
    """Attributes:
    kubeconfig: the cluster (None: in-cluster credentials, else $KUBECONFIG).
    strategy: the placement strategy (``netsched``; the baselines for experiments).
    starvation_seconds: the queue's starvation bound (see :mod:`netsched.domain.queue`).
    metrics_port: where ``/metrics`` is served (0: not at all).
    metrics_address: the address it binds.
    watch_timeout_seconds: how long one watch request lasts before kopf renews it.
    liveness: kopf's liveness endpoint URL (e.g. ``http://0.0.0.0:8080/healthz``), or None.
    """

    kubeconfig: Path | None = None
    strategy: str = DEFAULT_STRATEGY
    starvation_seconds: float = DEFAULT_STARVATION_SECONDS
    metrics_port: int = 9090
    metrics_address: str = "0.0.0.0"
    watch_timeout_seconds: int = 300
    liveness: str | None = None
