"""The operator's requests to the API server.

:class:`Kube` is what the operator writes with: asyncio HTTP (aiohttp, which kopf runs
on too) on one connection pool, so the watch streams, the worker and 32 requests in
flight share one event loop and no thread. Credentials come from the Kubernetes
client's configuration (a kubeconfig, or the pod's service account), read again on
every request so that a rotated token is picked up. The blocking form the CLI and the
probe agent use is :func:`netsched.kubeclient.request`.

Creates that find the object already there (HTTP 409 AlreadyExists) and deletes that
find nothing (404) succeed: after a restart the operator repeats steps, and each must
be harmless the second time.
"""

from __future__ import annotations

import json
import ssl
import uuid
from collections.abc import Mapping
from datetime import UTC, datetime
from typing import Any

import aiohttp
from kubernetes import client

from netsched.api import GROUP, VERSION, TrainingJob
from netsched.kubeclient import MERGE_PATCH, HTTPError, Rejected, checked, connect

__all__ = ["MERGE_PATCH", "Conflict", "HTTPError", "Kube", "Rejected", "connect"]
MAX_IN_FLIGHT = 32
"""Requests in flight at once (one connection each)."""
REQUEST_TIMEOUT_SECONDS = 60.0
PLURAL = TrainingJob.INFO.plural


class Conflict(Exception):
    """The object changed since we read it (HTTP 409 on a resourceVersion precondition)."""


class Kube:
    """The handful of requests the operator makes.

    Bodies go out as the plain JSON they are: the client's typed models would coerce a
    user's pod template (quantities, fields newer than the client) on the way.
    """

    def __init__(self, api: client.ApiClient) -> None:
        self._configuration = api.configuration
        self._session: aiohttp.ClientSession | None = None

    def _open(self) -> aiohttp.ClientSession:
        conf = self._configuration
        tls = ssl.create_default_context(cafile=conf.ssl_ca_cert)
        if conf.cert_file:
            tls.load_cert_chain(conf.cert_file, conf.key_file)
        if not conf.verify_ssl:
            tls.check_hostname = False
            tls.verify_mode = ssl.CERT_NONE
        connector = aiohttp.TCPConnector(limit=MAX_IN_FLIGHT, ssl=tls)
        timeout = aiohttp.ClientTimeout(total=REQUEST_TIMEOUT_SECONDS)
        self._session = aiohttp.ClientSession(connector=connector, timeout=timeout)
        return self._session

    async def close(self) -> None:
        if self._session is not None:
            await self._session.close()
            self._session = None

    async def _request(
        self,
        method: str,
        path: str,
        body: Mapping[str, Any] | None = None,
        *,
        content_type: str = "application/json",
    ) -> dict[str, Any]:
        """One request, JSON in and out.

        Raises:
            Rejected: a create (POST) refused as invalid or forbidden.
            HTTPError: any other error status.
        """
        session = self._session or self._open()
        headers = {"Accept": "application/json", "Content-Type": content_type}
        bearer = self._configuration.auth_settings().get("BearerToken")  # refreshes the token
        if bearer and bearer.get("value"):
            headers[bearer["key"]] = bearer["value"]
        data = None if body is None else json.dumps(body)
        url = self._configuration.host + path
        async with session.request(method, url, data=data, headers=headers) as response:
            return checked(method, response.status, await response.read())

    async def create(self, manifest: Mapping[str, Any]) -> bool:
        """Create a Pod, Service or NetworkPolicy; False when it already exists."""
        namespace = manifest["metadata"]["namespace"]
        collection = {
            "Pod": f"/api/v1/namespaces/{namespace}/pods",
            "Service": f"/api/v1/namespaces/{namespace}/services",
            "NetworkPolicy": f"/apis/networking.k8s.io/v1/namespaces/{namespace}/networkpolicies",
            "Event": f"/api/v1/namespaces/{namespace}/events",
        }[manifest["kind"]]
        try:
            await self._request("POST", collection, manifest)
        except HTTPError as error:
            if error.status == 409:
                return False
            raise
        return True

    async def patch_pod(self, namespace: str, name: str, patch: Mapping[str, Any]) -> None:
        """A JSON merge patch of one pod."""
        path = f"/api/v1/namespaces/{namespace}/pods/{name}"
        await self._request("PATCH", path, patch, content_type=MERGE_PATCH)

    async def delete_pod(self, namespace: str, name: str, *, at_once: bool = False) -> None:
        """Delete a pod; ``at_once`` skips the grace period (for a pod whose node is gone,
        with no kubelet left to stop it)."""
        query = "?gracePeriodSeconds=0" if at_once else ""
        try:
            await self._request("DELETE", f"/api/v1/namespaces/{namespace}/pods/{name}{query}")
        except HTTPError as error:
            if error.status != 404:
                raise

    def _job_path(self, namespace: str, name: str) -> str:
        return f"/apis/{GROUP}/{VERSION}/namespaces/{namespace}/{PLURAL}/{name}"

    async def patch_status(
        self, namespace: str, name: str, *, status: Mapping[str, Any], resource_version: str
    ) -> dict[str, Any]:
        """Merge-patch a TrainingJob's status, only if it is still at ``resource_version``.

        Returns the updated object. Raises :class:`Conflict` when someone wrote the job
        in between (the caller re-reads and decides again).
        """
        body = {"metadata": {"resourceVersion": resource_version}, "status": status}
        path = self._job_path(namespace, name) + "/status"
        try:
            return await self._request("PATCH", path, body, content_type=MERGE_PATCH)
        except HTTPError as error:
            if error.status == 409:
                raise Conflict(f"{namespace}/{name} changed meanwhile") from None
            raise

    async def patch_topology_status(self, name: str, status: Mapping[str, Any]) -> None:
        """Merge-patch a NetworkTopology's status (only the operator writes it)."""
        path = f"/apis/{GROUP}/{VERSION}/networktopologies/{name}/status"
        await self._request("PATCH", path, {"status": status}, content_type=MERGE_PATCH)

    async def delete_job(self, namespace: str, name: str) -> None:
        """Delete a finished job in the foreground, as the TTL-after-finished controller
        deletes a Job: the job stays (with a deletion timestamp) until the garbage collector
        has removed its pods, Service and NetworkPolicy, so nothing outlives it unowned."""
        body = {"kind": "DeleteOptions", "apiVersion": "v1", "propagationPolicy": "Foreground"}
        try:
            await self._request("DELETE", self._job_path(namespace, name), body)
        except HTTPError as error:
            if error.status != 404:
                raise

    async def event(
        self, involved: Mapping[str, Any], *, type: str, reason: str, message: str
    ) -> None:
        """Post a core/v1 Event about ``involved`` (what ``kubectl describe`` shows); one about
        a cluster-scoped object goes to the ``default`` namespace, as kubectl looks for it."""
        metadata = involved["metadata"]
        namespace = metadata.get("namespace")
        now = datetime.now(UTC).strftime("%Y-%m-%dT%H:%M:%S.%fZ")
        subject = {
            "apiVersion": involved.get("apiVersion"),
            "kind": involved.get("kind"),
            "name": metadata["name"],
            "uid": metadata.get("uid"),
            "resourceVersion": metadata.get("resourceVersion"),
        }
        if namespace:
            subject["namespace"] = namespace
        await self.create(
            {
                "apiVersion": "v1",
                "kind": "Event",
                "metadata": {
                    "namespace": namespace or "default",
                    "name": f"{metadata['name']}.{uuid.uuid4().hex[:16]}",
                },
                "involvedObject": subject,
                "type": type,
                "reason": reason,
                "message": message[:1024],
                "source": {"component": "netsched"},
                "reportingComponent": "netsched",
                "firstTimestamp": now,
                "lastTimestamp": now,
                "count": 1,
            }
        )
