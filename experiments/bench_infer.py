"""Collaborative inference benchmarks: split planner speed, latency vs SNR, features over the link,
the big-small cascade and speculative decoding, with the caption LMs shipped in semcom/inference/checkpoints.

1. Planner: time of :func:`plan_split` on a 48-block GPT-2-XL-shaped chain (d=1600, 50 layers in all,
   32 tokens) over device -> edge -> cloud (warm-up calls, then repeats; median, min, IQR), and of the
   brute-force enumeration on the same chain, which must find the same latency.
2. Latency vs SNR (-5..25 dB on the ue<->edge hop) of device-only, edge-only, cloud-only and the adaptive
   split, (a) the big caption LM on experiments/infer_3tier.toml, (b) the GPT-2-XL shape on a phone-class
   device (1e12 FLOP/s, 8 GiB), a 1e14 FLOP/s edge and a 1e15 FLOP/s cloud, 20 MHz uplink.
3. Features over the link: the big LM split after block 0 (embed + block 0 on ue, the rest on edge), one
   next-token pass per held-out prefix, the 8-bit feature sent with ARQ (``--rounds``): delivered share,
   top-1 agreement with the no-link model, next-word cross-entropy with and without the link, retransmissions.
4. Cascade threshold sweep (route ue -> edge at 10 dB): escalation rate, token F1 vs the held-out
   caption's rest, agreement with the big model, latency, uplink channel uses.
5. Speculative decoding, draft (small) on the edge and the big model on the device, against the big model
   alone on the device (same outputs, asserted): acceptance rate and speed-up at several SNRs and link latencies.

    PYTHONPATH=. python experiments/bench_infer.py [--requests 12] [--repeats 20] [--warmup 3] [--json]
"""

from __future__ import annotations

import argparse
import math
import statistics

import torch

from semcom.benchmark import Report, add_timing_arguments, format_stats, measure, positive_int, set_threads
from semcom.inference.config import InferenceConfig, load_config, plan_sweep
from semcom.inference.decode import greedy, speculative
from semcom.inference.features import LinkFailedError, model_profile, split_forward
from semcom.inference.lm import load_caption_lm
from semcom.inference.service import CollaborativeInferenceService, held_out_requests
from semcom.inference.split import Route, brute_force, evaluate, gpt2_profile, plan_split
from semcom.network.clock import SimClock
from semcom.network.nodes import Network, Node, tiered_network

SNRS = [-5.0, 0.0, 5.0, 10.0, 15.0, 20.0, 25.0]


def xl_network(snr_db: float = 10.0) -> Network:
    return tiered_network((1e12, 1e14, 1e15), (8 * 2**30, 64 * 2**30, 2**40), snr_db=snr_db, bandwidth_hz=2e7)


def two_node(snr_db: float, latency_s: float = 0.002) -> Network:
    return tiered_network((2e8, 1e10), (2**30, 2**34), snr_db=snr_db, bandwidth_hz=1e6, latency_s=latency_s)


def sweep_rows(report: Report, title: str, sweep: dict) -> None:
    report.line(f"\n{title}: {sweep['model']['name']}, {sweep['layers']} layers, {sweep['seq_len']} tokens")
    report.line(f"{'SNR dB':>7} {'device ms':>10} {'edge ms':>10} {'cloud ms':>10} {'adaptive':>10} {'plan us':>8}  plan")
    for r in sweep["rows"]:
        best_fixed = min(r["device"], r["edge"], r["cloud"])
        assert r["adaptive"] <= best_fixed * (1 + 1e-12), r
        report.add({"section": title, **r},
                   f"{r['snr_db']:7.1f} {1e3 * r['device']:10.3f} {1e3 * r['edge']:10.3f} {1e3 * r['cloud']:10.3f}"
                   f" {1e3 * r['adaptive']:10.3f} {1e6 * r['planning_s']:8.0f}  {r['plan']}")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    add_timing_arguments(parser, repeats=20, warmup=3)
    parser.add_argument("--requests", type=positive_int, default=12, help="held-out prefixes per table")
    parser.add_argument("--rounds", type=int, default=2, help="ARQ retransmissions per packet")
    parser.add_argument("--config", default="experiments/infer_3tier.toml")
    args = parser.parse_args()
    set_threads(args.threads)
    report = Report("collaborative inference benchmark", {"requests": args.requests, "repeats": args.repeats,
                    "warmup": args.warmup, "rounds": args.rounds, "config": args.config}, args.json)
    report.start()

    # 1. planner speed
    xl = gpt2_profile(1600, 48, 50257, 32, n_head=25)
    route = Route.through(xl_network(), ["ue", "edge", "cloud"])
    stats = measure(lambda: plan_split(xl, route), repeats=args.repeats, warmup=args.warmup)
    brute = measure(lambda: brute_force(xl, route), repeats=max(1, args.repeats // 5), warmup=1)
    dp, ref = plan_split(xl, route), brute_force(xl, route)
    assert math.isclose(dp.latency_s, ref.latency_s, rel_tol=1e-12)
    report.add({"section": "planner", "layers": len(xl), "median_s": stats.median, "min_s": stats.minimum,
                "iqr_s": stats.iqr, "brute_median_s": brute.median, "plan": dp.describe()},
               f"\nplanner, {len(xl)}-layer GPT-2-XL-shaped chain, 3 tiers: DP {format_stats(stats)}; brute force "
               f"{format_stats(brute)}; same latency {1e3 * dp.latency_s:.3f} ms ({dp.describe()})")

    # a deeper chain on a 4-node route: the DP grows as K n^2, the enumeration as n^(K-1) evaluations of n layers
    deep = gpt2_profile(1600, 96, 50257, 32, n_head=25)
    net4 = xl_network()
    net4.add_node(Node("metro", "edge", 3e14, 256 * 2**30))
    for a, b in (("edge", "metro"), ("metro", "edge")):
        net4.add_link(a, b, snr_db=30.0, bandwidth_hz=1e8, latency_s=0.003)
    for a, b in (("metro", "cloud"), ("cloud", "metro")):
        net4.add_link(a, b, snr_db=30.0, bandwidth_hz=1e8, latency_s=0.010)
    route4 = Route.through(net4, ["ue", "edge", "metro", "cloud"])
    stats4 = measure(lambda: plan_split(deep, route4), repeats=args.repeats, warmup=args.warmup)
    brute4 = measure(lambda: brute_force(deep, route4), repeats=1, warmup=0)
    assert math.isclose(plan_split(deep, route4).latency_s, brute_force(deep, route4).latency_s, rel_tol=1e-12)
    report.add({"section": "planner", "layers": len(deep), "tiers": 4, "median_s": stats4.median, "min_s": stats4.minimum,
                "iqr_s": stats4.iqr, "brute_median_s": brute4.median},
               f"planner, {len(deep)}-layer chain, 4 tiers: DP {format_stats(stats4)}; brute force {format_stats(brute4)} "
               f"(one run); same latency")

    # 2. latency vs SNR
    cfg = load_config(args.config)
    cfg.plan["snr_db"] = SNRS
    sweep_rows(report, "latency vs SNR (a) caption LM large, " + args.config, plan_sweep(cfg))
    xl_cfg = InferenceConfig(xl_network(), ["ue", "edge", "cloud"], [], [],
                             plan={"n_embd": 1600, "n_layer": 48, "n_head": 25, "vocab_size": 50257, "seq_len": 32, "snr_db": SNRS})
    sweep_rows(report, "latency vs SNR (b) phone 1e12 FLOP/s 8 GiB, edge 1e14, cloud 1e15, 20 MHz uplink", plan_sweep(xl_cfg))

    # 3. features over the link
    big, small = load_caption_lm("large"), load_caption_lm("small")
    requests = held_out_requests(args.requests)
    report.line(f"\nfeatures over the link: big LM split after block 0 (ue | edge), {len(requests)} held-out prefixes, "
                f"8-bit features, ARQ rounds {args.rounds}")
    report.line(f"{'SNR dB':>7} {'delivered':>9} {'top1 agree':>10} {'CE link':>8} {'CE no-link':>10} {'retx':>5} {'mean ms':>8}")
    for snr in [-6.0, -4.0, -3.0, -2.0, 0.0, 10.0, 25.0]:  # below 0 dB: MCS 0 fixed (link adaptation has none)
        net = two_node(snr)
        r2 = Route.through(net, ["ue", "edge"], mcs=0 if snr < 0 else None)
        ok = agree = retx = 0
        ce_link, ce_ref, lat = [], [], []
        gen = torch.Generator().manual_seed(0)
        for prefix, rest in requests:
            ids = big.tokenizer.encode(prefix)
            nxt = big.tokenizer.encode(rest, bos=False)[0]
            with torch.no_grad():
                ref_logits = big.model(input_ids=torch.tensor([ids])).logits[0, -1]
            plan = evaluate(model_profile(big, len(ids)), r2, (2,))
            clock = SimClock()
            try:
                step = split_forward(big, ids, plan, r2, clock, rounds=args.rounds, generator=gen)
            except LinkFailedError as err:
                retx += sum(h.retransmissions for h in err.hops)
                lat.append(float(clock.now))
                continue
            ok += 1
            retx += sum(h.retransmissions for h in step.hops)
            agree += int(step.logits.argmax()) == int(ref_logits.argmax())
            ce_link.append(float(torch.nn.functional.cross_entropy(step.logits[None], torch.tensor([nxt]))))
            ce_ref.append(float(torch.nn.functional.cross_entropy(ref_logits[None], torch.tensor([nxt]))))
            lat.append(float(clock.now))
        n = len(requests)
        mean = lambda v: statistics.fmean(v) if v else float("nan")  # noqa: E731
        report.add({"section": "features", "snr_db": snr, "delivered": ok / n, "top1_agreement": agree / max(ok, 1),
                    "ce_link": mean(ce_link), "ce_no_link": mean(ce_ref), "retransmissions": retx, "mean_latency_s": mean(lat)},
                   f"{snr:7.1f} {ok / n:9.2f} {agree / max(ok, 1):10.2f} {mean(ce_link):8.3f} {mean(ce_ref):10.3f} {retx:5d} {1e3 * mean(lat):8.2f}")

    # 4. cascade threshold sweep
    service = CollaborativeInferenceService()
    report.line(f"\ncascade threshold sweep: route ue -> edge at 10 dB, {len(requests)} held-out prefixes, 8 new tokens")
    report.line(f"{'threshold':>9} {'escalated':>9} {'F1':>6} {'agree big':>9} {'mean ms':>8} {'link uses':>11}")
    for threshold in [0.0, 0.2, 0.3, 0.4, 0.5, 0.6, 1.01]:
        rep = service.run(two_node(10.0), SimClock(), route=["ue", "edge"], requests=requests, mode="cascade",
                          threshold=threshold, max_new_tokens=8, rounds=args.rounds)
        m = rep.metrics
        uplink = sum(d["channel_uses"] for d in rep.details)
        report.add({"section": "cascade", "threshold": threshold, **m, "channel_uses": uplink},
                   f"{threshold:9.2f} {m['escalation_rate']:9.2f} {m['token_f1']:6.3f} {m['agreement']:9.2f}"
                   f" {1e3 * m['mean_latency_s']:8.2f} {uplink:11d}")

    # 5. speculative decoding
    report.line(f"\nspeculative decoding: draft (small) on edge 1e10 FLOP/s, big model on the device 2e8 FLOP/s, "
                f"{len(requests)} prefixes, 12 new tokens; baseline: the big model alone on the device")
    report.line(f"{'SNR dB':>7} {'link ms':>7} {'k':>2} {'accept':>6} {'spec ms':>8} {'device ms':>9} {'speed-up':>8} {'tok/s':>6}")
    for snr, link_latency, k in [(0.0, 0.002, 4), (10.0, 0.002, 2), (10.0, 0.002, 4), (25.0, 0.002, 4), (10.0, 0.020, 4)]:
        net = two_node(snr, link_latency)
        r2 = Route.through(net, ["edge", "ue"])
        drafted = accepted = tokens = 0
        spec_s = base_s = 0.0
        gen = torch.Generator().manual_seed(0)
        for prefix, _ in requests:
            ids = big.tokenizer.encode(prefix)
            base = SimClock()
            ref, _ = greedy(big, ids, 12, base, net.node("ue"))
            clock = SimClock()
            got = speculative(small, big, ids, r2, clock, k=k, max_new=12, rounds=args.rounds, generator=gen, prompt_at="target")
            assert got.tokens == ref
            drafted += got.drafted
            accepted += got.accepted
            tokens += len(ref)
            spec_s += float(clock.now)
            base_s += float(base.now)
        report.add({"section": "speculative", "snr_db": snr, "link_latency_s": link_latency, "k": k,
                    "acceptance": accepted / max(drafted, 1), "spec_s": spec_s, "target_only_s": base_s,
                    "speedup": base_s / spec_s, "tokens_per_s": tokens / spec_s},
                   f"{snr:7.1f} {1e3 * link_latency:7.1f} {k:2d} {accepted / max(drafted, 1):6.2f} {1e3 * spec_s / len(requests):8.1f}"
                   f" {1e3 * base_s / len(requests):9.1f} {base_s / spec_s:7.2f}x {tokens / spec_s:6.1f}")
    report.finish()


if __name__ == "__main__":
    main()
