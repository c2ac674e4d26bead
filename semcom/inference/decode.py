"""Decoding across nodes: greedy decoding, the big-small cascade and speculative decoding over a link.

Every forward pass is a full pass over the sequence so far (no KV cache), charged on its node at the
FLOPs of :func:`~semcom.inference.features.model_profile`; every packet crosses its link for real
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
from semcom.inference.split import Route
from semcom.network.clock import SimClock
from semcom.network.nodes import Node


def pass_flops(lm, seq_len: int) -> float:
    return sum(l.flops for l in model_profile(lm, seq_len).layers)


@torch.no_grad()
def next_logits(lm, ids: list[int]) -> torch.Tensor:
    """[len(ids), vocab] logits of one full pass."""
    return lm.model(input_ids=torch.tensor([ids])).logits[0]


def room(ids: list[int], max_new: int) -> int:
    return max(0, min(max_new, MAX_TOKENS - len(ids)))


@torch.no_grad()
def greedy(lm, ids: list[int], max_new: int, clock: SimClock | None = None, node: Node | None = None):
    """Greedy continuation (stops after ``<eos>``, which is not returned): (tokens, chosen-token probabilities)."""
    seq, out, probs = list(ids), [], []
    for _ in range(room(ids, max_new)):
        if clock is not None:
            clock.charge_compute(node, pass_flops(lm, len(seq)))
        p = torch.softmax(next_logits(lm, seq)[-1], -1)
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
    tokens, probs = greedy(small, ids, max_new, clock, route.nodes[0])
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
    answer, _ = greedy(lm, up, max_new, clock, route.nodes[-1])
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
                rounds: int, generator: torch.Generator, prompt_at: str = "draft") -> SpeculativeResult:
    """Speculative decoding with the draft on ``route.nodes[0]`` and the target on ``route.nodes[-1]``
    (packets relayed hop by hop). The prompt starts on the draft's node (``prompt_at="draft"``: it climbs
    to the target once) or on the target's (it goes down to the draft once); the answer ends on both.
    Raises LinkFailedError when a packet cannot get through."""
    if k < 1:
        raise ConfigError(f"draft_tokens must be >= 1, got {k}")
    if prompt_at not in ("draft", "target"):
        raise ConfigError(f"prompt_at must be 'draft' or 'target', got {prompt_at!r}")
    hops: list[Hop] = []
    dnode, tnode = route.nodes[0], route.nodes[-1]
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
            clock.charge_compute(dnode, pass_flops(draft, len(ctx)))
            tok = int(next_logits(draft, ctx)[-1].argmax())
            block.append(tok)
            ctx.append(tok)
            if tok == EOS or len(ctx) >= MAX_TOKENS:
                break
        block = climb(route, block, draft, clock, rounds, generator, hops)
        clock.charge_compute(tnode, pass_flops(target, len(seq) + len(block)))
        choice = next_logits(target, seq + block)[len(seq) - 1:].argmax(-1).tolist()  # len(block) + 1 choices
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
