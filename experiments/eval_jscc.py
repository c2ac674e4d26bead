"""Mean PSNR of a JSCC checkpoint on a folder of images at several SNRs.

    .venv/bin/python experiments/eval_jscc.py jscc-awgn-cbr1-16                       # bsds500/val
    .venv/bin/python experiments/eval_jscc.py jscc-awgn-cbr1-16 --images ../shared/data/kodak

Whole images are coded, each within floor(CBR x H x W x 3) channel uses (the effective CBR printed
is what was spent, at most the nominal one). Noise is seeded per SNR, so figures are reproducible. Kodak is for
reporting only: never select or tune a model on it. Inference time: experiments/bench_jscc.py.
"""

from __future__ import annotations

import argparse
import json
import sys
from pathlib import Path

import torch

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from semcom.jscc import load_checkpoint, read_card  # noqa: E402
from semcom.files import default_data_dir  # noqa: E402
from semcom.jscc.data import load_images  # noqa: E402
from semcom.jscc.train import evaluate_psnr  # noqa: E402
from semcom.link.analog import AnalogLink  # noqa: E402


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("checkpoint", help="registered name (jscc-awgn-cbr1-16, ...) or checkpoint folder")
    parser.add_argument("--images", default=str(default_data_dir() / "bsds500" / "val"), help="image folder")
    parser.add_argument("--snrs", default="1,4,7,10,13", help="comma-separated SNRs (dB, Es/N0)")
    parser.add_argument("--max-images", type=int, default=None)
    parser.add_argument("--channel", default=None, help="evaluate over another channel than the trained one")
    parser.add_argument("--channel-option", action="append", default=[], metavar="KEY=VALUE")
    parser.add_argument("--seed", type=int, default=1234)
    parser.add_argument("--threads", type=int, default=2)
    parser.add_argument("--json", action="store_true", help="print a JSON line instead of a table")
    args = parser.parse_args(argv)

    torch.set_num_threads(args.threads)
    snrs = [float(s) for s in args.snrs.split(",") if s.strip()]
    link = None
    if args.channel:
        opts = {}
        for kv in args.channel_option:
            k, v = kv.split("=", 1)
            try:
                opts[k] = json.loads(v)
            except json.JSONDecodeError:
                opts[k] = v
        link = AnalogLink(args.channel, seed=args.seed, **opts)
    model = load_checkpoint(args.checkpoint, link=link).to(memory_format=torch.channels_last)
    card = read_card(args.checkpoint)
    images = load_images(args.images, args.max_images)
    cbr = sum(model.channel_uses_for(*im.shape[1:]) / (3 * im.shape[1] * im.shape[2]) for im in images) / len(images)
    results = evaluate_psnr(model, images, snrs, seed=args.seed, batch=4)
    channel = args.channel or card["config"]["channel"]
    if args.json:
        print(json.dumps({"checkpoint": args.checkpoint, "images": args.images, "n": len(images), "channel": channel,
                          "cbr_nominal": card["config"]["cbr"], "cbr_effective": cbr,
                          "psnr_db": {f"{k:g}": v for k, v in results.items()}}))
        return 0
    print(f"checkpoint {args.checkpoint} ({card['config']['cbr']} nominal, {cbr:.5f} effective CBR), "
          f"channel {channel}, {len(images)} images from {args.images}")
    print("SNR (dB) | " + " | ".join(f"{s:5g}" for s in snrs))
    print("PSNR (dB)| " + " | ".join(f"{results[s]:5.2f}" for s in snrs))
    return 0


if __name__ == "__main__":
    sys.exit(main())
