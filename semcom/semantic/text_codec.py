"""Lossless semantic text codec for prompts, over a knowledge base shared by both ends.

The transmitter sends an image's prompt (caption); the receiver regenerates the image from it.
Both ends hold the same knowledge base: a vocabulary and a word-level language model, stored
and synchronised as one deterministic blob (:meth:`TextCodec.to_bytes`). The codec turns a
prompt into as few bits as it can and gets the prompt back exactly.

Pipeline (``encode``)::

    text --normalise--> tokens --n-gram model + arithmetic coder--> payload bits
    bits = [KB version tag | check bits | payload]

Normalisation (part of the contract: ``decode`` returns the normalised prompt exactly)
    Lower-case, split into word and punctuation tokens, rejoin with the canonical spacing
    (:mod:`semcom.semantic.tokens`).

Language model (the knowledge base)
    * Words: an interpolated modified Kneser-Ney n-gram model (order 3 or 4) with a start
      context and an end-of-prompt symbol (so no length field is sent), evaluated in fixed-point
      integer arithmetic (:mod:`semcom.semantic.ngram`): both ends build bit-identical tables.
    * Words outside the vocabulary: an escape symbol, then the word spelled by a character
      Kneser-Ney model (trained on the vocabulary's word types) ending with an end-of-word
      symbol; a character outside the character alphabet is escaped again and sent as its
      Unicode code point. Nothing is ever dropped.
    * The blob: :mod:`semcom.semantic.packing`; the Flickr8k captions: :mod:`semcom.semantic.corpus`.

Arithmetic coder
    An exact range coder in Python integers (:mod:`semcom.semantic.arithmetic`). The payload is at
    most ``ceil(-log2 P) + 1`` bits, where P is the model probability of the prompt; bits are
    counted one by one, not rounded to bytes.

Header (format 2, :data:`HEADER_FORMAT`)
    ``version_bits`` bits of KB version tag (default 8), then ``check_bits`` bits (default 14):
    the first ``check_bits`` bits of a BLAKE2b MAC keyed with the full digest of the model and
    personalised with the header format, over the tag and the payload (its length and every
    bit). The receiver accepts a payload only when it is exactly the canonical code of the
    prompt it decodes to, so under one knowledge base payload and prompt determine each other:
    the check covers the whole decoded prompt and the tag, and both ends compute it over the same
    bits. A receiver of another header format fails the check; no bit is spent on the format.
    (Format 1 sent 8 check bits over the decoded text, verified after decoding.)

Integrity
    The check is verified before any decoding, so a corrupted payload costs microseconds and
    reaches the arithmetic decoder only if its check matches. Whatever the corruption (bit flips,
    bursts, truncation, random bits behind the right tag), a corrupted payload is accepted as a
    *different* prompt with probability at most ``2**-check_bits``
    (:attr:`TextCodec.wrong_acceptance_bound`: 6.1e-5 with 14 bits); the decoder's own tests
    below lower it further. A receiver whose model differs but whose short tag collides fails the
    check in the same way. The check guards against channel errors, not forgery: anyone who holds
    the knowledge base can compute it.

Receiver guards
    In order: a malformed bit array or a header that does not fit (``"malformed"``), more than
    ``max_bits`` bits (``"too-long"``), a tag mismatch (``"kb-version-mismatch"``), a check
    mismatch (``"crc"``). Decoding is bounded (``max_words`` words, ``max_word_chars`` characters
    per spelled word; the encoder refuses prompts beyond the same limits, so a garbage stream
    costs at most ``max_words`` word steps), and the payload must be exactly the canonical code
    of what it decodes to (``"malformed"``, ``"too-long"`` otherwise). The decoder never raises
    on a bit array and never loops without bound.

>>> codec = TextCodec.from_corpus(["A dog runs on the grass .", "A man rides a red bike ."])
>>> enc = codec.encode("A dog rides a bike")
>>> codec.decode(enc.bits).text
'a dog rides a bike'
"""

from __future__ import annotations

import hashlib
import json
import lzma
import math
import os
import struct
from collections import Counter
from dataclasses import dataclass
from pathlib import Path
from typing import Iterable, Sequence

import numpy as np

from semcom.errors import ConfigError, InputError
from semcom.registry import Registry
from semcom.semantic.arithmetic import ArithmeticDecoder, ArithmeticEncoder, pull_symbol, push_symbol
from semcom.semantic.corpus import default_cache_dir, flickr8k_split, general_english_counts
from semcom.semantic.ngram import NgramModel
from semcom.semantic.packing import bits_int, int_bits, pack_arrays, unpack_arrays
from semcom.semantic.tokens import CLITICS, corpus_tokens, detokenize, tokenize

TEXT_CODECS: Registry = Registry("text codec")
"""Prompt codecs by name: ``ngram`` (n-gram Kneser-Ney, the default) and ``unigram`` (baseline)."""

FORMAT_VERSION = 1
_MAGIC = b"SCTX"
HEADER_FORMAT = 2
"""Version of the prompt header (tag, check over the payload): it personalises the check."""
_CHECK_PERSON = b"semcom-prompt-h%d" % HEADER_FORMAT

# ---------------------------------------------------------------------------------------------
# Results
# ---------------------------------------------------------------------------------------------


@dataclass(frozen=True)
class EncodedPrompt:
    """What the transmitter sends.

    text:        the normalised prompt (what the receiver will get back).
    bits:        [num_bits] uint8 of 0/1: header (KB tag, check bits) then the payload.
    num_bits:    exact number of bits, header included.
    header_bits: bits of the header (``version_bits + check_bits``).
    num_tokens:  tokens in the prompt (words and punctuation).
    num_escapes: tokens outside the vocabulary, spelled letter by letter.
    """

    text: str
    bits: np.ndarray
    num_bits: int
    header_bits: int
    num_tokens: int
    num_escapes: int

    @property
    def payload_bits(self) -> int:
        return self.num_bits - self.header_bits


@dataclass(frozen=True)
class DecodedPrompt:
    """What the receiver gets: ``text`` is the prompt when ``ok``; otherwise ``text`` is empty
    and ``reason`` says why (``kb-version-mismatch``, ``crc``, ``malformed``, ``too-long``)."""

    text: str
    ok: bool
    reason: str = ""
    num_bits: int = 0


def _as_bits(bits) -> np.ndarray | None:
    """A 1-D uint8 array of 0/1 from ``bits``, or None when it is not a bit array."""
    try:
        arr = np.asarray(bits)
    except Exception:  # noqa: BLE001 - anything that is not array-like is not a bit array
        return None
    if arr.ndim != 1 or arr.dtype == object:
        return None
    if arr.size == 0:
        return arr.astype(np.uint8)
    if arr.dtype == bool:
        return arr.astype(np.uint8)
    if not np.issubdtype(arr.dtype, np.number):
        return None
    if not np.all((arr == 0) | (arr == 1)):
        return None
    return arr.astype(np.uint8)


# ---------------------------------------------------------------------------------------------
# The codec
# ---------------------------------------------------------------------------------------------

EOS, UNK = 0, 1  # word ids: end of prompt, escape to spelling
EOW, UNK_CHAR = 0, 1  # char ids: end of word, escape to a code point
_SPECIAL_WORDS = ("</s>", "<unk>")
_SPECIAL_CHARS = ("</w>", "<unk>")
_CODE_POINTS = 0x110000


class TextCodec:
    """Lossless prompt codec over an n-gram knowledge base. Build with :meth:`from_corpus` or
    :meth:`from_bytes`.

    ``encode(prompt) -> EncodedPrompt`` and ``decode(bits) -> DecodedPrompt``; ``to_bytes()`` is
    the model blob that both ends share; ``kb_version`` the short tag sent in the header.

    version_bits / check_bits: header widths (KB tag, keyed check of tag and payload); 8 and 14.
    kb_version:   the tag to send and expect (e.g. the knowledge base's short version id);
                  default: derived from the SHA-256 of the canonical model.
    max_words / max_word_chars / max_bits: limits shared by encoder and decoder (128, 64, 8192).
    """

    name = "ngram"

    def __init__(
        self,
        vocab: Sequence[str],
        chars: Sequence[str],
        word_model: NgramModel,
        char_model: NgramModel,
        *,
        params: dict | None = None,
        version_bits: int = 8,
        check_bits: int = 14,
        kb_version: int | None = None,
        max_words: int = 128,
        max_word_chars: int = 64,
        max_bits: int = 8192,
    ):
        if not 0 <= version_bits <= 32:
            raise ConfigError(f"version_bits must be in 0..32, got {version_bits}")
        if not 0 <= check_bits <= 64:
            raise ConfigError(f"check_bits must be in 0..64, got {check_bits}")
        if max_words < 1 or max_word_chars < 1 or max_bits < 1:
            raise ConfigError("max_words, max_word_chars and max_bits must be >= 1")
        self.vocab = list(vocab)
        self.chars = list(chars)
        if self.vocab[:2] != list(_SPECIAL_WORDS) or self.chars[:2] != list(_SPECIAL_CHARS):
            raise ConfigError("vocabulary must start with the special symbols")
        if word_model.num_symbols != len(self.vocab) or char_model.num_symbols != len(self.chars):
            raise ConfigError("model sizes do not match the vocabulary")
        self.word_model = word_model
        self.char_model = char_model
        self.params = dict(params or {})
        self.version_bits = int(version_bits)
        self.check_bits = int(check_bits)
        self.max_words = int(max_words)
        self.max_word_chars = int(max_word_chars)
        self.max_bits = int(max_bits)
        self._word_id = {w: i for i, w in enumerate(self.vocab)}
        self._char_id = {c: i for i, c in enumerate(self.chars)}
        self._raw = self._serialise()
        self._blob: bytes | None = None
        self.digest = hashlib.sha256(self._raw).digest()
        derived = int.from_bytes(self.digest[:8], "big") & ((1 << self.version_bits) - 1)
        if kb_version is not None and not 0 <= int(kb_version) < (1 << self.version_bits):
            raise ConfigError(f"kb_version {kb_version} does not fit in {self.version_bits} bits")
        self._kb_version = derived if kb_version is None else int(kb_version)

    # -- building ------------------------------------------------------------------------------
    @classmethod
    def from_corpus(
        cls,
        lines: Iterable[str],
        order: int = 3,
        *,
        char_order: int = 5,
        min_count: int = 1,
        unk_count: int | None = None,
        general_words: dict[str, int] | None = None,
        general_floor: int = 1,
        discount_scale: float = 1.0,
        strip_final_period: bool = True,
        **options,
    ) -> "TextCodec":
        """Build the knowledge base from caption lines.

        order:        word n-gram order (1..4).
        char_order:   order of the character model that spells words outside the vocabulary.
        min_count:    words seen fewer times are left out of the vocabulary (spelled instead).
        unk_count:    unigram-level adjusted count of the escape symbol; default: the number of
                      word types seen once (a Good-Turing estimate of the mass of new words).
        general_words: optional ``{word: weight}`` of general language (e.g. English word
                      frequencies scaled to integers): these words join the vocabulary and the
                      weights shape the base distribution that the unigram level backs off to
                      (uniform without them). Fewer words are spelled, rare words cost less.
        general_floor: base weight of a vocabulary word missing from ``general_words``.
        discount_scale: multiplies every Kneser-Ney discount (1 = Chen & Goodman estimate).
        strip_final_period: drop a caption's final ``.`` before counting.
        options:      ``version_bits``, ``check_bits``, ``kb_version``, ``max_words``,
                      ``max_word_chars``, ``max_bits`` (see the class).
        """
        if not 1 <= order <= 4:
            raise ConfigError(f"word n-gram order must be in 1..4, got {order}")
        if not 1 <= char_order <= 8:
            raise ConfigError(f"char_order must be in 1..8, got {char_order}")
        sents = [corpus_tokens(line, strip_final_period=strip_final_period) for line in lines]
        sents = [s for s in sents if s]
        if not sents:
            raise InputError("the corpus has no captions")
        counts = Counter(t for s in sents for t in s)
        general: dict[str, int] = {}
        for w, c in (general_words or {}).items():
            c = min(int(c), (1 << 30) - 1)
            if c > 0 and tokenize(w) == [w]:
                general[w] = c
        kept = [w for w, c in counts.items() if c >= min_count]
        kept_set = set(kept)
        extra_only = [w for w in general if w not in kept_set]
        words = sorted(kept, key=lambda w: (-counts[w], w)) + sorted(extra_only, key=lambda w: (-general[w], w))
        vocab = list(_SPECIAL_WORDS) + words
        wid = {w: i for i, w in enumerate(vocab)}
        seqs = [[wid.get(t, UNK) for t in s] + [EOS] for s in sents]
        singletons = sum(1 for c in counts.values() if c == 1)
        if unk_count is None:
            unk_count = max(1, singletons)
        base = None
        if general:
            base = np.array([general.get(w, 0) + int(general_floor) for w in vocab], dtype=np.int64)
        word_model = NgramModel.estimate(
            seqs, len(vocab), order, extra_unigram={UNK: int(unk_count)}, discount_scale=discount_scale, base=base
        )
        # character model over word types (a spelled word is a rare word, so types, not tokens)
        types = list(words)
        ccount = Counter(ch for w in types for ch in w)
        chars = list(_SPECIAL_CHARS) + sorted(ccount, key=lambda ch: (-ccount[ch], ch))
        cid = {ch: i for i, ch in enumerate(chars)}
        cseqs = [[cid[ch] for ch in w] + [EOW] for w in types]
        char_model = NgramModel.estimate(cseqs, len(chars), char_order, extra_unigram={UNK_CHAR: 1})
        params = {
            "order": order,
            "char_order": char_order,
            "min_count": min_count,
            "unk_count": int(unk_count),
            "discount_scale": discount_scale,
            "strip_final_period": strip_final_period,
            "general_words": len(general),
            "general_floor": int(general_floor),
        }
        return cls(vocab, chars, word_model, char_model, params=params, **options)

    # -- serialisation ---------------------------------------------------------------------------
    def _serialise(self) -> bytes:
        header = {
            "format": FORMAT_VERSION,
            "vocab": self.vocab,
            "chars": self.chars,
            "word_model": self.word_model.state(),
            "char_model": self.char_model.state(),
            "params": self.params,
        }
        return pack_arrays(header, self.word_model.arrays() + self.char_model.arrays())

    def to_bytes(self) -> bytes:
        """The knowledge-base blob: magic, format, then the xz-compressed canonical model.

        ``kb_version`` and the check key come from the SHA-256 of the canonical (uncompressed)
        model, so they do not depend on the compressor's version.
        """
        if self._blob is None:
            self._blob = _MAGIC + bytes([FORMAT_VERSION]) + lzma.compress(self._raw, format=lzma.FORMAT_XZ, preset=9)
        return self._blob

    @classmethod
    def from_bytes(cls, data: bytes, **options) -> "TextCodec":
        """Rebuild a codec from :meth:`to_bytes` (``options`` as in :meth:`from_corpus`)."""
        if not isinstance(data, (bytes, bytearray, memoryview)):
            raise InputError("a text codec blob must be bytes")
        data = bytes(data)
        if data[:4] != _MAGIC or len(data) < 5 or data[4] != FORMAT_VERSION:
            raise InputError("not a text codec blob of this format version")
        try:
            raw = lzma.decompress(data[5:], format=lzma.FORMAT_XZ, memlimit=1 << 28)
            header, arrays = unpack_arrays(raw)
            wm = header["word_model"]
            nw = int(wm["order"]) * 2
            word_model = NgramModel.from_state(wm, arrays[:nw])
            char_model = NgramModel.from_state(header["char_model"], arrays[nw:])
            vocab, chars, params = header["vocab"], header["chars"], header["params"]
        except (lzma.LZMAError, ValueError, KeyError, struct.error, IndexError, TypeError) as err:
            raise InputError(f"corrupt text codec blob: {err}") from err
        codec = cls(vocab, chars, word_model, char_model, params=params, **options)
        if codec._raw != raw:
            raise InputError("text codec blob is not in canonical form")
        codec._blob = data
        return codec

    @property
    def kb_version(self) -> int:
        """The short KB version tag sent in every header (``version_bits`` bits)."""
        return self._kb_version

    @property
    def header_bits(self) -> int:
        return self.version_bits + self.check_bits

    @property
    def wrong_acceptance_bound(self) -> float:
        """Largest probability that a corrupted payload with the right tag is accepted as a
        different prompt: ``2**-check_bits`` (the check is a keyed MAC over tag and payload)."""
        return 2.0**-self.check_bits

    def _check(self, payload: np.ndarray) -> int:
        """The ``check_bits`` check of ``payload`` (uint8 bits) under this codec's tag and key."""
        if self.check_bits == 0:
            return 0
        msg = struct.pack(">BII", self.version_bits, self.kb_version, payload.size) + np.packbits(payload).tobytes()
        h = hashlib.blake2b(msg, key=self.digest, digest_size=8, person=_CHECK_PERSON).digest()
        return int.from_bytes(h, "big") >> (64 - self.check_bits)

    # -- coding ------------------------------------------------------------------------------------
    def _word_freqs(self, history: Sequence[int]) -> np.ndarray:
        """Integer frequencies of the next word symbol given the symbols coded so far.

        Symbols ``0 .. V-1`` are the vocabulary's. A subclass may return a longer table: symbol
        ``V + k`` then repeats the ``k``-th word spelled earlier in the prompt (no new spelling).
        """
        wm = self.word_model
        n = wm.order - 1
        nv = len(self.vocab)
        ctx = ([wm.bos] * n + [s if s < nv else UNK for s in history[-n:]])[-n:] if n else []
        return wm.freqs(ctx)

    def _code_tokens(self, coder, tokens: Sequence[str]) -> int:
        """Push ``tokens`` and the end symbol into ``coder``; return the number of escapes."""
        cm = self.char_model
        history: list[int] = []
        spelled: list[str] = []
        escapes = 0
        for tok in list(tokens) + [None]:
            sym = EOS if tok is None else self._word_id.get(tok, UNK)
            freqs = self._word_freqs(history)
            if sym == UNK and tok in spelled and len(self.vocab) + spelled.index(tok) < len(freqs):
                sym = len(self.vocab) + spelled.index(tok)
            push_symbol(coder, freqs, sym)
            if sym == UNK:
                escapes += 1
                spelled.append(tok)
                cctx = [cm.bos] * (cm.order - 1)
                for ch in list(tok) + [None]:
                    csym = EOW if ch is None else self._char_id.get(ch, UNK_CHAR)
                    push_symbol(coder, cm.freqs(cctx), csym)
                    if csym == UNK_CHAR:
                        coder.push(ord(ch), 1, _CODE_POINTS)
                    cctx = cctx[1:] + [csym] if cctx else cctx
            history.append(sym)
        return escapes

    def spelling_bits(self, word: str) -> float:
        """Ideal bits (-log2 of the probabilities) of spelling ``word`` after an escape."""
        cm = self.char_model
        cctx = [cm.bos] * (cm.order - 1)
        bits = 0.0
        for ch in list(word) + [None]:
            csym = EOW if ch is None else self._char_id.get(ch, UNK_CHAR)
            freqs = cm.freqs(cctx)
            bits -= math.log2(int(freqs[csym]) / int(freqs.sum()))
            if csym == UNK_CHAR:
                bits += math.log2(_CODE_POINTS)
            cctx = cctx[1:] + [csym] if cctx else cctx
        return bits

    def encode(self, prompt: str) -> EncodedPrompt:
        """Normalise ``prompt`` and code it: ``EncodedPrompt`` with the exact bit count."""
        tokens = tokenize(prompt)
        if any(0xD800 <= ord(ch) < 0xE000 for ch in prompt):
            raise InputError("a prompt must be valid Unicode text (it holds a lone surrogate)")
        if len(tokens) > self.max_words:
            raise InputError(f"prompt has {len(tokens)} tokens; this codec sends at most {self.max_words}")
        for tok in tokens:
            if len(tok) > self.max_word_chars and tok not in self._word_id:
                raise InputError(f"word {tok[:20]!r}... is longer than {self.max_word_chars} characters")
        text = detokenize(tokens)
        enc = ArithmeticEncoder()
        escapes = self._code_tokens(enc, tokens)
        bits = self.seal(np.array(enc.bits(), dtype=np.uint8))
        if bits.size > self.max_bits:
            raise InputError(f"prompt needs {bits.size} bits; this codec sends at most {self.max_bits}")
        return EncodedPrompt(text, bits, int(bits.size), self.header_bits, len(tokens), escapes)

    def seal(self, payload: np.ndarray) -> np.ndarray:
        """The bits sent for ``payload`` (0/1 values): KB tag, check of tag and payload, payload."""
        payload = np.asarray(payload, dtype=np.uint8)
        header = int_bits(self.kb_version, self.version_bits) + int_bits(self._check(payload), self.check_bits)
        return np.concatenate([np.array(header, dtype=np.uint8), payload])

    def decode(self, bits) -> DecodedPrompt:
        """Decode bits from :meth:`encode`; never raises on a bit array, never runs unbounded."""
        arr = _as_bits(bits)
        if arr is None:
            return DecodedPrompt("", False, "malformed", 0)
        n = int(arr.size)
        if n < self.header_bits:
            return DecodedPrompt("", False, "malformed", n)
        if n > self.max_bits:
            return DecodedPrompt("", False, "too-long", n)
        vb, cb = self.version_bits, self.check_bits
        tag = bits_int(arr[:vb])
        if tag != self.kb_version:
            return DecodedPrompt("", False, "kb-version-mismatch", n)
        payload = arr[vb + cb :]
        if bits_int(arr[vb : vb + cb]) != self._check(payload):
            return DecodedPrompt("", False, "crc", n)
        dec = ArithmeticDecoder(payload.tolist())
        cm = self.char_model
        nv = len(self.vocab)
        history: list[int] = []
        spelled: list[str] = []
        tokens: list[str] = []
        while True:
            freqs = self._word_freqs(history)
            sym = pull_symbol(dec, freqs)
            if sym == EOS:
                break
            if len(tokens) >= self.max_words:
                return DecodedPrompt("", False, "too-long", n)
            if sym >= nv:
                if sym - nv >= len(spelled):
                    return DecodedPrompt("", False, "malformed", n)
                tokens.append(spelled[sym - nv])
            elif sym == UNK:
                cctx = [cm.bos] * (cm.order - 1)
                chars: list[str] = []
                while True:
                    csym = pull_symbol(dec, cm.freqs(cctx))
                    if csym == EOW:
                        break
                    if len(chars) >= self.max_word_chars:
                        return DecodedPrompt("", False, "too-long", n)
                    if csym == UNK_CHAR:
                        cp = dec.target(_CODE_POINTS)
                        dec.push(cp, 1, _CODE_POINTS)
                        # the encoder never escapes a known character nor a surrogate
                        if 0xD800 <= cp < 0xE000 or chr(cp) in self._char_id:
                            return DecodedPrompt("", False, "malformed", n)
                        ch = chr(cp)
                        chars.append(ch)
                    else:
                        chars.append(self.chars[csym])
                    cctx = cctx[1:] + [csym] if cctx else cctx
                word = "".join(chars)
                if not word or word in self._word_id or (word not in CLITICS and tokenize(word) != [word]):
                    return DecodedPrompt("", False, "malformed", n)
                if word in spelled and nv + spelled.index(word) < len(freqs):
                    return DecodedPrompt("", False, "malformed", n)  # the encoder sends the repeat symbol
                spelled.append(word)
                tokens.append(word)
            else:
                tokens.append(self.vocab[sym])
            history.append(sym)
        if not dec.canonical():
            return DecodedPrompt("", False, "malformed", n)
        text = detokenize(tokens)
        if tokenize(text) != tokens:
            return DecodedPrompt("", False, "malformed", n)
        return DecodedPrompt(text, True, "", n)

    def bits_for(self, prompt: str) -> int:
        """Bits that :meth:`encode` spends on ``prompt`` (header included)."""
        return self.encode(prompt).num_bits

    def _blob_size(self) -> int | None:
        return len(self.to_bytes())

    def describe(self) -> dict:
        """Sizes and settings, for reports."""
        return {
            "name": self.name,
            "vocab_size": len(self.vocab),
            "chars": len(self.chars),
            "order": self.word_model.order,
            "char_order": self.char_model.order,
            "ngrams": {k: int(len(v[1])) for k, v in self.word_model.ngrams.items()},
            "blob_bytes": self._blob_size(),
            "kb_version": self.kb_version,
            "version_bits": self.version_bits,
            "check_bits": self.check_bits,
            "header_format": HEADER_FORMAT,
            "wrong_acceptance_bound": self.wrong_acceptance_bound,
            **{f"param_{k}": v for k, v in self.params.items()},
        }


class UnigramTextCodec(TextCodec):
    """Baseline: the same coder, escape and header over a unigram word-frequency model.

    :meth:`from_word_counts` builds it from general word frequencies (``{word: count}``, e.g.
    :func:`general_english_counts`); :meth:`from_corpus` from caption lines (order 1).
    """

    name = "unigram"

    @classmethod
    def from_corpus(cls, lines: Iterable[str], order: int = 1, **kwargs) -> "UnigramTextCodec":
        if order != 1:
            raise ConfigError("a unigram codec has order 1")
        return super().from_corpus(lines, order=1, **kwargs)

    @classmethod
    def from_word_counts(
        cls,
        counts: dict[str, int],
        *,
        char_order: int = 5,
        mean_length: float = 14.0,
        escape_rate: float = 0.01,
        **options,
    ) -> "UnigramTextCodec":
        """A unigram code from ``{word: count}``: the end symbol gets probability
        ``1 / (mean_length + 1)``, the escape ``escape_rate``, the words the rest in proportion
        to their counts; words outside the list are spelled with a character model of the list."""
        items = [(w, int(c)) for w, c in counts.items() if int(c) > 0 and tokenize(w) == [w]]
        if not items:
            raise InputError("no usable word counts")
        items.sort(key=lambda wc: (-wc[1], wc[0]))
        # scale the counts into the model's integer range (their sum to at most 2**21)
        div = max(1, -(-sum(c for _, c in items) // (1 << 21)))
        items = [(w, max(1, c // div)) for w, c in items]
        vocab = list(_SPECIAL_WORDS) + [w for w, _ in items]
        words_total = sum(c for _, c in items)
        p_end = 1.0 / (mean_length + 1.0)
        scale = 1.0 / max(1e-9, 1.0 - p_end - escape_rate)
        special = [max(1, int(round(words_total * scale * p_end))), max(1, int(round(words_total * scale * escape_rate)))]
        unigram = np.array(special + [c for _, c in items], dtype=np.int64)
        word_model = NgramModel(len(vocab), 1, unigram, {}, [[0, 0, 0]])
        ccount = Counter(ch for w, _ in items for ch in w)
        chars = list(_SPECIAL_CHARS) + sorted(ccount, key=lambda ch: (-ccount[ch], ch))
        cid = {ch: i for i, ch in enumerate(chars)}
        cseqs = [[cid[ch] for ch in w] + [EOW] for w, _ in items]
        char_model = NgramModel.estimate(cseqs, len(chars), char_order, extra_unigram={UNK_CHAR: 1})
        params = {"order": 1, "source": "word-counts", "mean_length": mean_length, "escape_rate": escape_rate}
        return cls(vocab, chars, word_model, char_model, params=params, **options)


# ---------------------------------------------------------------------------------------------
# Default knowledge base: Flickr8k, cached
# ---------------------------------------------------------------------------------------------

DEFAULT_ORDER = 3
_CODEC_OPTIONS = ("version_bits", "check_bits", "kb_version", "max_words", "max_word_chars", "max_bits")


def build_flickr8k_codec(
    data_dir: str | os.PathLike | None = None,
    *,
    order: int = DEFAULT_ORDER,
    holdout: float = 0.0,
    cache: bool = True,
    cache_dir: str | os.PathLike | None = None,
    **kwargs,
) -> TextCodec:
    """The n-gram codec built from Flickr8k captions (``data_dir`` defaults to the shared data).

    ``holdout`` in [0, 1) leaves out that share of images (chosen by a hash of the image id,
    see :func:`flickr8k_split`), for tuning. The blob is cached under ``cache_dir``
    (:func:`default_cache_dir`) keyed by the corpus and the settings.
    """
    options = {k: kwargs.pop(k) for k in _CODEC_OPTIONS if k in kwargs}
    train, _ = flickr8k_split(data_dir, holdout)
    key_src = json.dumps({"f": FORMAT_VERSION, "order": order, "kw": sorted((k, repr(v)) for k, v in kwargs.items())}).encode()
    h = hashlib.sha256(key_src)
    for line in train:
        h.update(line.encode("utf-8"))
        h.update(b"\n")
    path = Path(cache_dir) if cache_dir is not None else default_cache_dir()
    path = path / f"text-codec-{h.hexdigest()[:20]}.bin"
    if cache and path.is_file():
        try:
            return TextCodec.from_bytes(path.read_bytes(), **options)
        except InputError:
            pass
    codec = TextCodec.from_corpus(train, order=order, **kwargs, **options)
    if cache:
        try:
            path.parent.mkdir(parents=True, exist_ok=True)
            tmp = path.with_suffix(f".tmp{os.getpid()}")
            tmp.write_bytes(codec.to_bytes())
            os.replace(tmp, path)
        except OSError:
            pass
    return codec


@TEXT_CODECS.register("ngram")
def make_ngram_codec(lines: Iterable[str] | None = None, *, data_dir=None, **kwargs) -> TextCodec:
    """The n-gram codec from ``lines``, or from the Flickr8k captions of ``data_dir`` (cached)."""
    if lines is None:
        return build_flickr8k_codec(data_dir, **kwargs)
    return TextCodec.from_corpus(lines, **kwargs)


@TEXT_CODECS.register("unigram")
def make_unigram_codec(
    lines: Iterable[str] | None = None,
    *,
    data_dir=None,
    word_counts: dict | None = None,
    general_english: bool = False,
    **kwargs,
) -> TextCodec:
    """The unigram baseline from ``word_counts``, general English word frequencies
    (``general_english=True``, needs ``wordfreq``), ``lines``, or the Flickr8k captions."""
    if word_counts is None and general_english:
        word_counts = general_english_counts()
    if word_counts is not None:
        return UnigramTextCodec.from_word_counts(word_counts, **kwargs)
    if lines is None:
        lines, _ = flickr8k_split(data_dir, 0.0)
    return UnigramTextCodec.from_corpus(lines, **kwargs)
