"""What channel noise on split features costs the task: the caption LM cut after a fixed layer, the
feature crossing the device -> edge link digitally (8-bit packet, CRC-32, ARQ) or analog, against SNR.

For each held-out prefix (and the first word of the caption's rest) :func:`feature_noise_sweep` runs

* one split pass: the next-token cross-entropy of the true next word with the link against the same
  model without it, and the top-1 agreement of the two;
* a greedy continuation of ``max_new`` tokens, split at every step: its position-wise agreement with
  the model's own greedy continuation without a link, and whether it matches token for token.

A digital feature is exact up to 8-bit quantisation, or it does not arrive (the request is counted
undelivered: a service would fall back to the device or report it failed); an analog feature always
arrives (unless its small digital header cannot), as noisy as the SNR makes it.
"""

from __future__ import annotations

import statistics
from typing import Sequence

import torch
import torch.nn.functional as F

from semcom.errors import ConfigError
from semcom.inference.decode import greedy
from semcom.inference.features import LinkFailedError, model_profile, split_forward
from semcom.inference.lm import EOS
from semcom.inference.split import FEATURE_TRANSPORTS, Route, evaluate
from semcom.network.clock import SimClock
from semcom.network.nodes import Network, Node


def _mean(values: Sequence[float]) -> float:
    return statistics.fmean(values) if values else float("nan")


@torch.no_grad()
def feature_noise_sweep(lm, requests: Sequence[tuple[str, str]], snrs: Sequence[float], *, cut: int = 2,
                        features: Sequence[str] = FEATURE_TRANSPORTS, max_new: int = 6, rounds: int = 2,
                        seed: int = 0, bandwidth_hz: float = 1e6, channel: str = "awgn") -> list[dict]:
    """One row per (SNR, transport): ``delivered`` share of requests (every pass arrived),
    ``next_token_agreement`` and ``ce_link`` / ``ce_clean`` (nats, true next word) over the first passes that
    arrived, ``greedy_agreement`` and ``exact_match`` of the continuations over delivered requests, ``channel_uses`` of the uplink per split pass (the feature with its header and
    retransmissions), ``retransmissions``, ``mean_latency_s``.

    The device runs chain layers ``[0, cut)`` (``cut=2``: embedding and block 0), the edge the rest."""
    n_chain = lm.model.config.n_layer + 2
    if not 1 <= cut < n_chain:
        raise ConfigError(f"the cut must leave layers on both sides: 1 <= cut < {n_chain}, got {cut}")
    for f in features:
        if f not in FEATURE_TRANSPORTS:
            raise ConfigError(f"features must be among {', '.join(FEATURE_TRANSPORTS)}, got {f!r}")
    if not requests:
        raise ConfigError("no requests")
    tok = lm.tokenizer
    clean = []
    for prefix, rest in requests:
        ids = tok.encode(prefix)
        nxt = tok.encode(rest, bos=False)[:1] or [EOS]
        logits = lm.model(input_ids=torch.tensor([ids])).logits[0, -1]
        clean.append((ids, nxt[0], logits, greedy(lm, ids, max_new)[0]))
    rows = []
    for snr in snrs:
        for transport in features:
            network = Network()
            network.add_node(Node("ue", "device", 2e8, 2**30))
            network.add_node(Node("edge", "edge", 1e10, 2**34))
            for a, b in (("ue", "edge"), ("edge", "ue")):
                network.add_link(a, b, snr_db=float(snr), bandwidth_hz=bandwidth_hz, latency_s=0.002, channel=channel)
            route = Route.through(network, ["ue", "edge"], features=transport)
            gen = torch.Generator().manual_seed(seed)
            delivered, agree, ce_link, ce_clean, g_agree, exact, uses, retx, lat = 0, [], [], [], [], [], [], 0, []
            for ids, nxt, ref_logits, ref_tokens in clean:
                clock, seq, out, ok = SimClock(), list(ids), [], True
                for step_no in range(max_new):
                    plan = evaluate(model_profile(lm, len(seq)), route, (cut,))
                    try:
                        step = split_forward(lm, seq, plan, route, clock, rounds=rounds, generator=gen)
                    except LinkFailedError as err:
                        retx += sum(h.retransmissions for h in err.hops)
                        ok = False
                        break
                    retx += sum(h.retransmissions for h in step.hops)
                    uses.append(sum(h.cost.channel_uses for h in step.hops if h.link == "ue->edge"))
                    if step_no == 0:
                        agree.append(float(int(step.logits.argmax()) == int(ref_logits.argmax())))
                        ce_link.append(float(F.cross_entropy(step.logits[None], torch.tensor([nxt]))))
                        ce_clean.append(float(F.cross_entropy(ref_logits[None], torch.tensor([nxt]))))
                    if step.token == EOS:
                        break
                    out.append(step.token)
                    seq.append(step.token)
                lat.append(float(clock.now))
                if ok:
                    delivered += 1
                    n = max(len(out), len(ref_tokens))
                    g_agree.append(1.0 if n == 0 else sum(a == b for a, b in zip(out, ref_tokens)) / n)
                    exact.append(float(out == ref_tokens))
            rows.append({"snr_db": float(snr), "features": transport, "cut": cut, "requests": len(clean),
                         "delivered": delivered / len(clean), "next_token_agreement": _mean(agree),
                         "ce_link": _mean(ce_link), "ce_clean": _mean(ce_clean),
                         "greedy_agreement": _mean(g_agree), "exact_match": _mean(exact),
                         "channel_uses": _mean(uses), "retransmissions": retx, "mean_latency_s": _mean(lat)})
    return rows
