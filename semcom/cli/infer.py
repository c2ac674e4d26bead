"""``semcom train caption-lm``: train a GPT-2-architecture caption LM (collaborative inference's models)."""

from __future__ import annotations

import argparse

from semcom.cli.train import train_commands
from semcom.options import SEED, Integer, Real


def add_commands(subparsers: argparse._SubParsersAction) -> None:
    from semcom.semantic.corpus import default_data_dir

    parser = train_commands(subparsers).add_parser(
        "caption-lm", help="train a GPT-2-architecture caption LM (small or large) on Flickr8k captions",
        description="Train a word-level GPT-2-architecture caption LM on the Flickr8k training captions "
                    "(5% of images held out by hash) for about --minutes, and write model.safetensors + card.json.")
    parser.add_argument("--size", choices=("small", "large"), required=True)
    parser.add_argument("--out", required=True, help="checkpoint folder to write")
    parser.add_argument("--minutes", type=Real(0.0, 10_000.0, low_open=True).arg(), default=2.0)
    parser.add_argument("--data", default=str(default_data_dir()), help="shared data folder (holds flickr8k-captions/)")
    parser.add_argument("--batch", type=Integer(1, 65536).arg(), default=64)
    parser.add_argument("--lr", type=Real(0.0, 10.0, low_open=True).arg(), default=3e-3)
    parser.add_argument("--seed", type=SEED.arg(), default=0)
    parser.add_argument("--threads", type=Integer(1, 1024).arg(), default=1, help="torch CPU threads")
    parser.set_defaults(run=run_train)


def run_train(args: argparse.Namespace) -> int:
    import torch

    from semcom.files import output_folder
    from semcom.inference.lm import train_caption_lm

    torch.set_num_threads(args.threads)
    out = output_folder(args.out, "--out")
    train_caption_lm(args.size, minutes=args.minutes, out=out, data_dir=args.data, seed=args.seed,
                     batch=args.batch, lr=args.lr, log=lambda line: print(line, flush=True))
    return 0
