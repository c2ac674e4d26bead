"""The node model: devices, edge servers and clouds joined by wireless or wired links.

A :class:`Network` is a directed graph: :class:`Node` objects (compute in FLOP/s, memory in
bytes, the models they host) and :class:`Link` objects between them. A link carries complex
channel uses at ``bandwidth_hz`` per second (one complex channel use per second per hertz, the
Nyquist rate of a complex baseband channel), adds ``latency_s`` of propagation delay, and has a
channel model (a name registered in :mod:`channels`, with its options) and an SNR (Es/N0 per
complex symbol, dB, see :mod:`channels.snr`). :meth:`Link.digital_link` builds the
:class:`~semcom.link.digital.DigitalLink` that sends bytes over it for real.
"""

from __future__ import annotations

import math
from dataclasses import dataclass, field
from typing import Any, Iterator

from channels import CHANNELS
from semcom.errors import ConfigError
from semcom.link.digital import DigitalLink

NODE_KINDS = ("device", "edge", "cloud")


def _positive(name: str, value: Any) -> float:
    if isinstance(value, bool) or not isinstance(value, (int, float)) or not math.isfinite(value) or value <= 0:
        raise ConfigError(f"{name} must be a positive finite number, got {value!r}")
    return value


def _non_negative(name: str, value: Any) -> float:
    if isinstance(value, bool) or not isinstance(value, (int, float)) or not math.isfinite(value) or value < 0:
        raise ConfigError(f"{name} must be a non-negative finite number, got {value!r}")
    return value


@dataclass(frozen=True)
class Node:
    """A compute node.

    name:   unique name in its network.
    kind:   ``device`` (user equipment), ``edge`` (edge server) or ``cloud``.
    flops:  sustained compute, FLOP/s.
    memory: memory, bytes.
    models: names of the models it hosts (a captioner, a generator, an estimator, ...).
    """

    name: str
    kind: str
    flops: float
    memory: int
    models: tuple[str, ...] = ()

    def __post_init__(self) -> None:
        if not isinstance(self.name, str) or not self.name:
            raise ConfigError(f"a node name must be a non-empty string, got {self.name!r}")
        if self.kind not in NODE_KINDS:
            raise ConfigError(f"node {self.name!r}: kind must be one of {', '.join(NODE_KINDS)}, got {self.kind!r}")
        _positive(f"node {self.name!r}: flops", self.flops)
        if isinstance(self.memory, bool) or not isinstance(self.memory, int) or self.memory <= 0:
            raise ConfigError(f"node {self.name!r}: memory must be a positive integer (bytes), got {self.memory!r}")
        object.__setattr__(self, "models", tuple(self.models))

    def hosts(self, model: str) -> bool:
        return model in self.models


@dataclass
class Link:
    """A directed link ``src -> dst``.

    channel:         channel model name (``awgn``, ``rayleigh``, ``tdl``, ...).
    snr_db:          Es/N0 per complex symbol, dB.
    bandwidth_hz:    complex channel uses per second.
    latency_s:       propagation (and fixed processing) delay added to every transfer, s.
    channel_options: keyword options of the channel model.
    """

    src: str
    dst: str
    snr_db: float
    bandwidth_hz: float
    latency_s: float = 0.0
    channel: str = "awgn"
    channel_options: dict = field(default_factory=dict)
    _links: dict = field(default_factory=dict, init=False, repr=False, compare=False)

    def __post_init__(self) -> None:
        if self.channel not in CHANNELS:
            raise ConfigError(f"link {self.src}->{self.dst}: unknown channel {self.channel!r}; known: {', '.join(CHANNELS.names())}")
        if isinstance(self.snr_db, bool) or not isinstance(self.snr_db, (int, float)) or not math.isfinite(self.snr_db):
            raise ConfigError(f"link {self.src}->{self.dst}: snr_db must be a finite number, got {self.snr_db!r}")
        _positive(f"link {self.src}->{self.dst}: bandwidth_hz", self.bandwidth_hz)
        _non_negative(f"link {self.src}->{self.dst}: latency_s", self.latency_s)
        if not isinstance(self.channel_options, dict):
            raise ConfigError(f"link {self.src}->{self.dst}: channel_options must be a table")

    @property
    def name(self) -> str:
        return f"{self.src}->{self.dst}"

    def digital_link(self, mcs: int | None = None, code: str = "auto", seed: int | None = None) -> DigitalLink:
        """The digital link over this link's channel (cached per MCS, code and seed)."""
        key = (mcs, code, seed)
        if key not in self._links:
            self._links[key] = DigitalLink(self.channel, mcs=mcs, code=code, seed=seed, **self.channel_options)
        return self._links[key]


class Network:
    """Nodes and the directed links between them.

    >>> net = Network()
    >>> _ = net.add_node(Node("edge", "edge", 1e14, 2**35))
    >>> _ = net.add_node(Node("ue1", "device", 1e12, 2**33))
    >>> net.add_link("edge", "ue1", snr_db=5.0, bandwidth_hz=1e6).name
    'edge->ue1'
    """

    def __init__(self) -> None:
        self._nodes: dict[str, Node] = {}
        self._links: dict[tuple[str, str], Link] = {}

    def add_node(self, node: Node) -> Node:
        if node.name in self._nodes:
            raise ConfigError(f"node {node.name!r} is already in the network")
        self._nodes[node.name] = node
        return node

    def add_link(self, src: str, dst: str, **kwargs: Any) -> Link:
        """Add the directed link ``src -> dst`` (keyword arguments as in :class:`Link`)."""
        for name in (src, dst):
            if name not in self._nodes:
                raise ConfigError(f"link {src}->{dst}: unknown node {name!r}")
        if src == dst:
            raise ConfigError(f"link {src}->{dst}: a link joins two different nodes")
        if (src, dst) in self._links:
            raise ConfigError(f"link {src}->{dst} is already in the network")
        link = Link(src, dst, **kwargs)
        self._links[(src, dst)] = link
        return link

    def node(self, name: str) -> Node:
        try:
            return self._nodes[name]
        except KeyError:
            raise ConfigError(f"unknown node {name!r}; known: {', '.join(self._nodes) or 'none'}") from None

    def link(self, src: str, dst: str) -> Link:
        try:
            return self._links[(src, dst)]
        except KeyError:
            raise ConfigError(f"no link {src}->{dst} in the network") from None

    @property
    def nodes(self) -> dict[str, Node]:
        return dict(self._nodes)

    @property
    def links(self) -> list[Link]:
        return list(self._links.values())

    def nodes_of_kind(self, kind: str) -> list[Node]:
        return [n for n in self._nodes.values() if n.kind == kind]

    def downlinks(self, src: str) -> list[Link]:
        """Links leaving ``src``."""
        return [l for (s, _), l in self._links.items() if s == src]

    def uplinks(self, dst: str) -> list[Link]:
        """Links arriving at ``dst``."""
        return [l for (_, d), l in self._links.items() if d == dst]

    def __iter__(self) -> Iterator[Node]:
        return iter(self._nodes.values())

    def __len__(self) -> int:
        return len(self._nodes)


def tiered_network(flops: tuple[float, ...], memory: tuple[int, ...], *, snr_db: float, bandwidth_hz: float,
                   latency_s: float = 0.002, core_snr_db: float = 30.0, core_bandwidth_hz: float | None = None,
                   core_latency_s: float = 0.010) -> Network:
    """A device ``ue`` and an ``edge`` node (and a ``cloud`` node when three tiers are given), joined both ways.

    flops / memory: FLOP/s and bytes per tier, device first. The access link ue <-> edge runs at ``snr_db``,
    ``bandwidth_hz``, ``latency_s``; the core link edge <-> cloud at ``core_snr_db``, ``core_bandwidth_hz``
    (default 10x the access bandwidth), ``core_latency_s``.
    """
    if len(flops) != len(memory) or len(flops) not in (2, 3):
        raise ConfigError(f"a tiered network has 2 or 3 tiers with FLOP/s and memory each, got {flops} and {memory}")
    names, kinds = ("ue", "edge", "cloud"), ("device", "edge", "cloud")
    network = Network()
    for name, kind, speed, size in zip(names, kinds, flops, memory):
        network.add_node(Node(name, kind, speed, size))
    hops = [("ue", "edge", snr_db, bandwidth_hz, latency_s)]
    if len(flops) == 3:
        hops.append(("edge", "cloud", core_snr_db, core_bandwidth_hz or 10 * bandwidth_hz, core_latency_s))
    for a, b, snr, bandwidth, latency in hops:
        for src, dst in ((a, b), (b, a)):
            network.add_link(src, dst, snr_db=snr, bandwidth_hz=bandwidth, latency_s=latency)
    return network
