"""The operator: kopf glue around the placement engine (``netsched run``).

- :mod:`~netsched.controller.handlers`: kopf settings, the indexes, wake-ups;
- :mod:`~netsched.controller.cache`: index rows and the snapshot they give;
- :mod:`~netsched.controller.worker`: the loop that reconciles and places;
- :mod:`~netsched.controller.kube`: the writes to the API server;
- :mod:`~netsched.controller.kopf_startup`: a fix to kopf's quadratic start-up.

It runs ``standalone``: one replica (the Deployment uses ``strategy: Recreate``), no
kopf peering. Peering would only keep a second replica idle, and every decision
already survives a restart, because reservations live in the API server.
"""

from __future__ import annotations

import os

from netsched.controller.options import Options


def run(options: Options) -> None:
    """Run the operator until it is stopped (SIGINT/SIGTERM)."""
    if options.kubeconfig is not None:
        # Before kopf is imported: it imports the Kubernetes client, which reads
        # $KUBECONFIG once, at import, for kopf's own login.
        os.environ["KUBECONFIG"] = str(options.kubeconfig)
    import kopf

    from netsched.controller import handlers, kopf_startup  # noqa: F401  (registers the handlers)

    kopf_startup.install()

    kopf.run(
        standalone=True,
        clusterwide=True,
        memo=kopf.Memo(options=options),
        liveness_endpoint=options.liveness,
    )


__all__ = ["Options", "run"]
