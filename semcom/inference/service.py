"""The collaborative-inference service on the node model, registered in :data:`~semcom.network.services.SERVICES`
as ``collaborative_inference`` when this module is imported.

A request is a caption prefix (and optionally the rest of the caption, the reference) that the device
wants continued. ``route`` names the nodes the request may climb (device first). Modes:

* ``device`` / ``edge`` / ``cloud``: the big model runs whole on that tier (the prompt climbs to it as a
  token packet, the next token comes back), one full pass per new token;
* ``adaptive``: before every pass the split planner (:func:`~semcom.inference.split.plan_split`) picks
  the cuts for the links' current SNRs; activations cross as 8-bit feature packets, or analog
  (``features="analog"``: only their header is a packet; the values arrive as noisy as the channel makes them);
* ``cascade``: the small model answers on the device when its mean token probability clears
  ``threshold``, else the prompt climbs to the big model on the route's top node;
* ``speculative``: the small model drafts ``draft_tokens`` on the device, the big model on the route's
  top node verifies (output equal to the big model's greedy decoding); with ``speculative_target="device"``
  the big model runs on the device and the small one drafts on the route's top node (the prompt goes
  down to it once), so the device makes one big pass per accepted block instead of one per token. Every
  model keeps a KV cache; a pass over a few tokens costs about one token's pass only on a memory-bound
  node (``memory_bandwidth``, bytes/s by node name), which is where speculative decoding pays off.

Every packet is CRC-checked and resent up to ``rounds`` times; a packet that never gets through raises
inside the request, which then falls back to the device (``fallback="device"``: the big model on the
device for split modes, the small model's own answer for the cascade) when the device can hold it, or is
reported failed (``ok: false`` with the reason) -- never answered from a corrupted packet.
"""

from __future__ import annotations

import time
from collections import Counter
from dataclasses import dataclass
from fractions import Fraction
from typing import Any, Sequence

import numpy as np
import torch

from semcom.errors import ConfigError, InputError
from semcom.inference.decode import cascade, greedy, room, speculative
from semcom.inference.features import LinkFailedError, model_profile, split_forward
from semcom.inference.lm import EOS, load_caption_lm
from semcom.inference.split import Route, fixed_plan, plan_split
from semcom.network.clock import SimClock
from semcom.network.fidelity import token_f1
from semcom.network.nodes import Network
from semcom.network.services import SERVICES, Service, ServiceReport, _generator

MODES = ("device", "edge", "cloud", "adaptive", "cascade", "speculative")
FALLBACKS = ("device", "fail")


def agreement(a: Sequence[int], b: Sequence[int]) -> float:
    """Share of positions where two token sequences agree (over the longer one; 1 for two empty ones)."""
    n = max(len(a), len(b))
    return 1.0 if n == 0 else sum(x == y for x, y in zip(a, b)) / n


def held_out_requests(n: int, prefix_words: int = 3, data_dir=None) -> list[tuple[str, str]]:
    """``n`` (prefix, rest) pairs from the held-out Flickr8k captions (deterministic: evenly spaced)."""
    from semcom.inference.lm import caption_words
    from semcom.semantic.corpus import flickr8k_split

    _, held = flickr8k_split(data_dir)
    held = [c for c in held if len(caption_words(c)) >= prefix_words + 2]
    if n < 1 or not held:
        raise InputError("no held-out requests")
    step = max(1, len(held) // n)
    out = []
    for c in held[::step][:n]:
        w = caption_words(c)
        out.append((" ".join(w[:prefix_words]), " ".join(w[prefix_words:])))
    return out


@dataclass
class _Outcome:
    tokens: list[int]
    ok: bool
    where: str
    reason: str = ""
    escalated: bool = False
    drafted: int = 0
    accepted: int = 0
    hops: list | None = None
    planning_s: float = 0.0


@SERVICES.register("collaborative_inference")
class CollaborativeInferenceService(Service):
    """Continue caption prefixes with the device, edge and cloud working together (see the module docstring).

    run(network, clock, *, route=[device, edge, ...], requests=[prefix | (prefix, reference)], mode="adaptive",
        max_new_tokens=8, threshold=0.5, draft_tokens=4, rounds=3, fallback="device", mcs=None, seed=0,
        speculative_target="top", features="digital", analog_min_snr_db=None,
        memory_bandwidth={node: bytes/s}) -> ServiceReport
    """

    name = "collaborative_inference"

    def __init__(self, model: str = "large", small: str = "small"):
        self.big = load_caption_lm(model)
        self.small = load_caption_lm(small)
        if self.big.tokenizer.words != self.small.tokenizer.words:
            raise ConfigError("the small and the big model must share one tokenizer")

    def run(self, network: Network, clock: SimClock, *, route: Sequence[str], requests: Sequence[Any],
            mode: str = "adaptive", max_new_tokens: int = 8, threshold: float = 0.5, draft_tokens: int = 4,
            rounds: int = 3, fallback: str = "device", mcs: int | None = None, seed: int | None = 0,
            generator: torch.Generator | None = None, speculative_target: str = "top", features: str = "digital",
            analog_min_snr_db: float | None = None, memory_bandwidth: dict[str, float] | None = None) -> ServiceReport:
        if mode not in MODES:
            raise ConfigError(f"unknown mode {mode!r}; known: {', '.join(MODES)}")
        if speculative_target not in ("top", "device"):
            raise ConfigError(f"speculative_target must be 'top' or 'device', got {speculative_target!r}")
        self._spec_target = speculative_target
        if fallback not in FALLBACKS:
            raise ConfigError(f"fallback must be one of {', '.join(FALLBACKS)}, got {fallback!r}")
        if not requests:
            raise InputError("no requests")
        path = Route.through(network, list(route), mcs, features, analog_min_snr_db, memory_bandwidth)
        if network.node(route[0]).kind != "device":
            raise ConfigError(f"a route starts at a device, not {route[0]!r}")
        if mode in ("edge", "cloud"):
            tiers = [t for t, n in enumerate(path.nodes) if n.kind == mode]
            if not tiers:
                raise ConfigError(f"mode {mode!r} needs a {mode} node on the route {list(route)}")
        gen = _generator(seed, generator)
        start, start_entries = clock.now, len(clock.ledger)
        tok = self.big.tokenizer
        details, totals = [], Counter()
        for req in requests:
            prefix, reference = (req, None) if isinstance(req, str) else (req[0], req[1])
            ids = tok.encode(prefix)
            t0, e0 = clock.now, len(clock.ledger)
            out = self._request(path, clock, ids, mode, max_new_tokens, threshold, draft_tokens, rounds, fallback, gen)
            target, _ = greedy(self.big, ids, max_new_tokens)  # the big model without any link (not charged)
            charges = clock.ledger[e0:]
            uses = sum(c.amount for c in charges if c.kind == "transmission")
            hops = out.hops or []
            row = {"prompt": prefix, "output": tok.decode(out.tokens) if out.ok else "", "ok": out.ok,
                   "reason": out.reason, "where": out.where, "latency_s": float(clock.now - t0),
                   "bits": sum(h.cost.bits for h in hops), "channel_uses": int(uses),
                   "retransmissions": sum(h.retransmissions for h in hops),
                   "agreement": agreement(out.tokens, target) if out.ok else 0.0,
                   "escalated": out.escalated, "drafted": out.drafted, "accepted": out.accepted,
                   "planning_s": out.planning_s}
            if reference is not None:
                row["reference"] = reference
                row["token_f1"] = token_f1(reference, row["output"]) if out.ok else 0.0
            details.append(row)
            totals["bits"] += row["bits"]
            totals["uses"] += row["channel_uses"]
        charges = clock.ledger[start_entries:]
        rows = details
        metrics = {
            "requests": float(len(rows)),
            "ok_rate": float(np.mean([r["ok"] for r in rows])),
            "mean_latency_s": float(np.mean([r["latency_s"] for r in rows])),
            "max_latency_s": float(np.max([r["latency_s"] for r in rows])),
            "agreement": float(np.mean([r["agreement"] for r in rows])),
            "escalation_rate": float(np.mean([r["escalated"] for r in rows])),
            "retransmissions": float(sum(r["retransmissions"] for r in rows)),
            "planning_s": float(sum(r["planning_s"] for r in rows)),
        }
        if any("token_f1" in r for r in rows):
            metrics["token_f1"] = float(np.mean([r.get("token_f1", 0.0) for r in rows]))
        drafted = sum(r["drafted"] for r in rows)
        if drafted:
            metrics["acceptance_rate"] = sum(r["accepted"] for r in rows) / drafted
        return ServiceReport(
            self.name, int(totals["bits"]), int(totals["uses"]), clock.now - start,
            sum((c.seconds for c in charges if c.kind == "compute"), Fraction(0)),
            sum((c.seconds for c in charges if c.kind == "transmission"), Fraction(0)),
            metrics, details)

    # ------------------------------------------------------------------------------------------ modes

    def _request(self, route: Route, clock, ids, mode, max_new, threshold, k, rounds, fallback, gen) -> _Outcome:
        if mode == "cascade":
            try:
                r = cascade(self.small, self.big, ids, route, clock, threshold=threshold, max_new=max_new,
                            rounds=rounds, generator=gen)
            except LinkFailedError as err:
                if fallback == "device":  # the device's own answer (its compute was already charged)
                    return _Outcome(greedy(self.small, ids, max_new)[0], True, route.nodes[0].name,
                                    f"escalation failed: {err}", hops=getattr(err, "hops", []))
                return _Outcome([], False, "-", str(err), hops=getattr(err, "hops", []))
            where = route.nodes[-1].name if r.escalated else route.nodes[0].name
            return _Outcome(r.tokens, True, where, escalated=r.escalated, hops=r.hops)
        if mode == "speculative":
            if len(route) < 2:
                raise ConfigError("speculative decoding needs a route of at least two nodes")
            on_device = self._spec_target == "device"
            if on_device:  # draft on the top node, the big model on the device
                route = route.reversed()
            try:
                r = speculative(self.small, self.big, ids, route, clock, k=k, max_new=max_new, rounds=rounds,
                                generator=gen, prompt_at="target" if on_device else "draft")
            except LinkFailedError as err:
                return _Outcome([], False, "-", str(err), hops=getattr(err, "hops", []))
            return _Outcome(r.tokens, True, f"draft {route.nodes[0].name}, target {route.nodes[-1].name}",
                            drafted=r.drafted, accepted=r.accepted, hops=r.hops)
        return self._split(route, clock, ids, mode, max_new, rounds, fallback, gen)

    def _split(self, route: Route, clock, ids, mode, max_new, rounds, fallback, gen) -> _Outcome:
        seq, out, hops, where, planning = list(ids), [], [], Counter(), 0.0
        tier = {"device": 0}.get(mode, next((t for t, n in enumerate(route.nodes) if n.kind == mode), None))
        for _ in range(room(ids, max_new)):
            profile = model_profile(self.big, len(seq))
            device_plan = fixed_plan(profile, route, 0)
            if mode == "adaptive":
                t = time.perf_counter()
                plan = plan_split(profile, route)
                planning += time.perf_counter() - t
            else:
                plan = fixed_plan(profile, route, tier)
            reason = ""
            if not plan.feasible:
                reason = f"no feasible plan for mode {mode}"
            else:
                try:
                    step = split_forward(self.big, seq, plan, route, clock, rounds=rounds, generator=gen, profile=profile)
                    hops += step.hops
                except LinkFailedError as err:
                    reason = str(err)
                    hops += getattr(err, "hops", [])
            if reason:
                if fallback == "device" and device_plan.feasible:
                    step = split_forward(self.big, seq, device_plan, route, clock, rounds=rounds, generator=gen, profile=profile)
                    plan = device_plan
                else:
                    return _Outcome(out, False, ",".join(where) or "-", reason, hops=hops, planning_s=planning)
            where[plan.describe()] += 1
            if step.token == EOS:
                break
            out.append(step.token)
            seq.append(step.token)
        return _Outcome(out, True, "; ".join(f"{k} x{v}" for k, v in where.items()), hops=hops, planning_s=planning)
