"""Inference time of a JSCC checkpoint on Kodak images, with semcom.benchmark.

Times, per call of ``--batch`` images (the folder's first images of the first one's size, cropped
to whole 16-pixel blocks, a no-op on Kodak): the whole transmission (``model.transmit``: encoder,
analog channel, decoder) and each half on its own (the transmitter's encoder, the receiver's
decoder). Warm-up calls first (allocator, oneDNN kernel selection), then ``--repeats`` timed
calls; prints median, minimum and IQR.

    python experiments/bench_jscc.py [jscc-awgn-cbr1-16] [--images DIR] [--batch 1] [--snr-db 10]
                                     [--repeats 10] [--warmup 2] [--threads N] [--json]
"""

from __future__ import annotations

import argparse
import sys

import torch

from semcom.benchmark import Report, add_timing_arguments, format_stats, measure, positive_int, set_threads
from semcom.jscc import STRIDE, load_checkpoint
from semcom.files import default_data_dir
from semcom.jscc.data import load_images, to_float
from semcom.jscc.model import SNR_SCALE_DB


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("checkpoint", nargs="?", default="jscc-awgn-cbr1-16",
                        help="registered name or checkpoint folder (default jscc-awgn-cbr1-16)")
    parser.add_argument("--images", default=str(default_data_dir() / "kodak"), help="image folder (default Kodak)")
    parser.add_argument("--batch", type=positive_int, default=1, help="images per call (default 1)")
    parser.add_argument("--snr-db", type=float, default=10.0, help="SNR in dB (default 10)")
    add_timing_arguments(parser, repeats=10, warmup=2)
    args = parser.parse_args(argv)
    set_threads(args.threads)
    images = load_images(args.images)
    size = images[0].shape
    same = [im for im in images if im.shape == size][: args.batch]
    if len(same) < args.batch:
        parser.error(f"{args.images} has only {len(same)} images of size {tuple(size[1:])}; lower --batch")
    height, width = size[1] // STRIDE * STRIDE, size[2] // STRIDE * STRIDE  # whole blocks: the halves need no padding
    x = to_float(torch.stack(same)[..., :height, :width]).contiguous(memory_format=torch.channels_last)
    model = load_checkpoint(args.checkpoint).to(memory_format=torch.channels_last).eval()
    snr = torch.full((args.batch,), args.snr_db)
    gen = torch.Generator().manual_seed(0)
    with torch.no_grad():
        features = model.encode(x, snr)
        quality = torch.full((args.batch, features.shape[1] // 2, *features.shape[2:]), args.snr_db / SNR_SCALE_DB)
    report = Report(f"JSCC inference: {args.checkpoint} at {args.snr_db:g} dB",
                    {"images": args.images, "batch": args.batch, "size": [height, width], "repeats": args.repeats,
                     "warmup": args.warmup}, as_json=args.json)
    report.start()
    parts = {
        "transmit (encoder + channel + decoder)": lambda: model.transmit(x, snr, generator=gen),
        "encoder": lambda: model.encode(x, snr),
        "decoder": lambda: model.decode(features, quality, snr),
    }
    with torch.no_grad():
        for name, call in parts.items():
            stats = measure(call, repeats=args.repeats, warmup=args.warmup)
            per_image = stats.median * 1e3 / args.batch
            report.add({"kind": name.split()[0], "seconds_per_call": stats.to_dict(), "ms_per_image": per_image},
                       f"  {name:38s} {format_stats(stats)} per call, {per_image:.1f} ms per image")
    report.finish()
    return 0


if __name__ == "__main__":
    sys.exit(main())
