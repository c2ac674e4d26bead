"""Prompt codec whose word probabilities mix the n-gram knowledge base with a recurrent word model.

Same bit format, header and guarantees as :class:`~semcom.semantic.text_codec.TextCodec`
(lossless, escapes and spelling for words outside the vocabulary, KB tag and keyed check);
only the word distribution differs::

    p(w | history) = (1 - c) * [ m * p_ngram(w | last words) + (1 - m) * p_lstm(w | history) ]
                     + c * (share of w among the words already sent)         (c = 0 before any)

A word spelled earlier in the prompt comes back as a repeat symbol that takes half of the escape
probability (shared among the words spelled so far), instead of being spelled again.

``m`` (n-gram share) and ``c`` (cache share) are chosen on held-out Flickr8k captions when the
model is trained and stored in its card. The LSTM (:mod:`semcom.semantic.neural_lm`) runs in
float64 and the mixture is rounded to integer frequencies out of 2**30: encoder and decoder in one
software stack compute identical tables. Two ends on different numeric stacks could in principle
round a frequency differently by one part in 2**30; the receiver then accepts the payload only if
it is exactly the canonical code, under its own tables, of what it decoded (otherwise reason
``malformed``), and the word vectors' hash is part of the KB digest that keys the check.
"""

from __future__ import annotations

import hashlib
import json
import struct
import threading
from collections import OrderedDict
from pathlib import Path
from typing import Sequence

import numpy as np
import torch

from semcom.errors import ConfigError, InputError
from semcom.semantic.neural_lm import (
    EOS_ID,
    UNK_ID,
    PromptLM,
    PromptLMCheckpoint,
    build_prompt_lm,
    cached_word_vectors,
    load_prompt_lm,
    project_vectors,
    prompt_lm_from_bytes,
)
from semcom.semantic.corpus import default_cache_dir
from semcom.semantic.text_codec import EOS, UNK, TEXT_CODECS, TextCodec

_SCALE = 1 << 30
_RECENT_TABLES = 48  # word tables remembered (about 0.5 MB each for the shipped model)
_MAGIC = b"SCNL"


class NeuralTextCodec(TextCodec):
    """Lossless prompt codec: n-gram + LSTM mixture (see the module doc).

    ngram:        the n-gram codec whose vocabulary, character model and n-gram model are used;
                  its vocabulary must be the LSTM's (same words, any order).
    lm:           the LSTM word model; ``words`` its vocabulary (ids of ``lm``).
    ngram_weight: share ``m`` of the n-gram model; cache_weight: share ``c`` of the cache.
    options:      header widths and limits as in :class:`TextCodec`.
    """

    name = "neural"

    def __init__(self, ngram: TextCodec, lm: PromptLM, words: Sequence[str], *, ngram_weight: float,
                 cache_weight: float, lm_digest: bytes | None = None, container: bytes | None = None, **options):
        if not 0.0 <= ngram_weight <= 1.0 or not 0.0 <= cache_weight < 1.0:
            raise ConfigError(f"mixture weights out of range: ngram {ngram_weight}, cache {cache_weight}")
        lm_id = {w: i for i, w in enumerate(words)}
        if len(words) != len(ngram.vocab) or any(w not in lm_id for w in ngram.vocab):
            raise ConfigError("the n-gram model and the LSTM must share one vocabulary")
        self.lm = lm.double().eval()
        self.lm_words = list(words)
        self.ngram_weight, self.cache_weight = float(ngram_weight), float(cache_weight)
        self._to_lm = torch.tensor([lm_id[w] for w in ngram.vocab], dtype=torch.long)
        self._lm_digest = lm_digest or _model_digest(self.lm)
        self._container = container
        self._lm_ids = self._to_lm.tolist()
        self._lock = threading.Lock()
        self._inputs: tuple = ()
        self._state = None
        self._recent: OrderedDict[tuple, torch.Tensor] = OrderedDict()
        with torch.no_grad():  # every word's output vector and bias, computed once
            idx = torch.arange(self.lm.vocab_size)
            self._outputs = (*self.lm.outputs(idx, self.lm.counts), idx == EOS_ID)
        params = dict(ngram.params, ngram_weight=self.ngram_weight, cache_weight=self.cache_weight,
                      lm_hidden=self.lm.hidden_size, lm_dim=self.lm.dim)
        super().__init__(ngram.vocab, ngram.chars, ngram.word_model, ngram.char_model, params=params, **options)

    # the knowledge base's identity: the n-gram model, the LSTM and its word vectors
    def _serialise(self) -> bytes:
        return super()._serialise() + b"LSTM" + self._lm_digest

    def to_bytes(self) -> bytes:
        """The codec's shareable form: card, weights and n-gram blob (word vectors are recomputed)."""
        if self._container is None:
            raise ConfigError("this neural codec was built in memory; save it with semcom.semantic.neural_lm.save_prompt_lm")
        return self._container

    def _blob_size(self) -> int | None:
        return None if self._container is None else len(self._container)

    @classmethod
    def from_bytes(cls, data: bytes, *, sentence_model: str | None = None, cache_dir: str | Path | None = None,
                   **options) -> "NeuralTextCodec":
        """Rebuild a codec from :meth:`to_bytes` (word vectors recomputed with MiniLM, cached)."""
        data = bytes(data)
        if data[:4] != _MAGIC or len(data) < 12:
            raise InputError("not a neural prompt codec blob")
        n_card, n_weights = struct.unpack(">II", data[4:12])
        card = data[12 : 12 + n_card]
        weights = data[12 + n_card : 12 + n_card + n_weights]
        ngram_blob = data[12 + n_card + n_weights :]
        if len(card) != n_card or len(weights) != n_weights or not ngram_blob:
            raise InputError("neural prompt codec blob is truncated")
        ck = prompt_lm_from_bytes(card, weights, ngram_blob, origin="blob")
        return codec_from_checkpoint(ck, _word_vectors(ck, sentence_model, cache_dir), **options)

    def _lm_logprobs(self, history: Sequence[int]) -> torch.Tensor:
        """float64 log-probabilities ``(V,)``, in n-gram vocabulary order, of the word after ``history``.

        The LSTM state of the last call is kept (coding a prompt word by word costs one step each)
        and recent tables are remembered, so decoding what was just encoded repeats no work.
        """
        nv = len(self._lm_ids)
        inputs = (EOS_ID,) + tuple(self._lm_ids[s] if s < nv else UNK_ID for s in history)
        with self._lock, torch.no_grad():
            if inputs in self._recent:
                self._recent.move_to_end(inputs)
                return self._recent[inputs]
            done = self._inputs
            if len(inputs) <= len(done) or inputs[: len(done)] != done:
                done, self._state = (), None
            h, self._state = self.lm.states(torch.tensor([inputs[len(done) :]]), self._state)
            self._inputs = inputs
            logits = self.lm.scores_from(h[:, -1:], *self._outputs)[0, 0]
            table = torch.log_softmax(logits, -1)[self._to_lm]
            self._recent[inputs] = table
            while len(self._recent) > _RECENT_TABLES:
                self._recent.popitem(last=False)
            return table

    def _word_freqs(self, history: Sequence[int]) -> np.ndarray:
        kn = super()._word_freqs(history).astype(np.float64)
        p = self.ngram_weight * (kn / kn.sum())
        if self.ngram_weight < 1.0:
            p += (1.0 - self.ngram_weight) * self._lm_logprobs(history).exp().numpy()
        spelled = history.count(UNK)
        if spelled:
            # a word already spelled in this prompt comes back as symbol V + k: half the escape
            # mass is shared among those repeats, so a repeat costs a few bits, not a new spelling
            repeat = 0.5 * p[UNK]
            p[UNK] -= repeat
            p = np.concatenate([p, np.full(spelled, repeat / spelled)])
        words = [s for s in history if s not in (EOS, UNK)]
        if words and self.cache_weight > 0:
            cache = np.bincount(words, minlength=len(p)).astype(np.float64) / len(words)
            p = (1.0 - self.cache_weight) * p + self.cache_weight * cache
        return np.floor(p * _SCALE).astype(np.int64) + 1

    def describe(self) -> dict:
        info = super().describe()
        info.update(lm_hidden=self.lm.hidden_size, lm_dim=self.lm.dim, ngram_weight=self.ngram_weight,
                    cache_weight=self.cache_weight)
        return info


def _model_digest(lm: PromptLM) -> bytes:
    h = hashlib.sha256()
    for name, t in sorted(lm.state_dict().items()):
        h.update(name.encode())
        h.update(t.detach().double().contiguous().numpy().tobytes())
    for buf in (lm.vectors, lm.log_general, lm.counts):
        h.update(buf.detach().double().contiguous().numpy().tobytes())
    return h.digest()


def codec_from_checkpoint(ck: PromptLMCheckpoint, vectors: np.ndarray, *, ngram_weight: float | None = None,
                          cache_weight: float | None = None, **options) -> NeuralTextCodec:
    """The codec of a loaded checkpoint given its projected word vectors ``(V, dim)``."""
    ngram = TextCodec.from_bytes(ck.ngram_blob)
    lm = build_prompt_lm(ck, vectors)
    mix = ck.card.get("mixture", {})
    return NeuralTextCodec(
        ngram, lm, ck.words,
        ngram_weight=mix.get("ngram_weight", 0.5) if ngram_weight is None else ngram_weight,
        cache_weight=mix.get("cache_weight", 0.0) if cache_weight is None else cache_weight,
        container=_container(ck), **options,
    )


def _container(ck: PromptLMCheckpoint) -> bytes:
    card = json.dumps(ck.card, sort_keys=True).encode()
    return _MAGIC + struct.pack(">II", len(card), len(ck.weights)) + card + ck.weights + ck.ngram_blob


_LOADED: dict[tuple, NeuralTextCodec] = {}


@TEXT_CODECS.register("neural")
def load_neural_codec(lines=None, *, data_dir=None, checkpoint: str | None = None, sentence_model: str | None = None,
                      cache_dir: str | Path | None = None, **options) -> NeuralTextCodec:
    """The shipped prompt codec (``checkpoint``: name or folder; default ``prompt-lm-flickr8k``).

    The knowledge base travels in the checkpoint (n-gram blob, LSTM, vocabulary); the word
    vectors are recomputed from the MiniLM sentence model (``sentence_model``: folder; default the
    bundled one) and cached under ``cache_dir``. ``lines`` and ``data_dir`` are not used: the
    corpus was read when the checkpoint was trained.
    """
    if lines is not None:
        raise ConfigError("the neural codec is trained, not built from lines: semcom train prompt-lm")
    ck = load_prompt_lm(checkpoint)
    key = (str(ck.folder), sentence_model, tuple(sorted(options.items())))
    if key not in _LOADED:
        _LOADED[key] = codec_from_checkpoint(ck, _word_vectors(ck, sentence_model, cache_dir), **options)
    return _LOADED[key]


def _word_vectors(ck: PromptLMCheckpoint, sentence_model: str | None, cache_dir: str | Path | None) -> np.ndarray:
    raw = cached_word_vectors(ck.words, sentence_model, Path(cache_dir) if cache_dir else default_cache_dir())
    return project_vectors(raw, ck.mean, ck.axes, ck.scale)
