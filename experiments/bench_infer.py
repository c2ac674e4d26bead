"""Collaborative inference benchmarks: split planner speed, latency vs SNR, features over the link (digital and
analog), the big-small cascade and speculative decoding, with the caption LMs shipped in semcom/inference/checkpoints.

1. Planner: time of :func:`plan_split` (warm-up calls, then repeats; median, min, IQR) against the brute-force
   enumeration (same latency asserted) on a 50-layer GPT-2-XL-shaped chain (d=1600, 48 blocks, 32 tokens) over
   device -> edge -> cloud, a 98-layer chain over 4 tiers, and the measured chains of the ViT-GPT2 captioner
   (published shapes, 28 layers) and the JSCC model (768 x 512 image); the 48+-layer plans must take under a second.
2. Latency vs SNR (-5..25 dB on the ue<->edge hop; the planner re-run at every SNR) of device-only, edge-only,
   cloud-only and the adaptive split: (a) the big caption LM on experiments/infer_3tier.toml, (b) the GPT-2-XL
   shape, (c) the ViT-GPT2 captioner and (d) the JSCC model, digital and analog features, (b-d) on a phone-class
   device (1e12 FLOP/s, 8 GiB), a 1e14 FLOP/s edge and a 1e15 FLOP/s cloud, 20 MHz radio hop, 2 ms; 200 MHz,
   10 ms core. The adaptive plan is asserted never slower than the best fixed one.
3. End to end on the service (experiments/infer_3tier.toml, the simulated clock): each mode's mean latency per
   request at each SNR, the adaptive mode's planning time (wall), asserted: adaptive <= best fixed + planning time;
   then an SNR trace (the hop's SNR changing between requests), the adaptive plan following it.
4. Features over the link: the big LM split after block 0 (ue | edge), the feature as an 8-bit packet (ARQ) or
   analog, against SNR: delivered share, next-token top-1 agreement and cross-entropy with and without the link,
   greedy-continuation agreement, channel uses per feature.
5. Cascade threshold sweep (route ue -> edge at 10 dB): escalation rate, token F1, agreement, latency, channel uses.
6. Speculative decoding against target-only greedy decoding at several SNRs and link latencies, both ways round
   (the draft on the edge and the big model on the device; the draft on the device and the big model on the
   edge), outputs asserted equal token for token: acceptance, tokens/s, latency, speed-up; then the KV cache:
   simulated latency and wall time of decoding with and without it.

    PYTHONPATH=. python experiments/bench_infer.py [--requests 12] [--repeats 20] [--warmup 3] [--threads 1] [--json]
"""

from __future__ import annotations

import argparse
import math
import time
import types

import torch

from semcom.benchmark import Report, add_timing_arguments, compare, format_speedup, format_stats, measure, positive_int, set_threads
from semcom.inference.config import InferenceConfig, load_config, plan_sweep, set_first_hop_snr
from semcom.inference.decode import greedy, remote_greedy, speculative
from semcom.inference.features import LinkFailedError
from semcom.inference.lm import load_caption_lm
from semcom.inference.profiles import jscc_profile, vit_gpt2_profile
from semcom.inference.quality import feature_noise_sweep
from semcom.inference.service import CollaborativeInferenceService, held_out_requests
from semcom.inference.split import Route, brute_force, gpt2_profile, gpt2_step_flops, plan_split
from semcom.network.clock import SimClock
from semcom.network.nodes import Network, Node, tiered_network

SNRS = [-5.0, 0.0, 5.0, 10.0, 15.0, 20.0, 25.0]
PHONE = "phone 1e12 FLOP/s 8 GiB, edge 1e14, cloud 1e15, 20 MHz radio hop"
MEMORY_BANDWIDTH = {"ue": 1e7, "edge": 5e8}  # bytes/s: 20 FLOP per byte of weights, as a phone


def xl_network(snr_db: float = 10.0) -> Network:
    return tiered_network((1e12, 1e14, 1e15), (8 * 2**30, 64 * 2**30, 2**40), snr_db=snr_db, bandwidth_hz=2e7)


def two_node(snr_db: float, latency_s: float = 0.002) -> Network:
    return tiered_network((2e8, 1e10), (2**30, 2**34), snr_db=snr_db, bandwidth_hz=1e6, latency_s=latency_s)


def planner_speed(report: Report, args) -> None:
    net4 = xl_network()
    net4.add_node(Node("metro", "edge", 3e14, 256 * 2**30))
    for a, b, latency in (("edge", "metro", 0.003), ("metro", "edge", 0.003), ("metro", "cloud", 0.010), ("cloud", "metro", 0.010)):
        net4.add_link(a, b, snr_db=30.0, bandwidth_hz=1e8, latency_s=latency)
    route3 = Route.through(xl_network(), ["ue", "edge", "cloud"])
    cases = [("GPT-2-XL shape, 48 blocks", gpt2_profile(1600, 48, 50257, 32, n_head=25), route3, 5),
             ("GPT-2 shape, 96 blocks", gpt2_profile(1600, 96, 50257, 32, n_head=25),
              Route.through(net4, ["ue", "edge", "metro", "cloud"]), 1),
             ("ViT-GPT2 captioner", vit_gpt2_profile(caption_tokens=8), route3, 5),
             ("JSCC 768x512", jscc_profile(height=512, width=768), route3, 5)]
    report.line("\n1. planner: dynamic programming against brute-force enumeration (same latency asserted)")
    for title, chain, route, brute_repeats in cases:
        dp = measure(lambda: plan_split(chain, route), repeats=args.repeats, warmup=args.warmup)
        brute = measure(lambda: brute_force(chain, route), repeats=brute_repeats, warmup=0)
        best, ref = plan_split(chain, route), brute_force(chain, route)
        assert math.isclose(best.latency_s, ref.latency_s, rel_tol=1e-12)
        if len(chain) >= 48:
            assert dp.median < 1.0, f"{title}: planning took {dp.median:.3f} s"
        report.add({"section": "planner", "chain": title, "layers": len(chain), "tiers": len(route),
                    "median_s": dp.median, "min_s": dp.minimum, "iqr_s": dp.iqr, "brute_median_s": brute.median,
                    "plan": best.describe()},
                   f"{title}: {len(chain)} layers, {len(route)} tiers: DP {format_stats(dp)}; brute force "
                   f"{format_stats(brute)}; {1e3 * best.latency_s:.3f} ms ({best.describe()})")


def sweep_rows(report: Report, title: str, sweep: dict) -> None:
    tokens = f", {sweep['seq_len']} tokens" if sweep["seq_len"] else ""
    report.line(f"\n{title}: {sweep['model']['name']}, {sweep['layers']} layers{tokens}, {sweep['features']} features")
    report.line(f"{'SNR dB':>7} {'device ms':>10} {'edge ms':>10} {'cloud ms':>10} {'adaptive':>10} {'gain':>6} {'plan us':>8}  plan")
    for r in sweep["rows"]:
        best_fixed = min(r["device"], r["edge"], r["cloud"])
        assert r["adaptive"] <= best_fixed * (1 + 1e-12), r
        gain = (f"{best_fixed / r['adaptive']:5.2f}x" if math.isfinite(best_fixed) else "  only") \
            if math.isfinite(r["adaptive"]) else "     -"
        report.add({"section": title, "features": sweep["features"], **r},
                   f"{r['snr_db']:7.1f} {1e3 * r['device']:10.3f} {1e3 * r['edge']:10.3f} {1e3 * r['cloud']:10.3f}"
                   f" {1e3 * r['adaptive']:10.3f} {gain} {1e6 * r['planning_s']:8.0f}  {r['plan'] if math.isfinite(r['adaptive']) else 'none'}")


def latency_vs_snr(report: Report, args) -> None:
    report.line("\n2. latency vs SNR (model of the plan; gain: best fixed choice / adaptive)")
    cfg = load_config(args.config)
    cfg.plan["snr_db"] = SNRS
    sweep_rows(report, "(a) caption LM large, " + args.config, plan_sweep(cfg))
    xl = {"n_embd": 1600, "n_layer": 48, "n_head": 25, "vocab_size": 50257, "seq_len": 32, "snr_db": SNRS}
    sweep_rows(report, "(b) " + PHONE, plan_sweep(InferenceConfig(xl_network(), ["ue", "edge", "cloud"], [], [], plan=xl)))
    for features in ("digital", "analog"):
        for tag, chain in (("(c)", {"chain": "vit-gpt2", "caption_tokens": 8}), ("(d)", {"chain": "jscc", "image": [768, 512]})):
            # analog hidden features only from 10 dB (section 4: below it they cost the task too much); the
            # JSCC's bottleneck is made for the channel and crosses at any SNR
            floor = 10.0 if chain["chain"] == "vit-gpt2" else None
            cfg = InferenceConfig(xl_network(), ["ue", "edge", "cloud"], [], [], plan={**chain, "snr_db": SNRS},
                                  features=features, analog_min_snr_db=floor)
            extra = f", analog features from {floor:g} dB" if floor is not None and features == "analog" else ""
            sweep_rows(report, f"{tag} {PHONE}{extra}", plan_sweep(cfg))


def service_latency(report: Report, args, service: CollaborativeInferenceService) -> None:
    cfg = load_config(args.config)
    requests = held_out_requests(args.service_requests)
    n = len(requests)
    report.line(f"\n3. end to end on the service, {args.config}: {n} held-out prefixes x {args.service_tokens} tokens, "
                "mean latency per request (simulated clock); adaptive re-plans before every pass")
    report.line(f"{'SNR dB':>7} {'device ms':>10} {'edge ms':>10} {'cloud ms':>10} {'adaptive':>10} {'plan ms':>8} {'ok':>4}  adaptive ran")
    for snr in SNRS:
        set_first_hop_snr(cfg, snr)
        lat, where, ok, planning = {}, "", 1.0, 0.0
        for mode in ("device", "edge", "cloud", "adaptive"):
            rep = service.run(cfg.network, SimClock(), route=cfg.route, requests=requests, mode=mode,
                              max_new_tokens=args.service_tokens, rounds=cfg.rounds, fallback="device",
                              memory_bandwidth=cfg.memory_bandwidth)
            lat[mode] = rep.metrics["mean_latency_s"]
            if mode == "adaptive":
                planning = rep.metrics["planning_s"] / n
                where = sorted({d["where"] for d in rep.details})[0]
                ok = rep.metrics["ok_rate"]
        best = min(lat["device"], lat["edge"], lat["cloud"])
        assert lat["adaptive"] <= best + planning + 1e-12, (snr, lat, planning)
        report.add({"section": "service", "snr_db": snr, **{f"{k}_s": v for k, v in lat.items()},
                    "planning_s": planning, "ok_rate": ok, "where": where},
                   f"{snr:7.1f} {1e3 * lat['device']:10.2f} {1e3 * lat['edge']:10.2f} {1e3 * lat['cloud']:10.2f}"
                   f" {1e3 * lat['adaptive']:10.2f} {1e3 * planning:8.2f} {ok:4.2f}  {where}")
    trace = [25.0, 10.0, -5.0, 0.0, 20.0, -5.0]
    report.line(f"SNR trace over requests {trace} dB: total latency per mode (adaptive re-planned as the SNR changed)")
    totals, plans = {}, []
    for mode in ("device", "edge", "cloud", "adaptive"):
        total = 0.0
        for snr, req in zip(trace, requests * len(trace)):
            set_first_hop_snr(cfg, snr)
            rep = service.run(cfg.network, SimClock(), route=cfg.route, requests=[req], mode=mode,
                              max_new_tokens=args.service_tokens, rounds=cfg.rounds, fallback="device",
                              memory_bandwidth=cfg.memory_bandwidth)
            total += float(rep.latency_s)
            if mode == "adaptive":
                plans.append(rep.details[0]["where"].split(" x")[0])
        totals[mode] = total
    assert totals["adaptive"] <= min(totals["device"], totals["edge"], totals["cloud"]) * (1 + 1e-9)
    report.add({"section": "service_trace", "trace_db": trace, **{f"{k}_s": v for k, v in totals.items()}, "plans": plans},
               "  " + ", ".join(f"{k} {1e3 * v:.1f} ms" for k, v in totals.items()) + f"; adaptive plans: {' | '.join(plans)}")
    set_first_hop_snr(cfg, 10.0)


def features_vs_snr(report: Report, args, big) -> None:
    requests = held_out_requests(args.requests)
    report.line(f"\n4. features over the link: big LM split after block 0 (ue | edge), {len(requests)} held-out prefixes, "
                f"greedy continuation of 6 tokens split at every step, ARQ rounds {args.rounds} (digital)")
    report.line(f"{'SNR dB':>7} {'features':>8} {'delivered':>9} {'top1':>5} {'CE link':>8} {'CE clean':>8} "
                f"{'greedy agr':>10} {'exact':>5} {'uses/feat':>9} {'retx':>5} {'mean ms':>8}")
    for r in feature_noise_sweep(big, requests, [-8.0] + SNRS, max_new=6, rounds=args.rounds):
        report.add({"section": "features", **r},
                   f"{r['snr_db']:7.1f} {r['features']:>8} {r['delivered']:9.2f} {r['next_token_agreement']:5.2f}"
                   f" {r['ce_link']:8.3f} {r['ce_clean']:8.3f} {r['greedy_agreement']:10.2f} {r['exact_match']:5.2f}"
                   f" {r['channel_uses']:9.0f} {r['retransmissions']:5d} {1e3 * r['mean_latency_s']:8.2f}")


def cascade_sweep(report: Report, args, service) -> None:
    requests = held_out_requests(args.requests)
    report.line(f"\n5. cascade threshold sweep: route ue -> edge at 10 dB, {len(requests)} held-out prefixes, 8 new tokens")
    report.line(f"{'threshold':>9} {'escalated':>9} {'F1':>6} {'agree big':>9} {'mean ms':>8} {'link uses':>11}")
    for threshold in [0.0, 0.2, 0.3, 0.4, 0.5, 0.6, 1.01]:
        rep = service.run(two_node(10.0), SimClock(), route=["ue", "edge"], requests=requests, mode="cascade",
                          threshold=threshold, max_new_tokens=8, rounds=args.rounds)
        m = rep.metrics
        report.add({"section": "cascade", "threshold": threshold, **m, "channel_uses": rep.channel_uses},
                   f"{threshold:9.2f} {m['escalation_rate']:9.2f} {m['token_f1']:6.3f} {m['agreement']:9.2f}"
                   f" {1e3 * m['mean_latency_s']:8.2f} {rep.channel_uses:11d}")


def speculative_grid(report: Report, args, big, small) -> None:
    requests = held_out_requests(args.requests)
    tokens_new = 12
    report.line(f"\n6. speculative decoding, k = 4, {len(requests)} prefixes, {tokens_new} new tokens, KV caches; device "
                "2e8 FLOP/s, edge 1e10, 1 MHz hop. Baseline: the big model alone (on the device / on the edge, "
                "prompt up and answer down). memory-bound: every pass at least the time to read the model's weights "
                "(device 1e7 B/s, edge 5e8 B/s: 20 FLOP/byte, as a phone); compute-bound: FLOPs only")
    report.line(f"{'nodes':>14} {'big on':>6} {'SNR dB':>7} {'link ms':>7} {'accept':>6} {'spec ms':>8} {'target ms':>9}"
                f" {'speed-up':>8} {'tok/s':>6} {'base tok/s':>10} {'uses':>6} {'failed':>6}")
    full = [(snr, lat) for snr in (0.0, 10.0, 25.0) for lat in (0.001, 0.005, 0.020)]
    short = [(10.0, lat) for lat in (0.001, 0.005, 0.020)]
    for regime, bandwidth in (("memory-bound", MEMORY_BANDWIDTH), ("compute-bound", {})):
        for big_on in ("device", "edge"):
            for snr, link_latency in (full if regime == "memory-bound" and big_on == "device" else short):
                net = two_node(snr, link_latency)
                route = Route.through(net, ["edge", "ue"] if big_on == "device" else ["ue", "edge"],
                                      memory_bandwidth=bandwidth)
                drafted = accepted = tokens = uses = failed = 0
                spec_s = base_s = 0.0
                gen = torch.Generator().manual_seed(0)
                for prefix, _ in requests:
                    ids = big.tokenizer.encode(prefix)
                    base, clock = SimClock(), SimClock()
                    try:  # a packet that fails all its ARQ rounds fails the request (counted, left out)
                        if big_on == "device":
                            ref, _ = greedy(big, ids, tokens_new, base, net.node("ue"), bandwidth=bandwidth.get("ue"))
                        else:
                            ref = remote_greedy(big, ids, route, base, max_new=tokens_new, rounds=args.rounds,
                                                generator=gen)
                        got = speculative(small, big, ids, route, clock, k=4, max_new=tokens_new, rounds=args.rounds,
                                          generator=gen, prompt_at="target" if big_on == "device" else "draft")
                    except LinkFailedError:
                        failed += 1
                        continue
                    assert got.tokens == ref == greedy(big, ids, tokens_new)[0]
                    drafted, accepted, tokens = drafted + got.drafted, accepted + got.accepted, tokens + len(ref)
                    spec_s, base_s = spec_s + float(clock.now), base_s + float(base.now)
                    uses += sum(h.cost.channel_uses for h in got.hops)
                done = len(requests) - failed
                report.add({"section": "speculative", "nodes": regime, "big_on": big_on, "snr_db": snr,
                            "link_latency_s": link_latency, "k": 4, "acceptance": accepted / max(drafted, 1),
                            "spec_s": spec_s, "target_only_s": base_s, "speedup": base_s / spec_s,
                            "tokens_per_s": tokens / spec_s, "target_tokens_per_s": tokens / base_s,
                            "channel_uses": uses, "failed": failed},
                           f"{regime:>14} {big_on:>6} {snr:7.1f} {1e3 * link_latency:7.1f} {accepted / max(drafted, 1):6.2f}"
                           f" {1e3 * spec_s / done:8.1f} {1e3 * base_s / done:9.1f}"
                           f" {base_s / spec_s:7.2f}x {tokens / spec_s:6.1f} {tokens / base_s:10.1f} {uses // done:6d} {failed:6d}")
    # the KV cache: simulated time of the same decodings without it, and the wall time of both
    net = two_node(10.0, 0.005)
    route = Route.through(net, ["edge", "ue"])
    report.line("KV cache (big model on the device, speculative draft on the edge, 10 dB, 5 ms): simulated latency "
                "per request without / with the cache, and wall time of all requests (interleaved repeats)")
    for name, run in (("target-only greedy", lambda ids, clock, cache: greedy(big, ids, tokens_new, clock, net.node("ue"), cache=cache)),
                      ("speculative k=4", lambda ids, clock, cache: speculative(
                          small, big, ids, route, clock, k=4, max_new=tokens_new, rounds=8,
                          generator=torch.Generator().manual_seed(0), prompt_at="target", cache=cache))):
        sim = {}
        for cache in (False, True):
            total = 0.0
            for prefix, _ in requests:
                clock = SimClock()
                run(big.tokenizer.encode(prefix), clock, cache)
                total += float(clock.now)
            sim[cache] = total / len(requests)
        all_ids = [big.tokenizer.encode(p) for p, _ in requests]
        wall = compare(lambda: [run(i, None if name.startswith("target") else SimClock(), True) for i in all_ids],
                       lambda: [run(i, None if name.startswith("target") else SimClock(), False) for i in all_ids],
                       repeats=max(3, args.repeats // 4), warmup=1)
        report.add({"section": "kv_cache", "decoding": name, "sim_no_cache_s": sim[False], "sim_cache_s": sim[True],
                    "wall": wall.to_dict()},
                   f"  {name}: simulated {1e3 * sim[False]:.1f} -> {1e3 * sim[True]:.1f} ms ({sim[False] / sim[True]:.2f}x); "
                   f"wall {format_stats(wall.reference)} -> {format_stats(wall.ours)} ({format_speedup(wall)})")
    # the caption LMs are tiny (d = 128, under 40 tokens): per-pass overheads hide the cache's saving in wall time.
    # A larger GPT-2 shape (random weights) decoding 64 tokens one at a time after a 16-token prompt:
    from transformers import GPT2Config, GPT2LMHeadModel

    from semcom.inference.decode import CachedLM

    torch.manual_seed(0)
    shape = GPT2Config(vocab_size=1504, n_positions=128, n_embd=256, n_layer=4, n_head=4, bos_token_id=1, eos_token_id=2,
                       attn_implementation="eager")
    wide = types.SimpleNamespace(model=GPT2LMHeadModel(shape).eval())
    seq = torch.randint(4, 1504, (80,)).tolist()

    def decode(cache: bool) -> None:
        lm = CachedLM(wide, cache=cache)
        for end in range(16, 81):
            lm.logits(seq[:end])

    wall = compare(lambda: decode(True), lambda: decode(False), repeats=max(3, args.repeats // 4), warmup=1)
    flops = [sum(gpt2_step_flops(256, 4, 1504, 0, end) for end in range(16, 81)),
             gpt2_step_flops(256, 4, 1504, 0, 16) + sum(gpt2_step_flops(256, 4, 1504, end - 1, 1) for end in range(17, 81))]
    report.add({"section": "kv_cache", "decoding": "GPT-2 d=256 L=4, 16 + 64 tokens", "flops_no_cache": flops[0],
                "flops_cache": flops[1], "wall": wall.to_dict()},
               f"  GPT-2 shape d=256, 4 blocks, 64 tokens after a 16-token prompt: FLOPs {flops[0] / 1e9:.2f} -> "
               f"{flops[1] / 1e9:.2f} G; wall {format_stats(wall.reference)} -> {format_stats(wall.ours)} ({format_speedup(wall)})")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    add_timing_arguments(parser, repeats=20, warmup=3)
    parser.add_argument("--requests", type=positive_int, default=12, help="held-out prefixes per table")
    parser.add_argument("--service-requests", type=positive_int, default=4, help="held-out prefixes per service run")
    parser.add_argument("--service-tokens", type=positive_int, default=4, help="new tokens per service request")
    parser.add_argument("--rounds", type=int, default=2, help="ARQ retransmissions per packet")
    parser.add_argument("--config", default="experiments/infer_3tier.toml")
    args = parser.parse_args()
    set_threads(args.threads)
    report = Report("collaborative inference benchmark", {k: v for k, v in vars(args).items() if k != "json"}, args.json)
    report.start()
    start = time.perf_counter()
    big, small = load_caption_lm("large"), load_caption_lm("small")
    service = CollaborativeInferenceService()
    planner_speed(report, args)
    latency_vs_snr(report, args)
    service_latency(report, args, service)
    features_vs_snr(report, args, big)
    cascade_sweep(report, args, service)
    speculative_grid(report, args, big, small)
    report.line(f"\nbenchmark wall time {time.perf_counter() - start:.0f} s")
    report.finish()


if __name__ == "__main__":
    main()
