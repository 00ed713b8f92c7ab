"""Blocking requests to the API server: what the CLI and the probe agent use.

Bodies go out and come back as plain JSON: the client's typed models would coerce a
user's objects (quantities, fields newer than the client) on the way. Errors are
:class:`HTTPError` (and :class:`Rejected` for a create the server refused), for this
blocking form and for the operator's asyncio one (:mod:`netsched.controller.kube`) alike.
"""

from __future__ import annotations

import json
import os
from collections.abc import Mapping
from datetime import datetime
from email.utils import parsedate_to_datetime
from pathlib import Path
from typing import Any, cast

from kubernetes import client, config

MERGE_PATCH = "application/merge-patch+json"


class Rejected(Exception):
    """The API server refused an object we built from the user's spec (HTTP 400, 403, 422):
    an admission plugin or quota said no. The message is the server's own."""


def connect(kubeconfig: Path | None = None) -> client.ApiClient:
    """A client for the cluster: in-cluster credentials, else ``kubeconfig`` or $KUBECONFIG."""
    configuration = client.Configuration()
    if kubeconfig is None and os.environ.get("KUBERNETES_SERVICE_HOST"):
        config.load_incluster_config(client_configuration=configuration)  # type: ignore[no-untyped-call]
    else:
        config.load_kube_config(  # type: ignore[no-untyped-call]
            config_file=str(kubeconfig) if kubeconfig else None,
            client_configuration=configuration,
        )
    configuration.connection_pool_maxsize = 32
    return client.ApiClient(configuration)


class HTTPError(Exception):
    """The API server answered with an error status."""

    def __init__(self, status: int, message: str) -> None:
        super().__init__(f"HTTP {status}: {message}")
        self.status = status


def checked(method: str, status: int, payload: bytes | None) -> dict[str, Any]:
    """The response's JSON, or the error its status means (see :func:`request`)."""
    if status in (400, 403, 422) and method == "POST":
        raise Rejected(_message(payload))
    if status >= 400:
        raise HTTPError(status, _message(payload))
    return cast(dict[str, Any], json.loads(payload or b"{}"))


def request(
    api: client.ApiClient,
    method: str,
    path: str,
    body: Mapping[str, Any] | None = None,
    *,
    content_type: str = "application/json",
) -> dict[str, Any]:
    """One request to the API server, JSON in and out (blocking).

    Raises:
        Rejected: a create (POST) refused as invalid or forbidden.
        HTTPError: any other error status.
    """
    headers = {"Accept": "application/json", "Content-Type": content_type}
    serialized = api.param_serialize(
        method=method,
        resource_path=path,
        header_params=headers,
        body=None if body is None else dict(body),
        auth_settings=["BearerToken"],
    )
    response = api.call_api(*serialized)
    response.read()  # type: ignore[no-untyped-call]
    return checked(method, response.status, response.data)


def server_time(api: client.ApiClient) -> datetime:
    """The API server's clock, from the ``Date`` header of a ``GET /version``."""
    serialized = api.param_serialize(
        method="GET", resource_path="/version", header_params={"Accept": "application/json"},
        auth_settings=["BearerToken"],
    )  # fmt: skip
    response = api.call_api(*serialized)
    response.read()  # type: ignore[no-untyped-call]
    date = response.getheader("Date")  # type: ignore[no-untyped-call]
    if response.status >= 400 or not date:
        raise HTTPError(response.status, "GET /version gave no Date header")
    return parsedate_to_datetime(str(date))


def _message(data: bytes | None) -> str:
    """The ``message`` of a Kubernetes Status body, else the body."""
    try:
        return str(json.loads(data or b"{}").get("message") or data)
    except ValueError:
        return repr(data)
