"""``semcom transmit`` (one image) and ``semcom eval`` (a folder, several SNRs): a one-scheme config run by the
experiment engine (:mod:`semcom.runner`), like ``semcom run`` and ``semcom table4``."""

from __future__ import annotations

import argparse
import inspect
import json
import sys
import time
from pathlib import Path

from channels import CHANNELS
from semcom.cli.run import add_executor_options, executor_options
from semcom.errors import ConfigError
from semcom.files import atomic_path, jsonable, output_file
from semcom.images import IMAGE_EXTENSIONS, load_image, save_image
from semcom.options import ARQ, CBR, LIMIT, MCS_INDEX, SCHEME_OPTIONS, SEED, SNR_DB, SNR_LIST
from semcom.provenance import provenance
from semcom.schemes import SCHEMES


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
    evaluate.add_argument("--out", default=None,
                          help="results folder: every item is kept there as it finishes, and the same command "
                               "resumes an interrupted evaluation (default: nothing written)")
    _scheme_options(evaluate)
    add_executor_options(evaluate)
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
    gai.add_argument("--edges", action="store_const", const=True, default=None,
                     help="also send a losslessly coded Canny edge map that conditions a ControlNet")
    for flag, text in _GAI_OPTIONS:
        gai.add_argument(flag, type=SCHEME_OPTIONS[flag[2:].replace("-", "_")].arg(), default=None, help=text)
    parser.add_argument("--json", action="store_true", help="print one JSON object")


#: Options of the generative scheme: (flag, help); the scheme's parameter is the flag's name, and its type and
#: range are declared in :data:`semcom.options.SCHEME_OPTIONS` (shared with experiment configs).
_GAI_OPTIONS = (
    ("--captioner", "captioner: reference (with --captions), vit-gpt2, or a plugin's (tiny-vit-gpt2 with "
                    "--plugin semcom.testing)"),
    ("--captions", "captions JSON of the reference captioner (e.g. kodak/captions.json)"),
    ("--captioner-model", "captioner hub id or local folder"),
    ("--keywords", "keyword extractor: yake, keybert, none"),
    ("--prompt-mode", "prompt: caption, caption+keywords, keywords"),
    ("--prompt-bits", "bit budget of the encoded prompt, header included (0: none, lossless caption)"),
    ("--text-codec", "prompt codec: neural (default), ngram, unigram"),
    ("--corpus", "folder holding flickr8k-captions (knowledge base of the ngram/unigram codecs)"),
    ("--kb", "knowledge-base store whose prompt codec both ends decode with (semcom kb init PATH --codec ...)"),
    ("--kb-version", "KB version to decode with (default: the store's head)"),
    ("--side-info", "side information: none or thumbnail"),
    ("--side-bits", "bit budget of the thumbnail side information"),
    ("--side-codec", "codec of the thumbnail side information: webp (default), avif, heif, jpeg"),
    ("--thumb-scale", "thumbnail at 1/N of the image size (e.g. 8); default: long side --thumb-size px"),
    ("--thumb-size", "long side of the thumbnail in pixels (default 16)"),
    ("--edge-scale", "with --edges: the edge map at 1/N of the image size (default 4)"),
    ("--edge-bits", "with --edges: bit budget of the losslessly coded edge map (default 20000)"),
    ("--controlnet-model", "with --edges: ControlNet hub id or local folder (default lllyasviel/sd-controlnet-canny)"),
    ("--device", "where the generator runs: cpu, cuda, cuda:N, mps (default: cuda if visible)"),
    ("--dtype", "generator precision: float32, float16 (GPU), bfloat16"),
    ("--generator", "generator: stable-diffusion, refiner (trained here; needs side information), fallback, or a plugin's (tiny-stable-diffusion with "
                    "--plugin semcom.testing)"),
    ("--generator-model", "generator hub id or local diffusers folder"),
    ("--steps", "diffusion steps (1-1000)"),
    ("--guidance", "classifier-free guidance scale (0-100)"),
    ("--scheduler", "diffusion scheduler (ddim, euler, dpm++, ...)"),
    ("--strength", "img2img strength with side information, in (0, 1]"),
)


def scheme_config(args: argparse.Namespace, images: str, limit: int | None, snrs: list[float]) -> dict:
    """The resolved experiment config of ``semcom eval`` / ``semcom transmit`` (one scheme, the flags given)."""
    from semcom.runner import load_plugins, scheme_parameters, validate_config

    load_plugins(args.plugin)
    accepted = scheme_parameters(SCHEMES.get(args.scheme))
    takes_any = any(p.kind is inspect.Parameter.VAR_KEYWORD for p in accepted.values())
    given = {"cbr": args.cbr, "codec": args.codec, "mcs": args.mcs, "arq": args.arq, "model": args.model,
             "edges": getattr(args, "edges", None)}
    for flag, _ in _GAI_OPTIONS:
        key = flag[2:].replace("-", "_")
        given[key] = getattr(args, key, None)
    given = {k: v for k, v in given.items() if v is not None}
    unused = [f"--{k.replace('_', '-')}" for k in given if k not in accepted and k != "cbr"]
    if unused and not takes_any:
        raise ConfigError(f"scheme {args.scheme!r} does not take {', '.join(unused)}")
    options = {k: v for k, v in given.items() if k in accepted or (takes_any and k != "cbr")}
    raw = {"name": args.scheme, "seed": args.seed, "snr_db": snrs, "channel": {"name": args.channel},
           "images": {"folder": images, **({"limit": limit} if limit is not None else {})},
           "scheme": {"name": args.scheme, **options}}
    return validate_config(raw, base=Path.cwd(), plugins=args.plugin, source=f"semcom {args.command}")


def run_transmit(args: argparse.Namespace) -> int:
    from semcom.runner import build_context, build_scheme, run_item

    out = output_file(args.out, "--out", IMAGE_EXTENSIONS) if args.out else None
    image, name = load_image(args.image), Path(args.image).name
    config = scheme_config(args, str(Path(args.image).expanduser()), None, [args.snr_db])
    entry = config["schemes"][0]
    scheme = build_scheme(entry, config, build_context(config, [(name, image)], None))
    record, result = run_item(scheme, entry, config["seed"], 0, name, image, args.snr_db)
    record["image"] = str(args.image)
    if out is not None:
        with atomic_path(out) as tmp:
            save_image(tmp, result.reconstruction)
        record["out"] = str(out)
    if args.json:
        json.dump(jsonable({"result": record, "scheme": scheme.describe(), "config": config,
                             "meta": provenance(args.seed)}), sys.stdout, indent=1)
        print()
        return 0
    status = "FAILED (fallback image)" if result.failed else "ok"
    print(f"{args.scheme} {args.image} at {args.snr_db} dB: {status}")
    print(f"  PSNR {record['psnr']:.2f} dB  SSIM {record['ssim']:.4f}  MS-SSIM {record['ms_ssim']:.4f}")
    print(f"  bits {result.bits} ({record['bpp']:.4f} bpp), coded bits {result.coded_bits}, "
          f"channel uses {result.channel_uses}")
    print(f"  model: {record['model']}")
    for key, value in result.details.items():
        print(f"  {key}: {value}")
    if out is not None:
        print(f"  saved {record['out']}")
    return 0


def run_eval(args: argparse.Namespace) -> int:
    from semcom.runner import run_experiment

    config = scheme_config(args, args.images or "embedded", args.limit, args.snr_db)
    start = time.perf_counter()
    result = run_experiment(config, args.out, progress=not args.json, option="--out", **executor_options(args))
    seconds = round(time.perf_counter() - start, 1)
    described = result.described.get(args.scheme, {})
    if args.json:
        json.dump(jsonable({"summary": result.summary, "images": result.records, "scheme": described,
                             "config": config, "seconds": seconds, "meta": provenance(args.seed)}),
                  sys.stdout, indent=1)
        print()
        return 0
    print(f"{args.scheme}: {json.dumps(jsonable(described))} on {result.summary[0]['images']} images ({seconds} s)")
    print(f"{'SNR dB':>6} {'PSNR':>7} {'SSIM':>7} {'MS-SSIM':>8} {'bits':>10} {'bpp':>7} {'uses':>9} {'failures':>8}")
    for row in result.summary:
        print(f"{row['snr_db']:6.1f} {row['psnr']:7.2f} {row['ssim']:7.4f} {row['ms_ssim']:8.4f} "
              f"{row['bits_per_image']:10.0f} {row['bpp']:7.4f} {row['channel_uses_per_image']:9.0f} "
              f"{row['failures']:5d}/{row['images']}")
    print(f"model: {result.summary[0]['model']}")
    if result.out is not None:
        print(f"results in {result.out}")
    return 0
