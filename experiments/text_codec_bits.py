"""Bits per prompt of the lossless text codecs: Kodak reference captions and held-out Flickr8k.

    .venv/bin/python experiments/text_codec_bits.py [--data DIR] [--order 3] [--holdout 0.05]
                                                    [--per-caption] [--general-english] [--no-neural]

The knowledge bases are built from Flickr8k captions (and English word frequencies) only. The
n-gram codec's held-out figures come from a model built without the held-out images (5 % by
default, chosen by a hash of the image id), its Kodak figures from the model built on all of
Flickr8k. The shipped n-gram + LSTM codec (``neural``) was trained on the same 95 % split and is
shown on Kodak and on the held-out captions, with the ideal bits it would spend if each word were
priced by whichever of its two components (n-gram, LSTM) gives that word more probability, a bound
no fixed mixture of the two reaches. The Kodak captions are used for evaluation only.
"""

from __future__ import annotations

import argparse
import json
import sys
import time
from pathlib import Path

import numpy as np

from semcom.benchmark import measure
from semcom.cli.prompt_lm import held_out_probabilities
from semcom.semantic import (
    TEXT_CODECS,
    TextCodec,
    UnigramTextCodec,
    build_flickr8k_codec,
    default_data_dir,
    flickr8k_split,
    load_neural_codec,
    normalize_prompt,
)
from semcom.semantic.corpus import general_english_counts
from semcom.semantic.tokens import corpus_tokens, detokenize, tokenize


def _bits(codec: TextCodec, prompts: list[str]) -> np.ndarray:
    return np.array([codec.encode(p).num_bits for p in prompts], dtype=np.int64)


def _speed(codec: TextCodec, prompts: list[str], repeats: int = 3) -> tuple[float, float]:
    """Median encode and decode time per prompt (ms) over ``repeats`` passes after one warm-up pass
    (which fills the codec's caches), timed with semcom.benchmark."""
    encoded = [codec.encode(p) for p in prompts]
    encode = measure(lambda: [codec.encode(p) for p in prompts], repeats=repeats, warmup=1)
    decode = measure(lambda: [codec.decode(e.bits) for e in encoded], repeats=repeats, warmup=1)
    return encode.median / len(prompts) * 1e3, decode.median / len(prompts) * 1e3


def _row(name: str, bits: np.ndarray) -> str:
    return f"  {name:<44s} mean {bits.mean():7.2f}  max {bits.max():4d}  min {bits.min():4d}"


def main(argv: list[str] | None = None) -> dict:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--data", default=str(default_data_dir()), help="shared data folder (default: $SEMCOM_DATA or ../shared/data)")
    parser.add_argument("--order", type=int, default=3, help="word n-gram order (default 3)")
    parser.add_argument("--holdout", type=float, default=0.05, help="share of Flickr8k images held out")
    parser.add_argument("--no-cache", action="store_true", help="build the models even if cached")
    parser.add_argument("--general-english", action="store_true", help="also try a vocabulary widened with wordfreq")
    parser.add_argument("--per-caption", action="store_true", help="print the bits of every Kodak caption")
    parser.add_argument("--json", default=None, help="write the figures to this JSON file")
    parser.add_argument("--no-neural", action="store_true", help="skip the n-gram + LSTM codec")
    parser.add_argument("--checkpoint", default=None, help="prompt LM checkpoint (default: the shipped one)")
    parser.add_argument("--held-step", type=int, default=4, help="neural codec on every N-th held-out caption")
    args = parser.parse_args(argv)

    data = Path(args.data)
    kodak_file = data / "kodak" / "captions.json"
    images = json.loads(kodak_file.read_text())["images"]
    kodak = [images[k]["caption"] for k in sorted(images)]
    out: dict = {"data": str(data), "order": args.order}

    # the knowledge base, built from all of Flickr8k (cache bypassed to time the build)
    t0 = time.perf_counter()
    codec = build_flickr8k_codec(data, order=args.order, cache=False)
    build_s = time.perf_counter() - t0
    blob = codec.to_bytes()
    t0 = time.perf_counter()
    loaded = TextCodec.from_bytes(blob)
    load_s = time.perf_counter() - t0
    assert loaded.kb_version == codec.kb_version
    info = codec.describe()
    print(f"knowledge base: Flickr8k, {info['vocab_size']} symbols, order {info['order']}, char order {info['char_order']}")
    print(f"  n-grams per order: {info['ngrams']}")
    print(f"  build {build_s:.2f} s, blob {len(blob)} bytes ({len(blob) / 1024:.0f} KiB), load from blob {load_s:.2f} s")
    print(f"  kb_version tag {codec.kb_version} ({codec.version_bits} bits), check bits {codec.check_bits} (a corrupted "
          f"prompt is taken for another with probability <= {codec.wrong_acceptance_bound:.1e}, "
          f"see experiments/prompt_integrity.py)")
    out.update(build_s=build_s, load_s=load_s, blob_bytes=len(blob), vocab=info["vocab_size"], ngrams=info["ngrams"])

    # Kodak
    encs = [codec.encode(c) for c in kodak]
    for c, e in zip(kodak, encs):
        d = codec.decode(e.bits)
        if not (d.ok and d.text == normalize_prompt(c)):
            raise SystemExit(f"round trip failed on {c!r}: {d}")
    kb = np.array([e.num_bits for e in encs])
    words = np.array([len(c.split()) for c in kodak])
    enc_ms, dec_ms = _speed(codec, kodak)
    print(f"\nKodak reference captions ({len(kodak)}, {words.mean():.1f} words on average), header included:")
    print(_row(f"ngram (order {args.order})", kb))
    print(f"  {'':44s} payload {np.mean([e.payload_bits for e in encs]):.2f}, header {encs[0].header_bits}, "
          f"{kb.sum() / words.sum():.2f} bits/word, {sum(e.num_escapes for e in encs)} words spelled")
    print(f"  encode {enc_ms:.2f} ms, decode {dec_ms:.2f} ms per caption (median of 3 passes after a warm-up)")
    out.update(kodak_mean=float(kb.mean()), kodak_max=int(kb.max()), encode_ms=enc_ms, decode_ms=dec_ms)
    if args.per_caption:
        for c, e in zip(kodak, encs):
            print(f"    {e.num_bits:4d}  {c}")

    uni = TEXT_CODECS.create("unigram", data_dir=data)
    ub = _bits(uni, kodak)
    print(_row("unigram of Flickr8k (baseline)", ub))
    out.update(kodak_unigram_flickr_mean=float(ub.mean()))
    try:
        counts = general_english_counts(50000)
    except Exception as err:  # noqa: BLE001 - the optional package may be missing
        counts = None
        print(f"  (general-English unigram baseline skipped: {err})")
    if counts is not None:
        ge = UnigramTextCodec.from_word_counts(counts)
        gb = _bits(ge, kodak)
        print(_row("unigram of general English (wordfreq 50k)", gb))
        out.update(kodak_unigram_english_mean=float(gb.mean()))
        if args.general_english:
            wide = build_flickr8k_codec(data, order=args.order, general_words=counts, cache=not args.no_cache)
            wb = _bits(wide, kodak)
            print(_row("ngram + wordfreq vocabulary", wb))
            out.update(kodak_ngram_wordfreq_mean=float(wb.mean()))

    # the shipped n-gram + LSTM codec (its knowledge base was trained on the 95 % split)
    neural = None
    if not args.no_neural:
        neural = load_neural_codec(checkpoint=args.checkpoint)
        nencs = [neural.encode(c) for c in kodak]
        for c, e in zip(kodak, nencs):
            d = neural.decode(e.bits)
            if not (d.ok and d.text == normalize_prompt(c)):
                raise SystemExit(f"neural round trip failed on {c!r}: {d}")
        n_enc_ms, n_dec_ms = _speed(neural, kodak)
        nb = np.array([e.num_bits for e in nencs])
        info = neural.describe()
        print(f"\nneural codec {args.checkpoint or 'prompt-lm-flickr8k'}: n-gram share {info['ngram_weight']}, "
              f"cache share {info['cache_weight']}, LSTM {info['lm_hidden']} wide, {info['lm_dim']}-d MiniLM word vectors, "
              f"{info['vocab_size']} words")
        print(_row("ngram + LSTM mixture", nb))
        print(f"  {'':44s} payload {np.mean([e.payload_bits for e in nencs]):.2f}, header {nencs[0].header_bits}, "
              f"{nb.sum() / words.sum():.2f} bits/word, {sum(e.num_escapes for e in nencs)} words spelled")
        print(f"  encode {n_enc_ms:.1f} ms, decode {n_dec_ms:.1f} ms per caption (median of 3 passes after a warm-up)")
        out.update(neural_kodak_mean=float(nb.mean()), neural_kodak_max=int(nb.max()), neural_kodak_min=int(nb.min()),
                   neural_encode_ms=n_enc_ms, neural_decode_ms=n_dec_ms)
        # what the two components could do with hindsight: each word priced by whichever gives it more
        probs = held_out_probabilities(neural, [tokenize(c) for c in kodak])
        best = np.maximum(probs["kn"], probs["lm"])
        hindsight = np.bincount(probs["caption"], weights=-np.log2(best), minlength=len(kodak)) + probs["spell"]
        hindsight_mean = float(hindsight.mean()) + nencs[0].header_bits
        print(f"  {'':44s} with hindsight (per word, the better of n-gram and LSTM): {hindsight_mean:.1f} "
              f"ideal bits, header included")
        out.update(neural_kodak_hindsight_mean=hindsight_mean)
        if args.per_caption:
            for c, e, old in zip(kodak, nencs, kb):
                print(f"    {e.num_bits:4d} (ngram {old:4d})  {c}")

    # held-out Flickr8k
    train, held = flickr8k_split(data, args.holdout)
    held_prompts = [detokenize(corpus_tokens(c)) for c in held]
    tuned = build_flickr8k_codec(data, order=args.order, holdout=args.holdout, cache=not args.no_cache)
    hb = _bits(tuned, held_prompts)
    hw = np.array([len(p.split()) for p in held_prompts])
    print(f"\nheld-out Flickr8k ({len(held_prompts)} captions of {args.holdout:.0%} of the images, final '.' dropped, "
          f"{hw.mean():.1f} words on average), model built without them:")
    print(_row(f"ngram (order {args.order})", hb))
    out.update(heldout_mean=float(hb.mean()), heldout_max=int(hb.max()), heldout_captions=len(held_prompts))
    if neural is not None and args.holdout == 0.05:  # the split the shipped checkpoint held out
        sub = held_prompts[:: args.held_step]
        sb = _bits(tuned, sub)
        nhb = _bits(neural, sub)
        print(f"  every {args.held_step} of them ({len(sub)} captions):")
        print(_row(f"ngram (order {args.order})", sb))
        print(_row("ngram + LSTM mixture", nhb))
        out.update(neural_heldout_mean=float(nhb.mean()), neural_heldout_ngram_mean=float(sb.mean()),
                   neural_heldout_captions=len(sub))

    if args.json:
        Path(args.json).write_text(json.dumps(out, indent=2))
    return out


if __name__ == "__main__":
    main(sys.argv[1:])
