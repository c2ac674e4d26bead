"""``semcom transmit`` (one image) and ``semcom eval`` (a folder, several SNRs), shared by every scheme."""

from __future__ import annotations

import argparse
import inspect
import json
import sys
import time
from pathlib import Path

import numpy as np
import torch
from tqdm import tqdm

from channels import CHANNELS
from semcom import metrics
from semcom.errors import ConfigError
from semcom.files import atomic_path, output_file
from semcom.images import IMAGE_EXTENSIONS, default_images, list_images, load_image, save_image
from semcom.options import ARQ, CBR, LIMIT, MCS_INDEX, SCHEME_OPTIONS, SEED, SNR_DB, SNR_LIST
from semcom.provenance import provenance
from semcom.runner import load_plugins
from semcom.schemes import SCHEMES, Scheme, SchemeResult


def add_commands(subparsers: argparse._SubParsersAction) -> None:
    transmit = subparsers.add_parser("transmit", help="send one image with a scheme and save what arrives")
    transmit.add_argument("image", help="image file")
    transmit.add_argument("--snr-db", type=SNR_DB.arg(), default=10.0, help="Es/N0 in dB, -50 to 100 (default 10)")
    transmit.add_argument("--out", default=None,
                          help="where to save the reconstruction (.png, .jpg, ...); checked before the transmission")
    _scheme_options(transmit)
    transmit.set_defaults(run=run_transmit)

    evaluate = subparsers.add_parser("eval", help="mean PSNR/SSIM/MS-SSIM, bits and channel uses over images and SNRs")
    evaluate.add_argument("--images", default=None, help="image folder (default: the embedded scikit-image photos)")
    evaluate.add_argument("--limit", type=LIMIT.arg(), default=None, help="use the first N images")
    evaluate.add_argument("--snr-db", type=SNR_LIST.arg(), default=[1.0, 4.0, 7.0, 10.0, 13.0])
    _scheme_options(evaluate)
    evaluate.set_defaults(run=run_eval)


def _scheme_options(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("--scheme", default="separation", help=f"one of: {', '.join(SCHEMES.names())}")
    parser.add_argument("--channel", default="awgn", choices=CHANNELS.names())
    parser.add_argument("--cbr", type=CBR.arg(), default=1 / 16, help="channel bandwidth ratio, e.g. 1/16")
    parser.add_argument("--codec", default=None, help="image codec of the separation scheme (heif, avif, webp, jpeg)")
    parser.add_argument("--mcs", type=MCS_INDEX.arg(), default=None,
                        help="fixed MCS index 0-15 (default: link adaptation)")
    parser.add_argument("--arq", type=ARQ.arg(), default=None, help="retransmission rounds for lost code blocks (0-16)")
    parser.add_argument("--model", default=None, help="model name or checkpoint folder (learned schemes)")
    parser.add_argument("--seed", type=SEED.arg(), default=0, help="random seed, 0 to 2**32-1")
    parser.add_argument("--plugin", action="append", default=[], metavar="MODULE",
                        help="import MODULE (or a .py file) that registers its own stages; repeatable")
    gai = parser.add_argument_group("generative scheme (gai)")
    for flag, text in _GAI_OPTIONS:
        gai.add_argument(flag, type=SCHEME_OPTIONS[flag[2:].replace("-", "_")].arg(), default=None, help=text)
    parser.add_argument("--json", action="store_true", help="print one JSON object")


#: Options of the generative scheme: (flag, help); the scheme's parameter is the flag's name, and its type and
#: range are declared in :data:`semcom.options.SCHEME_OPTIONS` (shared with experiment configs).
_GAI_OPTIONS = (
    ("--captioner", "captioner: reference (with --captions), vit-gpt2, tiny-vit-gpt2"),
    ("--captions", "captions JSON of the reference captioner (e.g. kodak/captions.json)"),
    ("--captioner-model", "captioner hub id or local folder"),
    ("--keywords", "keyword extractor: yake, keybert, none"),
    ("--prompt-mode", "prompt: caption, caption+keywords, keywords"),
    ("--prompt-bits", "bit budget of the encoded prompt, header included (0: none, lossless caption)"),
    ("--text-codec", "prompt codec: neural (default), ngram, unigram"),
    ("--corpus", "folder holding flickr8k-captions (knowledge base of the ngram/unigram codecs)"),
    ("--side-info", "side information: none or thumbnail"),
    ("--side-bits", "bit budget of the thumbnail side information"),
    ("--generator", "generator: stable-diffusion, tiny-stable-diffusion, fallback"),
    ("--generator-model", "generator hub id or local diffusers folder"),
    ("--steps", "diffusion steps (1-1000)"),
    ("--guidance", "classifier-free guidance scale (0-100)"),
    ("--scheduler", "diffusion scheduler (ddim, euler, dpm++, ...)"),
    ("--strength", "img2img strength with side information, in (0, 1]"),
)


def build_scheme(args: argparse.Namespace) -> Scheme:
    """The scheme named by ``--scheme`` with the options it accepts among those given."""
    load_plugins(args.plugin)
    factory = SCHEMES.get(args.scheme)
    given = {"cbr": args.cbr, "channel": args.channel, "seed": args.seed, "codec": args.codec, "mcs": args.mcs,
             "arq": args.arq, "model": args.model}
    for flag, _ in _GAI_OPTIONS:
        key = flag[2:].replace("-", "_")
        given[key] = getattr(args, key, None)
    accepted = inspect.signature(factory).parameters
    options = {k: v for k, v in given.items() if v is not None and k in accepted}
    unused = [f"--{k.replace('_', '-')}" for k, v in given.items() if v is not None and k not in accepted and k not in ("seed", "channel", "cbr")]
    if unused:
        raise ConfigError(f"scheme {args.scheme!r} does not take {', '.join(unused)}")
    return SCHEMES.create(args.scheme, **options)


def image_quality(reference: np.ndarray, result: SchemeResult) -> dict:
    rec = result.reconstruction
    return {"psnr": metrics.psnr(reference, rec), "ssim": metrics.ssim(reference, rec),
            "ms_ssim": metrics.ms_ssim(reference, rec), "bpp": metrics.bits_per_pixel(result.bits, reference)}


def run_transmit(args: argparse.Namespace) -> int:
    out = output_file(args.out, "--out", IMAGE_EXTENSIONS) if args.out else None
    image = load_image(args.image)
    scheme = build_scheme(args)
    start = time.perf_counter()
    result = scheme.transmit(image, args.snr_db, generator=torch.Generator().manual_seed(args.seed))
    record = {"image": str(args.image), "snr_db": args.snr_db, **image_quality(image, result), "bits": result.bits,
              "coded_bits": result.coded_bits, "channel_uses": result.channel_uses, "failed": result.failed,
              "details": result.details, "seconds": round(time.perf_counter() - start, 3)}
    if out is not None:
        with atomic_path(out) as tmp:
            save_image(tmp, result.reconstruction)
        record["out"] = str(out)
    if args.json:
        json.dump({"result": _jsonable(record), "config": scheme.describe(), "meta": provenance(args.seed)},
                  sys.stdout, indent=1)
        print()
    else:
        status = "FAILED (fallback image)" if result.failed else "ok"
        print(f"{args.scheme} {args.image} at {args.snr_db} dB: {status}")
        print(f"  PSNR {record['psnr']:.2f} dB  SSIM {record['ssim']:.4f}  MS-SSIM {record['ms_ssim']:.4f}")
        print(f"  bits {result.bits} ({record['bpp']:.4f} bpp), coded bits {result.coded_bits}, "
              f"channel uses {result.channel_uses}")
        for key, value in result.details.items():
            print(f"  {key}: {value}")
        if out is not None:
            print(f"  saved {record['out']}")
    return 0


def load_image_set(folder: str | None, limit: int | None) -> list[tuple[str, np.ndarray]]:
    """(name, image) pairs from ``folder``, or the embedded default photographs."""
    if limit is not None:
        LIMIT.check(limit, "--limit")
    if folder is None:
        images = default_images()
        return images[:limit] if limit else images
    paths = list_images(folder)
    paths = paths[:limit] if limit else paths
    return [(p.name, load_image(p)) for p in paths]


def evaluate(scheme: Scheme, images: list[tuple[str, np.ndarray]], snrs: list[float], seed: int = 0,
             progress: bool = True) -> tuple[list[dict], list[dict]]:
    """Per-image records and one summary record per SNR (means over images)."""
    records, summary = [], []
    bar = tqdm(total=len(images) * len(snrs), desc=scheme.name, disable=not progress, file=sys.stderr)
    for snr in snrs:
        rows, metric_keys = [], set()
        for index, (name, image) in enumerate(images):
            gen = torch.Generator().manual_seed(seed * 1_000_003 + index)
            start = time.perf_counter()
            result = scheme.transmit(image, snr, generator=gen)
            row = {"image": name, "snr_db": snr, **image_quality(image, result), **result.metrics, "bits": result.bits,
                   "coded_bits": result.coded_bits, "channel_uses": result.channel_uses, "failed": result.failed,
                   "seconds": round(time.perf_counter() - start, 3), "details": result.details}
            metric_keys |= result.metrics.keys()
            rows.append(row)
            bar.update(1)
            bar.set_postfix(snr=snr, psnr=f"{np.mean([r['psnr'] for r in rows]):.2f}")
        records.extend(rows)
        summary.append({
            "snr_db": snr, "psnr": _mean(rows, "psnr"), "ssim": _mean(rows, "ssim"), "ms_ssim": _mean(rows, "ms_ssim"),
            "bits": _mean(rows, "bits"), "bpp": _mean(rows, "bpp"), "channel_uses": _mean(rows, "channel_uses"),
            **{key: _mean([r for r in rows if key in r], key) for key in sorted(metric_keys)},
            "failures": sum(r["failed"] for r in rows), "images": len(rows),
        })
    bar.close()
    return records, summary


def _mean(rows: list[dict], key: str) -> float:
    return float(np.mean([r[key] for r in rows]))


def run_eval(args: argparse.Namespace) -> int:
    scheme = build_scheme(args)
    images = load_image_set(args.images, args.limit)
    start = time.perf_counter()
    records, summary = evaluate(scheme, images, args.snr_db, seed=args.seed, progress=not args.json)
    seconds = round(time.perf_counter() - start, 1)
    config = {**scheme.describe(), "images": args.images or "embedded", "num_images": len(images),
              "snr_db": args.snr_db}
    if args.json:
        json.dump(_jsonable({"summary": summary, "images": records, "config": config, "seconds": seconds,
                             "meta": provenance(args.seed)}), sys.stdout, indent=1)
        print()
        return 0
    print(f"{args.scheme}: {json.dumps(scheme.describe())} on {len(images)} images ({seconds} s)")
    print(f"{'SNR dB':>6} {'PSNR':>7} {'SSIM':>7} {'MS-SSIM':>8} {'bits':>10} {'bpp':>7} {'uses':>9} {'failures':>8}")
    for s in summary:
        print(f"{s['snr_db']:6.1f} {s['psnr']:7.2f} {s['ssim']:7.4f} {s['ms_ssim']:8.4f} {s['bits']:10.0f} "
              f"{s['bpp']:7.4f} {s['channel_uses']:9.0f} {s['failures']:5d}/{s['images']}")
    return 0


def _jsonable(value):
    if isinstance(value, dict):
        return {str(k): _jsonable(v) for k, v in value.items()}
    if isinstance(value, (list, tuple)):
        return [_jsonable(v) for v in value]
    if isinstance(value, (np.floating, np.integer)):
        return value.item()
    if isinstance(value, Path):
        return str(value)
    return value
