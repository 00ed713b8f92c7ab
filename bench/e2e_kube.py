"""The end-to-end benchmark's requests to the API server, and the watch that times binds.

Plain HTTPS with urllib3 and pre-serialised JSON bodies, not the Kubernetes client's
typed models: the benchmark creates the kube-scheduler batches itself, and a slow
client would understate kube-scheduler's throughput (it would measure our creates).

:class:`BindWatch` streams pod events from the API server and notes, on this
machine's clock, when each pod is first seen bound (``spec.nodeName`` set). Object
timestamps (``creationTimestamp``, the PodScheduled condition) have one-second
resolution, too coarse for gangs bound within a second or two.
"""

from __future__ import annotations

import contextlib
import json
import ssl
import threading
import time
from collections.abc import Callable, Iterable, Mapping, Sequence
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import urllib3
import yaml

HOSTNAME_LABEL = "kubernetes.io/hostname"
CREATE_THREADS = 16
"""Concurrent creates when a batch is submitted "at once"."""
POLL_SECONDS = 0.25


class ApiError(RuntimeError):
    """The API server answered a request with an error status."""


class Api:
    """Requests to one cluster, authenticated by the token of a dev-cluster kubeconfig."""

    def __init__(self, kubeconfig: Path) -> None:
        config = yaml.safe_load(kubeconfig.read_text())
        cluster = config["clusters"][0]["cluster"]
        self.server = str(cluster["server"]).rstrip("/")
        self._token = str(config["users"][0]["user"]["token"])
        context = ssl.create_default_context(cafile=cluster["certificate-authority"])
        self._pool = urllib3.PoolManager(
            maxsize=CREATE_THREADS * 2, ssl_context=context, retries=False, timeout=120.0
        )

    def _headers(self, content_type: str = "application/json") -> dict[str, str]:
        return {
            "Authorization": f"Bearer {self._token}",
            "Accept": "application/json",
            "Content-Type": content_type,
        }

    def request(
        self,
        method: str,
        path: str,
        body: bytes | Mapping[str, Any] | None = None,
        *,
        content_type: str = "application/json",
        ok: Iterable[int] = (),
    ) -> dict[str, Any]:
        """One request; a status >= 400 not in ``ok`` raises :class:`ApiError`."""
        data = body if isinstance(body, bytes | None) else json.dumps(body).encode()
        response = self._pool.request(
            method, self.server + path, body=data, headers=self._headers(content_type)
        )
        if response.status >= 400 and response.status not in set(ok):
            raise ApiError(f"{method} {path}: {response.status} {response.data[:500]!r}")
        return dict(json.loads(response.data or b"{}"))

    def get(self, path: str) -> dict[str, Any]:
        return self.request("GET", path)

    def items(self, path: str) -> list[dict[str, Any]]:
        return list(self.get(path)["items"])

    def apply_namespace(self, name: str) -> None:
        body = {"apiVersion": "v1", "kind": "Namespace", "metadata": {"name": name}}
        self.request("POST", "/api/v1/namespaces", body, ok=(409,))

    def create_all(self, bodies: Sequence[tuple[str, bytes]], *, threads: int) -> list[float]:
        """POST every ``(collection path, JSON body)``; returns each one's send time (epoch s).

        With ``threads`` 1 they go out one by one, in order; with more, "at once".
        """

        if threads == 1:
            return [self._send(item) for item in bodies]
        with ThreadPoolExecutor(max_workers=threads) as pool:
            return list(pool.map(self._send, bodies))

    def create_paced(
        self, bodies: Sequence[tuple[str, bytes]], *, arrivals: Sequence[int], every: float
    ) -> list[float]:
        """POST the bodies in order as a steady stream: ``arrivals[i]`` of them (a gang's
        objects) at ``i * every`` seconds from the start; returns each one's send time."""
        if sum(arrivals) != len(bodies):
            raise ValueError(f"arrivals add up to {sum(arrivals)}, not the {len(bodies)} bodies")
        start, times = time.monotonic(), []
        items = iter(bodies)
        for index, count in enumerate(arrivals):
            time.sleep(max(0.0, start + index * every - time.monotonic()))
            times += [self._send(next(items)) for _ in range(count)]
        return times

    def _send(self, item: tuple[str, bytes]) -> float:
        sent = time.time()
        self.request("POST", item[0], item[1])
        return sent

    def delete_collection(self, path: str) -> None:
        """Delete every object of a collection, at once (no grace period)."""
        self.request("DELETE", f"{path}?gracePeriodSeconds=0", ok=(404,))

    def wait_empty(self, path: str, *, what: str, timeout: float = 600.0) -> None:
        wait_for(lambda: not self.items(path), what=what, timeout=timeout)


def wait_for(probe: Callable[[], object], *, what: str, timeout: float) -> None:
    """Poll ``probe`` until it is truthy; raises TimeoutError naming ``what``."""
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if probe():
            return
        time.sleep(POLL_SECONDS)
    raise TimeoutError(f"timed out after {timeout:.0f} s waiting for {what}")


@dataclass
class BindWatch:
    """Bind times of the pods of one namespace, as a watch sees them (epoch seconds).

    Attributes:
        created: pod name -> when it was first seen.
        pinned: pod name -> when it was first seen with netsched's hostname nodeSelector.
        bound: pod name -> when it was first seen with ``spec.nodeName``.
        nodes: pod name -> the node it was bound to.
    """

    api: Api
    namespace: str
    created: dict[str, float] = field(default_factory=dict)
    pinned: dict[str, float] = field(default_factory=dict)
    bound: dict[str, float] = field(default_factory=dict)
    nodes: dict[str, str] = field(default_factory=dict)
    _stop: threading.Event = field(default_factory=threading.Event)
    _thread: threading.Thread | None = None
    _started: threading.Event = field(default_factory=threading.Event)
    _response: urllib3.BaseHTTPResponse | None = None
    error: BaseException | None = None

    def __enter__(self) -> BindWatch:
        self._thread = threading.Thread(target=self._run, name="bind watch", daemon=True)
        self._thread.start()
        if not self._started.wait(30):
            raise TimeoutError(f"the pod watch on {self.namespace} did not start")
        return self

    def __exit__(self, *_: object) -> None:
        self._stop.set()
        response = self._response
        if response is not None:
            # unblocks the read in the watch thread; if that thread saw the stop first and
            # released the stream, its socket is closed already (EBADF): nothing to unblock
            with contextlib.suppress(OSError):
                response.shutdown()
        if self._thread is not None:
            self._thread.join(timeout=10)

    def _run(self) -> None:
        try:
            while not self._stop.is_set():
                self._stream()
        except BaseException as error:  # reported by wait_bound
            if not self._stop.is_set():
                self.error = error
            self._started.set()

    def _stream(self) -> None:
        """One watch request (renewed every minute), from a fresh listing."""
        listing = self.api.get(f"/api/v1/namespaces/{self.namespace}/pods")
        for pod in listing["items"]:
            self._seen(pod)
        version = listing["metadata"]["resourceVersion"]
        path = (
            f"/api/v1/namespaces/{self.namespace}/pods?watch=1&timeoutSeconds=60"
            f"&allowWatchBookmarks=false&resourceVersion={version}"
        )
        response = self.api._pool.request(
            "GET", self.api.server + path, headers=self.api._headers(), preload_content=False
        )
        self._response = response
        self._started.set()
        try:
            buffer = b""
            for chunk in response.stream(65536):
                buffer += chunk
                *lines, buffer = buffer.split(b"\n")
                for line in lines:
                    if line.strip():
                        event = json.loads(line)
                        if event.get("type") in ("ADDED", "MODIFIED"):
                            self._seen(event["object"])
                if self._stop.is_set():
                    return
        finally:
            response.release_conn()

    def _seen(self, pod: Mapping[str, Any]) -> None:
        now = time.time()
        name = pod["metadata"]["name"]
        spec = pod.get("spec", {})
        self.created.setdefault(name, now)
        if HOSTNAME_LABEL in (spec.get("nodeSelector") or {}):
            self.pinned.setdefault(name, now)
        if spec.get("nodeName") and name not in self.bound:
            self.bound[name] = now
            self.nodes[name] = spec["nodeName"]

    def wait_bound(self, pods: Iterable[str], *, timeout: float) -> None:
        """Wait until every one of ``pods`` (names) is bound."""
        wanted = set(pods)

        def done() -> bool:
            if self.error is not None:
                raise RuntimeError(f"the pod watch failed: {self.error}") from self.error
            return wanted <= self.bound.keys()

        what = f"{len(wanted)} pods of {self.namespace} to bind"
        wait_for(done, what=what, timeout=timeout)
