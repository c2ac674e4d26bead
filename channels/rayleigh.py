"""Flat Rayleigh block fading with perfect or pilot-estimated CSI and ZF or MMSE equalisation."""

from __future__ import annotations

import math

import torch

from channels.base import Channel, ChannelOutput, complex_noise
from channels.registry import CHANNELS
from semcore.errors import ConfigError


@CHANNELS.register("rayleigh")
class RayleighBlockFading(Channel):
    """y = h x + n with one h ~ CN(0, 1) per block of ``block_length`` symbols.

    csi="perfect": the receiver knows h.
    csi="pilot":   ``num_pilots`` unit pilots precede every block (their channel uses are
                   counted); the least-squares estimate h_hat = mean(y_pilot) has error
                   variance N0 / num_pilots, which is added to the effective noise.
    equalizer="zf":   x_hat = y / h_hat (unbiased).
    equalizer="mmse": x_hat = conj(h_hat) y / (|h_hat|^2 + N0_eff) (biased; ``bias`` reports it).

    >>> ch = RayleighBlockFading(block_length=4, seed=0)
    >>> ch(torch.ones(1, 10, dtype=torch.complex64), snr_db=20.0).gain.shape
    torch.Size([1, 10])
    """

    name = "rayleigh"

    def __init__(
        self,
        block_length: int = 64,
        csi: str = "perfect",
        num_pilots: int = 1,
        equalizer: str = "zf",
        seed: int | None = None,
    ):
        super().__init__(seed)
        if not isinstance(block_length, int) or block_length < 1:
            raise ConfigError(f"block_length must be a positive integer, got {block_length!r}")
        if csi not in ("perfect", "pilot"):
            raise ConfigError(f"csi must be 'perfect' or 'pilot', got {csi!r}")
        if equalizer not in ("zf", "mmse"):
            raise ConfigError(f"equalizer must be 'zf' or 'mmse', got {equalizer!r}")
        if csi == "pilot" and (not isinstance(num_pilots, int) or num_pilots < 1):
            raise ConfigError(f"num_pilots must be a positive integer, got {num_pilots!r}")
        self.block_length = block_length
        self.csi = csi
        self.num_pilots = num_pilots if csi == "pilot" else 0
        self.equalizer = equalizer

    def channel_uses(self, num_symbols: int) -> int:
        return num_symbols + math.ceil(num_symbols / self.block_length) * self.num_pilots

    def _propagate(self, x, no, snr_db, gen) -> ChannelOutput:
        batch, n = x.shape
        num_blocks = math.ceil(n / self.block_length)
        h_blocks = complex_noise((batch, num_blocks), torch.ones(batch, device=x.device), gen)  # CN(0, 1)
        h = h_blocks.repeat_interleave(self.block_length, dim=1)[:, :n]
        y = h * x + complex_noise((batch, n), no, gen)

        if self.csi == "pilot":
            estimation_error = complex_noise((batch, num_blocks), no / self.num_pilots, gen)
            h_hat = (h_blocks + estimation_error).repeat_interleave(self.block_length, dim=1)[:, :n]
            no_eff = (no + no / self.num_pilots)[:, None].expand(batch, n)
        else:
            h_hat = h
            no_eff = no[:, None].expand(batch, n)

        power = h_hat.abs().square().clamp_min(1e-12)
        if self.equalizer == "zf":
            symbols = y / h_hat
            noise_var = no_eff / power
            bias = torch.ones(batch, n, device=x.device)
        else:
            weight = h_hat.conj() / (power + no_eff)
            symbols = weight * y
            bias = power / (power + no_eff)
            noise_var = bias * no_eff / (power + no_eff)
        return ChannelOutput(
            symbols=symbols,
            noise_var=noise_var.contiguous(),
            bias=bias,
            gain=h_hat,
            channel_uses=self.channel_uses(n),
            snr_db=snr_db,
        )
