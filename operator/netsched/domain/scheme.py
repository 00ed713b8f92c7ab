"""Tier levels and the node labels that name them.

This module is the one home of label schemes: which node label says which
switch a node hangs off, at which level, and the nominal bandwidth of the links
from that level up. A NetworkTopology custom resource is turned into a
:class:`TopologyScheme`; without one, :data:`DEFAULT_SCHEME` applies.
"""

from __future__ import annotations

from dataclasses import dataclass

HOSTNAME_LABEL = "kubernetes.io/hostname"
HOST_TIER = "host"
DEFAULT_TOPOLOGY = "default"
"""The NetworkTopology a job names when it names none; :data:`DEFAULT_SCHEME` when none
of that name exists."""


@dataclass(frozen=True, slots=True)
class Level:
    """One layer of the switch tree.

    Attributes:
        name: the tier's name as users write it in ``maxTier`` (``"spine"``).
        label_key: the node label whose value names the node's domain at this level.
        uplink_gbps: nominal bandwidth of the link from one domain of this level to
            its parent. For the widest level, which has no parent, the bandwidth from
            one of its domains to the others (a data-centre interconnect between two
            zones or blocks), which a gang split over them crosses; 0 means the next
            level's uplink (see :attr:`TopologyScheme.interconnect_gbps`).
    """

    name: str
    label_key: str
    uplink_gbps: float


@dataclass(frozen=True, slots=True)
class TopologyScheme:
    """Ordered levels, widest first (``core > spine > leaf``), plus the host tier.

    The host tier is implicit: a node is its own domain at the bottom, keyed by
    ``kubernetes.io/hostname``, with ``host_gbps`` to its leaf.
    """

    levels: tuple[Level, ...]
    host_gbps: float

    def __post_init__(self) -> None:
        """Refuse a link without bandwidth: no time could be predicted for bytes that cross it.

        Raises:
            ValueError: ``host_gbps``, or the uplink of a level but the widest, is not
                positive (the widest level has no uplink; its value is ignored).
        """
        if not self.host_gbps > 0:
            raise ValueError(f"host_gbps must be positive, got {self.host_gbps}")
        for level in self.levels[1:]:
            if not level.uplink_gbps > 0:
                raise ValueError(
                    f"level {level.name}: uplink_gbps must be positive below the widest level, "
                    f"got {level.uplink_gbps}"
                )

    @property
    def interconnect_gbps(self) -> float:
        """Nominal Gbps from one widest-level domain to the others: the widest level's
        ``uplink_gbps`` when set, else the next level's uplink (the host's with one level)."""
        if self.levels and self.levels[0].uplink_gbps > 0:
            return self.levels[0].uplink_gbps
        return self.levels[1].uplink_gbps if len(self.levels) > 1 else self.host_gbps

    @property
    def tier_names(self) -> tuple[str, ...]:
        """Every tier from narrowest to widest: ``("host", "leaf", "spine", "core")``."""
        return (HOST_TIER, *reversed([level.name for level in self.levels]))

    def tier_rank(self, tier: str) -> int:
        """0 for the host tier, growing towards the widest level.

        Raises:
            KeyError: the scheme has no tier of that name.
        """
        try:
            return self.tier_names.index(tier)
        except ValueError:
            raise KeyError(tier) from None


DEFAULT_SCHEME = TopologyScheme(
    levels=(
        Level(name="core", label_key="netsched.io/core", uplink_gbps=0.0),
        Level(name="spine", label_key="netsched.io/spine", uplink_gbps=3200.0),
        Level(name="leaf", label_key="netsched.io/leaf", uplink_gbps=1600.0),
    ),
    host_gbps=400.0,
)
"""netsched's own labels: 400 Gbps per host, 8 hosts share a 2:1 oversubscribed
1.6 Tbps leaf uplink, and each spine has 3.2 Tbps to the core."""
