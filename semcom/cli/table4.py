"""``semcom table4``: the white paper's Table 4 (traditional / semantic / generative), measured on one link."""

from __future__ import annotations

import argparse

from channels import CHANNELS
from semcom.cli.run import add_executor_options, executor_options
from semcom.options import CBR, CROP, LIMIT, SEED, SNR_LIST


def add_commands(subparsers: argparse._SubParsersAction) -> None:
    p = subparsers.add_parser(
        "table4", help="Table 4: separation vs deep JSCC vs generative (gai) vs the bound, next to the published rows",
        description="Runs the Table 4 schemes on one image set and one link setting and writes table.md, "
                    "table.csv, table.json, psnr_vs_bits.png and psnr_vs_snr.png to --out. Interrupted runs "
                    "resume where they stopped.")
    p.add_argument("--snr-db", type=SNR_LIST.arg(), default=[0.0], help="SNR list in dB, e.g. 0 or 0,5,10 (default 0)")
    p.add_argument("--channel", default="awgn", choices=CHANNELS.names())
    p.add_argument("--cbr", type=CBR.arg(), default=1 / 16,
                   help="channel bandwidth ratio of the separation, JSCC and bound rows (default 1/16)")
    p.add_argument("--images", default=None, help="image folder (default: the embedded scikit-image photographs)")
    p.add_argument("--limit", type=LIMIT.arg(), default=None, help="use the first N images")
    p.add_argument("--crop", type=CROP.arg(), default=None,
                   help="centre-crop each image to at most N x N pixels (16 to 16384)")
    p.add_argument("--schemes", default=None,
                   help="subset, comma-separated: traditional, semantic, generative, generative+side, bound "
                        "(default: all)")
    p.add_argument("--out", default="results/table4",
                   help="output folder (default ./results/table4); checked before anything runs, and locked "
                        "while the run goes on (a second run into it is refused)")
    p.add_argument("--seed", type=SEED.arg(), default=0)
    p.add_argument("--codec", default="heif", help="codec of the traditional row (default heif)")
    p.add_argument("--captions", default=None,
                   help="captions JSON of the reference captioner (default: semcom/data/default_captions.json "
                        "for the embedded images, IMAGES/captions.json when the folder has one)")
    p.add_argument("--captioner", default=None, help="captioner of the generative row (default: reference)")
    p.add_argument("--generator", default=None,
                   help="generator: stable-diffusion (default; falls back, labelled, without weights), "
                        "fallback, a plugin's, or tiny-stable-diffusion (from --plugin semcom.testing)")
    p.add_argument("--generator-model", default=None, help="generator hub id or local diffusers folder")
    p.add_argument("--device", default=None, help="where the generator runs: cpu, cuda, cuda:N, mps "
                                                  "(default: cuda if visible)")
    p.add_argument("--dtype", default=None, help="generator precision: float32 (default), float16 (GPU), bfloat16")
    p.add_argument("--plugin", action="append", default=[], metavar="MODULE",
                   help="import MODULE (or a .py file) that registers its own stages; repeatable")
    p.add_argument("--no-progress", action="store_true", help="no progress bar")
    add_executor_options(p)
    p.set_defaults(run=run_table4_command)


def run_table4_command(args: argparse.Namespace) -> int:
    from semcom.table4 import run_table4, table4_config

    config = table4_config(snr_db=args.snr_db, channel=args.channel, cbr=args.cbr, images=args.images,
                           limit=args.limit, crop=args.crop, schemes=args.schemes, seed=args.seed,
                           captions=args.captions, captioner=args.captioner, generator=args.generator,
                           generator_model=args.generator_model, codec=args.codec, plugins=args.plugin,
                           device=args.device, dtype=args.dtype)
    report = run_table4(config, args.out, progress=not args.no_progress, option="--out", **executor_options(args))
    print(report["markdown"])
    print(f"written: {args.out}/table.md, table.csv, table.json, psnr_vs_bits.png, psnr_vs_snr.png "
          f"(item results: {report['results_folder']})")
    return 0
