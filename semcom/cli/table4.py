"""``semcom table4``: the white paper's Table 4 (traditional / semantic / generative), measured on one link."""

from __future__ import annotations

import argparse

from semcom.cli.run import add_executor_options, executor_options
from semcom.options import CBR, CHANNEL_NAMES, CROP, LIMIT, SEED, SNR_LIST, Integer


def add_commands(subparsers: argparse._SubParsersAction) -> None:
    p = subparsers.add_parser(
        "table4", help="Table 4: separation vs deep JSCC vs generative (gai) vs the bound, next to the published rows",
        description="Runs the Table 4 schemes on one image set and one link setting and writes table.md, "
                    "table.csv, table.json, psnr_vs_bits.png, psnr_vs_snr.png and side_by_side_<snr>dB.png to "
                    "--out. Rows give means with their 95 % confidence intervals. Interrupted runs resume where "
                    "they stopped.")
    p.add_argument("--snr-db", type=SNR_LIST.arg(), default=[0.0], help="SNR list in dB, e.g. 0 or 0,5,10")
    p.add_argument("--channel", default="awgn", choices=CHANNEL_NAMES, metavar="NAME", help="channel model: %(choices)s")
    p.add_argument("--cbr", type=CBR.arg(), default="1/16",
                   help="channel bandwidth ratio of the separation, JSCC and bound rows")
    p.add_argument("--images", default=None, help="image folder (default: the embedded scikit-image photographs)")
    p.add_argument("--limit", type=LIMIT.arg(), default=None, help="use the first N images (default: all)")
    p.add_argument("--crop", type=CROP.arg(), default=None,
                   help="centre-crop each image to at most N x N pixels, 16 to 16384 (default: full size)")
    p.add_argument("--schemes", default=None,
                   help="subset, comma-separated: traditional, semantic, generative, generative+side, bound "
                        "(default: all)")
    p.add_argument("--out", default="results/table4",
                   help="output folder; checked before anything runs, and locked while the run goes on (a second "
                        "run into it is refused)")
    p.add_argument("--seed", type=SEED.arg(), default=0, help="random seed, 0 to 2**32-1")
    p.add_argument("--codec", default="heif", help="codec of the traditional row: heif, avif, webp, jpeg")
    p.add_argument("--jscc-model", default=None,
                   help="JSCC checkpoint of the semantic row, name or folder (default: the shipped one trained for "
                        "--channel and --cbr; semcom models lists them)")
    p.add_argument("--captions", default=None,
                   help="captions JSON of the reference captioner (default: semcom/data/default_captions.json "
                        "for the embedded images, IMAGES/captions.json when the folder has one)")
    p.add_argument("--captioner", default=None, help="captioner of the generative row (default: reference)")
    p.add_argument("--generator", default=None,
                   help="generator: stable-diffusion (default; falls back, labelled, without weights), "
                        "fallback, a plugin's, or tiny-stable-diffusion (from --plugin semcom.testing)")
    p.add_argument("--generator-model", default=None,
                   help="generator hub id or local diffusers folder (default: stabilityai/stable-diffusion-2-1-base)")
    p.add_argument("--device", default=None, help="where the generator runs: cpu, cuda, cuda:N, mps "
                                                  "(default: cuda if visible, else cpu)")
    p.add_argument("--dtype", default=None, help="generator precision: float32, float16 (GPU), bfloat16 "
                                                 "(default: float32)")
    p.add_argument("--plugin", action="append", default=[], metavar="MODULE",
                   help="import MODULE (or a .py file) that registers its own stages; repeatable")
    p.add_argument("--save-images", action="store_true",
                   help="keep every reconstruction (OUT/runs/<run>/images/<scheme>/<snr>dB/<image>.png); without "
                        "it only those the side-by-side figure shows are kept")
    p.add_argument("--figure-images", type=Integer(0, 64).arg(), default=3,
                   help="images in the side-by-side figure, 0 to 64 (0: no figure)")
    p.add_argument("--no-progress", action="store_true", help="no progress bar")
    add_executor_options(p)
    p.set_defaults(run=run_table4_command)


def run_table4_command(args: argparse.Namespace) -> int:
    from semcom.table4 import run_table4, table4_config

    config = table4_config(snr_db=args.snr_db, channel=args.channel, cbr=args.cbr, images=args.images,
                           limit=args.limit, crop=args.crop, schemes=args.schemes, seed=args.seed,
                           captions=args.captions, captioner=args.captioner, generator=args.generator,
                           generator_model=args.generator_model, codec=args.codec, jscc_model=args.jscc_model,
                           plugins=args.plugin, device=args.device, dtype=args.dtype)
    report = run_table4(config, args.out, progress=not args.no_progress, option="--out",
                        save_images=args.save_images, figure_images=args.figure_images, **executor_options(args))
    print(report["markdown"])
    print(f"written in {args.out}: table.md, table.csv, table.json, {', '.join(report['figures'])} "
          f"(item results: {report['results_folder']})")
    return 0
