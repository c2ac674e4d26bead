"""The generative scheme ``gai`` on Kodak with the reference captions: prompt bits and prompt fidelity per SNR.

    .venv/bin/python experiments/gai_kodak.py [--snr-db -5,0,5,10] [--repeats 4] [--generator fallback]
                                              [--mcs 0] [--prompt-bits 0] [--text-codec neural]
                                              [--prompt-mode caption] [--keywords yake] [--data DIR] [--json]

For each SNR (AWGN, Es/N0) every Kodak image is sent ``--repeats`` times with independent channel
noise; printed per SNR: mean payload bits per image (prompt, header included, plus side
information if any), mean channel uses, the share of prompts received exactly, mean MiniLM
semantic similarity of the received prompt to the sent one and to the whole caption (they differ
for a cut caption or the lossy ``--prompt-mode keywords``), word error rate against the sent
prompt, recall of the reference keywords, and failures. The knowledge
base of the text codec is built from Flickr8k only; the Kodak captions are the reference
captioner's output (evaluation only). The generator defaults to ``fallback`` (no diffusion
weights here): it does not change any figure printed, only the reconstruction.
"""

from __future__ import annotations

import argparse
import json
import sys
import time
import warnings

import numpy as np
import torch

from semcom.images import list_images, load_image
from semcom.options import SNR_LIST
from semcom.schemes import make_scheme
from semcom.semantic import default_data_dir


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--data", default=None, help="shared data folder (default: $SEMCOM_DATA or ../shared/data)")
    parser.add_argument("--snr-db", type=SNR_LIST.arg(), default=[-5.0, 0.0, 5.0, 10.0])
    parser.add_argument("--repeats", type=int, default=4, help="transmissions per image and SNR")
    parser.add_argument("--limit", type=int, default=None, help="first N images")
    parser.add_argument("--generator", default="fallback")
    parser.add_argument("--generator-model", default=None)
    parser.add_argument("--mcs", type=int, default=0, help="fixed MCS index; -1: link adaptation")
    parser.add_argument("--code", default="polar")
    parser.add_argument("--prompt-bits", type=int, default=0, help="prompt budget, header included (0: none, lossless)")
    parser.add_argument("--text-codec", default="neural", help="prompt codec: neural, ngram, unigram")
    parser.add_argument("--prompt-mode", default="caption", help="caption, caption+keywords, keywords (lossy)")
    parser.add_argument("--keywords", default="yake", help="keyword extractor for the keyword modes: yake, keybert")
    parser.add_argument("--arq", type=int, default=0)
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--json", action="store_true")
    args = parser.parse_args(argv)

    root = default_data_dir() if args.data is None else __import__("pathlib").Path(args.data)
    kodak = root / "kodak"
    paths = list_images(kodak)[: args.limit]
    images = [load_image(p) for p in paths]
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        scheme = make_scheme("gai", captions=kodak / "captions.json", corpus=root, generator=args.generator,
                             generator_model=args.generator_model, mcs=None if args.mcs < 0 else args.mcs,
                             code=args.code, prompt_bits=args.prompt_bits, text_codec=args.text_codec, arq=args.arq,
                             prompt_mode=args.prompt_mode, keywords=args.keywords, seed=args.seed)
    start = time.perf_counter()
    rows = []
    for snr in args.snr_db:
        recs = []
        for i, image in enumerate(images):
            for r in range(args.repeats):
                gen = torch.Generator().manual_seed(args.seed * 1_000_003 + 1000 * i + r)
                res = scheme.transmit(image, snr, generator=gen)
                recs.append({"bits": res.bits, "uses": res.channel_uses, "failed": res.failed, **res.metrics})
        mean = lambda k: float(np.mean([x[k] for x in recs]))  # noqa: E731
        rows.append({"snr_db": snr, "bits": mean("bits"), "channel_uses": mean("uses"),
                     "prompt_exact": mean("prompt_exact"), "semantic_similarity": mean("semantic_similarity"),
                     "caption_similarity": mean("caption_similarity"),
                     "word_error_rate": mean("word_error_rate"), "keyword_recall": mean("keyword_recall"),
                     "failures": int(sum(x["failed"] for x in recs)), "transmissions": len(recs)})
    seconds = round(time.perf_counter() - start, 1)
    config = scheme.describe()
    if args.json:
        json.dump({"summary": rows, "config": config, "images": len(images), "seconds": seconds}, sys.stdout, indent=1)
        print()
        return 0
    print(f"gai on Kodak ({len(images)} images x {args.repeats} repeats, AWGN), {config['mcs'] or 'link adaptation'}, "
          f"code {config['code']}, text codec {config['text_codec']}, prompt budget {args.prompt_bits or 'none (lossless)'}"
          f"{' bits' if args.prompt_bits else ''}, prompt mode {args.prompt_mode}, generator {config['generator']} "
          f"({config['generator_kind']}); {seconds} s")
    print(f"{'SNR dB':>6} {'bits/img':>9} {'uses':>7} {'exact':>7} {'sim':>6} {'cap sim':>7} {'WER':>6} {'kw rec':>7} "
          f"{'failures':>9}")
    for s in rows:
        print(f"{s['snr_db']:6.1f} {s['bits']:9.1f} {s['channel_uses']:7.0f} {100 * s['prompt_exact']:6.1f}% "
              f"{s['semantic_similarity']:6.3f} {s['caption_similarity']:7.3f} {s['word_error_rate']:6.3f} "
              f"{s['keyword_recall']:7.3f} "
              f"{s['failures']:4d}/{s['transmissions']}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
