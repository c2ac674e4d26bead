"""Exact arithmetic coder over integer frequencies, in Python integers.

A range coder with a 62-bit range and an unbounded ``low``, so there is no carry handling and the
results are identical on every platform; a symbol's share of the range is rounded by at most one
part in 2**23. The code is the shortest bit string whose value (the receiver pads with zeros)
falls in the final interval: at most ``ceil(-log2 P) + 1`` bits, where P is the probability of
the coded symbols. Bits are counted one by one, not rounded to bytes.
"""

from __future__ import annotations

from typing import Sequence

import numpy as np


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


def push_symbol(coder: ArithmeticEncoder | ArithmeticDecoder, freqs: np.ndarray, sym: int) -> None:
    """Narrow ``coder`` to symbol ``sym`` of the frequency table ``freqs`` (all >= 1)."""
    cum = int(freqs[:sym].sum())
    coder.push(cum, int(freqs[sym]), int(freqs.sum()))


def pull_symbol(dec: ArithmeticDecoder, freqs: np.ndarray) -> int:
    """Decode the next symbol of the frequency table ``freqs`` and narrow ``dec`` to it."""
    cums = np.cumsum(freqs)
    total = int(cums[-1])
    x = dec.target(total)
    sym = min(int(np.searchsorted(cums, x, side="right")), len(freqs) - 1)
    lo = int(cums[sym - 1]) if sym else 0
    dec.push(lo, int(cums[sym]) - lo, total)
    return sym

