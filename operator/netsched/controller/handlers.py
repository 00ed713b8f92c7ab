"""kopf registrations: settings at startup, the indexes that are the cache, and wake-ups.

Nothing here decides anything. Index functions turn objects into the compact rows of
:mod:`netsched.controller.cache`; event handlers only tell the worker that something
changed (and whether capacity may have been freed); the worker does the rest.

Why no ``@kopf.on.create``/``on.update`` handlers: those make kopf store a
last-handled copy of every object in an annotation, and on Pods or Nodes that would be
a write per object of the cluster. Events and indexes are read-only.

Why every handler is ``async``: kopf runs a plain function in a thread of its executor,
one hop there and back (and a shielded task) per handler per event, three per Pod event
here. These handlers only build a tuple or set a flag, so they run on the event loop;
and :meth:`Worker.notify` sets an :class:`asyncio.Event`, which only the loop's own
thread may do.
"""

from __future__ import annotations

import asyncio
import logging
import time
from collections.abc import Coroutine
from typing import Any

import kopf

from netsched import metrics
from netsched.api import GROUP, VERSION, LinkMeasurement, NetworkTopology, TrainingJob
from netsched.api.occupancy import FINISHED_PHASES
from netsched.controller import cache
from netsched.controller.cache import Cache
from netsched.controller.kube import Kube, connect
from netsched.controller.options import Options
from netsched.controller.topologies import TopologyReporter
from netsched.controller.worker import Worker
from netsched.domain.manifests import JOB_LABEL

log = logging.getLogger("netsched")
TRAININGJOBS = (GROUP, VERSION, TrainingJob.INFO.plural)
TOPOLOGIES = (GROUP, VERSION, NetworkTopology.INFO.plural)
MEASUREMENTS = (GROUP, VERSION, LinkMeasurement.INFO.plural)
INDEXES = (
    "node_index",
    "pod_index",
    "gang_index",
    "job_index",
    "topology_index",
    "measurement_index",
    "priority_index",
)


class NoDiffBase(kopf.DiffBaseStorage):
    """No diff-base at all: netsched registers no change handlers, so kopf never reads one.

    kopf still builds the "essence" of every event's body for it (a deep copy of the
    whole body, managedFields and status included): a fifth of its work per pod event
    in a burst. This storage builds, stores and finds nothing.
    """

    def build(self, *, body: kopf.Body, extra_fields: Any = None) -> kopf.BodyEssence:
        return kopf.BodyEssence()

    def fetch(self, *, body: kopf.Body) -> kopf.BodyEssence | None:
        return None

    def store(self, *, body: kopf.Body, patch: kopf.Patch, essence: kopf.BodyEssence) -> None:
        return None


@kopf.on.startup()
async def configure(
    settings: kopf.OperatorSettings, memo: kopf.Memo, logger: kopf.Logger, **kwargs: Any
) -> None:
    """Configure kopf, start the metrics server and the placement worker."""
    options: Options = memo["options"]
    memo["started"] = time.monotonic()
    settings.persistence.finalizer = f"{GROUP}/finalizer"
    settings.persistence.progress_storage = kopf.AnnotationsProgressStorage(prefix=GROUP)
    settings.persistence.diffbase_storage = NoDiffBase()
    settings.posting.enabled = True
    settings.posting.level = logging.INFO
    # Bounded watches: the server ends each stream after this, and a silent stream is
    # dropped by the client a little later, so a lost connection is noticed.
    settings.watching.server_timeout = options.watch_timeout_seconds
    settings.watching.client_timeout = options.watch_timeout_seconds + 15
    settings.watching.connect_timeout = 10
    settings.networking.request_timeout = 60
    if options.metrics_port:
        metrics.serve(options.metrics_port, address=options.metrics_address)
        logger.info(
            "metrics on http://%s:%d/metrics", options.metrics_address, options.metrics_port
        )
    kube = Kube(connect(options.kubeconfig))
    cache = Cache({name: kwargs[name] for name in INDEXES})
    worker = Worker(
        kube=kube, cache=cache, strategy=options.strategy,
        starvation_seconds=options.starvation_seconds,
    )  # fmt: skip
    memo["worker"] = worker
    memo["task"] = asyncio.create_task(worker.run(), name="netsched placement worker")
    reporter = TopologyReporter(kube=kube, cache=cache)
    memo["reporter"] = asyncio.create_task(
        _when_ready(worker, reporter.run()), name="netsched topology status"
    )


async def _when_ready(worker: Worker, work: Coroutine[Any, Any, None]) -> None:
    """Run ``work`` once the cache is filled (a status from a half-listed cache would be wrong)."""
    await worker.ready.wait()
    await work


@kopf.on.cleanup()
async def stop(memo: kopf.Memo, **_: Any) -> None:
    for name in ("task", "reporter"):
        task: asyncio.Task[None] | None = memo.get(name)
        if task is not None:
            task.cancel()
    worker: Worker | None = memo.get("worker")
    if worker is not None:
        await worker.kube.close()


# --- the cache ---------------------------------------------------------------------------------


@kopf.index("nodes")
async def node_index(body: kopf.Body, **_: Any) -> Any:
    return cache.node_row(body)


@kopf.index("pods")
async def pod_index(body: kopf.Body, **_: Any) -> Any:
    return cache.pod_row(body)


@kopf.index("pods", labels={JOB_LABEL: kopf.PRESENT})
async def gang_index(body: kopf.Body, **_: Any) -> Any:
    return cache.gang_row(body)


@kopf.index(*TRAININGJOBS)
async def job_index(body: kopf.Body, **_: Any) -> Any:
    return cache.job_row(body)


@kopf.index(*TOPOLOGIES)
async def topology_index(body: kopf.Body, **_: Any) -> Any:
    return cache.topology_row(body)


@kopf.index(*MEASUREMENTS)
async def measurement_index(body: kopf.Body, **_: Any) -> Any:
    return cache.measurement_row(body)


@kopf.index("priorityclasses.v1.scheduling.k8s.io")
async def priority_index(name: str, body: kopf.Body, **_: Any) -> Any:
    return {name: int(body.get("value", 0))}


# --- wake-ups ----------------------------------------------------------------------------------


def _worker(memo: kopf.Memo) -> Worker:
    worker: Worker = memo["worker"]
    if not worker.ready.is_set():  # resource handlers run only once every index is filled
        seconds = time.monotonic() - memo["started"]
        metrics.CACHE_SYNC_SECONDS.set(seconds)
        metrics.READY.set(1)
        log.info("cache filled in %.1f s: deciding from now on", seconds)
        worker.ready.set()
    return worker


@kopf.on.event("pods")
async def pod_changed(type: str | None, body: kopf.Body, memo: kopf.Memo, **_: Any) -> None:
    finished = body.get("status", {}).get("phase") in FINISHED_PHASES
    ours = JOB_LABEL in body.get("metadata", {}).get("labels", {})
    if type == "DELETED" or finished or ours:
        _worker(memo).notify(capacity=type == "DELETED" or finished)


@kopf.on.event("nodes")
async def node_changed(type: str | None, body: kopf.Body, memo: kopf.Memo, **_: Any) -> None:
    worker = _worker(memo)
    row = cache.node_row(body)
    info = next(iter(row.values())) if row else None
    if worker.remember_node(body["metadata"]["name"], None if type == "DELETED" else info):
        worker.notify(capacity=True)


@kopf.on.event("priorityclasses.v1.scheduling.k8s.io")
@kopf.on.event(*TRAININGJOBS)
async def job_changed(memo: kopf.Memo, **_: Any) -> None:
    _worker(memo).notify()


@kopf.on.event(*TOPOLOGIES)
@kopf.on.event(*MEASUREMENTS)
async def network_changed(memo: kopf.Memo, **_: Any) -> None:
    _worker(memo).notify(capacity=True)
