"""Peers a TrainingJob lets in or out beyond its own gang, in NetworkPolicy's own terms.

Each :class:`NetworkPeer` becomes one rule of the job's NetworkPolicy: either pods
picked by selectors (``namespaceSelector`` and/or ``podSelector``, as in a
NetworkPolicyPeer) or an ``ipBlock``, optionally narrowed to some ports.
"""

from __future__ import annotations

from enum import StrEnum
from typing import Annotated

from pydantic import ConfigDict, Field, WithJsonSchema

from netsched.api.meta import ENUM_FROM_STRING, ApiModel, LabelKey, LabelValue, cel, validations

PEER_NEEDS_ONE_KIND = (
    "a peer is either ipBlock or namespaceSelector/podSelector: set exactly one kind "
    "(two kinds of peer need two entries)"
)
CIDR_INVALID = "must be a CIDR such as 10.20.0.0/16 or fd00::/64"
OPERATOR_VALUES = "operator In and NotIn need values; Exists and DoesNotExist take none"


class SelectorOperator(StrEnum):
    IN = "In"
    NOT_IN = "NotIn"
    EXISTS = "Exists"
    DOES_NOT_EXIST = "DoesNotExist"


class SelectorRequirement(ApiModel):
    """One ``matchExpressions`` entry of a label selector."""

    model_config = ConfigDict(
        json_schema_extra=validations(
            cel(
                "(self.operator in ['In', 'NotIn']) == (has(self.values) && size(self.values) > 0)",
                OPERATOR_VALUES,
                field_path=".values",
            )
        )
    )

    key: LabelKey
    operator: Annotated[SelectorOperator, ENUM_FROM_STRING]
    values: Annotated[list[LabelValue] | None, Field(max_length=64)] = None


class LabelSelector(ApiModel):
    """A Kubernetes label selector; an empty one selects everything."""

    match_labels: Annotated[dict[str, LabelValue] | None, Field(max_length=64)] = None
    match_expressions: Annotated[list[SelectorRequirement] | None, Field(max_length=32)] = None


Cidr = Annotated[
    str,
    Field(min_length=1, max_length=64),
    WithJsonSchema(
        {
            "type": "string",
            "minLength": 1,
            "maxLength": 64,
            "x-kubernetes-validations": [cel("isCIDR(self)", CIDR_INVALID)],
        }
    ),
]


class IPBlock(ApiModel):
    """A range of addresses outside the cluster (e.g. a storage network)."""

    cidr: Cidr
    except_: Annotated[list[Cidr] | None, Field(alias="except", max_length=32)] = None
    """Sub-ranges of ``cidr`` to leave out."""


class Protocol(StrEnum):
    TCP = "TCP"
    UDP = "UDP"
    SCTP = "SCTP"


PortNumberOrName = Annotated[
    int | str,
    Field(union_mode="left_to_right"),
    WithJsonSchema(
        {
            "anyOf": [{"type": "integer"}, {"type": "string"}],
            "x-kubernetes-int-or-string": True,
            "maxLength": 15,
        }
    ),
]


class NetworkPolicyPort(ApiModel):
    """A port (number or container port name) or a range ``port``..``endPort``."""

    protocol: Annotated[Protocol, ENUM_FROM_STRING] = Protocol.TCP
    port: PortNumberOrName | None = None
    end_port: Annotated[int | None, Field(ge=1, le=65535)] = None


class NetworkPeer(ApiModel):
    """Pods (by namespace and/or pod labels) or an IP block, optionally on some ports."""

    model_config = ConfigDict(
        json_schema_extra=validations(
            cel(
                "has(self.ipBlock) != (has(self.namespaceSelector) || has(self.podSelector))",
                PEER_NEEDS_ONE_KIND,
            )
        )
    )

    namespace_selector: LabelSelector | None = None
    """Namespaces whose pods are allowed, e.g. ``matchLabels: {name: monitoring}``."""
    pod_selector: LabelSelector | None = None
    """Pods allowed (in the selected namespaces, else in the job's own namespace)."""
    ip_block: IPBlock | None = None
    """Addresses allowed, e.g. a storage subnet."""
    ports: Annotated[list[NetworkPolicyPort] | None, Field(max_length=32)] = None
    """Limit the rule to these ports; all ports when unset."""

    def problem(self) -> str | None:
        """The CEL rule's verdict in Python: None when the peer is of exactly one kind."""
        selectors = self.namespace_selector is not None or self.pod_selector is not None
        return None if (self.ip_block is not None) != selectors else PEER_NEEDS_ONE_KIND
