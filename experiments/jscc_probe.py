"""Width against depth (and window attention) for the JSCC model: short from-scratch probes.

    .venv/bin/python experiments/jscc_probe.py [--steps 400] [--arms base,wide,deep,attn]
        [--out results/jscc_probe] [--json FILE]

Each arm trains an AWGN CBR 1/16 model from scratch with the shipped recipe (batch 8, 128 px crops,
lr 2e-3 with a cosine decay, the same seed: the same crops and noise for every arm) for ``--steps``
steps on BSDS500 train, and is validated on 32 centre crops (256 px) of BSDS500 val at 1, 10 and
19 dB. It prints parameters, FLOPs per pixel, seconds per step and the validation
PSNR of each arm: what a wider or a deeper model buys per step and what it costs per step. The arms
run one after the other, so a machine shared with other work slows them alike. Short probes rank
how fast the arms learn, not where they end: a long run is what tells the final figure.
"""

from __future__ import annotations

import argparse
import json
from pathlib import Path

from semcom.files import default_data_dir, jsonable
from semcom.inference.profiles import jscc_profile
from semcom.jscc.model import JSCCModel, count_parameters
from semcom.jscc.train import TrainOptions, train
from semcom.provenance import provenance

#: widths and blocks of the four stages (1/2 .. 1/16 of the image size); "base" is the shipped model.
ARMS = {
    "base": {"widths": (32, 64, 128, 192), "blocks": (0, 1, 2, 2)},
    "wide": {"widths": (48, 96, 192, 288), "blocks": (0, 1, 2, 2)},
    "deep": {"widths": (32, 64, 128, 192), "blocks": (0, 2, 4, 4)},
    "attn": {"widths": (32, 64, 128, 192), "blocks": (0, 1, 2, 2), "attn_blocks": 2},
}


def flops_per_pixel(model: JSCCModel, size: int = 128) -> float:
    """FLOPs per pixel of one pass through the model (torch's FlopCounterMode, as the split planner counts them)."""
    profile = jscc_profile(model, height=size, width=size)
    return sum(layer.flops for layer in profile.layers) / size**2


def main(argv: list[str] | None = None) -> dict:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--data", default=str(default_data_dir()), help="shared data folder (bsds500/train, val)")
    parser.add_argument("--steps", type=int, default=400, help="training steps per arm")
    parser.add_argument("--arms", default=",".join(ARMS), help=f"arms to run, of {', '.join(ARMS)}")
    parser.add_argument("--out", default="results/jscc_probe", help="folder of the arms' checkpoints and states")
    parser.add_argument("--seed", type=int, default=20, help="seed of every arm (crops, noise, weights)")
    parser.add_argument("--json", default=None, help="also write the figures to this JSON file")
    args = parser.parse_args(argv)
    arms = [a for a in args.arms.split(",") if a]
    unknown = [a for a in arms if a not in ARMS]
    if unknown or not arms:
        parser.error(f"unknown arms {unknown}; known: {', '.join(ARMS)}")
    rows = []
    for arm in arms:
        opts = TrainOptions(data=str(Path(args.data) / "bsds500" / "train"), val=str(Path(args.data) / "bsds500" / "val"),
                            out=str(Path(args.out) / arm), state_dir=str(Path(args.out) / arm / "state"),
                            steps=args.steps, warmup=100, val_every=0, ckpt_every=0, final_eval=False,
                            progress=False, seed=args.seed, **ARMS[arm])
        summary = train(opts)
        model = JSCCModel(opts.model_config())
        row = {"arm": arm, **{k: list(v) if isinstance(v, tuple) else v for k, v in ARMS[arm].items()},
               "parameters_m": count_parameters(model) / 1e6, "kflop_per_pixel": flops_per_pixel(model) / 1e3,
               "steps": summary["steps"], "s_per_step": summary["elapsed_s"] / max(summary["steps"], 1),
               "val_psnr_db": summary["metrics"]["val_crops"]}
        rows.append(row)
        psnrs = "  ".join(f"{snr:g} dB {v:.2f}" for snr, v in row["val_psnr_db"].items())
        print(f"{arm:5s} {row['parameters_m']:5.2f} M params  {row['kflop_per_pixel']:6.1f} kFLOP/px  "
              f"{row['s_per_step']:.2f} s/step  val {psnrs}", flush=True)
    report = {"settings": vars(args), "arms": rows, "meta": provenance(None)}
    if args.json:
        Path(args.json).write_text(json.dumps(jsonable(report), indent=1) + "\n")
    return report


if __name__ == "__main__":
    main()
