"""Prompt receivers fuzzed as a hostile channel would: corrupted payloads never crash or hang them,
and are accepted as a different prompt no more often than the check allows.

Two levels, for each shipped codec (``ngram``, ``unigram``, ``neural``):

* the receiver (``decode``) on 10,000 corrupted Kodak prompts: the check, verified before any
  decoding, rejects all but about 2**-14 of those that carry the right tag, and the wrong
  acceptances are consistent with a rate of at most 1e-4;
* the decoder behind the check, on corrupted payloads whose check was recomputed (what the few
  that collide look like): no exception, bounded time, and whatever it accepts is exactly the
  encoder's code of the prompt it returns.

Measured with ``experiments/prompt_integrity.py`` over 1,000,000 corrupted prompts per codec.
"""

from __future__ import annotations

import json
import time

import numpy as np
import pytest

from semcom.errors import InputError
from semcom.semantic import TEXT_CODECS, DecodedPrompt, EncodedPrompt, NeuralTextCodec, TextCodec, build_flickr8k_codec
from semcom.semantic.corruption import corrupt, forged_payloads

from test_neural_codec import _tiny_parts
from test_text_codec import DATA, KODAK, TINY_CORPUS

CASES = 10_000
# at a rate of 1e-4, 10,000 corrupted prompts give 5 or more wrong acceptances with probability < 0.4 %
WRONG_MAX = 4
# seconds per payload: rejected before decoding / decoded (a garbage decode is at most max_words word
# steps; the shipped neural codec's steps run an LSTM and a 59k-word softmax, slow on 2 busy cores)
REJECT_S = 0.25
DECODE_S = {"ngram": 1.0, "unigram": 1.0, "neural": 20.0, "tiny-ngram": 1.0, "tiny-neural": 2.0}
FAILURES = {"malformed", "too-long", "kb-version-mismatch", "crc"}


def _shipped(name: str) -> TextCodec:
    if name == "neural":
        return TEXT_CODECS.create("neural")
    return build_flickr8k_codec(DATA) if name == "ngram" else TEXT_CODECS.create("unigram", data_dir=DATA)


@pytest.fixture(scope="module", params=["ngram", "unigram", "neural"])
def receiver(request) -> tuple[str, TextCodec, list[EncodedPrompt]]:
    images = json.loads(KODAK.read_text())["images"]
    captions = [images[k]["caption"] for k in sorted(images)]
    codec = _shipped(request.param)
    prompts = captions[:4] if request.param == "neural" else captions  # 0.1-1 s per neural encode
    return request.param, codec, [codec.encode(p) for p in prompts]


@pytest.fixture(scope="module", params=["tiny-ngram", "tiny-neural"])
def tiny_receiver(request) -> tuple[str, TextCodec, list[EncodedPrompt]]:
    if request.param == "tiny-ngram":
        codec: TextCodec = TextCodec.from_corpus(TINY_CORPUS, order=3)
    else:
        ngram, words, lm = _tiny_parts()
        codec = NeuralTextCodec(ngram, lm, words, ngram_weight=0.5, cache_weight=0.05)
    prompts = ["a dog runs on the green grass", "a zxq kodachrome photo of 2 dogs", "a man's bike (red), 3.5 m"]
    return request.param, codec, [codec.encode(p) for p in prompts]


def _timed_decode(codec: TextCodec, bits: np.ndarray) -> tuple[DecodedPrompt, float]:
    t0 = time.perf_counter()
    dec = codec.decode(bits)
    return dec, time.perf_counter() - t0


def _reaches_check(codec: TextCodec, sent: np.ndarray, bits: np.ndarray) -> bool:
    vb = codec.version_bits
    return codec.header_bits <= bits.size <= codec.max_bits and np.array_equal(bits[:vb], sent[:vb])


def test_receiver_rejects_corrupted_prompts(receiver):
    name, codec, encs = receiver
    rng = np.random.default_rng(18)
    reached = decoded = wrong = 0
    for i in range(CASES):
        enc = encs[i % len(encs)]
        _, bits = corrupt(enc.bits, rng, tag_bits=codec.version_bits)
        dec, seconds = _timed_decode(codec, bits)
        reaches = _reaches_check(codec, enc.bits, bits)
        reached += reaches
        if reaches and dec.reason != "crc":  # the check matched: the payload was decoded
            decoded += 1
            assert seconds < DECODE_S[name], (name, seconds)
        else:
            assert seconds < REJECT_S, (name, dec.reason, seconds)
        if dec.ok:
            assert dec.reason == "" and np.array_equal(codec.encode(dec.text).bits, bits)
            wrong += dec.text != enc.text
        else:
            assert dec.reason in FAILURES and dec.text == ""
    assert reached > CASES // 2
    # about reached * 2**-14 (0.6) get past the check; 5 or more has probability < 0.1 %
    assert decoded <= 4
    assert wrong <= WRONG_MAX


def _forged_fuzz(name: str, codec: TextCodec, encs: list[EncodedPrompt], cases: int, seed: int) -> float:
    """Decode ``cases`` corrupted payloads sealed with their own check; the share accepted as a
    different prompt (payloads the corruption left unchanged are not counted)."""
    wrong = done = 0
    for enc, bits in forged_payloads(codec, encs, cases, np.random.default_rng(seed)):
        dec, seconds = _timed_decode(codec, bits)
        assert seconds < DECODE_S[name], (name, seconds)
        done += 1
        if dec.ok:
            assert dec.reason == "" and np.array_equal(codec.encode(dec.text).bits, bits)
            wrong += dec.text != enc.text
        else:
            assert dec.reason in {"malformed", "too-long"} and dec.text == ""
    return wrong / max(done, 1)


FORGED = {"ngram": 1_000, "unigram": 1_000, "neural": 5, "tiny-ngram": 2_000, "tiny-neural": 300}


def test_decoder_behind_the_check_is_robust(receiver):
    name, codec, encs = receiver
    share = _forged_fuzz(name, codec, encs, FORGED[name], seed=19)
    if FORGED[name] >= 100:  # the decoder's own tests (canonical code, limits) refuse most (~65 % measured)
        assert share < 0.5


def test_tiny_decoders_behind_the_check_are_robust(tiny_receiver):
    name, codec, encs = tiny_receiver
    assert 0.0 < _forged_fuzz(name, codec, encs, FORGED[name], seed=20) < 0.6


@pytest.mark.slow
def test_decoder_behind_the_check_10000_payloads(receiver):
    """10,000 decoded payloads per n-gram and unigram receiver; 200 for the shipped neural codec
    (0.1-1 s per decode: its 10,000 are in the tiny neural codec's test below)."""
    name, codec, encs = receiver
    cases = 200 if name == "neural" else CASES
    assert _forged_fuzz(name, codec, encs, cases, seed=21) < 0.5


@pytest.mark.slow
def test_tiny_decoders_behind_the_check_10000_payloads(tiny_receiver):
    name, codec, encs = tiny_receiver
    assert 0.0 < _forged_fuzz(name, codec, encs, CASES, seed=22) < 0.6


@pytest.mark.parametrize("name", ["ngram", "unigram", pytest.param("neural", marks=pytest.mark.slow)])
def test_longest_prompt_decodes_in_bounded_time(name):
    codec = _shipped(name)
    enc = codec.encode(" ".join(["dog"] * codec.max_words))
    dec, seconds = _timed_decode(codec, enc.bits)
    assert dec.ok and seconds < DECODE_S[name]
    with pytest.raises(InputError, match="at most"):
        codec.encode(" ".join(["dog"] * (codec.max_words + 1)))
