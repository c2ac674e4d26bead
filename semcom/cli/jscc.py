"""``semcom train jscc``: the command line of :mod:`semcom.jscc.train`."""

from __future__ import annotations

import argparse
import shlex
import sys

from semcom.cli.parser import key_value
from semcom.cli.train import run_resumable, train_commands
from semcom.options import CBR, DATA_HELP, SEED, SNR_DB, Integer, Listed, Real

POSITIVE = Integer(1, None)
COUNT = Integer(0, None)
SHARE = Real(0.0, 1.0)
SNR_RANGE = Listed(SNR_DB, length=2)


def add_commands(subparsers) -> None:
    """Add ``train jscc`` to the ``semcom`` command's sub-parsers."""
    parser = train_commands(subparsers).add_parser(
        "jscc",
        help="train an SNR-adaptive deep JSCC image model",
        description="Train an SNR-adaptive deep JSCC image model (see semcom.jscc.train).",
    )
    parser.add_argument("--data", default=None,
                        help=f"folder of training images (default: bsds500/train in the shared data folder, {DATA_HELP})")
    parser.add_argument("--val", default=None,
                        help="folder of validation images ('' for none; default: bsds500/val in the shared data folder)")
    parser.add_argument("--cbr", type=CBR.arg(), default="1/16", help="channel bandwidth ratio, e.g. 1/16 or 0.0625")
    parser.add_argument("--channel", default="awgn", help="channel model: awgn, rayleigh, ...")
    parser.add_argument(
        "--channel-option", type=key_value, action="append", default=[], metavar="KEY=VALUE",
        help="channel option, repeatable (e.g. equalizer=mmse, block_length=64)",
    )
    parser.add_argument("--widths", type=Listed(POSITIVE).arg(), default=None, help="stage widths, e.g. 32,64,128,192")
    parser.add_argument("--blocks", type=Listed(COUNT).arg(), default=None,
                        help="residual blocks per stage, e.g. 0,1,2,2")
    parser.add_argument("--no-linear-skip", action="store_true", help="no linear 16x16-patch path (ablation)")
    parser.add_argument("--attn-blocks", type=COUNT.arg(), default=0,
                        help="window-attention blocks at 1/16 resolution in the encoder and the decoder (default 0)")
    parser.add_argument("--decoder-blocks", type=Listed(COUNT).arg(), default=None,
                        help="decoder residual blocks per stage when they differ from --blocks (default: as --blocks)")
    parser.add_argument("--steps", type=POSITIVE.arg(), default=None, help="training steps (schedule length)")
    parser.add_argument("--minutes", type=Real(0.0, None, low_open=True).arg(), default=None,
                        help="wall-clock budget; the schedule anneals to it")
    parser.add_argument("--batch", type=Integer(1, 4096).arg(), default=8, help="crops per training step")
    parser.add_argument("--crop", type=Integer(16, 16384).arg(), default=128, help="square crop side (multiple of 16)")
    parser.add_argument("--crop-final", type=Integer(16, 16384).arg(), default=None,
                        help="crop side of the final phase")
    parser.add_argument("--final-frac", type=SHARE.arg(), default=0.25, help="fraction of the run at --crop-final")
    parser.add_argument("--crops", type=Listed(Integer(16, 16384)).arg(), default=None,
                        help="mixed crop sides drawn per step, pixels per batch kept (default: --crop only)")
    parser.add_argument("--odd-frac", type=SHARE.arg(), default=0.0,
                        help="share of steps at sizes that are not multiples of 16 (default 0)")
    parser.add_argument("--ema", type=Real(0.0, 1.0, high_open=True).arg(), default=0.0,
                        help="decay of the weights' moving average that is validated and shipped (default 0: none)")
    parser.add_argument("--lr", type=Real(0.0, 10.0, low_open=True).arg(), default=2e-3, help="peak Adam learning rate")
    parser.add_argument("--min-lr-frac", type=SHARE.arg(), default=0.02, help="final LR as a fraction of --lr")
    parser.add_argument("--warmup", type=COUNT.arg(), default=200, help="linear warm-up steps")
    parser.add_argument("--decay-frac", type=Real(0.0, 1.0, low_open=True).arg(), default=1.0,
                        help="cosine decay over this last share of the run, peak rate before (default 1.0)")
    parser.add_argument("--grad-clip", type=Real(0.0, None).arg(), default=1.0, help="gradient-norm clip (0: none)")
    parser.add_argument("--loss", choices=("mse", "psnr"), default="mse",
                        help="mse, or psnr: the mean per-crop PSNR (each crop's MSE weighted by the batch "
                             "mean over its own) (default: mse)")
    parser.add_argument("--snr-range", type=SNR_RANGE.arg(), default=(0.0, 20.0),
                        help="training SNR range, dB (min,max)")
    parser.add_argument("--val-every", type=COUNT.arg(), default=250, help="steps between validations (0: none)")
    parser.add_argument("--val-images", type=POSITIVE.arg(), default=32, help="validation images used during training")
    parser.add_argument("--val-snrs", type=Listed(SNR_DB).arg(), default=(1.0, 10.0, 19.0),
                        help="validation SNRs in dB, comma-separated")
    parser.add_argument("--no-final-eval", action="store_true", help="skip the full-image validation at the end")
    parser.add_argument("--ckpt-every", type=COUNT.arg(), default=500, help="steps between checkpoints (0: at the end)")
    parser.add_argument("--init", default=None, help="checkpoint to start from (weights of matching shape)")
    parser.add_argument("--out", required=True, help="checkpoint folder (model.safetensors + config.json)")
    parser.add_argument("--state-dir", default=None, help="resume state and CSV log (default results/jscc/<out>)")
    parser.add_argument("--resume", action="store_true",
                        help="continue the run saved in --state-dir (without it, a saved run there is refused, "
                             "never overwritten)")
    parser.add_argument(
        "--stop-at-step", type=POSITIVE.arg(), default=None, help="pause (save state) at this step; --resume goes on"
    )
    parser.add_argument("--seed", type=SEED.arg(), default=0, help="random seed, 0 to 2**32-1")
    parser.add_argument("--threads", type=Integer(1, 1024).arg(), default=2, help="torch CPU threads")
    parser.add_argument("--device", default="cpu", help="cpu, cuda, cuda:N or mps (default cpu)")
    parser.add_argument("--amp", choices=("bfloat16", "float16"), default=None,
                        help="mixed precision: autocast to this dtype (default: none, float32)")
    parser.add_argument("--no-progress", action="store_true", help="no progress bar")
    parser.set_defaults(run=run_train, resume_hint="resume with the same command and --resume")


def run_train(args: argparse.Namespace) -> int:
    """Check the folders, hold the state folder's lock, and train; a stop signal ends it as an interrupt."""
    from semcom.files import default_data_dir
    from semcom.jscc.model import JSCCConfig
    from semcom.jscc.train import STATE_FILE, TrainOptions, train

    root = default_data_dir()
    opts = TrainOptions(
        data=args.data if args.data is not None else str(root / "bsds500" / "train"),
        val=(args.val if args.val is not None else str(root / "bsds500" / "val")) or None,
        out=args.out,
        cbr=str(CBR.fraction(args.cbr, "--cbr")),
        channel=args.channel,
        channel_options=dict(args.channel_option),
        widths=args.widths or JSCCConfig.widths,
        blocks=args.blocks or JSCCConfig.blocks,
        linear_skip=not args.no_linear_skip,
        attn_blocks=args.attn_blocks,
        decoder_blocks=args.decoder_blocks,
        steps=args.steps,
        minutes=args.minutes,
        batch=args.batch,
        crop=args.crop,
        crop_final=args.crop_final,
        final_frac=args.final_frac,
        crops=args.crops,
        odd_frac=args.odd_frac,
        ema=args.ema,
        lr=args.lr,
        min_lr_frac=args.min_lr_frac,
        decay_frac=args.decay_frac,
        warmup=args.warmup,
        grad_clip=args.grad_clip,
        loss=args.loss,
        snr_min=args.snr_range[0],
        snr_max=args.snr_range[1],
        val_every=args.val_every,
        val_images=args.val_images,
        val_snrs=args.val_snrs,
        final_eval=not args.no_final_eval,
        ckpt_every=args.ckpt_every,
        state_dir=args.state_dir,
        resume=args.resume,
        init=args.init,
        seed=args.seed,
        stop_at_step=args.stop_at_step,
        threads=args.threads,
        device=args.device,
        amp=args.amp,
        progress=not args.no_progress,
        command=shlex.join(["semcom", *sys.argv[1:]]) if sys.argv else None,
    )
    return run_resumable(opts, train, STATE_FILE)
