"""The n-gram + LSTM prompt codec: round trips, cache, header checks, corruption, training, checkpoint."""

from __future__ import annotations

import numpy as np
import pytest
import torch

from semcom.errors import ConfigError, InputError, WeightsNotFoundError
from semcom.semantic import TEXT_CODECS, NeuralTextCodec, TextCodec, normalize_prompt
from semcom.semantic.neural_codec import codec_from_checkpoint
from semcom.semantic.neural_lm import (
    PromptLM,
    PromptLMTraining,
    embed_words,
    load_prompt_lm,
    mean_bits_per_word,
    principal_axes,
    project_vectors,
    resolve_prompt_lm,
    save_prompt_lm,
    train_prompt_lm,
)

from test_text_codec import OOV_PROMPTS, TINY_CORPUS

DIM = 8


def _tiny_parts(seed: int = 0):
    ngram = TextCodec.from_corpus(TINY_CORPUS, order=3)
    words = list(ngram.vocab)
    gen = torch.Generator().manual_seed(seed)
    vectors = torch.randn(len(words), DIM, generator=gen)
    with torch.random.fork_rng():  # the layers' initial weights too, whatever ran before
        torch.manual_seed(seed)
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
    repeat = "a dog a dog a dog a dog a dog a dog"
    assert tiny.encode(repeat).num_bits < no_cache.encode(repeat).num_bits
    # a spelled word comes back as a repeat symbol ("and" is outside the tiny vocabulary too)
    twice = "a zxqv and a zxqv"
    for codec in (tiny, no_cache):
        enc = codec.encode(twice)
        assert enc.num_escapes == 2 and codec.decode(enc.bits).text == twice
    assert ngram.encode(twice).num_escapes == 3
    assert no_cache.encode(twice).num_bits < no_cache.encode("a zxqv and a zxqw").num_bits - 10
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
    assert not dec.ok and dec.reason == "crc"  # the check is keyed with the LSTM's digest too
    if other.kb_version != tiny.kb_version:
        assert other.decode(enc.bits).reason == "kb-version-mismatch"


def test_describe_and_sharing(tiny):
    info = tiny.describe()
    assert info["name"] == "neural" and info["ngram_weight"] == 0.5 and info["blob_bytes"] is None
    with pytest.raises(ConfigError, match="save_prompt_lm"):
        tiny.to_bytes()


def test_bad_settings_are_config_errors():
    ngram, words, lm = _tiny_parts()
    with pytest.raises(ConfigError):
        NeuralTextCodec(ngram, lm, words, ngram_weight=1.5, cache_weight=0.0)
    with pytest.raises(ConfigError):
        NeuralTextCodec(ngram, lm, words[:-1] + ["zzz"], ngram_weight=0.5, cache_weight=0.0)
    with pytest.raises(ConfigError):
        TEXT_CODECS.create("neural", lines=TINY_CORPUS)


def test_training_lowers_the_loss_and_checkpoint_round_trips(tmp_path):
    ngram = TextCodec.from_corpus(TINY_CORPUS, order=3)
    words = list(ngram.vocab)
    wid = {w: i for i, w in enumerate(words)}
    from semcom.semantic.tokens import corpus_tokens

    captions = [(f"img{i}", [wid[t] for t in corpus_tokens(c)]) for i, c in enumerate(TINY_CORPUS * 4)]
    mean, axes, scale = principal_axes(embed_words(words)[2:], DIM)  # real MiniLM word vectors
    vectors = project_vectors(embed_words(words), mean, axes, scale)
    general = np.full(len(words), 1e-4)
    settings = PromptLMTraining(hidden=32, epochs=0.0, batch=8, lr=1e-2, negatives=0, log_every=1000)
    untrained = train_prompt_lm(captions, vectors, general, settings, log=lambda _: None)
    trained = train_prompt_lm(captions, vectors, general, PromptLMTraining(hidden=32, epochs=30, batch=8, lr=1e-2,
                                                                           negatives=0, residual_min_count=2,
                                                                           log_every=1000),
                              log=lambda _: None)
    assert trained.residual_bias.numel() > 0 and trained.residual_bias.abs().sum() > 0
    ids = [c for _, c in captions[:5]]
    assert mean_bits_per_word(trained, ids) < mean_bits_per_word(untrained, ids) - 1.0

    folder = save_prompt_lm(tmp_path / "lm", trained, words=words, mean=mean, axes=axes, scale=scale,
                            ngram_blob=ngram.to_bytes(), card={"mixture": {"ngram_weight": 0.4, "cache_weight": 0.02}})
    ck = load_prompt_lm(folder)
    assert ck.words == words and ck.card["mixture"]["ngram_weight"] == 0.4
    codec = codec_from_checkpoint(ck, vectors)
    again = codec_from_checkpoint(load_prompt_lm(folder), vectors)
    assert codec.digest == again.digest and codec.kb_version == again.kb_version
    # the shareable blob: card, weights and n-gram model; the receiver recomputes the word vectors
    blob = codec.to_bytes()
    received = NeuralTextCodec.from_bytes(blob, cache_dir=tmp_path / "cache")
    assert received.digest == codec.digest and received.to_bytes() == blob
    for prompt in TINY_CORPUS + OOV_PROMPTS:
        enc = codec.encode(prompt)
        assert np.array_equal(enc.bits, again.encode(prompt).bits)
        assert again.decode(enc.bits).text == normalize_prompt(prompt)
        assert received.decode(enc.bits).text == normalize_prompt(prompt)
    for bad in (blob[:20], b"SCNL" + blob[4:12], b"nonsense"):
        with pytest.raises(InputError):
            NeuralTextCodec.from_bytes(bad)


def test_missing_checkpoint_says_how_to_get_it(tmp_path):
    with pytest.raises(WeightsNotFoundError, match="semcom train prompt-lm"):
        resolve_prompt_lm(tmp_path / "nothing-here")


# --- the shipped checkpoint on the Kodak reference captions ----------------------------------------

from test_text_codec import KODAK  # noqa: E402


@pytest.fixture(scope="module")
def shipped():
    return TEXT_CODECS.create("neural")


@pytest.fixture(scope="module")
def kodak_captions():
    import json

    images = json.loads(KODAK.read_text())["images"]
    return [images[k]["caption"] for k in sorted(images)]


def test_shipped_codec_round_trips_oov_and_reloads(shipped):
    assert isinstance(shipped, NeuralTextCodec) and shipped.name == "neural"
    assert TEXT_CODECS.create("neural") is shipped  # loaded once per process
    for prompt in OOV_PROMPTS:
        enc = shipped.encode(prompt)
        assert shipped.decode(enc.bits).text == normalize_prompt(prompt)
    card = load_prompt_lm().card
    assert 0 < card["mixture"]["ngram_weight"] < 1 and "command" in card["training"]
    assert card["held_out"]["mixture_payload_bits"] < card["held_out"]["ngram_payload_bits"]


def test_shipped_codec_round_trips_every_kodak_caption(shipped, kodak_captions):
    for cap in kodak_captions:
        enc = shipped.encode(cap)
        dec = shipped.decode(enc.bits)
        assert dec.ok and dec.text == normalize_prompt(cap) == enc.text


def test_shipped_codec_beats_the_ngram_codec_on_kodak(shipped, kodak_captions):
    from semcom.semantic import build_flickr8k_codec

    ngram = build_flickr8k_codec()
    bits = np.mean([shipped.encode(c).num_bits for c in kodak_captions])
    assert bits < np.mean([ngram.encode(c).num_bits for c in kodak_captions]) - 4
    # regression bound on the measured figure (see experiments/text_codec_bits.py)
    assert bits <= 128  # measured: 125.8 bits, 22 of header (the n-gram codec: 134.3)


@pytest.mark.xfail(
    strict=True,
    reason="target of the issue: <= 100 bits per Kodak caption; the shipped n-gram + LSTM codec, whose "
    "knowledge base is Flickr8k and English word frequencies only, measures about 126 (header included)",
)
def test_kodak_mean_bits_within_target(shipped, kodak_captions):
    assert np.mean([shipped.encode(c).num_bits for c in kodak_captions]) <= 100
