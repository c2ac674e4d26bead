"""Rate-distortion of the image codecs and the separation bound on a folder of images.

    .venv/bin/python experiments/codec_rd.py [--images DIR] [--limit N] [--codecs heif avif ...]
        [--bpp 0.1 0.2 0.4 0.6 1.0] [--cbr 1/16] [--snr 1 4 7 10 13] [--channel awgn|rayleigh]
        [--no-bound] [--json FILE]

For each codec: mean PSNR and mean bits per pixel when rate control fits each image into
``bpp x H x W`` bits (images where even the lowest quality does not fit are counted apart).
Then the separation bound: for each SNR, every image at its capacity budget
floor(CBR x H x W x 3 x C(SNR)) with the best codec per image; mean PSNR / SSIM, and how often
each codec won.

The default folder is BSDS500 val ($SEMCOM_DATA/bsds500/val, or ../shared/data/bsds500/val
beside the repository); without a data folder the scikit-image photographs are used.
"""

from __future__ import annotations

import argparse
import json
import os
import sys
import time
from collections import Counter
from pathlib import Path

import numpy as np

from semcom.errors import SemcomError
from semcom.images import default_images, list_images, load_image
from semcom.options import CBR
from semcom.source.bound import DEFAULT_BOUND_CODECS, channel_capacity, separation_bound
from semcom.source.codecs import CODECS, available_codecs
from semcom.source.rate_control import fit_to_budget


def default_data_root() -> Path:
    if os.environ.get("SEMCOM_DATA"):
        return Path(os.environ["SEMCOM_DATA"])
    return Path(__file__).resolve().parents[2] / "shared" / "data"


def _images(folder: str | None, limit: int | None) -> tuple[str, list[tuple[str, np.ndarray]]]:
    if folder is None:
        default = default_data_root() / "bsds500" / "val"
        if not default.is_dir():
            images = default_images()
            return "scikit-image photographs", images[:limit] if limit else images
        folder = str(default)
    files = list_images(folder)
    if limit:
        files = files[:limit]
    return folder, [(p.name, load_image(p)) for p in files]


def main(argv: list[str] | None = None) -> dict:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--images", default=None, help="image folder (default: BSDS500 val)")
    parser.add_argument("--limit", type=int, default=None, help="use the first N images (sorted by name)")
    parser.add_argument("--codecs", nargs="+", default=None, help=f"codecs (default: all available of {', '.join(CODECS.names())})")
    parser.add_argument("--bpp", nargs="+", type=float, default=[0.1, 0.2, 0.4, 0.6, 1.0], help="rates in bits per pixel")
    parser.add_argument("--cbr", type=CBR.arg(), default="1/16", help="channel bandwidth ratio for the bound (default 1/16)")
    parser.add_argument("--snr", nargs="+", type=float, default=[1, 4, 7, 10, 13], help="SNRs (dB) for the bound")
    parser.add_argument("--channel", choices=("awgn", "rayleigh"), default="awgn", help="capacity used for the bound")
    parser.add_argument("--no-rd", action="store_true", help="skip the per-codec RD table")
    parser.add_argument("--no-bound", action="store_true", help="skip the separation bound")
    parser.add_argument("--json", default=None, help="write the figures to this JSON file")
    args = parser.parse_args(argv)

    codecs = args.codecs or [c for c in DEFAULT_BOUND_CODECS if c in available_codecs()]
    source, images = _images(args.images, args.limit)
    print(f"images: {len(images)} from {source}")
    out: dict = {"images": source, "count": len(images), "codecs": {}, "bound": []}
    for name in codecs:
        out["codecs"][name] = {"settings": {k: str(v) for k, v in CODECS.create(name).settings.items()}}

    if not args.no_rd:
        print("\nPSNR (dB) / actual bpp at a bit budget of bpp x H x W (rate control, highest quality that fits)")
        print("codec   " + "".join(f"{b:>18.2f}" for b in args.bpp) + "   s/fit")
        for name in codecs:
            codec = CODECS.create(name)
            row, rd = [], []
            t0, fits = time.perf_counter(), 0
            for bpp in args.bpp:
                psnrs, rates, misses = [], [], 0
                for _, image in images:
                    r = fit_to_budget(codec, image, int(bpp * image.shape[0] * image.shape[1]))
                    fits += 1
                    if r.fits:
                        psnrs.append(r.psnr)
                        rates.append(r.bits / (image.shape[0] * image.shape[1]))
                    else:
                        misses += 1
                entry = {
                    "bpp_target": bpp,
                    "psnr": float(np.mean(psnrs)) if psnrs else None,
                    "bpp": float(np.mean(rates)) if rates else None,
                    "no_fit": misses,
                }
                rd.append(entry)
                cell = f"{entry['psnr']:.2f}/{entry['bpp']:.3f}" if psnrs else "no fit"
                cell += f"({misses} nf)" if misses and psnrs else ""
                row.append(f"{cell:>18s}")
            secs = (time.perf_counter() - t0) / max(fits, 1)
            print(f"{name:8s}" + "".join(row) + f"   {secs:.2f}")
            out["codecs"][name]["rd"] = rd

    if not args.no_bound:
        print(f"\nSeparation bound, CBR {CBR.fraction(args.cbr, '--cbr')}, {args.channel} capacity, codecs {', '.join(codecs)}")
        print(f"{'SNR dB':>7s} {'C b/use':>8s} {'bpp':>7s} {'PSNR':>7s} {'SSIM':>7s}  wins")
        for snr in args.snr:
            results = [separation_bound(image, args.cbr, snr, codecs=codecs, channel=args.channel) for _, image in images]
            wins = Counter(r.codec or "none" for r in results)
            entry = {
                "snr_db": snr,
                "capacity": channel_capacity(snr, args.channel),
                "budget_bpp": float(np.mean([r.budget_bits / (img.shape[0] * img.shape[1]) for r, (_, img) in zip(results, images)])),
                "psnr": float(np.mean([r.psnr for r in results])),
                "ssim": float(np.nanmean([r.ssim for r in results])),
                "wins": dict(wins),
                "per_image": {n: {"codec": r.codec, "psnr": r.psnr, "bits": r.bits, "budget": r.budget_bits} for (n, _), r in zip(images, results)},
            }
            out["bound"].append(entry)
            wins_text = ", ".join(f"{k} {v}" for k, v in wins.most_common())
            print(f"{snr:7.1f} {entry['capacity']:8.3f} {entry['budget_bpp']:7.3f} {entry['psnr']:7.2f} {entry['ssim']:7.4f}  {wins_text}")

    if args.json:
        Path(args.json).write_text(json.dumps(out, indent=1))
    return out


if __name__ == "__main__":
    try:
        main()
    except SemcomError as err:
        print(f"codec_rd: error: {err}", file=sys.stderr)
        sys.exit(2)
