"""``semcom transmit`` (one image) and ``semcom eval`` (a folder, several SNRs): a one-scheme config run by the
experiment engine (:mod:`semcom.runner`), like ``semcom run`` and ``semcom table4``."""

from __future__ import annotations

import argparse
import inspect
import json
import sys
import time
from pathlib import Path

from semcom.cli.parser import key_value
from semcom.cli.run import add_executor_options, executor_options
from semcom.errors import ConfigError
from semcom.options import ARQ, CBR, CHANNEL_NAMES, LIMIT, MCS_INDEX, SCHEME_OPTIONS, SEED, SNR_LIST

#: the schemes that ship with semcom (``semcom.schemes``); a plugin adds its own
SCHEME_HELP = ("scheme: separation (image codec + 5G link), bound (separation bound), jscc (deep JSCC), gai "
               "(generative), or one a --plugin registers")


def add_commands(subparsers: argparse._SubParsersAction) -> None:
    transmit = subparsers.add_parser(
        "transmit", help="send one image with a scheme and save what arrives",
        description="Sends IMAGE with one scheme at each SNR of --snr-db and prints what each transmission cost and "
                    "how close the reconstruction is. For the gai scheme the reference captioner reads "
                    "IMAGE's folder's captions.json when there is one (as eval and table4 do).")
    transmit.add_argument("image", help="image file")
    transmit.add_argument("--snr-db", type=SNR_LIST.arg(), default=[10.0],
                          help="Es/N0 list in dB, -50 to 100, comma-separated (one transmission per SNR)")
    transmit.add_argument("--out", default=None,
                          help="where to save the reconstruction (.png, .jpg, ...; with several SNRs, NAME_<snr>dB.png "
                               "and so on); checked before the transmission (default: not saved)")
    _scheme_options(transmit)
    transmit.set_defaults(run=run_transmit)

    evaluate = subparsers.add_parser(
        "eval", help="mean PSNR/SSIM/MS-SSIM, bits and channel uses over images and SNRs",
        description="Runs one scheme over a folder of images at each SNR and prints one row per SNR: means over "
                    "the images with their 95 % confidence intervals, bits, channel uses and failures.")
    evaluate.add_argument("--images", default=None, help="image folder (default: the embedded scikit-image photos)")
    evaluate.add_argument("--limit", type=LIMIT.arg(), default=None, help="use the first N images (default: all)")
    evaluate.add_argument("--snr-db", type=SNR_LIST.arg(), default=[1.0, 4.0, 7.0, 10.0, 13.0],
                          help="Es/N0 list in dB, comma-separated")
    evaluate.add_argument("--out", default=None,
                          help="results folder: every item is kept there as it finishes (results.jsonl, summary.json, "
                               "psnr_vs_snr.png), and the same command resumes an interrupted evaluation "
                               "(default: nothing written)")
    evaluate.add_argument("--save-images", action="store_true",
                          help="keep each reconstruction as OUT/images/<scheme>/<snr>dB/<image>.png (needs --out)")
    _scheme_options(evaluate)
    add_executor_options(evaluate)
    evaluate.set_defaults(run=run_eval)


def _scheme_options(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("--scheme", default="separation", help=SCHEME_HELP)
    parser.add_argument("--channel", default="awgn", choices=CHANNEL_NAMES, metavar="NAME",
                        help="channel model: %(choices)s")
    parser.add_argument("--channel-option", type=key_value, action="append", default=[], metavar="KEY=VALUE",
                        help="channel option, repeatable: block_length=1 (per-symbol Rayleigh), equalizer=mmse, ... "
                             "(default: the channel's own)")
    parser.add_argument("--cbr", type=CBR.arg(), default="1/16", help="channel bandwidth ratio, e.g. 1/16")
    parser.add_argument("--codec", default=None,
                        help="image codec of the separation scheme: heif, avif, webp, jpeg (default: heif)")
    parser.add_argument("--mcs", type=MCS_INDEX.arg(), default=None,
                        help="fixed MCS index 0-15 (default: link adaptation)")
    parser.add_argument("--arq", type=ARQ.arg(), default=None,
                        help="retransmission rounds for lost code blocks, 0-16 (default: the scheme's own, 1 for "
                             "separation, 0 for gai)")
    parser.add_argument("--model", default=None,
                        help="model name or checkpoint folder of a learned scheme (default for jscc: the shipped "
                             "checkpoint trained for --channel and --cbr; semcom models lists them)")
    parser.add_argument("--seed", type=SEED.arg(), default=0, help="random seed, 0 to 2**32-1")
    parser.add_argument("--plugin", action="append", default=[], metavar="MODULE",
                        help="import MODULE (or a .py file) that registers its own stages; repeatable")
    gai = parser.add_argument_group("generative scheme (gai)")
    gai.add_argument("--edges", action="store_const", const=True, default=None,
                     help="also send a losslessly coded Canny edge map that conditions a ControlNet")
    for flag, text in _GAI_OPTIONS:
        gai.add_argument(flag, type=SCHEME_OPTIONS[flag[2:].replace("-", "_")].arg(), default=None, help=text)
    parser.add_argument("--json", action="store_true", help="print one JSON object")
    parser.add_argument("--no-progress", action="store_true", help="no progress bar")


#: Options of the generative scheme: (flag, help); the scheme's parameter is the flag's name, and its type and
#: range are declared in :data:`semcom.options.SCHEME_OPTIONS` (shared with experiment configs).
_GAI_OPTIONS = (
    ("--captioner", "captioner: reference (with --captions), vit-gpt2, or a plugin's (tiny-vit-gpt2 with "
                    "--plugin semcom.testing) (default: reference when captions are found, else vit-gpt2)"),
    ("--captions", "captions JSON of the reference captioner (default: the images' folder's captions.json, or "
                   "the shipped captions of the embedded photos)"),
    ("--captioner-model", "captioner hub id or local folder (default: nlpconnect/vit-gpt2-image-captioning)"),
    ("--keywords", "keyword extractor: yake, keybert, none (default: yake)"),
    ("--prompt-mode", "prompt: caption, caption+keywords, keywords (default: caption)"),
    ("--prompt-bits", "bit budget of the encoded prompt, header included (0: none, lossless caption; default: 100)"),
    ("--text-codec", "prompt codec: neural, ngram, unigram (default: neural)"),
    ("--corpus", "folder holding flickr8k-captions, knowledge base of the ngram/unigram codecs (default: the shared "
                 "data folder)"),
    ("--kb", "knowledge-base store whose prompt codec both ends decode with (semcom kb init PATH --codec ...; "
             "default: none, the --text-codec)"),
    ("--kb-version", "KB version to decode with (default: the store's head)"),
    ("--side-info", "side information: none or thumbnail (default: none)"),
    ("--side-bits", "bit budget of the thumbnail side information (default: 600)"),
    ("--side-codec", "codec of the thumbnail side information: webp, avif, heif, jpeg (default: webp)"),
    ("--thumb-scale", "thumbnail at 1/N of the image size, e.g. 8 (default: long side --thumb-size px)"),
    ("--thumb-size", "long side of the thumbnail in pixels (default: 16)"),
    ("--edge-scale", "with --edges: the edge map at 1/N of the image size (default: 4)"),
    ("--edge-bits", "with --edges: bit budget of the losslessly coded edge map (default: 20000)"),
    ("--controlnet-model", "with --edges: ControlNet hub id or local folder (default: lllyasviel/sd-controlnet-canny)"),
    ("--device", "where the generator runs: cpu, cuda, cuda:N, mps (default: cuda if visible, else cpu)"),
    ("--dtype", "generator precision: float32, float16 (GPU), bfloat16 (default: float32)"),
    ("--generator", "generator: stable-diffusion, refiner (trained here; needs side information), fallback, or a "
                    "plugin's (tiny-stable-diffusion with --plugin semcom.testing) (default: stable-diffusion; "
                    "without its weights the refiner when side information is sent, else a labelled fallback)"),
    ("--generator-model", "generator hub id or local diffusers folder (default: stabilityai/stable-diffusion-2-1-base)"),
    ("--steps", "diffusion steps, 1-1000 (default: the generator's)"),
    ("--guidance", "classifier-free guidance scale, 0-100 (default: the generator's)"),
    ("--scheduler", "diffusion scheduler: ddim, euler, dpm++, ... (default: the pipeline's)"),
    ("--strength", "img2img strength with side information, in (0, 1] (default: the generator's)"),
)


def scheme_config(args: argparse.Namespace, images: str, limit: int | None, snrs: list[float]) -> dict:
    """The resolved experiment config of ``semcom eval`` / ``semcom transmit`` (one scheme, the flags given).

    A scheme that takes reference captions gets, when neither ``--captions`` nor another captioner is given,
    those of the image folder (:func:`semcom.runner.default_captions`), as ``semcom table4`` does."""
    from semcom.runner import default_captions, load_plugins, scheme_parameters, validate_config
    from semcom.schemes import SCHEMES

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
    if "captions" in accepted and "captions" not in given and given.get("captioner", "reference") == "reference":
        captions = default_captions(images)
        if captions is not None:
            given["captions"] = captions
    options = {k: v for k, v in given.items() if k in accepted or (takes_any and k != "cbr")}
    raw = {"name": args.scheme, "seed": args.seed, "snr_db": snrs, "channel": {"name": args.channel, **dict(args.channel_option)},
           "images": {"folder": images, **({"limit": limit} if limit is not None else {})},
           "scheme": {"name": args.scheme, **options}}
    return validate_config(raw, base=Path.cwd(), plugins=args.plugin, source=f"semcom {args.command}")


def _out_files(out: Path | None, snrs: list[float]) -> dict[float, Path | None]:
    """Where each SNR's reconstruction goes: ``out`` itself for one SNR, ``<stem>_<snr>dB<suffix>`` for several."""
    if out is None or len(snrs) == 1:
        return {snr: out for snr in snrs}
    return {snr: out.with_name(f"{out.stem}_{snr:g}dB{out.suffix}") for snr in snrs}


def run_transmit(args: argparse.Namespace) -> int:
    from tqdm import tqdm

    from semcom.files import atomic_path, jsonable, output_file
    from semcom.images import IMAGE_EXTENSIONS, load_image, save_image
    from semcom.provenance import provenance
    from semcom.runner import build_context, build_scheme, run_item

    outs = _out_files(output_file(args.out, "--out", IMAGE_EXTENSIONS) if args.out else None, args.snr_db)
    image, name = load_image(args.image), Path(args.image).name
    folder = str(Path(args.image).expanduser().resolve().parent)  # the reference captioner finds the file there
    config = scheme_config(args, folder, None, args.snr_db)
    entry = config["schemes"][0]
    scheme = build_scheme(entry, config, build_context(config, [(name, image)], None))
    records, results = [], []
    for snr in tqdm(args.snr_db, desc=f"transmit {args.scheme}", unit="SNR", file=sys.stderr,
                    disable=args.json or args.no_progress or len(args.snr_db) == 1):
        record, result = run_item(scheme, entry, config["seed"], 0, name, image, snr)
        record["image"] = str(args.image)
        if outs[snr] is not None:
            with atomic_path(outs[snr]) as tmp:
                save_image(tmp, result.reconstruction)
            record["out"] = str(outs[snr])
        records.append(record)
        results.append(result)
    if args.json:
        json.dump(jsonable({"results": records, "scheme": scheme.describe(), "config": config,
                            "meta": provenance(args.seed)}), sys.stdout, indent=1)
        print()
        return 0
    for record, result in zip(records, results):
        status = "FAILED (fallback image)" if result.failed else "ok"
        print(f"{args.scheme} {args.image} at {record['snr_db']:g} dB: {status}")
        print(f"  PSNR {record['psnr']:.2f} dB  SSIM {record['ssim']:.4f}  MS-SSIM {record['ms_ssim']:.4f}")
        print(f"  bits {result.bits} ({record['bpp']:.4f} bpp), coded bits {result.coded_bits}, "
              f"channel uses {result.channel_uses}")
        print(f"  model: {record['model']}")
        for key, value in result.details.items():
            print(f"  {key}: {value}")
        if "out" in record:
            print(f"  saved {record['out']}")
    return 0


def _with_ci(row: dict, key: str, spec: str) -> str:
    ci = row.get(f"{key}_ci95")
    return format(row[key], spec) + (f" ± {format(ci, spec)}" if ci is not None else "")


def run_eval(args: argparse.Namespace) -> int:
    from semcom.files import jsonable
    from semcom.provenance import provenance
    from semcom.runner import run_experiment

    if args.save_images and args.out is None:
        raise ConfigError("--save-images needs --out (the folder the images go to)")
    config = scheme_config(args, args.images or "embedded", args.limit, args.snr_db)
    start = time.perf_counter()
    result = run_experiment(config, args.out, progress=not (args.json or args.no_progress), option="--out",
                            save_images=args.save_images, **executor_options(args))
    seconds = round(time.perf_counter() - start, 1)
    described = result.described.get(args.scheme, {})
    if args.json:
        json.dump(jsonable({"summary": result.summary, "images": result.records, "scheme": described,
                            "config": config, "seconds": seconds, "meta": provenance(args.seed)}),
                  sys.stdout, indent=1)
        print()
        return 0
    print(f"{args.scheme}: {json.dumps(jsonable(described))} on {result.summary[0]['images']} images ({seconds} s)")
    print(f"{'SNR dB':>6} {'PSNR (dB)':>14} {'SSIM':>16} {'MS-SSIM':>16} {'bits':>10} {'bpp':>7} {'uses':>9} "
          f"{'failures':>8}")
    for row in result.summary:
        print(f"{row['snr_db']:6.1f} {_with_ci(row, 'psnr', '.2f'):>14} {_with_ci(row, 'ssim', '.4f'):>16} "
              f"{_with_ci(row, 'ms_ssim', '.4f'):>16} {row['bits_per_image']:10.0f} {row['bpp']:7.4f} "
              f"{row['channel_uses_per_image']:9.0f} {row['failures']:5d}/{row['images']}")
    print("means over the images ± half-width of their 95 % confidence interval")
    print(f"model: {result.summary[0]['model']}")
    if result.out is not None:
        print(f"results in {result.out}")
    return 0
