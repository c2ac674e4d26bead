"""How far thumbnail side information can carry a reconstruction at a fixed bit budget, measured.

    .venv/bin/python experiments/side_info_ceiling.py [--images DIR] [--limit N] [--bits 2000]
        [--prompt-bits 100] [--scales 6,8,10,12,16] [--speeds 6,0] [--target-db 22.5]
        [--curve-bits 1000,2000,4000,8000,16000] [--refiner NAME_OR_DIR] [--json FILE]

For every image and every thumbnail scale 1/s, the receiver's reconstruction (bicubic upsampling,
then the refiner trained here) is measured three ways:

* ``free``: the thumbnail itself, uncoded (no bits counted): the most that scale can give
  whatever codec carries it;
* ``coded``: the thumbnail coded with AVIF (each ``--speeds`` setting of libaom) at the highest
  quality within ``--bits`` minus ``--prompt-bits``, as :class:`ThumbnailSideInfo` sends it;
* ``best scale``: per image, the scale whose coded thumbnail gives the best refined image (the
  transmitter can run the receiver's refiner, so this choice is open to it).

Then the coded 1/8 thumbnail over ``--curve-bits`` shows how many bits bicubic upsampling and the
refiner need to reach ``--target-db``. Selection uses BSDS500 val (the default: pass ``--bits``
scaled to its 481 x 321 images, e.g. 785 for Kodak's 2,000); Kodak is for reporting.
"""

from __future__ import annotations

import json
import sys
import time
from pathlib import Path

import numpy as np
import torch

from semcom.files import jsonable
from semcom.generative.refiner_checkpoint import load_refiner, read_refiner_card
from semcom.generative.side_info import ThumbnailSideInfo, resize
from semcom.images import list_images, load_image
from semcom.metrics import psnr
from semcom.provenance import provenance
from semcom.source.codecs import get_codec

sys.path.insert(0, str(Path(__file__).resolve().parent))
from bench_refiner import refine, side_info_parser  # noqa: E402


def _ints(text: str) -> list[int]:
    return [int(v) for v in text.split(",") if v.strip()]


def measure(image: np.ndarray, thumbnail: np.ndarray | None, model) -> tuple[float, float] | None:
    """(bicubic PSNR, refined PSNR) of the receiver given a decoded thumbnail (None: nothing fits)."""
    if thumbnail is None:
        return None
    up = resize(thumbnail, image.shape[:2])
    return psnr(image, up), psnr(image, refine(model, up))


def coded_thumbnail(image: np.ndarray, scale: int, max_bits: int, codec) -> tuple[np.ndarray | None, int]:
    """The thumbnail at 1/scale as the receiver decodes it from at most ``max_bits`` bits, and its bits."""
    side = ThumbnailSideInfo(max_bits=max_bits, codec=codec, scale=scale)
    enc = side.encode(image)
    if enc.data is None:
        return None, 0
    return side.codec.decode(enc.data, (*enc.thumb_shape, 3)), enc.bits


def bits_to_reach(curve: list[tuple[int, float]], target: float) -> float | None:
    """Bits at which a PSNR-vs-bits curve reaches ``target`` (log-linear between measured points)."""
    for (b0, p0), (b1, p1) in zip(curve, curve[1:]):
        if p0 < target <= p1:
            return float(np.exp(np.log(b0) + (target - p0) / (p1 - p0) * (np.log(b1) - np.log(b0))))
    if curve and curve[0][1] >= target:
        return float(curve[0][0])
    return None


def _mean(pairs: list, index: int) -> float | None:
    values = [p[index] for p in pairs if p is not None]
    return float(np.mean(values)) if values else None


def main(argv: list[str] | None = None) -> dict:
    parser = side_info_parser(__doc__)
    parser.add_argument("--bits", type=int, default=785, help="total bits per image (prompt + thumbnail)")
    parser.add_argument("--prompt-bits", type=int, default=100, help="bits kept for the prompt within --bits")
    parser.add_argument("--scales", default="6,8,10,12,16", help="thumbnail scales 1/s, comma-separated")
    parser.add_argument("--speeds", default="6,0", help="libaom speeds of the AVIF thumbnail, comma-separated")
    parser.add_argument("--target-db", type=float, default=22.5, help="PSNR whose bit cost is measured")
    parser.add_argument("--curve-bits", default="", help="total budgets of the 1/8 curve (default: --bits x 1/2..8)")
    args = parser.parse_args(argv)
    scales, speeds = _ints(args.scales), _ints(args.speeds)
    curve_bits = _ints(args.curve_bits) or [args.bits * f // 2 for f in (1, 2, 4, 8, 16)]
    if args.bits <= args.prompt_bits or min(curve_bits) <= args.prompt_bits:
        parser.error(f"every budget must exceed --prompt-bits ({args.prompt_bits})")
    if not scales or min(scales) < 1 or not speeds:
        parser.error("--scales needs whole factors >= 1 and --speeds at least one speed")
    torch.set_num_threads(args.threads)
    images = [load_image(p) for p in list_images(args.images)[: args.limit]]
    model = load_refiner(args.refiner).float()
    side_bits = args.bits - args.prompt_bits
    start = time.perf_counter()
    print(f"{len(images)} images from {args.images}; {args.bits} bits per image ({side_bits} for the thumbnail); "
          f"refiner {args.refiner}", file=sys.stderr)

    rows = []

    def report(label: str, results: list, bits: list[int] | None = None) -> dict:
        row = {"setting": label, "bicubic_psnr": _mean(results, 0), "refiner_psnr": _mean(results, 1),
               "misses": sum(r is None for r in results), "bits_mean": float(np.mean(bits)) if bits else 0.0}
        rows.append(row)
        fmt = lambda v: "   -  " if v is None else f"{v:6.2f}"  # noqa: E731
        print(f"{label:34s} bits {row['bits_mean']:7.0f}  bicubic {fmt(row['bicubic_psnr'])}  "
              f"refiner {fmt(row['refiner_psnr'])}  misses {row['misses']}", flush=True)
        return row

    for scale in scales:
        report(f"free 1/{scale} (uncoded, 0 bits counted)",
               [measure(im, resize(im, ThumbnailSideInfo(scale=scale).thumb_shape(*im.shape[:2])), model)
                for im in images])
    for speed in speeds:
        codec = get_codec("avif", speed=speed)
        per_image = []  # [scale][image] -> (bicubic, refined, bits) or None
        for scale in scales:
            column = []
            for im in images:
                thumb, used = coded_thumbnail(im, scale, side_bits, codec)
                pair = measure(im, thumb, model)
                column.append(None if pair is None else (*pair, used))
            per_image.append(column)
            report(f"coded 1/{scale}, avif speed {speed}", column, [r[2] for r in column if r is not None])
        best = []
        for i in range(len(images)):
            options = [column[i] for column in per_image if column[i] is not None]
            best.append(max(options, key=lambda r: r[1]) if options else None)
        report(f"best scale per image, avif speed {speed}", best, [r[2] for r in best if r is not None])

    curve = {"bicubic": [], "refiner": []}
    codec = get_codec("avif", speed=speeds[0])
    for total in curve_bits:
        coded = [coded_thumbnail(im, 8, total - args.prompt_bits, codec) for im in images]
        results = [measure(im, thumb, model) for im, (thumb, _) in zip(images, coded)]
        row = report(f"coded 1/8 at {total} bits, speed {speeds[0]}", results, [b for t, b in coded if t is not None])
        if not row["misses"]:
            curve["bicubic"].append((total, row["bicubic_psnr"]))
            curve["refiner"].append((total, row["refiner_psnr"]))
    reach = {k: bits_to_reach(v, args.target_db) for k, v in curve.items()}
    for k, v in reach.items():
        print(f"bits for {args.target_db} dB with {k}: {'not reached' if v is None else f'{v:.0f}'}")
    report_ = {"images": args.images, "count": len(images), "settings": vars(args),
               "refiner_card": read_refiner_card(args.refiner), "rows": rows, "bits_to_target": reach,
               "seconds": time.perf_counter() - start, "meta": provenance(None)}
    if args.json:
        Path(args.json).write_text(json.dumps(jsonable(report_), indent=1) + "\n")
    return report_


if __name__ == "__main__":
    main()
