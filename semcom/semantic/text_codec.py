"""Lossless semantic text codec for prompts, over a knowledge base shared by both ends.

The transmitter sends an image's prompt (caption); the receiver regenerates the image from it.
Both ends hold the same knowledge base: a vocabulary and a word-level language model, stored
and synchronised as one deterministic blob (:meth:`TextCodec.to_bytes`). The codec turns a
prompt into as few bits as it can and gets the prompt back exactly.

Pipeline (``encode``)::

    text --normalise--> tokens --n-gram model + arithmetic coder--> payload bits
    bits = [KB version tag | check bits | payload]

Normalisation (part of the contract: ``decode`` returns the normalised prompt exactly)
    * lower-case (``str.lower``);
    * split into tokens: words are runs of letters and digits, joined by inner hyphens or
      apostrophes (``t-shirt``, ``o'clock``); numbers keep inner ``.``, ``,`` and ``:`` between
      digits (``3.5``, ``10:30``); the clitics ``'s 're 've 'll 'd 'm n't`` are split off
      a word (``man's`` -> ``man 's``, ``don't`` -> ``do n't``); every other non-space
      character is a token of its own (punctuation, symbols), so nothing is lost;
    * join the tokens with single spaces, except: no space before ``, . ; : ! ? ) ] } %``
      or a clitic, and none after ``( [ {``.
    ``normalize_prompt(normalize_prompt(x)) == normalize_prompt(x)`` for every text.

Language model (the knowledge base)
    * Words: an interpolated modified Kneser-Ney n-gram model (order 3 or 4) with a start
      context and an end-of-prompt symbol (so no length field is sent), evaluated in fixed-point
      integer arithmetic: every probability the coder uses is an integer frequency computed
      from integer counts, so both ends build bit-identical tables on any platform.
    * Words outside the vocabulary: an escape symbol, then the word spelled by a character
      Kneser-Ney model (trained on the vocabulary's word types) ending with an end-of-word
      symbol; a character outside the character alphabet is escaped again and sent as its
      Unicode code point. Nothing is ever dropped.

Arithmetic coder
    A range coder in Python integers (62-bit range, unbounded ``low``, so no carry handling
    and identical results on every platform); a symbol's share of the range is rounded by at
    most one part in 2**23. The payload is the shortest bit string whose value (the receiver
    pads with zeros) falls in the final interval: at most ``ceil(-log2 P) + 1`` bits, where P
    is the model probability of the prompt. Bits are counted one by one, not rounded to bytes.

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
import re
import struct
from collections import Counter
from dataclasses import dataclass
from pathlib import Path
from typing import Iterable, Sequence

import numpy as np

from semcom.errors import ConfigError, InputError
from semcom.registry import Registry

TEXT_CODECS: Registry = Registry("text codec")
"""Prompt codecs by name: ``ngram`` (n-gram Kneser-Ney, the default) and ``unigram`` (baseline)."""

FORMAT_VERSION = 1
_MAGIC = b"SCTX"
HEADER_FORMAT = 2
"""Version of the prompt header (tag, check over the payload): it personalises the check."""
_CHECK_PERSON = b"semcom-prompt-h%d" % HEADER_FORMAT

# ---------------------------------------------------------------------------------------------
# Normalisation
# ---------------------------------------------------------------------------------------------

_TOKEN_RE = re.compile(r"\d+(?:[.,:]\d+)+|[^\W_]+(?:['\-][^\W_]+)*|\S")
_CLITIC_RE = re.compile(r"^(.+?)(n't|'s|'re|'ve|'ll|'d|'m)$")
_CLITICS = frozenset({"n't", "'s", "'re", "'ve", "'ll", "'d", "'m"})
_NO_SPACE_BEFORE = frozenset(",.;:!?)]}%")
_NO_SPACE_AFTER = frozenset("([{")


def tokenize(text: str) -> list[str]:
    """Lower-case ``text`` and split it into word and punctuation tokens (see module doc)."""
    if not isinstance(text, str):
        raise InputError(f"a prompt must be a str, got {type(text).__name__}")
    tokens: list[str] = []
    for tok in _TOKEN_RE.findall(text.lower()):
        m = _CLITIC_RE.match(tok) if "'" in tok else None
        if m and m.group(1)[-1].isalnum():
            tokens.append(m.group(1))
            tokens.append(m.group(2))
        else:
            tokens.append(tok)
    return tokens


def detokenize(tokens: Sequence[str]) -> str:
    """Join tokens into the normalised text (inverse of :func:`tokenize` on its own output)."""
    out: list[str] = []
    for i, tok in enumerate(tokens):
        if i > 0 and not (tok in _NO_SPACE_BEFORE or tok in _CLITICS or tokens[i - 1] in _NO_SPACE_AFTER):
            out.append(" ")
        out.append(tok)
    return "".join(out)


def normalize_prompt(text: str) -> str:
    """The normalised form of a prompt: what the receiver gets back, word for word."""
    return detokenize(tokenize(text))


_CORPUS_CLITIC_RE = re.compile(r"\s+(n't|'s|'re|'ve|'ll|'d|'m)\b", re.IGNORECASE)


def corpus_tokens(line: str, *, strip_final_period: bool = True) -> list[str]:
    """Tokens of one training caption: clitics written apart (``man 's``) are rejoined first,
    and a final ``.`` is dropped (prompts usually have none; the end symbol ends them)."""
    tokens = tokenize(_CORPUS_CLITIC_RE.sub(r"\1", line))
    if strip_final_period and tokens and tokens[-1] == ".":
        tokens.pop()
    return tokens


def load_flickr8k_captions(path: str | os.PathLike) -> list[str]:
    """Captions of ``Flickr8k.token.txt`` (lines ``IMAGE#N<TAB>caption``), in file order.

    ``path`` is the file itself, the ``flickr8k-captions`` folder, or the shared data folder
    that holds it. Raises ``FileNotFoundError`` when none is there.
    """
    return [caption for _, caption in load_flickr8k_pairs(path)]


def load_flickr8k_pairs(path: str | os.PathLike) -> list[tuple[str, str]]:
    """``(image id, caption)`` pairs of Flickr8k, in file order (see :func:`load_flickr8k_captions`)."""
    p = Path(path)
    for cand in (p, p / "Flickr8k.token.txt", p / "flickr8k-captions" / "Flickr8k.token.txt"):
        if cand.is_file():
            break
    else:
        raise FileNotFoundError(f"no Flickr8k.token.txt at {p} (nor in {p}/flickr8k-captions/)")
    pairs = []
    with open(cand, encoding="utf-8") as f:
        for line in f:
            line = line.rstrip("\n").rstrip("\r")
            if not line.strip():
                continue
            key, sep, caption = line.partition("\t")
            if not sep:
                continue
            pairs.append((key.split("#", 1)[0], caption.strip()))
    return pairs


def default_data_dir() -> Path:
    """The shared data folder: ``$SEMCOM_DATA`` if set, else ``../shared/data`` beside the repo."""
    env = os.environ.get("SEMCOM_DATA")
    if env:
        return Path(env)
    here = Path(__file__).resolve()
    for parent in here.parents:
        cand = parent.parent / "shared" / "data"
        if cand.is_dir():
            return cand
    return Path("/work/shared/data")


def default_cache_dir() -> Path:
    """Where built models are cached: ``$SEMCOM_CACHE``, else ``$XDG_CACHE_HOME/semcom``, else ``~/.cache/semcom``."""
    env = os.environ.get("SEMCOM_CACHE")
    if env:
        return Path(env)
    xdg = os.environ.get("XDG_CACHE_HOME")
    return (Path(xdg) if xdg else Path.home() / ".cache") / "semcom"


# ---------------------------------------------------------------------------------------------
# Exact arithmetic coder
# ---------------------------------------------------------------------------------------------


_RANGE_BITS = 62  # the coding range lives in [2**54, 2**62): a symbol's share is rounded
_RENORM_BITS = 54  # to 1 part in 2**23 at worst (totals stay below 2**31), about 2e-7 bit


def _shortest_code(low: int, width: int, scale_bits: int) -> tuple[int, int]:
    """Shortest ``(value, k)`` with ``low <= value * 2**(scale_bits - k) < low + width``.

    The largest ``j`` with ``(low - 1) >> j != (low + width - 1) >> j`` gives ``k = scale_bits - j``.
    """
    if low == 0:
        return 0, 0
    last = low + width - 1
    j = ((low - 1) ^ last).bit_length() - 1
    return last >> j, scale_bits - j


_MAX_TOTAL = 1 << 40


def _check_share(cum: int, freq: int, total: int) -> None:
    if not (0 <= cum and freq >= 1 and cum + freq <= total <= _MAX_TOTAL):
        raise ValueError(f"bad symbol share cum={cum} freq={freq} total={total} (total must be <= 2**40)")


class ArithmeticEncoder:
    """Range coder over integer frequencies, in Python integers: deterministic everywhere.

    The interval is ``[low, low + range) / 2**scale``; ``range`` is kept in
    ``[2**54, 2**62)`` by shifting a byte at a time, and ``low`` is an unbounded integer, so
    there is no carry to propagate and nothing to flush. ``push(cum, freq, total)`` narrows it to
    a symbol with cumulative frequency ``cum`` (sum over the symbols before it), ``freq >= 1``
    and ``total``; the last symbol of a table also takes the rounding remainder.
    """

    __slots__ = ("low", "range", "scale")

    def __init__(self) -> None:
        self.low, self.range, self.scale = 0, 1 << _RANGE_BITS, _RANGE_BITS

    def push(self, cum: int, freq: int, total: int) -> None:
        _check_share(cum, freq, total)
        r = self.range // total
        self.low += r * cum
        self.range = self.range - r * cum if cum + freq == total else r * freq
        while self.range < 1 << _RENORM_BITS:
            self.low <<= 8
            self.range <<= 8
            self.scale += 8

    def bits(self) -> list[int]:
        """The shortest bit string that, padded with zeros, falls inside the final interval."""
        value, k = _shortest_code(self.low, self.range, self.scale)
        return [(value >> (k - 1 - i)) & 1 for i in range(k)]


class ArithmeticDecoder:
    """Decoder matching :class:`ArithmeticEncoder`; the bits are read as padded with zeros.

    It keeps the offset of the received value inside the current interval (at most
    ``62 + len(bits)`` bits), so each step costs time linear in the input length.
    """

    __slots__ = ("value", "k", "offset", "low", "range", "scale")

    def __init__(self, bits: Sequence[int]) -> None:
        value = 0
        for b in bits:
            value = (value << 1) | int(b)
        self.value, self.k = value, len(bits)
        self.low, self.range, self.scale = 0, 1 << _RANGE_BITS, _RANGE_BITS
        self.offset = value << _RANGE_BITS  # (value / 2**k - low / 2**scale) * 2**(scale + k)

    def target(self, total: int) -> int:
        """The cumulative frequency, in ``[0, total)``, that the next symbol's range contains."""
        return min((self.offset >> self.k) // (self.range // total), total - 1)

    def push(self, cum: int, freq: int, total: int) -> None:
        _check_share(cum, freq, total)
        r = self.range // total
        self.low += r * cum
        self.offset -= (r * cum) << self.k
        self.range = self.range - r * cum if cum + freq == total else r * freq
        while self.range < 1 << _RENORM_BITS:
            self.low <<= 8
            self.offset <<= 8
            self.range <<= 8
            self.scale += 8

    def canonical(self) -> bool:
        """True when the bits are exactly what the encoder emits for the symbols decoded so far."""
        return _shortest_code(self.low, self.range, self.scale) == (self.value, self.k)


def _push_symbol(coder, freqs: np.ndarray, sym: int) -> None:
    cum = int(freqs[:sym].sum())
    coder.push(cum, int(freqs[sym]), int(freqs.sum()))


def _pull_symbol(dec: ArithmeticDecoder, freqs: np.ndarray) -> int:
    cums = np.cumsum(freqs)
    total = int(cums[-1])
    x = dec.target(total)
    sym = min(int(np.searchsorted(cums, x, side="right")), len(freqs) - 1)
    lo = int(cums[sym - 1]) if sym else 0
    dec.push(lo, int(cums[sym]) - lo, total)
    return sym


# ---------------------------------------------------------------------------------------------
# Interpolated modified Kneser-Ney n-gram model in fixed point
# ---------------------------------------------------------------------------------------------

_FP = 30  # fixed-point scale of probabilities: 2**30
_DQ = 10  # discounts are stored in units of 2**-10
_MAX_COUNT = 1 << 22  # counts << (_FP + _DQ) stay inside int64


def _estimate_discounts(counts: Iterable[int], scale: float = 1.0) -> list[int]:
    """Modified Kneser-Ney discounts (D1, D2, D3+) of Chen & Goodman, in units of 2**-10."""
    coc = Counter(c for c in counts if 1 <= c <= 4)
    n1, n2, n3, n4 = (coc.get(i, 0) for i in (1, 2, 3, 4))
    defaults = (0.5, 1.0, 1.5)
    if n1 == 0 or n2 == 0:
        ds = list(defaults)
    else:
        y = n1 / (n1 + 2 * n2)
        ds = [1 - 2 * y * n2 / n1, 2 - 3 * y * n3 / n2 if n3 else defaults[1], 3 - 4 * y * n4 / n3 if n3 and n4 else defaults[2]]
    out = []
    for i, d in enumerate(ds):
        d = min(max(d * scale, 0.05), i + 0.95)
        out.append(int(round(d * (1 << _DQ))))
    return out


def _unique_rows(rows: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """Distinct rows of a 2-D integer array in lexicographic order, and how often each occurs."""
    rows = np.asarray(rows, dtype=np.int32)
    if rows.shape[0] == 0:
        return rows.reshape(0, rows.shape[1]), np.zeros(0, dtype=np.int64)
    srt = rows[np.lexsort(rows.T[::-1])]
    new = np.ones(len(srt), dtype=bool)
    new[1:] = np.any(srt[1:] != srt[:-1], axis=1)
    starts = np.flatnonzero(new)
    counts = np.diff(np.append(starts, len(srt)))
    return srt[starts], counts.astype(np.int64)


class NgramModel:
    """Interpolated modified Kneser-Ney model over symbols ``0 .. num_symbols-1``.

    ``bos`` (= ``num_symbols``) is a context-only start symbol. The model is defined by integer
    tables only: ``unigram`` (adjusted counts of each symbol, shape [num_symbols], int64),
    ``ngrams[k]`` for k = 2..order (shape [M_k, k] int32 id rows sorted lexicographically, and
    [M_k] int64 adjusted counts) and ``discounts`` ([order][3] ints, units of 2**-10).
    :meth:`freqs` turns them into integer frequencies, deterministically.
    """

    def __init__(
        self,
        num_symbols: int,
        order: int,
        unigram: np.ndarray,
        ngrams: dict,
        discounts: list[list[int]],
        base: np.ndarray | None = None,
    ):
        if order < 1:
            raise ConfigError(f"n-gram order must be >= 1, got {order}")
        self.num_symbols = int(num_symbols)
        self.bos = self.num_symbols
        self.order = int(order)
        self.id_bits = max(1, (self.num_symbols + 1).bit_length())
        if (self.order - 1) * self.id_bits > 62:
            raise ConfigError(f"order {order} is too high for {num_symbols} symbols")
        self.unigram = np.asarray(unigram, dtype=np.int64)
        self.ngrams = {int(k): (np.asarray(r, dtype=np.int32), np.asarray(c, dtype=np.int64)) for k, (r, c) in ngrams.items()}
        self.discounts = [list(map(int, d)) for d in discounts]
        self._validate()
        self.base = None if base is None else np.asarray(base, dtype=np.int64)
        if self.base is not None and (
            self.base.shape != (self.num_symbols,) or self.base.min() < 1 or self.base.max() >= 1 << 31
        ):
            raise ConfigError("base weights must be one integer in [1, 2**31) per symbol")
        self._prepare()

    def _validate(self) -> None:
        if self.unigram.shape != (self.num_symbols,) or self.num_symbols < 1:
            raise ConfigError("unigram counts must be one per symbol")
        if int(self.unigram.min()) < 0 or int(self.unigram.max()) >= _MAX_COUNT:
            raise ConfigError("unigram counts must be in [0, 2**22)")
        if sorted(self.ngrams) != list(range(2, self.order + 1)):
            raise ConfigError(f"an order-{self.order} model needs n-gram tables of orders 2..{self.order}")
        for k, (rows, cnts) in self.ngrams.items():
            if rows.ndim != 2 or rows.shape[1] != k or cnts.shape != (rows.shape[0],):
                raise ConfigError(f"{k}-gram table has the wrong shape")
            if not rows.size:
                continue
            if int(cnts.min()) < 1 or int(cnts.max()) >= _MAX_COUNT:
                raise ConfigError(f"{k}-gram counts must be in [1, 2**22)")
            if int(rows.min()) < 0 or int(rows[:, :-1].max()) > self.bos or int(rows[:, -1].max()) >= self.num_symbols:
                raise ConfigError(f"{k}-gram table holds an unknown symbol")
            prev, cur = rows[:-1].astype(np.int64), rows[1:].astype(np.int64)
            diff = cur - prev
            first = np.argmax(diff != 0, axis=1)
            step = diff[np.arange(len(diff)), first]
            if np.any(step <= 0):
                raise ConfigError(f"{k}-gram rows must be sorted and distinct")
        if len(self.discounts) != self.order or any(
            len(d) != 3 or not all(0 <= x <= 3 << _DQ for x in d) for d in self.discounts
        ):
            raise ConfigError("discounts must be [order][3] integers in [0, 3 * 2**10]")

    # -- estimation ---------------------------------------------------------------------------
    @classmethod
    def estimate(
        cls,
        sequences: Iterable[Sequence[int]],
        num_symbols: int,
        order: int,
        *,
        extra_unigram: dict[int, int] | None = None,
        discount_scale: float = 1.0,
        base: np.ndarray | None = None,
    ) -> "NgramModel":
        """Count ``sequences`` (each ending with its end symbol) and estimate the model.

        ``extra_unigram`` adds adjusted counts at the unigram level (e.g. the escape symbol).
        """
        bos = num_symbols
        seqs = [np.asarray(seq, dtype=np.int32) for seq in sequences]
        pad = np.full(order - 1, bos, dtype=np.int32)
        flat = np.concatenate([part for seq in seqs for part in (pad, seq)] or [pad])
        starts = np.cumsum([0] + [order - 1 + len(seq) for seq in seqs])[:-1]
        # positions of every predicted symbol (all but the padding)
        ends = np.concatenate([st + order - 1 + np.arange(len(seq)) for st, seq in zip(starts, seqs)] or [np.zeros(0, int)])
        ends = ends.astype(np.int64)
        raw: dict[int, tuple[np.ndarray, np.ndarray]] = {}
        for k in range(1, order + 1):
            rows = flat[ends[:, None] + np.arange(1 - k, 1)[None, :]] if ends.size else np.zeros((0, k), np.int32)
            raw[k] = _unique_rows(rows)
        # adjusted counts: raw at the top order and for n-grams that start with <s>, the number
        # of distinct left extensions otherwise (every k-gram is the suffix of a (k+1)-gram here)
        adjusted = {order: raw[order]}
        for k in range(order - 1, 0, -1):
            rows, cnt = raw[k]
            suffixes, cont = _unique_rows(raw[k + 1][0][:, 1:])
            if not np.array_equal(suffixes, rows):
                raise AssertionError("n-gram suffixes do not match")  # cannot happen with padding
            adjusted[k] = (rows, np.where(rows[:, 0] == bos, cnt, cont).astype(np.int64))
        unigram = np.zeros(num_symbols, dtype=np.int64)
        np.add.at(unigram, adjusted[1][0][:, 0], adjusted[1][1])
        for w, c in (extra_unigram or {}).items():
            unigram[int(w)] += int(c)
        ngrams = {k: adjusted[k] for k in range(2, order + 1)}
        discounts = [_estimate_discounts(unigram.tolist(), discount_scale)]
        for k in range(2, order + 1):
            discounts.append(_estimate_discounts(ngrams[k][1].tolist(), discount_scale))
        return cls(num_symbols, order, unigram, ngrams, discounts, base)

    # -- derived fixed-point tables ------------------------------------------------------------
    def _key(self, ctx: Sequence[int]) -> int:
        key = 0
        for s in ctx:
            key = (key << self.id_bits) | int(s)
        return key

    def _prepare(self) -> None:
        n = self.num_symbols
        u = self.unigram
        d = np.asarray(self.discounts[0], dtype=np.int64)
        total = int(u.sum())
        if total <= 0:
            raise ConfigError("the n-gram model has no counts")
        disc = np.where(u >= 3, d[2], np.where(u == 2, d[1], d[0]))
        disc = np.where(u > 0, disc, 0)
        num = np.maximum((u << _DQ) - disc, 0)
        # p1 = discounted unigram + (what the discounts and the flooring left) x base distribution
        p1 = (num << _FP) // (total << _DQ)
        rest = max(0, (1 << _FP) - int(p1.sum()))
        if self.base is None:
            p1 += rest // n
        else:
            p1 += (rest * self.base) // int(self.base.sum())
        self._p1 = p1.astype(np.int64)
        self._levels = {}
        for k in range(2, self.order + 1):
            rows, cnts = self.ngrams[k]
            m = len(cnts)
            if m == 0:
                self._levels[k] = None
                continue
            ctx = rows[:, :-1].astype(np.int64)
            keys = np.zeros(m, dtype=np.int64)
            for j in range(k - 1):
                keys = (keys << self.id_bits) | ctx[:, j]
            change = np.ones(m, dtype=bool)
            change[1:] = keys[1:] != keys[:-1]
            starts = np.flatnonzero(change)
            ctx_keys = keys[starts]
            bounds = np.append(starts, m)
            dk = np.asarray(self.discounts[k - 1], dtype=np.int64)
            disc = np.where(cnts >= 3, dk[2], np.where(cnts == 2, dk[1], dk[0]))
            disc = np.minimum(disc, cnts << _DQ)
            ctx_total = np.add.reduceat(cnts, starts)
            ctx_disc = np.add.reduceat(disc, starts)
            seg = np.repeat(np.arange(len(starts)), np.diff(bounds))
            den = ctx_total[seg] << _DQ
            entry = (((cnts << _DQ) - disc) << _FP) // den
            gamma = (ctx_disc << _FP) // (ctx_total << _DQ)
            self._levels[k] = (ctx_keys, bounds, rows[:, -1].astype(np.int64), entry, gamma)

    def freqs(self, context: Sequence[int]) -> np.ndarray:
        """Integer frequencies (all >= 1, shape [num_symbols], int64) of the next symbol.

        ``context`` holds the previous symbols (``bos`` for positions before the start); only
        the last ``order - 1`` are used.
        """
        vec = self._p1
        for k in range(2, self.order + 1):
            lvl = self._levels.get(k)
            if lvl is None or len(context) < k - 1:
                break
            ctx_keys, bounds, words, entry, gamma = lvl
            key = self._key(context[len(context) - (k - 1) :])
            i = int(np.searchsorted(ctx_keys, key))
            if i >= len(ctx_keys) or int(ctx_keys[i]) != key:
                break
            s, e = int(bounds[i]), int(bounds[i + 1])
            vec = (vec * int(gamma[i])) >> _FP
            vec[words[s:e]] += entry[s:e]
        return vec + 1

    # -- serialisation -------------------------------------------------------------------------
    def state(self) -> dict:
        return {
            "num_symbols": self.num_symbols,
            "order": self.order,
            "discounts": self.discounts,
        }

    def arrays(self) -> list[np.ndarray]:
        out = [self.unigram, self.base if self.base is not None else np.zeros(0, dtype=np.int64)]
        for k in range(2, self.order + 1):
            rows, cnts = self.ngrams[k]
            out.extend([rows, cnts])
        return out

    @classmethod
    def from_state(cls, state: dict, arrays: list[np.ndarray]) -> "NgramModel":
        order = int(state["order"])
        ngrams = {}
        for k in range(2, order + 1):
            rows, cnts = arrays[2 * k - 2], arrays[2 * k - 1]
            ngrams[k] = (rows.reshape(-1, k), cnts)
        base = arrays[1] if len(arrays[1]) else None
        return cls(state["num_symbols"], order, arrays[0], ngrams, state["discounts"], base)


# ---------------------------------------------------------------------------------------------
# Array (de)serialisation: a deterministic, compact container
# ---------------------------------------------------------------------------------------------


def _delta_rows(rows: np.ndarray) -> np.ndarray:
    """Columns of lexicographically sorted rows, each value replaced by its difference to the
    previous row's when the row shares every earlier column with it (small numbers compress)."""
    rows = rows.astype(np.int64)
    out = np.empty((rows.shape[1], rows.shape[0]), dtype=np.int64)
    same = np.zeros(rows.shape[0], dtype=bool)
    same[1:] = True
    for j in range(rows.shape[1]):
        col = rows[:, j]
        prev = np.concatenate([[0], col[:-1]])
        out[j] = np.where(same, col - prev, col)
        same &= np.concatenate([[False], col[1:] == col[:-1]])
    return out


def _undelta_rows(cols: np.ndarray) -> np.ndarray:
    """Inverse of :func:`_delta_rows`."""
    ncol, n = cols.shape
    rows = np.empty((n, ncol), dtype=np.int64)
    same = np.zeros(n, dtype=bool)
    same[1:] = True
    for j in range(ncol):
        stored = cols[j]
        starts = np.flatnonzero(~same)
        seg = np.cumsum(~same) - 1
        cs = np.cumsum(stored)
        col = cs - (cs[starts] - stored[starts])[seg] if n else cs
        rows[:, j] = col
        same &= np.concatenate([[False], col[1:] == col[:-1]])
    return rows


def _varint_encode(values: np.ndarray) -> bytes:
    """LEB128 bytes of non-negative integers (7 bits a byte, high bit = more bytes follow)."""
    v = np.asarray(values, dtype=np.int64)
    if v.size and int(v.min()) < 0:
        raise ValueError("varints must be non-negative")
    if v.size == 0:
        return b""
    nbytes = np.ones(v.size, dtype=np.int64)
    for p in range(1, 10):
        nbytes += v >= (1 << (7 * p))
    width = int(nbytes.max())
    grid = np.zeros((v.size, width), dtype=np.uint8)
    for p in range(width):
        more = (nbytes > p + 1).astype(np.int64) << 7
        grid[:, p] = (((v >> (7 * p)) & 0x7F) | more).astype(np.uint8)
    keep = np.arange(width)[None, :] < nbytes[:, None]
    return grid[keep].tobytes()


def _varint_decode(data: bytes, count: int) -> tuple[np.ndarray, int]:
    """The first ``count`` LEB128 values of ``data`` and the number of bytes they took."""
    if count == 0:
        return np.zeros(0, dtype=np.int64), 0
    b = np.frombuffer(data, dtype=np.uint8)
    ends = np.flatnonzero(b < 0x80)
    if len(ends) < count:
        raise InputError("text codec blob is truncated")
    used = int(ends[count - 1]) + 1
    b = b[:used].astype(np.int64)
    ends = ends[:count]
    starts = np.concatenate([[0], ends[:-1] + 1])
    if int((ends - starts).max()) > 8:
        raise InputError("text codec blob has an oversized number")
    pos = np.arange(used) - np.repeat(starts, ends - starts + 1)
    return np.add.reduceat((b & 0x7F) << (7 * pos), starts), used


def _pack_arrays(header: dict, arrays: list[np.ndarray]) -> bytes:
    """Canonical bytes: JSON header, then each array as (kind, columns, length) and varints.

    2-D id tables (sorted rows) are stored column by column, delta-coded (see
    :func:`_delta_rows`), so most numbers take one byte.
    """
    head = json.dumps(header, sort_keys=True, separators=(",", ":"), ensure_ascii=True).encode()
    parts = [struct.pack("<I", len(head)), head, struct.pack("<I", len(arrays))]
    for a in arrays:
        a = np.ascontiguousarray(a)
        if a.ndim == 2:
            flat, kind, ncol = _delta_rows(a).reshape(-1), 1, a.shape[1]
        else:
            flat, kind, ncol = a.astype(np.int64), 0, 1
        parts.append(struct.pack("<BIQ", kind, ncol, flat.size))
        parts.append(_varint_encode(flat))
    return b"".join(parts)


def _unpack_arrays(raw: bytes) -> tuple[dict, list[np.ndarray]]:
    off = 0
    (hl,) = struct.unpack_from("<I", raw, off)
    off += 4
    header = json.loads(raw[off : off + hl].decode())
    off += hl
    (na,) = struct.unpack_from("<I", raw, off)
    off += 4
    arrays = []
    for _ in range(na):
        kind, ncol, count = struct.unpack_from("<BIQ", raw, off)
        off += struct.calcsize("<BIQ")
        if ncol < 1 or count % ncol or count > len(raw):
            raise InputError("text codec blob is inconsistent")
        flat, used = _varint_decode(raw[off:], count)
        off += used
        arrays.append(_undelta_rows(flat.reshape(ncol, -1)) if kind == 1 else flat)
    if off != len(raw):
        raise InputError("text codec blob has trailing bytes")
    return header, arrays


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
        return _pack_arrays(header, self.word_model.arrays() + self.char_model.arrays())

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
            header, arrays = _unpack_arrays(raw)
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
            _push_symbol(coder, freqs, sym)
            if sym == UNK:
                escapes += 1
                spelled.append(tok)
                cctx = [cm.bos] * (cm.order - 1)
                for ch in list(tok) + [None]:
                    csym = EOW if ch is None else self._char_id.get(ch, UNK_CHAR)
                    _push_symbol(coder, cm.freqs(cctx), csym)
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
        header = _int_bits(self.kb_version, self.version_bits) + _int_bits(self._check(payload), self.check_bits)
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
        tag = _bits_int(arr[:vb])
        if tag != self.kb_version:
            return DecodedPrompt("", False, "kb-version-mismatch", n)
        payload = arr[vb + cb :]
        if _bits_int(arr[vb : vb + cb]) != self._check(payload):
            return DecodedPrompt("", False, "crc", n)
        dec = ArithmeticDecoder(payload.tolist())
        cm = self.char_model
        nv = len(self.vocab)
        history: list[int] = []
        spelled: list[str] = []
        tokens: list[str] = []
        while True:
            freqs = self._word_freqs(history)
            sym = _pull_symbol(dec, freqs)
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
                    csym = _pull_symbol(dec, cm.freqs(cctx))
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
                if not word or word in self._word_id or (word not in _CLITICS and tokenize(word) != [word]):
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


def _int_bits(value: int, width: int) -> list[int]:
    return [(value >> (width - 1 - i)) & 1 for i in range(width)]


def _bits_int(bits: np.ndarray) -> int:
    v = 0
    for b in bits.tolist():
        v = (v << 1) | int(b)
    return v


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


def general_english_counts(n_words: int = 50000, scale: float = 1e9) -> dict[str, int]:
    """``{word: count}`` of the ``n_words`` most frequent English words (``count`` =
    frequency x ``scale``), from the optional package ``wordfreq``."""
    try:
        import wordfreq
    except ImportError as err:
        raise ConfigError("general English word counts need the optional package 'wordfreq' (pip install wordfreq)") from err
    out = {}
    for w in wordfreq.top_n_list("en", n_words):
        out[w] = max(1, int(wordfreq.word_frequency(w, "en") * scale))
    return out


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


def flickr8k_split(data_dir: str | os.PathLike | None = None, holdout: float = 0.05) -> tuple[list[str], list[str]]:
    """(train captions, held-out captions): an image is held out when the first 4 bytes of the
    SHA-256 of its id, read as a fraction of 2**32, fall below ``holdout``."""
    if not 0.0 <= holdout < 1.0:
        raise ConfigError(f"holdout must be in [0, 1), got {holdout}")
    pairs = load_flickr8k_pairs(data_dir if data_dir is not None else default_data_dir())
    train, held = [], []
    limit = int(holdout * 2**32)
    for img, cap in pairs:
        frac = int.from_bytes(hashlib.sha256(img.encode()).digest()[:4], "big")
        (held if frac < limit else train).append(cap)
    return train, held


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
