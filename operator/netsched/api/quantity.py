"""Kubernetes resource quantities (``64Mi``, ``1.5G``, ``8``), parsed exactly.

Two schemas share one parser:

- :data:`KubeQuantity` accepts everything Kubernetes accepts in a container's
  ``resources`` (signs, ``m``, exponents), because the pod template must stay a valid
  pod template;
- :data:`ByteQuantity` is what netsched asks for in ``bytesPerStep``: a non-negative
  number with an optional binary (Ki, Mi, Gi, Ti, Pi) or decimal (k, M, G, T, P) suffix.

Both accept an integer or a string on the wire (``x-kubernetes-int-or-string``) and
keep the value exactly as written, so a manifest round-trips unchanged; convert with
:func:`parse_quantity` or :func:`quantity_bytes`.
"""

from __future__ import annotations

import math
import re
from fractions import Fraction
from typing import Annotated

from pydantic import AfterValidator, Field, WithJsonSchema

_BINARY = {"Ki": 2**10, "Mi": 2**20, "Gi": 2**30, "Ti": 2**40, "Pi": 2**50, "Ei": 2**60}
_DECIMAL = {
    "n": Fraction(1, 10**9),
    "u": Fraction(1, 10**6),
    "m": Fraction(1, 10**3),
    "": Fraction(1),
    "k": Fraction(10**3),
    "M": Fraction(10**6),
    "G": Fraction(10**9),
    "T": Fraction(10**12),
    "P": Fraction(10**15),
    "E": Fraction(10**18),
}

KUBE_QUANTITY_PATTERN = (
    r"^(\+|-)?(([0-9]+(\.[0-9]*)?)|(\.[0-9]+))"
    r"(([KMGTPE]i)|[numkMGTPE]|([eE](\+|-)?(([0-9]+(\.[0-9]*)?)|(\.[0-9]+))))?$"
)
BYTE_QUANTITY_PATTERN = r"^[0-9]+(\.[0-9]+)?(Ki|Mi|Gi|Ti|Pi|k|M|G|T|P)?$"

_PARTS_RE = re.compile(
    r"^(?P<number>[+-]?(?:[0-9]+(?:\.[0-9]*)?|\.[0-9]+))"
    r"(?P<suffix>[KMGTPE]i|[eE][+-]?(?:[0-9]+(?:\.[0-9]*)?|\.[0-9]+)|[numkMGTPE])?$"
)
_BYTE_RE = re.compile(BYTE_QUANTITY_PATTERN)
_MAX_LENGTH = 64
_MAX_EXPONENT = 30


def parse_quantity(value: int | str) -> Fraction:
    """The exact value of a Kubernetes quantity.

    Example:
        >>> parse_quantity("1.5Ki")
        Fraction(1536, 1)

    Raises:
        ValueError: ``value`` is not a quantity Kubernetes would accept (or has a
            fractional exponent, or one beyond ±30, which no real resource needs).
    """
    if isinstance(value, bool):
        raise ValueError("a quantity is a number or a string such as '64Mi', not a boolean")
    if isinstance(value, int):
        return Fraction(value)
    match = _PARTS_RE.match(value) if len(value) <= _MAX_LENGTH else None
    if match is None:
        raise ValueError(f"{value!r} is not a quantity: write e.g. 512Mi, 4Gi, 100M or 1000000")
    number, suffix = Fraction(match["number"]), match["suffix"] or ""
    if suffix in _BINARY:
        return number * _BINARY[suffix]
    if suffix in _DECIMAL:
        return number * _DECIMAL[suffix]
    exponent = Fraction(suffix[1:])
    if exponent.denominator != 1 or abs(exponent) > _MAX_EXPONENT:
        raise ValueError(f"{value!r}: the exponent must be a whole number within ±{_MAX_EXPONENT}")
    return number * Fraction(10) ** int(exponent)


def quantity_bytes(value: int | str) -> int:
    """A byte count, rounded up to a whole byte as Kubernetes' ``Value()`` does."""
    return math.ceil(parse_quantity(value))


def byte_count(value: int | str) -> int:
    """A ``bytesPerStep`` byte count (``14Gi``, ``500M``, ``1000``), checked, in bytes.

    >>> byte_count("1.5Ki"), byte_count("1000")
    (1536, 1000)

    Raises:
        ValueError: not a byte count; the message says what to write.
    """
    return quantity_bytes(_check_bytes(value))


def _check_kube(value: int | str) -> int | str:
    parse_quantity(value)
    return value


def _check_bytes(value: int | str) -> int | str:
    if isinstance(value, bool):
        raise ValueError("a byte count is a number or a string such as '64Mi', not a boolean")
    if isinstance(value, int):
        if value < 0:
            raise ValueError(f"{value} is negative: a byte count is 0 or more")
        return value
    if len(value) > _MAX_LENGTH or not _BYTE_RE.match(value):
        raise ValueError(
            f"{value!r} is not a byte count: write a whole number with an optional suffix "
            "Ki, Mi, Gi, Ti, Pi (powers of 1024) or k, M, G, T, P (powers of 1000), e.g. 512Mi"
        )
    return value


def _int_or_string(pattern: str, description: str, **bounds: int) -> WithJsonSchema:
    return WithJsonSchema(
        {
            "anyOf": [{"type": "integer"}, {"type": "string"}],
            "pattern": pattern,
            "x-kubernetes-int-or-string": True,
            "maxLength": _MAX_LENGTH,
            "description": description,
            **bounds,
        }
    )


KubeQuantity = Annotated[
    int | str,
    Field(union_mode="left_to_right"),
    AfterValidator(_check_kube),
    _int_or_string(KUBE_QUANTITY_PATTERN, "A Kubernetes quantity, e.g. 8 or 500m."),
]
ByteQuantity = Annotated[
    int | str,
    Field(union_mode="left_to_right"),
    AfterValidator(_check_bytes),
    _int_or_string(
        BYTE_QUANTITY_PATTERN,
        "A byte count: an integer, or a number with a suffix Ki/Mi/Gi/Ti/Pi or k/M/G/T/P.",
        minimum=0,
    ),
]
