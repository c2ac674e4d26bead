"""``semcom train refiner``: the command line of :mod:`semcom.generative.refiner_train`."""

from __future__ import annotations

import argparse
import shlex
import sys

from semcom.cli.train import run_resumable, train_commands
from semcom.options import DATA_HELP, SEED, Integer, Listed, Real

POSITIVE = Integer(1, None)
COUNT = Integer(0, None)


def add_commands(subparsers) -> None:
    """Add ``train refiner`` to the ``semcom`` command's sub-parsers."""
    parser = train_commands(subparsers).add_parser(
        "refiner",
        help="train the side-information refiner (the offline generator of the generative+side row)",
        description="Train the refiner that turns the bicubic upsampling of a decoded thumbnail into the image "
                    "(see semcom.generative.refiner_train). Interrupt it at any time; --resume continues the schedule.",
        formatter_class=argparse.ArgumentDefaultsHelpFormatter,
    )
    parser.add_argument("--data", default=None,
                        help=f"folder of training images (default: bsds500/train in the shared data folder, {DATA_HELP})")
    parser.add_argument("--val", default=None,
                        help="folder of validation images ('' for none; default: bsds500/val in the shared data folder)")
    parser.add_argument("--scale", type=Integer(2, 64).arg(), default=8, help="thumbnail scale (8: 1/8 of the image)")
    parser.add_argument("--codec", default="avif", help="thumbnail codec")
    parser.add_argument("--bpps", type=Listed(Real(0.0, 24.0, low_open=True)).arg(), default=(0.1, 0.2, 0.3, 0.45, 0.7, 1.2),
                        help="thumbnail budgets, bits per thumbnail pixel")
    parser.add_argument("--val-bpp", type=Real(0.0, 24.0, low_open=True).arg(), default=0.3,
                        help="thumbnail budget of the validation images")
    parser.add_argument("--widths", type=Listed(POSITIVE, length=3).arg(), default=None,
                        help="channels at 1/4, 1/8, 1/16 of the image size, e.g. 48,64,96")
    parser.add_argument("--blocks", type=Listed(COUNT, length=3).arg(), default=None,
                        help="residual blocks per level, e.g. 2,2,4")
    parser.add_argument("--steps", type=POSITIVE.arg(), default=None, help="training steps (schedule length)")
    parser.add_argument("--minutes", type=Real(0.0, None, low_open=True).arg(), default=None,
                        help="wall-clock budget; the schedule anneals to it")
    parser.add_argument("--batch", type=Integer(1, 4096).arg(), default=16, help="crops per training step")
    parser.add_argument("--crop", type=Integer(16, 16384).arg(), default=96, help="square crop side (multiple of 16)")
    parser.add_argument("--lr", type=Real(0.0, 10.0, low_open=True).arg(), default=5e-4, help="peak Adam learning rate")
    parser.add_argument("--warmup", type=COUNT.arg(), default=200, help="linear warm-up steps")
    parser.add_argument("--val-every", type=COUNT.arg(), default=250, help="steps between validations (0: none)")
    parser.add_argument("--val-images", type=POSITIVE.arg(), default=25, help="validation images")
    parser.add_argument("--ckpt-every", type=COUNT.arg(), default=100, help="steps between checkpoints (0: at the end)")
    parser.add_argument("--out", required=True, help="checkpoint folder (model.safetensors + config.json)")
    parser.add_argument("--state-dir", default=None, help="resume state and CSV log (default results/refiner/<out>)")
    parser.add_argument("--resume", action="store_true",
                        help="continue the run saved in --state-dir (without it, a saved run there is refused)")
    parser.add_argument("--stop-at-step", type=POSITIVE.arg(), default=None,
                        help="pause (save state) at this step; --resume goes on")
    parser.add_argument("--seed", type=SEED.arg(), default=0, help="random seed, 0 to 2**32-1")
    parser.add_argument("--threads", type=Integer(1, 1024).arg(), default=2, help="torch CPU threads")
    parser.add_argument("--no-progress", action="store_true", help="no progress bar")
    parser.set_defaults(run=run_train_refiner, resume_hint="resume with the same command and --resume")


def run_train_refiner(args: argparse.Namespace) -> int:
    """Check the folders, hold the state folder's lock, and train; a stop signal ends it as an interrupt."""
    from semcom.files import default_data_dir
    from semcom.generative.refiner import RefinerConfig
    from semcom.generative.refiner_train import STATE_FILE, RefinerTrainOptions, train_refiner

    opts = RefinerTrainOptions(
        data=args.data if args.data is not None else str(default_data_dir() / "bsds500" / "train"),
        val=(args.val if args.val is not None else str(default_data_dir() / "bsds500" / "val")) or None, out=args.out, scale=args.scale, codec=args.codec,
        bpps=tuple(args.bpps), val_bpp=args.val_bpp, widths=tuple(args.widths or RefinerConfig.widths),
        blocks=tuple(args.blocks or RefinerConfig.blocks), steps=args.steps, minutes=args.minutes,
        batch=args.batch, crop=args.crop, lr=args.lr, warmup=args.warmup, val_every=args.val_every,
        val_images=args.val_images, ckpt_every=args.ckpt_every, state_dir=args.state_dir, resume=args.resume,
        seed=args.seed, threads=args.threads, stop_at_step=args.stop_at_step, progress=not args.no_progress,
        command=shlex.join(["semcom", *sys.argv[1:]]) if sys.argv else None,
    )
    return run_resumable(opts, train_refiner, STATE_FILE)
