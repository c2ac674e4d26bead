"""The contract every channel model meets: complex symbols in, equalised symbols out.

A channel here is the propagation model *and* the receiver front end that turns what arrives
into estimates of the sent symbols (channel estimation, equalisation). What it returns is what
a demapper or a learned decoder needs: equalised symbols and the effective noise variance of
each, plus the channel gain the receiver believes in.
"""

from __future__ import annotations

from abc import ABCMeta, abstractmethod
from dataclasses import dataclass

import torch
from torch import nn

from channels.snr import check_snr_db, snr_db_to_noise_var
from semcore.errors import InputError


@dataclass
class ChannelOutput:
    """What the receiver has after the channel.

    symbols:      [batch, n] complex64, equalised symbols: ``symbols = bias * x + noise``.
    noise_var:    [batch, n] float32, variance of that noise (channel-estimation error
                  included where the CSI is estimated).
    bias:         [batch, n] float32, 1 for unbiased equalisers (ZF, LMMSE with unbiasing);
                  below 1 for a biased MMSE estimate. ``unbiased()`` removes it for demapping.
    gain:         [batch, n] complex64, the channel coefficient the receiver uses (its estimate).
    channel_uses: complex channel uses spent per row, pilots and other overhead included.
    snr_db:       [batch] float32, Es/N0 of each row (dB).
    """

    symbols: torch.Tensor
    noise_var: torch.Tensor
    bias: torch.Tensor
    gain: torch.Tensor
    channel_uses: int
    snr_db: torch.Tensor

    def unbiased(self) -> tuple[torch.Tensor, torch.Tensor]:
        """(symbols, noise_var) rescaled so that symbols = x + noise, as a demapper expects."""
        return self.symbols / self.bias, self.noise_var / self.bias.square()


class Channel(nn.Module, metaclass=ABCMeta):
    """Base class: subclasses implement :meth:`_propagate` and :meth:`channel_uses`."""

    name: str = "channel"

    def __init__(self, seed: int | None = None):
        super().__init__()
        self._generator = torch.Generator()
        if seed is not None:
            self._generator.manual_seed(int(seed))
        else:
            self._generator.seed()

    def channel_uses(self, num_symbols: int) -> int:
        """Complex channel uses needed to carry ``num_symbols`` data symbols (overhead included)."""
        return num_symbols

    def forward(
        self,
        x: torch.Tensor,
        snr_db: float | torch.Tensor,
        generator: torch.Generator | None = None,
    ) -> ChannelOutput:
        """Send ``x`` ([batch, n] complex64, unit average energy) at Es/N0 = ``snr_db``.

        ``snr_db`` is a number or a [batch] tensor. ``generator`` overrides the channel's own
        seeded generator for this call.
        """
        x = self._check_symbols(x)
        snr = self._snr_tensor(snr_db, x.shape[0])
        no = snr_db_to_noise_var(snr).to(device=x.device, dtype=torch.float32)  # [batch], on the signal's device
        gen = generator if generator is not None else self._generator
        return self._propagate(x, no, snr, gen)

    @abstractmethod
    def _propagate(
        self, x: torch.Tensor, no: torch.Tensor, snr_db: torch.Tensor, gen: torch.Generator
    ) -> ChannelOutput:
        ...

    @staticmethod
    def _check_symbols(x: torch.Tensor) -> torch.Tensor:
        if not isinstance(x, torch.Tensor):
            raise InputError(f"channel input must be a torch.Tensor, got {type(x).__name__}")
        if not x.is_complex():
            raise InputError(f"channel input must be complex (complex64), got dtype {x.dtype}")
        if x.dim() != 2:
            raise InputError(f"channel input must have shape [batch, n], got {tuple(x.shape)}")
        if x.shape[1] == 0:
            raise InputError("channel input is empty (n = 0 symbols)")
        return x.to(torch.complex64)

    @staticmethod
    def _snr_tensor(snr_db: float | torch.Tensor, batch: int) -> torch.Tensor:
        check_snr_db(snr_db)
        snr = torch.as_tensor(snr_db, dtype=torch.float32).flatten()
        if snr.numel() == 1:
            return snr.expand(batch).clone()
        if snr.numel() != batch:
            raise InputError(f"snr_db has {snr.numel()} values for a batch of {batch}")
        return snr


def complex_noise(shape: tuple[int, ...], noise_var: torch.Tensor, gen: torch.Generator) -> torch.Tensor:
    """Circularly-symmetric complex Gaussian noise, variance ``noise_var`` ([batch]) per complex symbol.

    Drawn on the generator's device, returned on ``noise_var``'s (a CUDA run passes a CUDA generator).
    """
    real = torch.randn((2, *shape), generator=gen, device=gen.device).to(noise_var.device)
    scale = torch.sqrt(noise_var / 2).reshape(-1, *([1] * (len(shape) - 1)))
    return torch.complex(real[0], real[1]) * scale
