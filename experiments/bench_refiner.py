"""The side-information refiner against bicubic upsampling, HEIF and the best codec, at the same bits.

    .venv/bin/python experiments/bench_refiner.py [--images DIR] [--limit N] [--bits 500,1000,2000,4000,8000]
        [--scales 6,8,10,12,16] [--codec avif] [--refiner NAME_OR_DIR] [--prompt-bits 100] [--json FILE] [--plot FILE]

For each total budget B (bits per image: a ``--prompt-bits`` prompt plus side information) and
each image: the thumbnail coded within B - prompt bits at whichever of the ``--scales`` (1/s of the
image size; default: those of Table 4's generative+side row) decodes closest to the image, decoded and
upsampled bicubically (what the receiver gets without a model), then refined by the refiner
trained here; beside them, HEIF at the full size within B bits (the traditional row's source
coder: what HEIF + LDPC delivers when the link carries B bits) and the best codec of the
separation bound's set at the full size within B bits. A codec whose lowest quality does not fit
is counted apart and its PSNR left out of its mean. Prints one row per budget; ``--plot`` draws
PSNR vs bits. Selection uses BSDS500 val (the default); Kodak is for reporting.
"""

from __future__ import annotations

import argparse
import json
import sys
import time
from pathlib import Path

import numpy as np
import torch

from semcom.files import jsonable
from semcom.generative.refiner_checkpoint import DEFAULT_REFINER, load_refiner, read_refiner_card
from semcom.generative.side_info import ThumbnailSideInfo
from semcom.images import list_images, load_image
from semcom.files import default_data_dir
from semcom.metrics import psnr
from semcom.provenance import provenance
from semcom.source.bound import DEFAULT_BOUND_CODECS
from semcom.source.rate_control import fit_to_budget
from semcom.table4 import SIDE_ROW


def refine(model, up: np.ndarray) -> np.ndarray:
    x = torch.from_numpy(np.array(up)).permute(2, 0, 1)[None].float().div(255.0)
    with torch.no_grad():
        out = model(x)[0].permute(1, 2, 0).mul(255.0).round().clamp(0, 255)
    return out.to(torch.uint8).numpy()


def _mean(values: list[float]) -> float | None:
    return float(np.mean(values)) if values else None


def side_info_parser(description: str) -> argparse.ArgumentParser:
    """A parser with the arguments every side-information benchmark takes: the image folder and how many of
    its images, the refiner, torch's threads and the JSON output."""
    parser = argparse.ArgumentParser(description=description, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--images", default=str(default_data_dir() / "bsds500" / "val"),
                        help="image folder (default: BSDS500 val)")
    parser.add_argument("--limit", type=int, default=None, help="use the first N images (sorted by name)")
    parser.add_argument("--refiner", default=DEFAULT_REFINER, help="refiner name or checkpoint folder")
    parser.add_argument("--threads", type=int, default=2, help="torch CPU threads")
    parser.add_argument("--json", default=None, help="also write the figures to this JSON file")
    return parser


def main(argv: list[str] | None = None) -> dict:
    parser = side_info_parser(__doc__)
    parser.add_argument("--bits", default="500,1000,2000,4000,8000", help="total bits per image, comma-separated")
    parser.add_argument("--prompt-bits", type=int, default=100, help="bits kept for the prompt within each budget")
    parser.add_argument("--scales", default=",".join(map(str, SIDE_ROW["thumb_scale"])),
                        help="thumbnail scales 1/s to choose from per image, comma-separated")
    parser.add_argument("--codec", default="avif", help="thumbnail codec")
    parser.add_argument("--no-codecs", action="store_true", help="skip HEIF and the best codec at full size")
    parser.add_argument("--plot", default=None, help="draw PSNR vs bits into this PNG")
    args = parser.parse_args(argv)
    budgets = [int(b) for b in args.bits.split(",") if b.strip()]
    if not budgets or min(budgets) <= args.prompt_bits:
        parser.error(f"every budget in --bits must exceed --prompt-bits ({args.prompt_bits})")
    torch.set_num_threads(args.threads)
    files = list_images(args.images)[: args.limit]
    images = [(p.name, load_image(p)) for p in files]
    model = load_refiner(args.refiner)
    card = read_refiner_card(args.refiner)
    print(f"{len(images)} images from {args.images}; refiner {args.refiner} "
          f"({card['training'].get('steps_done')} steps, {card['training'].get('elapsed_s')} s of training)",
          file=sys.stderr)
    rows, seconds = [], []
    for budget in budgets:
        side = ThumbnailSideInfo(max_bits=budget - args.prompt_bits, codec=args.codec,
                                 scale=[int(v) for v in args.scales.split(",") if v.strip()])
        got = {"bicubic": [], "refiner": [], "heif": [], "best_codec": []}
        side_bits, misses = [], {"thumbnail": 0, "heif": 0, "best_codec": 0}
        for _, image in images:
            enc = side.encode(image)
            if enc.data is None:
                misses["thumbnail"] += 1
            else:
                up = side.decode(enc.data, image.shape[:2], enc.thumb_shape)
                start = time.perf_counter()
                refined = refine(model, up)
                seconds.append(time.perf_counter() - start)
                got["bicubic"].append(psnr(image, up))
                got["refiner"].append(psnr(image, refined))
                side_bits.append(enc.bits)
            if args.no_codecs:
                continue
            best = None
            for codec in DEFAULT_BOUND_CODECS:
                fit = fit_to_budget(codec, image, budget, decode=True)
                if fit.fits:
                    best = max(best or -1.0, fit.psnr)
                    if codec == "heif":
                        got["heif"].append(fit.psnr)
                elif codec == "heif":
                    misses["heif"] += 1
            if best is None:
                misses["best_codec"] += 1
            else:
                got["best_codec"].append(best)
        row = {"bits": budget, "side_bits_mean": _mean(side_bits), "misses": misses,
               **{f"{k}_psnr": _mean(v) for k, v in got.items()}}
        if row["refiner_psnr"] is not None:
            row["gain_db"] = row["refiner_psnr"] - row["bicubic_psnr"]
        rows.append(row)
        fmt = lambda v: "   -  " if v is None else f"{v:6.2f}"  # noqa: E731
        print(f"{budget:6d} bits (side {fmt(row['side_bits_mean'])[:-3]:>6}): bicubic {fmt(row['bicubic_psnr'])}  "
              f"refiner {fmt(row['refiner_psnr'])}  gain {fmt(row.get('gain_db'))}  heif {fmt(row['heif_psnr'])}  "
              f"best codec {fmt(row['best_codec_psnr'])}  misses {misses}", flush=True)
    report = {"images": args.images, "count": len(images), "settings": vars(args), "refiner_card": card,
              "rows": rows, "refiner_seconds_per_image": _mean(seconds), "meta": provenance(None)}
    if args.json:
        Path(args.json).write_text(json.dumps(jsonable(report), indent=1) + "\n")
    if args.plot:
        plot(rows, Path(args.plot), args.images)
    return report


def plot(rows: list[dict], out: Path, images: str) -> None:
    import matplotlib

    matplotlib.use("Agg", force=False)
    import matplotlib.pyplot as plt

    fig, ax = plt.subplots(figsize=(6.4, 4.4))
    for key, label in (("refiner_psnr", "thumbnail + refiner (trained here)"),
                       ("bicubic_psnr", "thumbnail + bicubic"), ("heif_psnr", "HEIF at full size (HEIF + LDPC)"),
                       ("best_codec_psnr", "best codec at full size (separation bound's codec)")):
        pts = [(r["bits"], r[key]) for r in rows if r[key] is not None]
        if pts:
            ax.plot(*zip(*pts), "o-", label=label)
    ax.set_xscale("log")
    ax.set_xlabel("bits per image (prompt + side information; codecs: the whole budget)")
    ax.set_ylabel("PSNR (dB)")
    ax.set_title(f"PSNR vs bits on {Path(images).name}", fontsize=9)
    ax.grid(True, which="both", alpha=0.3)
    ax.legend(fontsize=7)
    fig.tight_layout()
    fig.savefig(out, dpi=120)
    plt.close(fig)


if __name__ == "__main__":
    main()
