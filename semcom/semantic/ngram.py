"""Interpolated modified Kneser-Ney n-gram model, evaluated in fixed-point integer arithmetic.

The prompt codec's knowledge base holds two such models: one over words (order 3 or 4, with a
start context and an end-of-prompt symbol, so no length field is sent) and one over the
characters that spell words outside the vocabulary (trained on the vocabulary's word types,
ending with an end-of-word symbol). Every probability the coder uses is an integer frequency
computed from integer counts, so both ends build bit-identical tables on any platform.
"""

from __future__ import annotations

from collections import Counter
from typing import Iterable, Sequence

import numpy as np

from semcom.errors import ConfigError

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
