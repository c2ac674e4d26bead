"""Instruction optimisation on the node model: feedback at the edge, preference optimisation of the prompt model.

:class:`InstructionOptimisationService` (``instruction_optimisation`` in
:data:`~semcom.network.services.SERVICES`) improves how the edge's transmitter instructs the receivers'
generators under the bit budget of the link:

1. the edge's prompt model (:class:`~semcom.optimisation.policy.PromptPolicy`) writes candidate prompts
   for a batch of captions (its greedy prompt and sampled ones; compute charged on the edge), and with
   ``include_templates`` the edge adds its structured templates of each caption
   (:func:`~semcom.optimisation.prompts.templates`), so the receivers also judge prompts the model would
   not yet write;
2. the candidates go to the receivers over the downlinks, coded with the prompt codec, and the receivers'
   judgements (their measured semantic similarity of each candidate to the caption, in [0, 1]) come back
   over the uplinks as 7-byte packets into the edge's :class:`~semcom.optimisation.feedback.FeedbackCache`
   (every transfer on the digital link, with the one ARQ loop, charged);
3. the edge filters the feedback (duplicates, low-quality and outlier raters, disagreement) and turns it
   into preference pairs by ``similarity - price_per_bit x bits`` (bits from the codec, measured);
4. DPO (``trl``) trains the prompt model on the pairs at the edge (compute charged: ``8 x parameters``
   FLOP per token of each pair, policy forward and backward plus the reference's forward).

Before and after, the greedy prompts of held-out captions are scored: mean prompt bits (the codec's,
header included) and MiniLM similarity to the caption; the edge's structured templates
(:func:`~semcom.optimisation.prompts.best_prompt`) and the whole caption are the baselines.
"""

from __future__ import annotations

from dataclasses import dataclass
from fractions import Fraction
from typing import Any, Callable, Mapping, Sequence

import numpy as np
import torch

from semcom.errors import ConfigError, InputError
from semcom.link.arq import LinkCost, send
from semcom.link.digital import bytes_to_bits
from semcom.network.clock import SimClock
from semcom.network.nodes import Network
from semcom.network.services import SERVICES, Service, ServiceReport
from semcom.optimisation.feedback import (FeedbackCache, filter_feedback, pack_judgements, preference_pairs,
                                          simulate_judgements)
from semcom.optimisation.policy import PromptPolicy, dpo_train
from semcom.optimisation.prompts import best_prompt, score_prompts, templates


@dataclass(frozen=True)
class PromptScore:
    caption: str
    prompt: str
    bits: int
    similarity: float


def prompt_bits(codec, text: str) -> int:
    """Bits of ``text`` with ``codec``, header included (an empty prompt costs its header)."""
    return int(codec.encode(text).num_bits)


def evaluate_policy(policy: PromptPolicy, captions: Sequence[str], codec,
                    similarity: Callable[[str, str], float]) -> tuple[dict, list[PromptScore]]:
    """Greedy prompts of ``captions``: mean bits and similarity, and one score per caption."""
    rows = []
    for c in captions:
        p = policy.prompts(c)[0]
        rows.append(PromptScore(c, p, prompt_bits(codec, p), float(similarity(c, p))))
    return summary(rows), rows


def summary(rows: Sequence[PromptScore]) -> dict:
    return {"prompt_bits": float(np.mean([r.bits for r in rows])),
            "similarity": float(np.mean([r.similarity for r in rows])),
            "words": float(np.mean([len(r.prompt.split()) for r in rows]))}


def baselines(captions: Sequence[str], codec, similarity, price_per_bit: float, min_similarity: float) -> dict:
    """The whole caption, and the edge's best structured template per caption."""
    whole, best = [], []
    for c in captions:
        scored = score_prompts(c, templates(c), codec, similarity)
        whole.append(next(PromptScore(c, s.text, s.bits, s.similarity) for s in scored if s.name == "caption"))
        b = best_prompt(scored, price_per_bit=price_per_bit, min_similarity=min_similarity)
        best.append(PromptScore(c, b.text, b.bits, b.similarity))
    return {"caption": summary(whole), "templates": summary(best)}


def _move(network: Network, clock: SimClock, src: str, dst: str, payload: bytes, gen: torch.Generator,
          rounds: int) -> tuple[bytes | None, LinkCost]:
    link = network.link(src, dst)
    sent = send(link.digital_link(code="ldpc"), bytes_to_bits(payload), link.snr_db, rounds=rounds, generator=gen,
                selective=True)
    clock.charge_link(link, sent.cost)
    return (None if sent.bits is None else np.packbits(sent.bits).tobytes()), sent.cost


@SERVICES.register("instruction_optimisation")
class InstructionOptimisationService(Service):
    """Feedback cached and filtered at the edge, and DPO of the edge's prompt model (see the module doc).

    run(network, clock, *, edge, raters={device: kind}, policy, codec, similarity, train_captions, eval_captions,
        samples=4, temperature=1.0, price_per_bit=0.004, margin=0.05, pair_agreement=0.7, include_templates=True,
        filters={},
        dpo={}, rounds=4, seed=0) -> ServiceReport
    """

    name = "instruction_optimisation"

    def run(self, network: Network, clock: SimClock, *, edge: str, raters: Mapping[str, str], policy: PromptPolicy,
            codec, similarity: Callable[[str, str], float], train_captions: Sequence[str],
            eval_captions: Sequence[str], samples: int = 4, temperature: float = 1.0, price_per_bit: float = 0.004,
            margin: float = 0.05, pair_agreement: float = 0.7, min_similarity: float = 0.6,
            include_templates: bool = True,
            filters: Mapping[str, Any] | None = None, dpo: Mapping[str, Any] | None = None, rounds: int = 4,
            noise: float = 0.05, seed: int = 0) -> ServiceReport:
        if not train_captions or not eval_captions:
            raise InputError("instruction optimisation needs training and held-out captions")
        if not raters:
            raise ConfigError("no receivers to give feedback")
        if samples < 1:
            raise ConfigError(f"samples must be >= 1, got {samples}")
        edge_node = network.node(edge)
        for device in raters:
            network.link(edge, device), network.link(device, edge)
        gen = torch.Generator().manual_seed(seed)
        start, start_entries = clock.now, len(clock.ledger)
        params = policy.num_parameters()
        before, before_rows = evaluate_policy(policy, eval_captions, codec, similarity)

        # 1. candidates at the edge
        candidates: dict[tuple[int, int], str] = {}
        for i, c in enumerate(train_captions):
            texts = policy.prompts(c) + policy.prompts(c, samples, sample=True, temperature=temperature, generator=gen)
            extra = [t for name, t in templates(c).items()
                     if not (policy.extractive and name == "structured")] if include_templates else []
            unique = list(dict.fromkeys(t for t in texts + extra if t))
            for k, t in enumerate(unique):
                candidates[(i, k)] = t
            tokens = sum(len(t.split()) + 1 for t in texts) + len(texts) * len(policy.encode_context(c))
            clock.charge_compute(edge_node, 2 * params * tokens)
        bits = {key: prompt_bits(codec, text) for key, text in candidates.items()}
        truth = {key: float(similarity(train_captions[key[0]], text)) for key, text in candidates.items()}

        # 2. candidates down to the receivers, judgements back up to the edge's cache (in parallel per device)
        cache, forks, cost, lost = FeedbackCache(), [], LinkCost(), []
        judged = simulate_judgements(truth, raters, noise=noise, seed=seed)
        down_payload = b"".join(np.packbits(codec.encode(t).bits).tobytes() for t in candidates.values())
        for device, js in judged.items():
            fork = clock.fork()
            got, c1 = _move(network, fork, edge, device, down_payload, gen, rounds)
            cost += c1
            if got is None:
                lost.append(device)
                forks.append(fork)
                continue
            packet, c2 = _move(network, fork, device, edge, pack_judgements(js), gen, rounds)
            cost += c2
            if packet is None:
                lost.append(device)
            else:
                cache.receive(device, packet)
            forks.append(fork)
        clock.join(*forks)

        # 3. filter and pair at the edge
        report = filter_feedback(cache.judgements, **dict(filters or {}))
        pairs, left_out = preference_pairs(report, bits, price_per_bit=price_per_bit, margin=margin,
                                           pair_agreement=pair_agreement)
        rows = [{"caption": train_captions[p.item], "chosen": candidates[(p.item, p.chosen)],
                 "rejected": candidates[(p.item, p.rejected)]} for p in pairs]

        # 4. DPO at the edge
        facts: dict[str, Any] = {"steps": 0, "pairs": 0}
        if rows:
            options = dict(dpo or {})
            facts = dpo_train(policy, rows, seed=seed, **options)
            tokens = sum(2 * len(policy.encode_context(r["caption"])) + len(r["chosen"].split())
                         + len(r["rejected"].split()) + 2 for r in rows)
            clock.charge_compute(edge_node, 8 * params * tokens * float(options.get("epochs", 2.0)))
        after, after_rows = evaluate_policy(policy, eval_captions, codec, similarity)
        base = baselines(eval_captions, codec, similarity, price_per_bit, min_similarity)

        charges = clock.ledger[start_entries:]
        metrics = {
            "prompt_bits_before": before["prompt_bits"], "similarity_before": before["similarity"],
            "prompt_bits_after": after["prompt_bits"], "similarity_after": after["similarity"],
            "words_before": before["words"], "words_after": after["words"],
            "caption_bits": base["caption"]["prompt_bits"], "templates_bits": base["templates"]["prompt_bits"],
            "templates_similarity": base["templates"]["similarity"],
            "candidates": float(len(candidates)), "judgements": float(report.total),
            "filtered_share": report.filtered_share, "pairs": float(len(pairs)),
            "feedback_bytes": float(cache.bytes_received), "receivers_lost": float(len(lost)),
            **{f"dropped_{k.replace('-', '_')}": float(v) for k, v in report.dropped.items()},
            **{f"pairs_left_out_{k}": float(v) for k, v in left_out.items()},
        }
        details = [{"kind": "filter", **report.as_dict(), "pairs_left_out": left_out},
                   {"kind": "dpo", **facts},
                   {"kind": "baselines", **base}]
        details += [{"kind": "held_out", "caption": b.caption, "before": b.prompt, "before_bits": b.bits,
                     "before_similarity": b.similarity, "after": a.prompt, "after_bits": a.bits,
                     "after_similarity": a.similarity} for b, a in zip(before_rows, after_rows)]
        return ServiceReport(
            self.name, int(cost.bits), int(cost.channel_uses), clock.now - start,
            sum((c.seconds for c in charges if c.kind == "compute"), Fraction(0)),
            sum((c.seconds for c in charges if c.kind == "transmission"), Fraction(0)),
            metrics, details)
