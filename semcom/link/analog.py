"""Analog link for learned joint source-channel coding: power-normalised complex symbols over a channel."""

from __future__ import annotations

from dataclasses import dataclass

import torch
from torch import nn

from channels import Channel, make_channel
from semcom.errors import InputError


@dataclass
class AnalogTransmission:
    """What the analog link delivers.

    symbols:      [batch, n] complex64, equalised received symbols (``bias * x + noise``).
    sent:         [batch, n] complex64, the power-normalised symbols that went on air.
    noise_var:    [batch, n] float32, effective noise variance of each received symbol.
    bias:         [batch, n] float32, equaliser bias (1 for ZF/unbiased).
    gain:         [batch, n] complex64, channel coefficient known at the receiver (its CSI).
    snr_db:       [batch] float32, Es/N0 of each row.
    channel_uses: complex channel uses per row, overhead (pilots) included.
    """

    symbols: torch.Tensor
    sent: torch.Tensor
    noise_var: torch.Tensor
    bias: torch.Tensor
    gain: torch.Tensor
    snr_db: torch.Tensor
    channel_uses: int


def normalize_power(z: torch.Tensor) -> torch.Tensor:
    """Scale each row of ``z`` ([batch, n] complex) to average energy 1 per symbol."""
    energy = z.abs().square().mean(dim=1, keepdim=True)
    return z / torch.sqrt(energy.clamp_min(1e-12))


def real_to_complex(features: torch.Tensor) -> torch.Tensor:
    """[batch, 2n] real features -> [batch, n] complex symbols (first half real, second half imaginary)."""
    if features.dim() != 2 or features.shape[1] % 2:
        raise InputError(f"expected real features of shape [batch, 2n], got {tuple(features.shape)}")
    n = features.shape[1] // 2
    return torch.complex(features[:, :n].float(), features[:, n:].float())


def complex_to_real(symbols: torch.Tensor) -> torch.Tensor:
    """[batch, n] complex symbols -> [batch, 2n] real features (inverse of :func:`real_to_complex`)."""
    return torch.cat([symbols.real, symbols.imag], dim=1)


class AnalogLink(nn.Module):
    """Differentiable: gradients flow from the received symbols back to the encoder output.

    >>> link = AnalogLink("awgn", seed=0)
    >>> out = link(torch.randn(4, 32, dtype=torch.complex64), snr_db=10.0)
    >>> round(float(out.sent.abs().square().mean()), 3)
    1.0
    """

    def __init__(self, channel: Channel | str = "awgn", seed: int | None = None, **channel_options):
        super().__init__()
        if isinstance(channel, str):
            channel = make_channel(channel, seed=seed, **channel_options)
        elif channel_options or seed is not None:
            raise InputError("pass channel options (and seed) only with a channel name, not a Channel instance")
        self.channel = channel

    def forward(
        self,
        z: torch.Tensor,
        snr_db: float | torch.Tensor,
        generator: torch.Generator | None = None,
    ) -> AnalogTransmission:
        """Normalise ``z`` ([batch, n] complex) to unit average power, send it, equalise at the receiver."""
        if not isinstance(z, torch.Tensor) or not z.is_complex() or z.dim() != 2:
            shape = tuple(z.shape) if isinstance(z, torch.Tensor) else type(z).__name__
            raise InputError(f"analog link input must be a complex tensor [batch, n], got {shape}")
        if not torch.isfinite(torch.view_as_real(z)).all():
            raise InputError("analog link input contains NaN or infinite values")
        x = normalize_power(z.to(torch.complex64))
        out = self.channel(x, snr_db, generator=generator)
        return AnalogTransmission(
            symbols=out.symbols,
            sent=x,
            noise_var=out.noise_var,
            bias=out.bias,
            gain=out.gain,
            snr_db=out.snr_db,
            channel_uses=out.channel_uses,
        )
