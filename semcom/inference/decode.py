"""Decoding across nodes: greedy decoding, the big-small cascade and speculative decoding over a link.

Each model on each node keeps a KV cache (:class:`CachedLM`, ``transformers`` ``DynamicCache``): a pass
feeds only the tokens the cache has not seen, and a rejected draft is cut from the cache. A pass is
charged on its node at :func:`~semcom.inference.split.gpt2_step_flops` for the tokens it fed and the
positions whose logits it needed; with ``cache=False`` every pass is a full pass over the whole
sequence (the reference the cache is measured against). On a node with a memory bandwidth
(``Route.memory_bandwidth``) a pass takes at least the time to stream the model's float32 weights
once (the parameter bytes of its chain profile, as a split pass counts them) -- decoding a few tokens is memory-bound on real hardware, which is what lets a verification pass
over k drafted tokens cost about what one token's pass costs; it is then charged the FLOPs the node
could have done in that time. Every packet crosses its link for real
(:func:`~semcom.inference.features.transfer`: ARQ, CRC-32, charged to the clock).

Cascade: the device model continues the prompt; when its confidence (mean probability of the tokens it
chose) is below ``threshold``, the prompt climbs the route to the big model, whose answer comes back down.

Speculative decoding: the draft model (on ``route.nodes[0]``) drafts ``k`` tokens greedily; the block goes
up the link; the target (on ``route.nodes[-1]``) scores prompt + draft in one pass, accepts the longest
prefix that matches its own greedy choices and adds its next token; (accepted count, token) comes back.
The output equals the target's greedy decoding token for token.
"""

from __future__ import annotations

from dataclasses import dataclass, field

import torch

from semcom.errors import ConfigError
from semcom.inference.features import Hop, model_profile, pack_tokens, transfer, unpack_tokens
from semcom.inference.lm import EOS, MAX_TOKENS
from semcom.inference.split import Route, gpt2_step_flops
from semcom.network.clock import SimClock
from semcom.network.nodes import Node


def step_flops(lm, past: int, new: int, logits: int = 1) -> float:
    """FLOPs of a pass of ``lm`` over ``new`` tokens after ``past`` cached ones, ``logits`` positions scored."""
    c = lm.model.config
    return gpt2_step_flops(c.n_embd, c.n_layer, c.vocab_size, past, new, logits=logits)


class CachedLM:
    """A caption LM on one node with its KV cache.

    ``logits(seq, positions)`` returns the ``[positions, vocab]`` logits of the last ``positions``
    positions of ``seq``: the cache is cut back to the longest prefix it shares with ``seq`` (leaving
    the scored positions to compute) and only the rest is fed. The pass is charged to ``clock`` on
    ``node`` when both are given (``bandwidth``: the node's bytes/s, see the module docstring).
    ``cache=False``: a full pass every time, charged as one.
    """

    def __init__(self, lm, *, cache: bool = True, clock: SimClock | None = None, node: Node | None = None,
                 bandwidth: float | None = None):
        from transformers import DynamicCache

        self.lm, self.use_cache, self.clock, self.node = lm, cache, clock, node
        self.weight_flops = 0.0  # the FLOPs the node does while its weights stream in once
        if bandwidth is not None and node is not None:
            profile = model_profile(lm, 1)  # the same weights as a split pass over the whole chain
            self.weight_flops = sum(l.param_bytes for l in profile.layers) / bandwidth * node.flops
        self.kv = DynamicCache() if cache else None
        self.ids: list[int] = []  # the tokens whose keys and values the cache holds

    @torch.no_grad()
    def logits(self, seq: list[int], positions: int = 1) -> torch.Tensor:
        if not 1 <= positions <= len(seq):
            raise ConfigError(f"cannot score the last {positions} positions of {len(seq)} tokens")
        if not self.use_cache:
            self._charge(0, len(seq), positions)
            return self.lm.model(input_ids=torch.tensor([seq])).logits[0, -positions:]
        keep = 0
        limit = min(len(self.ids), len(seq) - positions)
        while keep < limit and self.ids[keep] == seq[keep]:
            keep += 1
        if len(self.ids) > keep:
            self.kv.crop(keep - len(self.ids))
            del self.ids[keep:]
        new = seq[keep:]
        self._charge(keep, len(new), positions)
        out = self.lm.model(input_ids=torch.tensor([new]), position_ids=torch.arange(keep, len(seq))[None],
                            cache=self.kv, use_cache=True)
        self.ids.extend(new)
        return out.logits[0, -positions:]

    def _charge(self, past: int, new: int, positions: int) -> None:
        if self.clock is not None and self.node is not None:
            self.clock.charge_compute(self.node, max(step_flops(self.lm, past, new, positions), self.weight_flops))


def room(ids: list[int], max_new: int) -> int:
    return max(0, min(max_new, MAX_TOKENS - len(ids)))


@torch.no_grad()
def greedy(lm, ids: list[int], max_new: int, clock: SimClock | None = None, node: Node | None = None, *,
           cache: bool = True, bandwidth: float | None = None):
    """Greedy continuation (stops after ``<eos>``, which is not returned): (tokens, chosen-token probabilities).
    Passes are charged to ``clock`` on ``node`` when both are given; ``cache``: use the KV cache;
    ``bandwidth``: the node's memory bandwidth (bytes/s)."""
    model = CachedLM(lm, cache=cache, clock=clock, node=node, bandwidth=bandwidth)
    seq, out, probs = list(ids), [], []
    for _ in range(room(ids, max_new)):
        p = torch.softmax(model.logits(seq)[-1], -1)
        tok = int(p.argmax())
        probs.append(float(p[tok]))
        if tok == EOS:
            break
        out.append(tok)
        seq.append(tok)
    return out, probs


def _send_tokens(link, ids, lm, clock, rounds, gen, hops, mcs=None):
    b = lm.tokenizer.id_bits
    return transfer(link, pack_tokens(list(ids), b), lambda r: unpack_tokens(r, b), clock, rounds=rounds,
                    generator=gen, hops=hops, mcs=mcs)


def climb(route: Route, ids, lm, clock, rounds, gen, hops, tier: int | None = None):
    """Send ``ids`` from the device up to ``tier`` (default the top), hop by hop."""
    for t in range(len(route) - 1 if tier is None else tier):
        ids = _send_tokens(route.up[t], ids, lm, clock, rounds, gen, hops, route.mcs)
    return ids


def descend(route: Route, ids, lm, clock, rounds, gen, hops, tier: int | None = None):
    for t in range((len(route) - 1 if tier is None else tier) - 1, -1, -1):
        ids = _send_tokens(route.down[t], ids, lm, clock, rounds, gen, hops, route.mcs)
    return ids


@dataclass
class CascadeResult:
    tokens: list[int]
    confidence: float
    escalated: bool
    hops: list[Hop] = field(default_factory=list)


def cascade(small, large, ids: list[int], route: Route, clock: SimClock, *, threshold: float, max_new: int,
            rounds: int, generator: torch.Generator) -> CascadeResult:
    """The device model answers when its mean token probability is at least ``threshold``; otherwise the
    prompt climbs ``route`` to the big model on its top node. A failed climb raises LinkFailedError."""
    tokens, probs = greedy(small, ids, max_new, clock, route.nodes[0], bandwidth=route.bandwidth(route.nodes[0]))
    confidence = sum(probs) / len(probs) if probs else 1.0
    if confidence >= threshold or len(route) == 1:
        return CascadeResult(tokens, confidence, False)
    hops: list[Hop] = []
    answer = remote_greedy(large, ids, route, clock, max_new=max_new, rounds=rounds, generator=generator, hops=hops)
    return CascadeResult(answer, confidence, True, hops)


def remote_greedy(lm, ids: list[int], route: Route, clock: SimClock, *, max_new: int, rounds: int,
                  generator: torch.Generator, hops: list[Hop] | None = None) -> list[int]:
    """Target-only decoding on the route's top node: the prompt climbs once, ``lm`` decodes greedily
    there, the answer comes back down once."""
    hops = [] if hops is None else hops
    up = climb(route, ids, lm, clock, rounds, generator, hops)
    answer, _ = greedy(lm, up, max_new, clock, route.nodes[-1], bandwidth=route.bandwidth(route.nodes[-1]))
    return list(descend(route, answer, lm, clock, rounds, generator, hops)) if answer else []


@dataclass
class SpeculativeResult:
    tokens: list[int]
    rounds: int
    drafted: int
    accepted: int
    hops: list[Hop] = field(default_factory=list)

    @property
    def acceptance(self) -> float:
        return self.accepted / self.drafted if self.drafted else 0.0


@torch.no_grad()
def speculative(draft, target, ids: list[int], route: Route, clock: SimClock, *, k: int, max_new: int,
                rounds: int, generator: torch.Generator, prompt_at: str = "draft", cache: bool = True) -> SpeculativeResult:
    """Speculative decoding with the draft on ``route.nodes[0]`` and the target on ``route.nodes[-1]``
    (packets relayed hop by hop). The prompt starts on the draft's node (``prompt_at="draft"``: it climbs
    to the target once) or on the target's (it goes down to the draft once); the answer ends on both.
    Each drafted block climbs to the target and each verdict (accepted count, target token) comes back
    down, every packet charged. ``cache``: both models keep a KV cache (the rejected tail is cut from it).
    Raises LinkFailedError when a packet cannot get through."""
    if k < 1:
        raise ConfigError(f"draft_tokens must be >= 1, got {k}")
    if prompt_at not in ("draft", "target"):
        raise ConfigError(f"prompt_at must be 'draft' or 'target', got {prompt_at!r}")
    hops: list[Hop] = []
    drafter = CachedLM(draft, cache=cache, clock=clock, node=route.nodes[0], bandwidth=route.bandwidth(route.nodes[0]))
    verifier = CachedLM(target, cache=cache, clock=clock, node=route.nodes[-1], bandwidth=route.bandwidth(route.nodes[-1]))
    if prompt_at == "draft":
        climb(route, ids, draft, clock, rounds, generator, hops)  # the target gets the prompt once
    else:
        descend(route, ids, draft, clock, rounds, generator, hops)
    seq, out = list(ids), []
    stats = SpeculativeResult(out, 0, 0, 0, hops)
    limit = room(ids, max_new)
    done = False
    while len(out) < limit and not done:
        stats.rounds += 1
        block, ctx = [], list(seq)
        for _ in range(min(k, limit - len(out))):
            tok = int(drafter.logits(ctx)[-1].argmax())
            block.append(tok)
            ctx.append(tok)
            if tok == EOS or len(ctx) >= MAX_TOKENS:
                break
        block = climb(route, block, draft, clock, rounds, generator, hops)
        choice = verifier.logits(seq + block, len(block) + 1).argmax(-1).tolist()  # len(block) + 1 choices
        m = 0
        while m < len(block) and block[m] == choice[m] and block[m] != EOS:
            m += 1
        fix = choice[m] if m < len(choice) else EOS
        m, fix = descend(route, [m, fix], target, clock, rounds, generator, hops)
        stats.drafted += len(block)
        stats.accepted += m
        new = block[:m] + [fix]
        for tok in new:
            if tok == EOS or len(out) >= limit:
                done = True
                break
            out.append(tok)
            seq.append(tok)
    return stats
