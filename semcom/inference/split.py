"""Split planning over a layer chain: which layers run on the device, the edge and the cloud.

A model is profiled as a chain of layers (:class:`LayerProfile`: FLOPs, bits of its output when sent
over a link, real values of it that may be sent analog, parameter and activation memory). A :class:`Route` is the path of nodes the request may
climb (``device -> edge -> cloud``), with the uplink and downlink between each pair. A plan puts
layers ``[c_t, c_{t+1})`` on tier ``t`` (cut points ``0 <= c_1 <= ... <= c_{K-1} <= n``); its
end-to-end latency is

* compute: each layer's FLOPs over its node's FLOP/s (on a node with a memory bandwidth,
  ``Route.memory_bandwidth``, at least the time to read the weights of the layers it runs: a pass over
  few tokens is memory-bound);
* transfers: the chain's input (when the device runs nothing) or the activation at the cut, over each
  uplink the data climbs (relayed through a tier that runs nothing); the result back down to the device
  (or, for a chain whose result is wanted at the route's top -- ``ChainProfile.result_at="top"`` --, up
  from the tier that made it). A digital transfer of ``b`` bits takes ``channel_uses / bandwidth + latency``
  seconds, the channel uses from :meth:`~semcom.link.digital.DigitalLink.plan` at the link's MCS for its
  current SNR (link adaptation unless an MCS is fixed); a link whose SNR is below every MCS's threshold
  cannot carry a packet (infinite cost). With ``Route.features="analog"`` a feature's ``v`` real values
  go as ``ceil(v / 2)`` complex symbols (plus the channel's pilots) and only its header (the tensor's
  shape and scale) as a digital packet; analog symbols need no MCS, so they cross at any SNR (at
  ``Route.analog_min_snr_db`` and above when that is set: below it the feature would arrive too noisy);
* memory: each tier's parameters plus its largest activation must fit in its node's memory.

:func:`plan_split` minimises it by dynamic programming over (tier, cut) in ``O(K n^2)`` time;
:func:`brute_force` enumerates every cut tuple (the reference). Re-plan when an SNR changes: the
transfer costs are read from the links at call time.
"""

from __future__ import annotations

import itertools
import math
from dataclasses import dataclass, field
from typing import Sequence

from semcom.errors import ConfigError
from semcom.network.nodes import Link, Network, Node

INF = math.inf
#: bits a feature packet adds to its payload: sequence length (16), tensor range (2 x float32), CRC-32.
FEATURE_HEADER_BITS = 16 + 64 + 32
#: bits a token packet adds: count (16), CRC-32.
TOKEN_HEADER_BITS = 16 + 32
#: bits of the digital header of an analog feature: element count (32), mean and scale (2 x float32), CRC-32.
ANALOG_HEADER_BITS = 32 + 64 + 32
FEATURE_TRANSPORTS = ("digital", "analog")
RESULT_AT = ("device", "top")


@dataclass(frozen=True)
class LayerProfile:
    """One layer: ``flops`` per call, ``out_bits`` of its output as a digital packet, ``param_bytes``
    of weights and ``act_bytes`` of activation memory it needs; ``out_values`` real values of that output
    that may go analog instead (0: the output is token ids, digital only) and ``side_bits`` of it that
    travel digitally either way (token ids riding along with a feature; headers not counted);
    ``channel_symbols``: the output is made for the channel (a JSCC bottleneck, whose decoder takes the
    power-normalised symbols as they arrive), so analog it needs no header and no SNR floor."""

    name: str
    flops: float
    out_bits: int
    param_bytes: int = 0
    act_bytes: int = 0
    out_values: int = 0
    side_bits: int = 0
    channel_symbols: bool = False


@dataclass(frozen=True)
class ChainProfile:
    """A layer chain: ``input_bits`` of the chain's input (at the device, digital), ``result_bits`` of
    the answer returned to the device; ``result_at="top"``: the result is wanted on the route's top
    node instead (the last layer's output climbs there; nothing comes back)."""

    layers: tuple[LayerProfile, ...]
    input_bits: int
    result_bits: int
    result_at: str = "device"
    name: str = ""

    def __post_init__(self):
        if self.result_at not in RESULT_AT:
            raise ConfigError(f"result_at must be one of {', '.join(RESULT_AT)}, got {self.result_at!r}")

    def __len__(self) -> int:
        return len(self.layers)

    def bits_at(self, cut: int) -> int:
        """Bits that cross a link at cut ``cut`` (before layer ``cut``) as a digital packet."""
        return self.input_bits if cut == 0 else self.layers[cut - 1].out_bits

    def values_at(self, cut: int) -> int:
        """Real values at cut ``cut`` that may cross analog (0 at the input)."""
        return 0 if cut == 0 else self.layers[cut - 1].out_values

    def side_bits_at(self, cut: int) -> int:
        """Bits at cut ``cut`` that stay digital when its values cross analog (the header included)."""
        if cut == 0:
            return ANALOG_HEADER_BITS
        layer = self.layers[cut - 1]
        return layer.side_bits + (0 if layer.channel_symbols else ANALOG_HEADER_BITS)


def gpt2_profile(n_embd: int, n_layer: int, vocab_size: int, seq_len: int, *, n_positions: int | None = None,
                 n_head: int = 1, feature_bits: int = 8, id_bits: int | None = None) -> ChainProfile:
    """Profile of a GPT-2 forward pass over ``seq_len`` tokens producing the next token:
    ``embed``, ``block0..block{n_layer-1}``, ``head`` (final norm and logits of the last position).
    Block FLOPs: ``24 T d^2 + 4 T^2 d``; features are ``T x d`` values of ``feature_bits`` bits plus a header."""
    d, T, V = n_embd, seq_len, vocab_size
    P = n_positions or T
    ids = id_bits or max(1, math.ceil(math.log2(V)))
    feature = T * d * feature_bits + FEATURE_HEADER_BITS
    act = 4 * T * d
    layers = [LayerProfile("embed", float(T * d), feature, 4 * (V * d + P * d), act, T * d)]
    for i in range(n_layer):
        layers.append(LayerProfile(f"block{i}", gpt2_block_flops(d, 0, T), feature,
                                   4 * (12 * d * d + 13 * d), 4 * (4 * T * d + n_head * T * T), T * d))
    layers.append(LayerProfile("head", float(2 * d * V + 5 * T * d), token_packet_bits(1, ids), 4 * (V * d + 2 * d), 4 * V))
    return ChainProfile(tuple(layers), token_packet_bits(T, ids), token_packet_bits(1, ids), name=f"GPT-2 d={d} L={n_layer}")


def gpt2_block_flops(n_embd: int, past: int, new: int) -> float:
    """FLOPs of one GPT-2 block over ``new`` tokens with ``past`` tokens in its KV cache:
    ``24 new d^2`` (projections and MLP) ``+ 4 new (past + new) d`` (attention over every position)."""
    d = n_embd
    return float(24 * new * d * d + 4 * new * (past + new) * d)


def gpt2_step_flops(n_embd: int, n_layer: int, vocab_size: int, past: int, new: int, *, logits: int = 1) -> float:
    """FLOPs of one GPT-2 pass over ``new`` tokens with ``past`` tokens already in its KV cache, producing
    logits at the last ``logits`` positions: embedding ``new d``, the blocks (:func:`gpt2_block_flops`),
    head ``logits 2 d V + 5 new d``. ``past = 0, logits = 1`` is the full pass of :func:`gpt2_profile`."""
    d, V = n_embd, vocab_size
    return float(new * d + n_layer * gpt2_block_flops(d, past, new) + logits * 2 * d * V + 5 * new * d)


def token_packet_bits(count: int, id_bits: int) -> int:
    """Bits of a packet of ``count`` token ids (ids packed and padded to whole bytes, plus the header)."""
    return TOKEN_HEADER_BITS + 8 * math.ceil(count * id_bits / 8)


@dataclass
class Route:
    """The nodes a request may climb, ``nodes[0]`` the device; ``up[t]``: ``nodes[t] -> nodes[t+1]``,
    ``down[t]``: ``nodes[t+1] -> nodes[t]``. ``features``: how activations cross (``digital`` 8-bit
    packets or ``analog`` symbols); ``analog_min_snr_db``: the lowest SNR an analog feature may cross at;
    ``memory_bandwidth``: bytes/s a node streams its weights at, by node name (decoding passes on a node
    listed there take at least the time to read the model's weights once; see :mod:`semcom.inference.decode`)."""

    nodes: list[Node]
    up: list[Link]
    down: list[Link]
    mcs: int | None = None
    features: str = "digital"
    analog_min_snr_db: float | None = None
    memory_bandwidth: dict[str, float] = field(default_factory=dict)

    def __post_init__(self):
        if self.features not in FEATURE_TRANSPORTS:
            raise ConfigError(f"features must be one of {', '.join(FEATURE_TRANSPORTS)}, got {self.features!r}")
        for name, value in self.memory_bandwidth.items():
            if isinstance(value, bool) or not isinstance(value, (int, float)) or not math.isfinite(value) or value <= 0:
                raise ConfigError(f"memory bandwidth of {name!r} must be a positive number of bytes/s, got {value!r}")

    @classmethod
    def through(cls, network: Network, names: Sequence[str], mcs: int | None = None, features: str = "digital",
                analog_min_snr_db: float | None = None, memory_bandwidth: dict[str, float] | None = None) -> "Route":
        if len(names) < 1:
            raise ConfigError("a route needs at least one node")
        nodes = [network.node(n) for n in names]
        up = [network.link(a, b) for a, b in zip(names, names[1:])]
        down = [network.link(b, a) for a, b in zip(names, names[1:])]
        return cls(nodes, up, down, mcs, features, analog_min_snr_db, dict(memory_bandwidth or {}))

    def reversed(self) -> "Route":
        """The same links walked from the top node down (the top node becomes ``nodes[0]``)."""
        return Route(self.nodes[::-1], self.down[::-1], self.up[::-1], self.mcs, self.features, self.analog_min_snr_db,
                     dict(self.memory_bandwidth))

    def bandwidth(self, node: Node) -> float | None:
        return self.memory_bandwidth.get(node.name)

    def __len__(self) -> int:
        return len(self.nodes)


def transfer_seconds(link: Link, bits: int, mcs: int | None = None) -> float:
    """Seconds to carry ``bits`` once over ``link`` at its current SNR (inf below every MCS's threshold)."""
    if bits <= 0:
        return 0.0
    plan = link.digital_link(mcs).plan(int(bits), link.snr_db)
    if plan.below_threshold and mcs is None:
        return INF
    return plan.channel_uses / link.bandwidth_hz + link.latency_s


def analog_channel_uses(link: Link, values: int) -> int:
    """Channel uses of ``values`` real values sent as ``ceil(values / 2)`` complex symbols over ``link``'s channel."""
    return int(link.digital_link().channel.channel_uses(math.ceil(values / 2)))


def analog_seconds(link: Link, values: int, side_bits: int, mcs: int | None = None,
                   min_snr_db: float | None = None) -> float:
    """Seconds to send ``values`` real values analog plus ``side_bits`` (their header) as a digital packet."""
    if min_snr_db is not None and link.snr_db < min_snr_db:
        return INF
    header = transfer_seconds(link, side_bits, mcs)
    return header + analog_channel_uses(link, values) / link.bandwidth_hz + link.latency_s


@dataclass
class Plan:
    """Cut points and what they cost: ``ranges[t]`` is tier ``t``'s layer range."""

    cuts: tuple[int, ...]
    latency_s: float
    compute_s: float = 0.0
    transfer_s: float = 0.0
    ranges: list[tuple[int, int]] = field(default_factory=list)
    nodes: list[str] = field(default_factory=list)

    @property
    def feasible(self) -> bool:
        return math.isfinite(self.latency_s)

    @property
    def last_tier(self) -> int:
        busy = [t for t, (a, b) in enumerate(self.ranges) if b > a]
        return busy[-1] if busy else 0

    def describe(self) -> str:
        parts = [f"{n}[{a}:{b})" for n, (a, b) in zip(self.nodes, self.ranges) if b > a]
        return " ".join(parts) or "-"

    def as_dict(self) -> dict:
        return {"cuts": list(self.cuts), "latency_s": self.latency_s, "compute_s": self.compute_s,
                "transfer_s": self.transfer_s, "layers": {n: [a, b] for n, (a, b) in zip(self.nodes, self.ranges)}}


def range_flops(profile: ChainProfile, a: int, b: int, node: Node, bandwidth: float | None = None) -> float:
    """FLOPs charged for layers ``[a, b)`` on ``node``: their FLOPs, or, when the node has a memory
    ``bandwidth`` (bytes/s) and reading their weights takes longer, the FLOPs it could do meanwhile."""
    layers = profile.layers[a:b]
    flops = float(sum(l.flops for l in layers))
    if bandwidth is not None and layers:
        flops = max(flops, sum(l.param_bytes for l in layers) / bandwidth * node.flops)
    return flops


def _ranges(cuts: Sequence[int], n: int) -> list[tuple[int, int]]:
    bounds = [0, *cuts, n]
    return [(bounds[t], bounds[t + 1]) for t in range(len(bounds) - 1)]


def _fits(profile: ChainProfile, node: Node, a: int, b: int) -> bool:
    if b <= a:
        return True
    layers = profile.layers[a:b]
    return sum(l.param_bytes for l in layers) + max(l.act_bytes for l in layers) <= node.memory


def evaluate(profile: ChainProfile, route: Route, cuts: Sequence[int], costs: "_Costs | None" = None) -> Plan:
    """The latency of the plan with cut points ``cuts`` (``len(route) - 1`` of them, non-decreasing)."""
    n, K = len(profile), len(route)
    cuts = tuple(int(c) for c in cuts)
    if len(cuts) != K - 1 or any(not 0 <= c <= n for c in cuts) or list(cuts) != sorted(cuts):
        raise ConfigError(f"{K - 1} non-decreasing cut points in [0, {n}] expected, got {cuts}")
    costs = costs or _Costs(profile, route)
    ranges = _ranges(cuts, n)
    plan = Plan(cuts, INF, ranges=ranges, nodes=[x.name for x in route.nodes])
    if not all(_fits(profile, route.nodes[t], a, b) for t, (a, b) in enumerate(ranges)):
        return plan
    compute = sum(costs.compute(t, a, b) for t, (a, b) in enumerate(ranges))
    last = plan.last_tier
    transfer = sum(costs.up(t, ranges[t][1]) for t in range(last)) + costs.end(last)
    plan.compute_s, plan.transfer_s, plan.latency_s = compute, transfer, compute + transfer
    return plan


class _Costs:
    """Cached per-layer compute seconds per tier and transfer seconds per (link, cut)."""

    def __init__(self, profile: ChainProfile, route: Route):
        self.profile, self.route = profile, route
        self.prefix = [list(itertools.accumulate((l.flops / node.flops for l in profile.layers), initial=0.0))
                       for node in route.nodes]
        self.weights = list(itertools.accumulate((l.param_bytes for l in profile.layers), initial=0))
        self.bandwidth = [route.bandwidth(node) for node in route.nodes]
        self._up: dict[tuple, float] = {}
        self._back: list[float] | None = None

    def compute(self, tier: int, a: int, b: int) -> float:
        seconds = self.prefix[tier][b] - self.prefix[tier][a]
        bandwidth = self.bandwidth[tier]
        if bandwidth is not None and b > a:  # memory-bound: the range's weights stream in once
            seconds = max(seconds, (self.weights[b] - self.weights[a]) / bandwidth)
        return seconds

    def up(self, tier: int, cut: int) -> float:
        """Seconds to send the data at ``cut`` over uplink ``tier`` (cached by what is sent: the blocks of a
        chain mostly send tensors of one size)."""
        route, profile = self.route, self.profile
        values = profile.values_at(cut)
        if route.features == "analog" and values > 0:
            symbols = profile.layers[cut - 1].channel_symbols
            key = (tier, "analog", values, profile.side_bits_at(cut), symbols)
            if key not in self._up:
                floor = None if symbols else route.analog_min_snr_db
                self._up[key] = analog_seconds(route.up[tier], values, key[3], route.mcs, floor)
        else:
            key = (tier, "digital", profile.bits_at(cut))
            if key not in self._up:
                self._up[key] = transfer_seconds(route.up[tier], key[2], route.mcs)
        return self._up[key]

    def end(self, tier: int) -> float:
        """Seconds to deliver the result made on ``tier``: down to the device, or up to the top node."""
        if self._back is None:
            if self.profile.result_at == "device":
                hops = [transfer_seconds(l, self.profile.result_bits, self.route.mcs) for l in self.route.down]
                self._back = list(itertools.accumulate(hops, initial=0.0))
            else:
                n, K = len(self.profile), len(self.route)
                climb = [self.up(t, n) for t in range(K - 1)]
                self._back = [sum(climb[t:]) for t in range(K)]
        return self._back[tier]


def plan_split(profile: ChainProfile, route: Route) -> Plan:
    """The fastest plan, by dynamic programming: ``f[t][j]`` is the least time to have run layers
    ``[0, j)`` with the data on tier ``t``; ``f[t][j] = min_i f[t-1][i] + up(t-1, i) + compute(t, i, j)``
    over ``i`` whose range ``[i, j)`` fits tier ``t``'s memory. Ends at the best ``f[t][n] + end(t)``."""
    n, K = len(profile), len(route)
    costs = _Costs(profile, route)
    f = [[INF] * (n + 1) for _ in range(K)]
    arg = [[0] * (n + 1) for _ in range(K)]
    for j in range(n + 1):
        if _fits(profile, route.nodes[0], 0, j):
            f[0][j] = costs.compute(0, 0, j)
    for t in range(1, K):
        node = route.nodes[t]
        arrive = [f[t - 1][i] + costs.up(t - 1, i) if math.isfinite(f[t - 1][i]) else INF for i in range(n + 1)]
        for i in range(n + 1):
            if not math.isfinite(arrive[i]):
                continue
            params, act = 0, 0
            for j in range(i, n + 1):
                if j > i:
                    layer = profile.layers[j - 1]
                    params += layer.param_bytes
                    act = max(act, layer.act_bytes)
                    if params + act > node.memory:
                        break
                total = arrive[i] + costs.compute(t, i, j)
                if total < f[t][j]:
                    f[t][j], arg[t][j] = total, i
    ends = [f[t][n] + costs.end(t) for t in range(K)]
    best = min(range(K), key=lambda t: ends[t])
    if not math.isfinite(ends[best]):
        return Plan((n,) * (K - 1), INF, ranges=_ranges((n,) * (K - 1), n), nodes=[x.name for x in route.nodes])
    cuts, j = [n] * (K - 1), n
    for t in range(best, 0, -1):
        j = arg[t][j]
        cuts[t - 1] = j
    return evaluate(profile, route, cuts, costs)


def brute_force(profile: ChainProfile, route: Route) -> Plan:
    """The fastest plan by enumerating every non-decreasing cut tuple (the reference for :func:`plan_split`)."""
    n, K = len(profile), len(route)
    costs = _Costs(profile, route)
    best = None
    for cuts in itertools.combinations_with_replacement(range(n + 1), K - 1):
        plan = evaluate(profile, route, cuts, costs)
        if best is None or plan.latency_s < best.latency_s:
            best = plan
    return best


def fixed_plan(profile: ChainProfile, route: Route, tier: int) -> Plan:
    """Every layer on tier ``tier`` (device-only is tier 0)."""
    n, K = len(profile), len(route)
    if not 0 <= tier < K:
        raise ConfigError(f"tier {tier} is not on a route of {K} nodes")
    return evaluate(profile, route, (0,) * tier + (n,) * (K - 1 - tier))
