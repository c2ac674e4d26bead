"""``semcom train prompt-lm``: train the prompt codec's LSTM word model on Flickr8k captions.

Steps: split Flickr8k by image (``--holdout`` held out, by the hash rule of
:func:`~semcom.semantic.corpus.flickr8k_split`); vocabulary = the training captions' words +
the most frequent English words (``wordfreq``); word vectors from MiniLM projected on ``--dim``
principal axes; the n-gram model on the same split and vocabulary; train the LSTM; choose the
n-gram and cache shares of the mixture on the held-out captions; write the checkpoint folder.
Kodak is never read.
"""

from __future__ import annotations

import argparse
import hashlib
import shlex
import sys
import time
from typing import TYPE_CHECKING

from semcom.cli.parser import RawDescriptionDefaultsFormatter
from semcom.cli.train import train_commands
from semcom.extras import require
from semcom.options import DATA_HELP, SEED, Integer, Real

if TYPE_CHECKING:
    import numpy as np

_NGRAM_SHARES = (0.1, 0.2, 0.3, 0.4, 0.5, 0.6, 0.7, 0.8)
_CACHE_SHARES = (0.0, 0.01, 0.02, 0.04, 0.08)


def add_commands(subparsers) -> None:
    """Add ``train prompt-lm`` to the ``semcom`` command's sub-parsers."""
    parser = train_commands(subparsers).add_parser(
        "prompt-lm",
        help="train the prompt codec's LSTM word model (Flickr8k captions)",
        description=__doc__,
        formatter_class=RawDescriptionDefaultsFormatter,
    )
    parser.add_argument("--data", default=None, help=f"shared data folder, holds flickr8k-captions/ (default: {DATA_HELP})")
    parser.add_argument("--out", required=True, help="checkpoint folder to write")
    parser.add_argument("--general-words", type=Integer(0, 10_000_000).arg(), default=60000,
                        help="most frequent English words added")
    parser.add_argument("--dim", type=Integer(1, 384).arg(), default=192, help="word vector dimensions kept (of 384)")
    parser.add_argument("--hidden", type=Integer(1, 65536).arg(), default=512, help="LSTM width")
    parser.add_argument("--epochs", type=Real(0.0, 10_000.0, low_open=True).arg(), default=3.0, help="passes over the training captions")
    parser.add_argument("--batch", type=Integer(1, 65536).arg(), default=64, help="captions per training step")
    parser.add_argument("--lr", type=Real(0.0, 10.0, low_open=True).arg(), default=2e-3, help="Adam learning rate")
    parser.add_argument("--negatives", type=Integer(0, 10_000_000).arg(), default=6000,
                        help="sampled words outside the corpus per step")
    parser.add_argument("--residual-min-count", type=Integer(0, None).arg(), default=0,
                        help="words this frequent get learned output-vector and bias corrections (0: none)")
    parser.add_argument("--holdout", type=Real(0.0, 1.0, low_open=True, high_open=True).arg(), default=0.05,
                        help="share of images held out for the mixture, in (0, 1)")
    parser.add_argument("--tune-captions", type=Integer(1, None).arg(), default=600,
                        help="held-out captions used to pick the mixture")
    parser.add_argument("--seed", type=SEED.arg(), default=0, help="random seed, 0 to 2**32-1")
    parser.add_argument("--threads", type=Integer(1, 1024).arg(), default=2, help="torch CPU threads")
    parser.set_defaults(run=run_train_prompt_lm)


def held_out_probabilities(codec, captions: list[list[str]]) -> dict[str, np.ndarray]:
    """For every symbol of ``captions`` (words and end): the true symbol's probability under the
    n-gram model, the LSTM and the cache, whether a cache exists yet, its caption, and the
    spelling bits of escaped words per caption (which no mixture changes)."""
    import numpy as np

    from semcom.semantic.text_codec import EOS, UNK, TextCodec

    kn_p, lm_p, cache_p, has_cache, caption_of = [], [], [], [], []
    spell = np.zeros(len(captions))
    for ci, toks in enumerate(captions):
        history: list[int] = []
        for tok in list(toks) + [None]:
            sym = EOS if tok is None else codec._word_id.get(tok, UNK)
            kn = TextCodec._word_freqs(codec, history)
            kn_p.append(int(kn[sym]) / int(kn.sum()))
            lm_p.append(float(codec._lm_logprobs(history)[sym].exp()))
            words = [s for s in history if s not in (EOS, UNK)]
            has_cache.append(bool(words))
            cache_p.append(words.count(sym) / len(words) if words else 0.0)
            caption_of.append(ci)
            if sym == UNK:
                spell[ci] += codec.spelling_bits(tok)
            history.append(sym)
    return {"kn": np.array(kn_p), "lm": np.array(lm_p), "cache": np.array(cache_p),
            "has_cache": np.array(has_cache), "caption": np.array(caption_of), "spell": spell}


def mixture_bits(probs: dict[str, np.ndarray], ngram_share: float, cache_share: float) -> np.ndarray:
    """Ideal payload bits per caption of the mixture with these shares (see :mod:`neural_codec`)."""
    import numpy as np

    p = ngram_share * probs["kn"] + (1 - ngram_share) * probs["lm"]
    c = np.where(probs["has_cache"], cache_share, 0.0)
    p = (1 - c) * p + c * probs["cache"]
    bits = np.bincount(probs["caption"], weights=-np.log2(p), minlength=len(probs["spell"]))
    return bits + probs["spell"]


def run_train_prompt_lm(args: argparse.Namespace) -> int:
    import numpy as np
    import torch

    from semcom.files import default_data_dir, input_folder, output_folder
    from semcom.provenance import provenance
    from semcom.semantic.neural_codec import NeuralTextCodec
    from semcom.semantic.neural_lm import (
        PromptLMTraining,
        embed_words,
        general_english_words,
        mean_bits_per_word,
        principal_axes,
        project_vectors,
        prompt_lm_vocabulary,
        save_prompt_lm,
        train_prompt_lm,
    )
    from semcom.semantic.corpus import load_flickr8k_pairs
    from semcom.semantic.text_codec import TextCodec
    from semcom.semantic.tokens import corpus_tokens

    args.data = str(input_folder(default_data_dir(args.data), "--data"))
    output_folder(args.out, "--out")
    torch.set_num_threads(args.threads)
    t_start = time.perf_counter()
    limit = int(args.holdout * 2**32)
    train, held = [], []
    for img, cap in load_flickr8k_pairs(args.data):
        frac = int.from_bytes(hashlib.sha256(img.encode()).digest()[:4], "big")
        (held if frac < limit else train).append((img, cap))
    print(f"Flickr8k: {len(train)} training captions, {len(held)} held out")
    general = general_english_words(args.general_words)
    train_tokens = [corpus_tokens(c) for _, c in train]
    words = prompt_lm_vocabulary(train_tokens, general)
    wordfreq = require("wordfreq", "the prompt LM's vocabulary")
    general_freq = np.array([0.0, 0.0] + [max(wordfreq.word_frequency(w, "en"), 1e-9) for w in words[2:]])
    t0 = time.perf_counter()
    raw = embed_words(words)
    mean, axes, scale = principal_axes(raw[2:], args.dim)
    vectors = project_vectors(raw, mean, axes, scale)
    print(f"vocabulary {len(words)} words; MiniLM vectors in {time.perf_counter() - t0:.0f} s")
    ngram = TextCodec.from_corpus([c for _, c in train], order=3,
                                  general_words={w: max(1, int(f * 1e9)) for w, f in general.items()})
    wid = {w: i for i, w in enumerate(words)}
    captions = [(img, [wid[t] for t in toks]) for (img, _), toks in zip(train, train_tokens)]
    settings = PromptLMTraining(hidden=args.hidden, epochs=args.epochs, batch=args.batch, lr=args.lr,
                                negatives=args.negatives, residual_min_count=args.residual_min_count, seed=args.seed)
    t0 = time.perf_counter()
    model = train_prompt_lm(captions, vectors, general_freq, settings)
    train_s = time.perf_counter() - t0
    with torch.no_grad():  # the checkpoint stores float16 weights: tune and report what ships
        for param in model.parameters():
            param.copy_(param.half().float())

    held_tokens = [corpus_tokens(c) for _, c in held]
    held_ids = [[wid.get(t, 1) for t in toks] for toks in held_tokens]
    lstm_bits = mean_bits_per_word(model, held_ids)
    codec = NeuralTextCodec(ngram, model, words, ngram_weight=0.5, cache_weight=0.0)
    tune = held_tokens[:: max(1, len(held_tokens) // args.tune_captions)]
    probs = held_out_probabilities(codec, tune)
    grid = {(m, c): float(mixture_bits(probs, m, c).mean()) for m in _NGRAM_SHARES for c in _CACHE_SHARES}
    (m_best, c_best), best = min(grid.items(), key=lambda kv: kv[1])
    ngram_only = float(mixture_bits(probs, 1.0, 0.0).mean())
    print(f"held-out: LSTM alone {lstm_bits:.3f} bits/symbol; payload bits per caption ({len(tune)} captions): "
          f"n-gram {ngram_only:.2f}, mixture {best:.2f} (n-gram share {m_best}, cache share {c_best})")
    card = {
        "name": "prompt-lm-flickr8k",
        "description": "LSTM word model of the prompt codec, Flickr8k captions + wordfreq English words, MiniLM vectors",
        "mixture": {"ngram_weight": m_best, "cache_weight": c_best},
        "training": {
            "command": "semcom " + " ".join(shlex.quote(a) for a in sys.argv[1:]),
            "settings": vars(settings),
            "general_words": args.general_words,
            "holdout": args.holdout,
            "train_captions": len(train),
            "held_captions": len(held),
            "train_seconds": round(train_s, 1),
            "total_seconds": round(time.perf_counter() - t_start, 1),
            **provenance(args.seed),
        },
        "held_out": {
            "lstm_bits_per_symbol": round(lstm_bits, 4),
            "tune_captions": len(tune),
            "ngram_payload_bits": round(ngram_only, 2),
            "mixture_payload_bits": round(best, 2),
            "grid": {f"{m},{c}": round(v, 3) for (m, c), v in sorted(grid.items())},
        },
    }
    out = save_prompt_lm(args.out, model, words=words, mean=mean, axes=axes, scale=scale,
                         ngram_blob=ngram.to_bytes(), card=card)
    print(f"wrote {out} in {time.perf_counter() - t_start:.0f} s")
    return 0
