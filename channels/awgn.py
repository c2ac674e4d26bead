"""Additive white Gaussian noise."""

from __future__ import annotations

import torch

from channels.base import Channel, ChannelOutput, complex_noise
from channels.registry import CHANNELS


@CHANNELS.register("awgn")
class AWGNChannel(Channel):
    """y = x + n, n ~ CN(0, N0), N0 from the SNR convention in :mod:`channels.snr`.

    >>> ch = AWGNChannel(seed=0)
    >>> out = ch(torch.ones(2, 8, dtype=torch.complex64), snr_db=10.0)
    >>> out.symbols.shape
    torch.Size([2, 8])
    """

    name = "awgn"

    def _propagate(self, x, no, snr_db, gen) -> ChannelOutput:
        y = x + complex_noise(tuple(x.shape), no, gen)
        return ChannelOutput(
            symbols=y,
            noise_var=no[:, None].expand(x.shape).clone(),
            bias=torch.ones(x.shape, device=x.device),
            gain=torch.ones_like(x),
            channel_uses=self.channel_uses(x.shape[1]),
            snr_db=snr_db,
        )
