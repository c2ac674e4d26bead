"""The n-gram + LSTM prompt codec: round trips, cache, header checks, corruption, training, checkpoint."""

from __future__ import annotations

import numpy as np
import pytest
import torch

from semcom.errors import ConfigError, WeightsNotFoundError
from semcom.semantic import TEXT_CODECS, NeuralTextCodec, TextCodec, normalize_prompt
from semcom.semantic.neural_codec import codec_from_checkpoint
from semcom.semantic.neural_lm import (
    PromptLM,
    PromptLMTraining,
    load_prompt_lm,
    mean_bits_per_word,
    resolve_prompt_lm,
    save_prompt_lm,
    train_prompt_lm,
)

from test_text_codec import OOV_PROMPTS, TINY_CORPUS, _corruptions

DIM = 8


def _tiny_parts(seed: int = 0):
    ngram = TextCodec.from_corpus(TINY_CORPUS, order=3)
    words = list(ngram.vocab)
    gen = torch.Generator().manual_seed(seed)
    vectors = torch.randn(len(words), DIM, generator=gen)
    lm = PromptLM(vectors, torch.zeros(len(words)), torch.ones(len(words)), hidden=16, dropout=0.0)
    return ngram, words, lm


@pytest.fixture(scope="module")
def tiny():
    ngram, words, lm = _tiny_parts()
    return NeuralTextCodec(ngram, lm, words, ngram_weight=0.5, cache_weight=0.05)


def test_round_trips_and_oov(tiny):
    for prompt in TINY_CORPUS + OOV_PROMPTS + ["", "a", "a dog dog dog dog"]:
        enc = tiny.encode(prompt)
        dec = tiny.decode(enc.bits)
        assert dec.ok, (prompt, dec.reason)
        assert dec.text == enc.text == normalize_prompt(prompt)
    # decoding out of order (the LSTM state cache must not leak between prompts)
    encs = [tiny.encode(p) for p in TINY_CORPUS]
    for prompt, enc in reversed(list(zip(TINY_CORPUS, encs))):
        assert tiny.decode(enc.bits).text == normalize_prompt(prompt)
    assert np.array_equal(tiny.encode(TINY_CORPUS[0]).bits, encs[0].bits)


def test_mixture_tables_are_valid_and_cache_helps(tiny):
    for history in ([], [5], [5, 6, 7, 1]):
        f = tiny._word_freqs(history)
        assert f.dtype == np.int64 and f.min() >= 1 and f.sum() < 2**31
        assert f.size == len(tiny.vocab) + history.count(1)  # one repeat symbol per spelled word
    ngram, words, lm = _tiny_parts()
    no_cache = NeuralTextCodec(ngram, lm, words, ngram_weight=0.5, cache_weight=0.0)
    for repeat in ("a dog a dog a dog a dog a dog a dog", "a zxqv and a zxqv"):  # vocabulary and spelled words
        assert tiny.encode(repeat).num_bits < no_cache.encode(repeat).num_bits
        assert tiny.decode(tiny.encode(repeat).bits).text == repeat
    # "and" is outside the tiny vocabulary too: spelled once, then "zxqv" once; the repeat is a symbol
    assert tiny.encode("a zxqv and a zxqv").num_escapes == 2 and no_cache.encode("a zxqv and a zxqv").num_escapes == 3
    pure_ngram = NeuralTextCodec(ngram, lm, words, ngram_weight=1.0, cache_weight=0.0)
    for prompt in TINY_CORPUS:  # with the LSTM switched off the tables are the n-gram's
        assert abs(pure_ngram.encode(prompt).num_bits - ngram.encode(prompt).num_bits) <= 2


def test_kb_mismatch_is_detected(tiny):
    enc = tiny.encode("a dog runs in the park")
    ngram, words, lm = _tiny_parts(seed=1)  # same vocabulary, other LSTM weights
    other = NeuralTextCodec(ngram, lm, words, ngram_weight=0.5, cache_weight=0.05)
    assert other.digest != tiny.digest
    forced = NeuralTextCodec(ngram, lm, words, ngram_weight=0.5, cache_weight=0.05, kb_version=tiny.kb_version)
    dec = forced.decode(enc.bits)
    assert not dec.ok and dec.reason in {"crc", "malformed", "too-long"}
    if other.kb_version != tiny.kb_version:
        assert other.decode(enc.bits).reason == "kb-version-mismatch"


def test_bad_settings_are_config_errors():
    ngram, words, lm = _tiny_parts()
    with pytest.raises(ConfigError):
        NeuralTextCodec(ngram, lm, words, ngram_weight=1.5, cache_weight=0.0)
    with pytest.raises(ConfigError):
        NeuralTextCodec(ngram, lm, words[:-1] + ["zzz"], ngram_weight=0.5, cache_weight=0.0)
    with pytest.raises(ConfigError):
        TEXT_CODECS.create("neural", lines=TINY_CORPUS)


def test_random_corruptions_never_raise(tiny):
    rng = np.random.default_rng(5)
    encs = [tiny.encode(p) for p in ("a dog runs on the green grass", "a zxq kodachrome photo of 2 dogs")]
    for i in range(400):
        enc = encs[i % 2]
        _, bits = _corruptions(enc.bits, rng)
        dec = tiny.decode(bits)
        assert isinstance(dec.ok, bool)
        if not dec.ok:
            assert dec.reason in {"crc", "malformed", "too-long", "kb-version-mismatch"} and dec.text == ""


def test_training_lowers_the_loss_and_checkpoint_round_trips(tmp_path):
    ngram = TextCodec.from_corpus(TINY_CORPUS, order=3)
    words = list(ngram.vocab)
    wid = {w: i for i, w in enumerate(words)}
    from semcom.semantic.text_codec import corpus_tokens

    captions = [(f"img{i}", [wid[t] for t in corpus_tokens(c)]) for i, c in enumerate(TINY_CORPUS * 4)]
    vectors = np.random.default_rng(0).standard_normal((len(words), DIM)).astype(np.float32)
    general = np.full(len(words), 1e-4)
    settings = PromptLMTraining(hidden=32, epochs=0.0, batch=8, lr=1e-2, negatives=0, log_every=1000)
    untrained = train_prompt_lm(captions, vectors, general, settings, log=lambda _: None)
    trained = train_prompt_lm(captions, vectors, general, PromptLMTraining(hidden=32, epochs=30, batch=8, lr=1e-2,
                                                                           negatives=0, log_every=1000),
                              log=lambda _: None)
    ids = [c for _, c in captions[:5]]
    assert mean_bits_per_word(trained, ids) < mean_bits_per_word(untrained, ids) - 1.0

    mean, axes = np.zeros(DIM, np.float32), np.eye(DIM, dtype=np.float32)
    folder = save_prompt_lm(tmp_path / "lm", trained, words=words, mean=mean, axes=axes, scale=1.0,
                            ngram_blob=ngram.to_bytes(), card={"mixture": {"ngram_weight": 0.4, "cache_weight": 0.02}})
    ck = load_prompt_lm(folder)
    assert ck.words == words and ck.card["mixture"]["ngram_weight"] == 0.4
    codec = codec_from_checkpoint(ck, vectors)
    again = codec_from_checkpoint(load_prompt_lm(folder), vectors)
    assert codec.digest == again.digest and codec.kb_version == again.kb_version
    for prompt in TINY_CORPUS + OOV_PROMPTS:
        enc = codec.encode(prompt)
        assert np.array_equal(enc.bits, again.encode(prompt).bits)
        assert again.decode(enc.bits).text == normalize_prompt(prompt)


def test_missing_checkpoint_says_how_to_get_it(tmp_path):
    with pytest.raises(WeightsNotFoundError, match="semcom train prompt-lm"):
        resolve_prompt_lm(tmp_path / "nothing-here")
