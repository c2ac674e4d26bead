"""Gray square QAM, compiled: mapping, and exact APP demapping one PAM dimension at a time.

:class:`SquareQAMMapper` gives the symbols of Sionna's ``Mapper("qam", bits)`` (tested equal).

Sionna's 5G QAM (:func:`sionna.phy.mapping.qam`) labels a point by interleaving two Gray PAM
labels: even bits set the real part, odd bits the imaginary part. With circular Gaussian noise
the two parts are independent, so the exact APP LLR of an even bit depends on Re(y) alone:

    LLR = logsumexp_{a: bit = 1} -(Re(y) - a)^2 / N0  -  logsumexp_{a: bit = 0} -(Re(y) - a)^2 / N0

over the sqrt(M) real levels a of the constellation. The demapper below computes that for
2 x sqrt(M) instead of M distance terms per symbol, compiled (numba): the same
LLRs as Sionna's ``Demapper("app", "qam", bits)`` (tested).
"""

from __future__ import annotations

import numba
import numpy as np
import torch
from sionna.phy.mapping import Constellation

from semcom.link.kernels import FAST, exp32, log32, run_batch

_TINY = np.float32(np.finfo(np.float32).tiny)  # Sionna's floor on the noise variance
_MINUS_INF = np.float32(-np.inf)
_CHUNK = 64  # symbols per vectorised chunk


@numba.njit(nogil=True, **FAST)
def _demap(first, stop, real, imag, noise_var, levels, labels, llr) -> None:
    """Symbols first..stop-1 of real, imag, noise_var [symbols] float32 -> llr [symbols, 2 * bits per level].

    levels [L] float32 are the real levels of the constellation, labels [L, bits] uint8 their Gray
    labels; LLR 2j + d belongs to bit j of dimension d (0 real, 1 imaginary). Works on chunks of
    _CHUNK symbols, as 1-D slices indexed from 0, so that the loops over symbols vectorise.
    """
    num_levels, half = labels.shape
    exponent = np.empty((num_levels, _CHUNK), dtype=np.float32)
    best = np.empty((2, _CHUNK), dtype=np.float32)
    total = np.empty((2, _CHUNK), dtype=np.float32)
    for start in range(first, stop, _CHUNK):
        count = min(_CHUNK, stop - start)
        no = noise_var[start : start + count]
        for dim in range(2):
            received = (real if dim == 0 else imag)[start : start + count]
            for a in range(num_levels):
                row = exponent[a]
                for i in range(count):
                    d = received[i] - levels[a]
                    row[i] = -(d * d) / max(no[i], _TINY)
            for j in range(half):
                out = llr[start : start + count, 2 * j + dim]
                best0, best1, total0, total1 = best[0], best[1], total[0], total[1]
                best0[:] = _MINUS_INF
                best1[:] = _MINUS_INF
                total0[:] = 0
                total1[:] = 0
                for a in range(num_levels):
                    row, top = exponent[a], (best1 if labels[a, j] else best0)
                    for i in range(count):
                        top[i] = max(top[i], row[i])
                for a in range(num_levels):
                    row = exponent[a]
                    top, acc = (best1, total1) if labels[a, j] else (best0, total0)
                    for i in range(count):
                        acc[i] += exp32(row[i] - top[i])
                for i in range(count):
                    out[i] = (best1[i] + log32(total1[i])) - (best0[i] + log32(total0[i]))


@numba.njit(nogil=True, cache=True)
def _map(first, stop, bits, points, symbols) -> None:
    """Rows first..stop-1 of bits [symbols, bits per symbol] float32 0/1, MSB first ->
    symbols [symbols, 2] float32 (real, imaginary)."""
    for i in range(first, stop):
        index = 0
        for j in range(bits.shape[1]):
            index = 2 * index + (bits[i, j] != 0)
        symbols[i, 0] = points[index, 0]
        symbols[i, 1] = points[index, 1]


class SquareQAMMapper:
    """[batch, n * bits] float 0/1 -> [batch, n] complex64 symbols of Sionna's unit-energy Gray QAM.

    >>> from sionna.phy.mapping import Mapper
    >>> bits = torch.randint(0, 2, (2, 64)).float()
    >>> torch.equal(SquareQAMMapper(4)(bits), Mapper("qam", 4)(bits))
    True
    """

    def __init__(self, bits_per_symbol: int):
        if bits_per_symbol < 2 or bits_per_symbol % 2:
            raise ValueError(f"square QAM needs an even number of bits per symbol, got {bits_per_symbol}")
        self.bits_per_symbol = bits_per_symbol
        self.points = torch.view_as_real(Constellation("qam", bits_per_symbol)().to(torch.complex64)).numpy()

    def __call__(self, bits: torch.Tensor) -> torch.Tensor:
        if bits.shape[-1] % self.bits_per_symbol:
            raise ValueError(f"{bits.shape[-1]} bits do not fill symbols of {self.bits_per_symbol} bits")
        flat = bits.detach().to(torch.float32).reshape(-1, self.bits_per_symbol).contiguous().numpy()
        symbols = np.empty((flat.shape[0], 2), dtype=np.float32)
        run_batch(_map, flat.shape[0], flat, self.points, symbols)
        return torch.view_as_complex(torch.from_numpy(symbols)).reshape(*bits.shape[:-1], -1)


class SquareQAMDemapper:
    """[batch, n] complex symbols and [batch, n] noise variance -> [batch, n * bits] float32 LLRs.

    LLRs are Sionna's logits log(p(1)/p(0)), in the bit order of Sionna's QAM mapper.

    >>> from sionna.phy.mapping import Mapper
    >>> bits = torch.tensor([[0.0, 1.0, 1.0, 0.0]])
    >>> llr = SquareQAMDemapper(4)(Mapper("qam", 4)(bits), torch.full((1, 1), 0.01))
    >>> (llr > 0).float().tolist() == bits.tolist()
    True
    """

    def __init__(self, bits_per_symbol: int):
        if bits_per_symbol < 2 or bits_per_symbol % 2:
            raise ValueError(f"square QAM needs an even number of bits per symbol, got {bits_per_symbol}")
        self.bits_per_symbol = bits_per_symbol
        self.levels, self.labels = _real_levels(bits_per_symbol)

    def __call__(self, y: torch.Tensor, noise_var: torch.Tensor) -> torch.Tensor:
        flat = y.detach().to(torch.complex64).reshape(-1)
        real, imag = flat.real.contiguous().numpy(), flat.imag.contiguous().numpy()
        no = noise_var.detach().to(torch.float32).expand(y.shape).reshape(-1).contiguous().numpy()
        llr = np.empty((real.size, self.bits_per_symbol), dtype=np.float32)
        run_batch(_demap, real.size, real, imag, no, self.levels, self.labels, llr)
        return torch.from_numpy(llr).reshape(*y.shape[:-1], y.shape[-1] * self.bits_per_symbol)


def _real_levels(bits_per_symbol: int) -> tuple[np.ndarray, np.ndarray]:
    """(levels [sqrt(M)] float32, labels [sqrt(M), bits / 2] uint8) of the real part of Sionna's QAM.

    The imaginary part uses the same Gray PAM (Sionna builds both from ``pam_gray``).
    """
    points = Constellation("qam", bits_per_symbol)().numpy()
    index = np.arange(points.size)
    bits = (index[:, None] >> np.arange(bits_per_symbol - 1, -1, -1)) & 1  # label of point i, MSB first
    levels, first = np.unique(points.real.astype(np.float32), return_index=True)
    return levels, bits[first, 0::2].astype(np.uint8)
