"""Compression for the device: fp32, int8 (torch.ao), pruned (torch.nn.utils.prune), distilled; size, CPU
latency and metric, and the variant picked for devices of several memory and latency budgets.

1. Caption LM ``large`` (GPT-2 architecture, 991k parameters): int8 dynamic quantisation of every linear
   layer, global L1 pruning of 50 % of the conv/linear weights, and a ``small``-shaped student distilled from
   it (``--lm-steps`` steps of KL to the teacher at T = 2 and cross-entropy), next to the shipped ``small``
   model trained on the captions alone. Metric: held-out next-token loss (nats/token, lower is better) on
   ``--captions`` held-out Flickr8k captions. Latency: one forward pass of a 12-token prefix.
2. JSCC ``jscc-awgn-cbr1-16`` (3.2M parameters): int8 static quantisation of its convs (calibrated on BSDS500
   val crops), global L1 pruning of 30 % and 50 % of the conv/linear weights, and a half-width student distilled
   from it (``--jscc-steps`` steps on BSDS500 train crops). Metric: PSNR over AWGN at 10 dB on Kodak 256x256
   centre crops (reporting). Latency: one 256x256 image through encoder, channel and decoder.

Size: ``torch.save`` of the state dict (what the device stores); on the link: the same zlib-compressed (what a
KB update carries: pruned zeros compress). Latency: semcom.benchmark (warm-up, repeats; median and IQR).

    PYTHONPATH=. python experiments/bench_compression.py [--threads 1] [--repeats 20] [--json]
"""

from __future__ import annotations

import argparse

import torch

from semcom.benchmark import Report, add_timing_arguments, positive_int, set_threads
from semcom.optimisation.compression import (Variant, describe, distil_caption_lm, distil_jscc, measure_variants,
                                             pick_variant, prune_l1, quantize_dynamic_int8, quantize_static_int8,
                                             sparsity)


def lm_section(report: Report, args) -> list[Variant]:
    from semcom.inference.lm import held_out_loss, load_caption_lm, new_model
    from semcom.semantic import flickr8k_split

    teacher, shipped_small = load_caption_lm("large"), load_caption_lm("small")
    tok = teacher.tokenizer
    train, held = flickr8k_split()
    held_ids = [tok.encode(c, eos=True) for c in held[: args.captions]]
    train_ids = [tok.encode(c, eos=True) for c in train]
    student = new_model("small", len(tok), seed=1)
    facts = distil_caption_lm(teacher.model, student, train_ids, steps=args.lm_steps, batch=64, seed=0)
    pruned = prune_l1(teacher.model, 0.5)
    variants = [describe("fp32", teacher.model), describe("int8 dynamic", quantize_dynamic_int8(teacher.model)),
                describe("pruned 50%", pruned, sparsity=sparsity(pruned)),
                describe(f"distilled (small, {facts['steps']} steps)", student, distil_s=facts["seconds"]),
                describe(f"small trained on captions ({shipped_small.card['steps']} steps)", shipped_small.model)]
    prefix = torch.tensor([tok.encode("a black dog is running through the grass in a")])
    measure_variants(variants, lambda m: m(input_ids=prefix), lambda m: held_out_loss(m, held_ids),
                     repeats=args.repeats, warmup=args.warmup)
    table(report, "caption LM large", "held-out loss (nats/token)", variants)
    return variants


def jscc_section(report: Report, args) -> list[Variant]:
    from semcom.images import centre_crop
    from semcom.jscc import JSCCConfig, JSCCModel, load_checkpoint, psnr
    from semcom.jscc.data import CropSampler, load_images, to_float

    teacher = load_checkpoint("jscc-awgn-cbr1-16")
    calib = CropSampler(load_images("../shared/data/bsds500/val", 16), torch.Generator().manual_seed(0)).batch(8, 64)
    kodak = to_float(torch.stack([centre_crop(im, 256) for im in load_images("../shared/data/kodak", args.kodak)]))

    def calibrate(m):
        for snr in (0.0, 10.0, 20.0):
            m(calib, snr, generator=torch.Generator().manual_seed(1))

    def metric(m):
        with torch.no_grad():
            rec = m(kodak, 10.0, generator=torch.Generator().manual_seed(2)).reconstruction
        return float(psnr(rec, kodak).mean())

    c = teacher.config
    student = JSCCModel(JSCCConfig(widths=tuple(w // 2 for w in c.widths), blocks=c.blocks, cbr=c.cbr), seed=0)
    facts = distil_jscc(teacher, student, load_images("../shared/data/bsds500/train", 60), steps=args.jscc_steps,
                        batch=8, crop=64, seed=0)
    p30, p50 = prune_l1(teacher, 0.3), prune_l1(teacher, 0.5)
    variants = [describe("fp32", teacher), describe("int8 static (convs)", quantize_static_int8(teacher, calibrate)),
                describe("pruned 30%", p30, sparsity=sparsity(p30)), describe("pruned 50%", p50, sparsity=sparsity(p50)),
                describe(f"distilled (half width, {facts['steps']} steps)", student, distil_s=facts["seconds"])]
    one = kodak[:1]
    measure_variants(variants, lambda m: m(one, 10.0, generator=torch.Generator().manual_seed(3)), metric,
                     repeats=args.repeats, warmup=args.warmup)
    table(report, "JSCC jscc-awgn-cbr1-16", "PSNR dB (Kodak 256x256, AWGN 10 dB)", variants)
    return variants


def table(report: Report, title: str, metric: str, variants: list[Variant]) -> None:
    report.line(f"\n{title}: {metric}")
    report.line(f"{'variant':>42} {'params':>9} {'nonzero':>9} {'size kB':>9} {'link kB':>9} {'latency ms':>16} {'metric':>8}")
    for v in variants:
        report.add({"section": title, **v.row()},
                   f"{v.name:>42} {v.parameters:9d} {v.nonzero:9d} {v.size_bytes / 1e3:9.1f} {v.link_bytes / 1e3:9.1f} "
                   f"{1e3 * v.latency_s:8.2f} ({1e3 * v.latency_iqr_s:5.2f}) {v.metric:8.3f}")


def picks(report: Report, title: str, variants: list[Variant], budgets, higher: bool) -> None:
    report.line(f"\n{title}: variant picked per device budget (best metric that fits)")
    for name, memory, latency in budgets:
        v = pick_variant(variants, memory_bytes=memory, latency_s=latency, higher_is_better=higher)
        report.add({"section": f"{title} picks", "device": name, "memory_bytes": memory, "latency_s": latency,
                    "variant": v.name if v else None},
                   f"{name:>28}: memory {memory / 1e6:6.2f} MB, latency {1e3 * latency:6.1f} ms -> "
                   + (v.name if v else "none fits"))


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    add_timing_arguments(parser, repeats=20, warmup=3)
    parser.add_argument("--captions", type=positive_int, default=1000, help="held-out captions for the LM metric")
    parser.add_argument("--kodak", type=positive_int, default=8, help="Kodak images for the JSCC metric")
    parser.add_argument("--lm-steps", type=positive_int, default=800)
    parser.add_argument("--jscc-steps", type=positive_int, default=300)
    args = parser.parse_args()
    set_threads(args.threads)
    report = Report("compression benchmark", {k: v for k, v in vars(args).items() if k != "json"}, args.json)
    report.start()
    lm = lm_section(report, args)
    jscc = jscc_section(report, args)
    big = max(v.size_bytes for v in lm)
    fast = min(v.latency_s for v in lm)
    picks(report, "caption LM", lm, [("edge box", 10 * big, 1.0), ("phone", big // 2, 1.0),
                                     ("wearable", big // 8, 1.0), ("phone, tight deadline", big, 1.5 * fast)], False)
    big = max(v.size_bytes for v in jscc)
    fast = min(v.latency_s for v in jscc)
    picks(report, "JSCC", jscc, [("edge box", 10 * big, 10.0), ("phone", big // 2, 10.0),
                                 ("wearable", big // 6, 10.0), ("phone, tight deadline", big, 1.2 * fast)], True)
    report.finish()


if __name__ == "__main__":
    main()
