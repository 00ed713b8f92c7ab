"""The pod template of a TrainingJob: a real ``PodTemplateSpec``, read only where netsched must.

The template is kept whole (every unknown field survives, and the CRD marks it
``x-kubernetes-preserve-unknown-fields``) because netsched copies it into the pods
it creates. Only the parts netsched reasons about are typed: the containers and
their ``nvidia.com/gpu`` limits, which say how many GPUs each pod of the gang needs.
"""

from __future__ import annotations

from typing import Annotated

from pydantic import Field

from netsched.api.meta import OpenModel, cel, validations
from netsched.api.quantity import KubeQuantity, parse_quantity

GPU_RESOURCE = "nvidia.com/gpu"
MAX_CONTAINERS = 32
MAX_RESOURCES = 32

GPU_LIMIT_IS_WHOLE = (
    "nvidia.com/gpu must be a whole number of GPUs (e.g. 8): the device plugin hands out "
    "whole GPUs; round the limit"
)
_GPU = f"'{GPU_RESOURCE}'"


class TemplateMetadata(OpenModel):
    """Labels and annotations copied onto every pod (netsched adds its own on top)."""

    labels: dict[str, str] | None = None
    annotations: dict[str, str] | None = None


class ResourceRequirements(OpenModel):
    """A container's ``resources``; GPUs are counted from ``limits``, as Kubernetes requires
    extended resources such as ``nvidia.com/gpu`` to be set there."""

    limits: Annotated[
        dict[str, KubeQuantity] | None,
        Field(
            max_length=MAX_RESOURCES,
            json_schema_extra=validations(
                cel(
                    f"!({_GPU} in self) || (isQuantity(string(self[{_GPU}])) && "
                    f"quantity(string(self[{_GPU}])).isInteger())",
                    GPU_LIMIT_IS_WHOLE,
                    field_path=f"[{_GPU}]",
                )
            ),
        ),
    ] = None
    requests: Annotated[dict[str, KubeQuantity] | None, Field(max_length=MAX_RESOURCES)] = None


def whole_gpus(value: int | str) -> int:
    """An ``nvidia.com/gpu`` quantity as a GPU count.

    Raises:
        ValueError: the quantity is malformed, negative or not a whole number.
    """
    count = parse_quantity(value)
    if count.denominator != 1 or count < 0:
        raise ValueError(f"{GPU_RESOURCE} {value!r}: {GPU_LIMIT_IS_WHOLE}")
    return int(count)


class Container(OpenModel):
    """One container of the worker pod (``image``, ``command``, ... are kept as written)."""

    name: Annotated[str, Field(min_length=1, max_length=63)]
    resources: ResourceRequirements | None = None

    def gpus(self) -> int:
        """The container's ``nvidia.com/gpu`` limit, 0 when it sets none.

        Raises:
            ValueError: the limit is not a whole number.
        """
        if self.resources is None or self.resources.limits is None:
            return 0
        value = self.resources.limits.get(GPU_RESOURCE)
        if value is None:
            return 0
        return whole_gpus(value)


class PodSpec(OpenModel):
    """The worker pod's spec; netsched adds a scheduling gate, labels and a nodeSelector."""

    containers: Annotated[list[Container], Field(min_length=1, max_length=MAX_CONTAINERS)]


class PodTemplateSpec(OpenModel):
    """Template of every worker pod of the gang (a Kubernetes ``PodTemplateSpec``)."""

    metadata: TemplateMetadata | None = None
    spec: PodSpec

    def gpus_per_pod(self) -> int:
        """GPUs one worker pod asks for: the sum of its containers' ``nvidia.com/gpu`` limits.

        Init containers are ignored: they run before training and release their GPUs.

        Raises:
            ValueError: a container's GPU limit is not a whole number.
        """
        return sum(container.gpus() for container in self.spec.containers)


GPUS_PER_POD_CEL = (
    "self.template.spec.containers.map(c, has(c.resources) && has(c.resources.limits) && "
    f"{_GPU} in c.resources.limits && isQuantity(string(c.resources.limits[{_GPU}])) && "
    f"quantity(string(c.resources.limits[{_GPU}])).isInteger() ? "
    f"quantity(string(c.resources.limits[{_GPU}])).asInteger() : 0).sum()"
)
"""CEL for :meth:`PodTemplateSpec.gpus_per_pod`, evaluated on a TrainingJob's ``spec``."""
