"""Where to retrain: device, edge or cloud, from compute, queueing and the bits to move.

For each candidate node ``n`` the time until the retrained model is back in the registry is::

    T(n) = move(data_at -> n, data_bits) + move(model_at -> n, model_bits)     (in parallel)
           + queue_s(n)                                                      (work already queued there)
           + flops / n.flops                                                 (the fine-tuning itself)
           + move(n -> model_at, result_bits)                                (the new model to the registry)

where ``move(a -> b, bits)`` follows the fewest-hop route of the network: on each hop the digital link's
own plan at the hop's SNR (link adaptation, code blocks, pilots: :meth:`DigitalLink.plan`) gives the
channel uses, which take ``uses / bandwidth + latency`` seconds. A node is ruled out when its memory
cannot hold the fine-tuning (weights, gradients, Adam moments and the activations saved for the backward
pass, measured by :func:`training_footprint`), when no route reaches it, or when a hop on the way is
below every MCS's threshold. The chosen site minimises ``T``; the decision keeps every estimate and a
sentence saying why.
"""

from __future__ import annotations

from collections import deque
from dataclasses import dataclass, field
from typing import Callable, Mapping, Sequence

import torch

from semcom.errors import ConfigError
from semcom.network.nodes import Network


@dataclass(frozen=True)
class RetrainJob:
    """A fine-tuning to place.

    flops:        FLOP of the whole fine-tuning (steps x FLOP per step).
    memory_bytes: memory it needs on the node that runs it.
    data_bits / data_at:   the training data and the node that holds it.
    model_bits / model_at: the model to start from and the registry node that holds it.
    result_bits:  the retrained model sent back to the registry.
    """

    flops: float
    memory_bytes: int
    data_bits: int
    data_at: str
    model_bits: int
    model_at: str
    result_bits: int


@dataclass(frozen=True)
class SiteEstimate:
    node: str
    kind: str
    feasible: bool
    reason: str
    move_in_s: float = 0.0
    queue_s: float = 0.0
    compute_s: float = 0.0
    move_out_s: float = 0.0
    bits_moved: int = 0

    @property
    def total_s(self) -> float:
        return self.move_in_s + self.queue_s + self.compute_s + self.move_out_s if self.feasible else float("inf")

    def as_dict(self) -> dict:
        return {"node": self.node, "kind": self.kind, "feasible": self.feasible, "reason": self.reason,
                "move_in_s": self.move_in_s, "queue_s": self.queue_s, "compute_s": self.compute_s,
                "move_out_s": self.move_out_s, "total_s": self.total_s if self.feasible else None,
                "bits_moved": self.bits_moved}


@dataclass(frozen=True)
class Placement:
    """The chosen site, every estimate, and why."""

    node: str
    kind: str
    why: str
    estimates: tuple[SiteEstimate, ...] = field(default_factory=tuple)

    def estimate(self, node: str) -> SiteEstimate:
        return next(e for e in self.estimates if e.node == node)

    def as_dict(self) -> dict:
        return {"node": self.node, "kind": self.kind, "why": self.why, "estimates": [e.as_dict() for e in self.estimates]}


def route(network: Network, src: str, dst: str) -> list[str] | None:
    """The fewest-hop path ``src -> ... -> dst`` over the network's directed links (None: unreachable)."""
    network.node(src), network.node(dst)
    prev: dict[str, str | None] = {src: None}
    todo = deque([src])
    while todo:
        at = todo.popleft()
        if at == dst:
            path = [at]
            while prev[path[-1]] is not None:
                path.append(prev[path[-1]])
            return path[::-1]
        for link in network.downlinks(at):
            if link.dst not in prev:
                prev[link.dst] = at
                todo.append(link.dst)
    return None


def transfer_seconds(network: Network, src: str, dst: str, bits: int) -> tuple[float, list[str]]:
    """Seconds to move ``bits`` from ``src`` to ``dst`` hop by hop (store and forward), and the path.

    Raises ConfigError when no route exists or a hop is below every MCS's threshold.
    """
    if bits <= 0 or src == dst:
        return 0.0, [src]
    path = route(network, src, dst)
    if path is None:
        raise ConfigError(f"no route from {src} to {dst}")
    seconds = 0.0
    for a, b in zip(path, path[1:]):
        link = network.link(a, b)
        plan = link.digital_link().plan(int(bits), link.snr_db)
        if plan.below_threshold:
            raise ConfigError(f"link {a}->{b} at {link.snr_db:g} dB is below every MCS's threshold")
        seconds += plan.channel_uses / link.bandwidth_hz + link.latency_s
    return seconds, path


def estimate_sites(network: Network, job: RetrainJob, queues: Mapping[str, float] | None = None,
                   candidates: Sequence[str] | None = None) -> list[SiteEstimate]:
    """One :class:`SiteEstimate` per candidate node (default: every node)."""
    queues = dict(queues or {})
    out = []
    for name in candidates if candidates is not None else list(network.nodes):
        node = network.node(name)
        if job.memory_bytes > node.memory:
            out.append(SiteEstimate(name, node.kind, False, f"needs {job.memory_bytes / 2**20:.0f} MiB, "
                                                               f"has {node.memory / 2**20:.0f} MiB"))
            continue
        try:
            data_s, _ = transfer_seconds(network, job.data_at, name, job.data_bits)
            model_s, _ = transfer_seconds(network, job.model_at, name, job.model_bits)
            back_s, _ = transfer_seconds(network, name, job.model_at, job.result_bits)
        except ConfigError as err:
            out.append(SiteEstimate(name, node.kind, False, str(err)))
            continue
        moved = (job.data_bits if name != job.data_at else 0) + (job.model_bits + job.result_bits
                                                                  if name != job.model_at else 0)
        out.append(SiteEstimate(name, node.kind, True, "", max(data_s, model_s), float(queues.get(name, 0.0)),
                                job.flops / node.flops, back_s, moved))
    return out


def choose_site(network: Network, job: RetrainJob, queues: Mapping[str, float] | None = None,
                candidates: Sequence[str] | None = None) -> Placement:
    """The candidate with the smallest :attr:`SiteEstimate.total_s`; ConfigError when none is feasible."""
    estimates = estimate_sites(network, job, queues, candidates)
    feasible = [e for e in estimates if e.feasible]
    if not feasible:
        raise ConfigError("no node can run the retraining: " + "; ".join(f"{e.node}: {e.reason}" for e in estimates))
    best = min(feasible, key=lambda e: e.total_s)
    parts = []
    for e in sorted(estimates, key=lambda e: e.total_s):
        if e is best:
            continue
        if not e.feasible:
            parts.append(f"{e.node} ruled out ({e.reason})")
        else:
            worst = max((("moving data/model", e.move_in_s + e.move_out_s), ("queueing", e.queue_s),
                         ("compute", e.compute_s)), key=lambda t: t[1])
            parts.append(f"{e.node} {e.total_s:.3g} s (mostly {worst[0]}, {worst[1]:.3g} s)")
    why = (f"{best.node} ({best.kind}) finishes first: {best.total_s:.3g} s = move {best.move_in_s:.3g} + queue "
           f"{best.queue_s:.3g} + compute {best.compute_s:.3g} + return {best.move_out_s:.3g} s"
           + (f"; {', '.join(parts)}" if parts else ""))
    return Placement(best.node, best.kind, why, tuple(estimates))


def training_footprint(model: torch.nn.Module, step: Callable[[], torch.Tensor]) -> tuple[float, int]:
    """FLOP and memory of one training step: ``step()`` runs the forward pass and returns the loss.

    FLOP are counted by :class:`torch.utils.flop_counter.FlopCounterMode` over forward and backward;
    memory is weights + gradients + two Adam moments (16 bytes per float32 parameter) plus the bytes of
    the tensors autograd saves for the backward pass.
    """
    from torch.utils.flop_counter import FlopCounterMode

    saved = [0]

    def pack(t):
        saved[0] += t.numel() * t.element_size()
        return t

    was_training = model.training
    model.train()
    counter = FlopCounterMode(display=False)
    with counter:
        with torch.autograd.graph.saved_tensors_hooks(pack, lambda t: t):
            loss = step()
        loss.backward()
    model.zero_grad(set_to_none=True)
    model.train(was_training)
    params = sum(p.numel() for p in model.parameters())
    return float(counter.get_total_flops()), 16 * params + saved[0]
