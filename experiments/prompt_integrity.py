"""Prompt integrity: how often a corrupted prompt is accepted as a different prompt, per codec.

    PYTHONPATH=$PWD .venv/bin/python experiments/prompt_integrity.py [--trials 1000000]
        [--codecs neural,ngram,unigram,unigram-english] [--forged 20000] [--forged-neural 200]
        [--check-bits 14] [--held-out 176] [--seed 18] [--data DIR] [--json FILE]

Prompts: the 24 Kodak reference captions (evaluation only) and ``--held-out`` Flickr8k captions
of the 5 % held-out split. Each trial takes the next prompt's bits, corrupts them with
:func:`semcom.semantic.corruption.corrupt` (bit flips, bit errors, bursts, truncation, extension,
random bits behind the right tag; kinds drawn uniformly, seeded) and hands them to the receiver
(``decode``). Printed per codec:

* wrong acceptances (``ok`` and a text other than the one sent) over all trials, the rate and its
  one-sided 95 % Clopper-Pearson upper bound, per corruption kind too;
* how many corrupted payloads got past the check and were decoded, against ``2**-check_bits``;
* decode time: mean and worst over the trials, and for the longest prompt a codec accepts
  (``max_words`` tokens: the most work a payload can cost);
* the decoder alone: ``--forged`` corrupted payloads (the payload itself changed) sealed with a
  matching check (as if it had collided), the share its own tests (canonical code, limits) accept
  as a different prompt; the wrong-acceptance rate should be about that share x ``2**-check_bits``;
* the cost of the check in bits and the mean bits per Kodak caption, header included.

``unigram`` is the unigram code of Flickr8k (the registry's default), ``unigram-english`` that of
English word frequencies (needs ``wordfreq``).
"""

from __future__ import annotations

import argparse
import json
import sys
import time
from collections import Counter
from pathlib import Path

import numpy as np
from scipy.stats import beta

from semcom.semantic import (
    TEXT_CODECS,
    TextCodec,
    UnigramTextCodec,
    build_flickr8k_codec,
    default_data_dir,
    detokenize,
    flickr8k_split,
)
from semcom.semantic.corpus import general_english_counts
from semcom.semantic.corruption import CORRUPTIONS, corrupt, forged_payloads
from semcom.semantic.tokens import corpus_tokens

CODECS = ("neural", "ngram", "unigram", "unigram-english")


def upper_bound(k: int, n: int, confidence: float = 0.95) -> float:
    """One-sided Clopper-Pearson upper confidence bound of a rate seen ``k`` times in ``n`` trials."""
    if k >= n:
        return 1.0
    if k == 0:
        return 1.0 - (1.0 - confidence) ** (1.0 / n)
    return float(beta.ppf(confidence, k + 1, n - k))


def make_codec(name: str, data: Path, options: dict) -> TextCodec:
    """The codec ``name`` of :data:`CODECS` with header ``options`` (e.g. ``check_bits``)."""
    if name == "neural":
        return TEXT_CODECS.create("neural", **options)
    if name == "ngram":
        return build_flickr8k_codec(data, **options)
    if name == "unigram":
        return TEXT_CODECS.create("unigram", data_dir=data, **options)
    return UnigramTextCodec.from_word_counts(general_english_counts(), **options)


def receiver_trials(codec: TextCodec, encs: list, trials: int, seed: int) -> dict:
    """Corrupted prompts into ``codec.decode``: wrong acceptances, decodes and times, per kind."""
    rng = np.random.default_rng(seed)
    kinds, wrong_kinds = Counter(), Counter()
    decoded = 0
    times = np.empty(trials)
    for i in range(trials):
        enc = encs[i % len(encs)]
        kind, bits = corrupt(enc.bits, rng, tag_bits=codec.version_bits)
        t0 = time.perf_counter()
        dec = codec.decode(bits)
        times[i] = time.perf_counter() - t0
        kinds[kind] += 1
        # past the check: accepted, or refused by the decoder itself (the tag and size were right)
        in_range = codec.header_bits <= bits.size <= codec.max_bits and dec.reason != "kb-version-mismatch"
        decoded += dec.ok or (in_range and dec.reason in ("malformed", "too-long"))
        if dec.ok and dec.text != enc.text:
            wrong_kinds[kind] += 1
    wrong = sum(wrong_kinds.values())
    return {
        "trials": trials, "wrong": wrong, "rate": wrong / trials, "upper95": upper_bound(wrong, trials),
        "decoded": int(decoded), "mean_ms": float(times.mean() * 1e3), "worst_ms": float(times.max() * 1e3),
        "kinds": {k: {"trials": kinds[k], "wrong": wrong_kinds[k]} for k in CORRUPTIONS},
    }


def forged_trials(codec: TextCodec, encs: list, trials: int, seed: int) -> dict:
    """Corrupted payloads (the payload itself changed) sealed with a matching check: the share
    the decoder accepts as a different prompt, and its decode times."""
    wrong = done = 0
    times = []
    for enc, sealed in forged_payloads(codec, encs, trials, np.random.default_rng(seed)):
        t0 = time.perf_counter()
        dec = codec.decode(sealed)
        times.append(time.perf_counter() - t0)
        done += 1
        wrong += dec.ok and dec.text != enc.text
    ms = np.array(times or [0.0]) * 1e3
    return {"trials": done, "wrong": wrong, "share": wrong / max(done, 1), "upper95": upper_bound(wrong, max(done, 1)),
            "mean_ms": float(ms.mean()), "worst_ms": float(ms.max())}


def longest_prompt_ms(codec: TextCodec) -> float:
    """Decode time of a prompt of ``max_words`` tokens (the most word steps a payload can cost)."""
    enc = codec.encode(" ".join(["dog"] * codec.max_words))
    t0 = time.perf_counter()
    dec = codec.decode(enc.bits)
    ms = (time.perf_counter() - t0) * 1e3
    if not dec.ok:
        raise SystemExit(f"{codec.name}: the longest prompt does not round-trip ({dec.reason})")
    return ms


def main(argv: list[str] | None = None) -> dict:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--data", default=str(default_data_dir()), help="shared data folder (default: $SEMCOM_DATA or ../shared/data)")
    parser.add_argument("--codecs", default=",".join(CODECS), help=f"comma-separated, of {', '.join(CODECS)}")
    parser.add_argument("--trials", type=int, default=1_000_000, help="corrupted prompts per codec (default 1,000,000)")
    parser.add_argument("--forged", type=int, default=20_000, help="payloads with a matching check per codec (decoder alone)")
    parser.add_argument("--forged-neural", type=int, default=200, help="the same for the neural codec (0.1-1 s each)")
    parser.add_argument("--check-bits", type=int, default=None, help="check bits (default: the codecs' default)")
    parser.add_argument("--held-out", type=int, default=176, help="held-out Flickr8k captions among the prompts")
    parser.add_argument("--seed", type=int, default=18)
    parser.add_argument("--json", default=None, help="write the figures to this JSON file")
    args = parser.parse_args(argv)
    names = [n for n in args.codecs.split(",") if n]
    unknown = set(names) - set(CODECS)
    if unknown:
        parser.error(f"unknown codecs {sorted(unknown)}; known: {', '.join(CODECS)}")

    data = Path(args.data)
    images = json.loads((data / "kodak" / "captions.json").read_text())["images"]
    kodak = [images[k]["caption"] for k in sorted(images)]
    _, held = flickr8k_split(data, 0.05)
    step = max(1, len(held) // max(1, args.held_out))
    flickr = [detokenize(corpus_tokens(c)) for c in held[::step][: args.held_out]]
    print("command: PYTHONPATH=$PWD python experiments/prompt_integrity.py " + " ".join(sys.argv[1:] if argv is None else argv))
    print(f"prompts: {len(kodak)} Kodak reference captions + {len(flickr)} held-out Flickr8k captions; "
          f"{args.trials:,} corrupted prompts per codec, seed {args.seed}")
    out: dict = {"trials": args.trials, "seed": args.seed, "prompts": len(kodak) + len(flickr), "codecs": {}}
    options = {} if args.check_bits is None else {"check_bits": args.check_bits}
    for name in names:
        codec = make_codec(name, data, options)
        t0 = time.perf_counter()
        encs = [codec.encode(p) for p in kodak + flickr]
        enc_s = time.perf_counter() - t0
        kodak_bits = float(np.mean([e.num_bits for e in encs[: len(kodak)]]))
        rec = receiver_trials(codec, encs, args.trials, args.seed)
        forged = forged_trials(codec, encs, args.forged_neural if name == "neural" else args.forged, args.seed + 1)
        longest = longest_prompt_ms(codec)
        bound = codec.wrong_acceptance_bound
        print(f"\n{name}: header {codec.version_bits}-bit tag + {codec.check_bits} check bits "
              f"(bound 2**-{codec.check_bits} = {bound:.2e}); {kodak_bits:.1f} bits per Kodak caption; "
              f"{len(encs)} prompts encoded in {enc_s:.1f} s")
        print(f"  wrong acceptances: {rec['wrong']} of {rec['trials']:,} = {rec['rate']:.2e} "
              f"(95 % upper bound {rec['upper95']:.2e})")
        print("  per kind: " + ", ".join(f"{k} {v['wrong']}/{v['trials']:,}" for k, v in rec["kinds"].items()))
        print(f"  past the check and decoded: {rec['decoded']} ({rec['decoded'] / rec['trials']:.2e} per trial)")
        print(f"  decode time: mean {rec['mean_ms']:.3f} ms, worst {rec['worst_ms']:.1f} ms; "
              f"longest prompt ({codec.max_words} tokens) {longest:.0f} ms")
        if forged["trials"]:
            print(f"  decoder alone ({forged['trials']:,} corrupted payloads with a matching check): accepts "
                  f"{forged['wrong']} as a different prompt = {forged['share']:.3f} (95 % upper bound "
                  f"{forged['upper95']:.3f}), mean {forged['mean_ms']:.1f} ms, worst {forged['worst_ms']:.0f} ms; "
                  f"expected wrong-acceptance rate {forged['share'] * bound:.2e}")
        out["codecs"][name] = {"check_bits": codec.check_bits, "header_bits": codec.header_bits, "bound": bound,
                               "kodak_bits": kodak_bits, "receiver": rec, "forged": forged, "longest_ms": longest}
    print("\n| codec | check bits | bits / Kodak caption | corrupted prompts | wrong accepted | rate (95 % upper) | worst decode |")
    print("| --- | --- | --- | --- | --- | --- | --- |")
    for name, r in out["codecs"].items():
        rec = r["receiver"]
        print(f"| `{name}` | {r['check_bits']} | {r['kodak_bits']:.1f} | {rec['trials']:,} | {rec['wrong']} | "
              f"{rec['rate']:.1e} ({rec['upper95']:.1e}) | {rec['worst_ms']:.0f} ms |")
    if args.json:
        Path(args.json).write_text(json.dumps(out, indent=2))
    return out


if __name__ == "__main__":
    main(sys.argv[1:])
