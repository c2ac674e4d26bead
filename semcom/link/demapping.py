"""Exact APP demapping of Gray square QAM, one PAM dimension at a time.

Sionna's 5G QAM (:func:`sionna.phy.mapping.qam`) labels a point by interleaving two Gray PAM
labels: even bits set the real part, odd bits the imaginary part. With circular Gaussian noise
the two parts are independent, so the exact APP LLR of an even bit depends on Re(y) alone. The
demapper below runs Sionna's APP demapper on each sqrt(M)-point PAM dimension instead of on the
M-point QAM: the same LLRs (tested) for 2 x sqrt(M) instead of M distance terms per symbol.
"""

from __future__ import annotations

import math

import torch
from sionna.phy.mapping import Demapper


class SquareQAMDemapper:
    """[batch, n] complex symbols and [batch, n] noise variance -> [batch, n * bits] float32 LLRs.

    LLRs are Sionna's logits log(p(1)/p(0)), in the bit order of Sionna's QAM mapper.
    """

    def __init__(self, bits_per_symbol: int):
        if bits_per_symbol < 2 or bits_per_symbol % 2:
            raise ValueError(f"square QAM needs an even number of bits per symbol, got {bits_per_symbol}")
        self.bits_per_symbol = bits_per_symbol
        self._pam = Demapper("app", "pam", bits_per_symbol // 2)

    def __call__(self, y: torch.Tensor, noise_var: torch.Tensor) -> torch.Tensor:
        # QAM real part = PAM point / sqrt(2): rescale to unit-energy PAM, noise variance per real
        # dimension becomes noise_var, i.e. Sionna's complex-noise argument 2 * noise_var.
        scale = math.sqrt(2.0)
        no = 2.0 * noise_var
        real = self._pam(torch.complex(y.real * scale, torch.zeros_like(y.real)), no)
        imag = self._pam(torch.complex(y.imag * scale, torch.zeros_like(y.imag)), no)
        half = self.bits_per_symbol // 2
        llr = torch.stack([real.reshape(*y.shape, half), imag.reshape(*y.shape, half)], dim=-1)
        return llr.reshape(*y.shape[:-1], y.shape[-1] * self.bits_per_symbol)
