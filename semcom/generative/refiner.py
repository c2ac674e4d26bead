"""A small conditional refiner trained here: the upsampled side information in, a sharper image out.

The receiver decodes the thumbnail side information and upsamples it bicubically to the image's
size (``x_up``); the refiner predicts the missing detail as a residual::

    x_up [B, 3, H, W] in [0, 1]
      -> reflect-pad to multiples of 16
      -> pixel-unshuffle by 4: [B, 48, H/4, W/4]
      -> U-Net over three levels (1/4, 1/8, 1/16 of the image size; ``widths`` channels,
         ``blocks`` residual blocks per level, stride-2 convs down, pixel-shuffle up, skips added)
      -> conv to 48 channels -> pixel-shuffle by 4: residual [B, 3, H', W']
      -> x_up + residual, crop to H x W, clamp to [0, 1] (in eval mode; not while training)

It works at any image size and any thumbnail scale (the input is always the bicubic upsampling),
costs about ``refiner_macs_per_pixel`` multiply-accumulates per output pixel, and is trained by
``semcom train refiner`` on BSDS500 train (see :mod:`semcom.generative.refiner_train`).

>>> model = Refiner(RefinerConfig(widths=(8, 8, 8), blocks=(1, 1, 1)))
>>> model(torch.rand(1, 3, 40, 56)).shape
torch.Size([1, 3, 40, 56])
"""

from __future__ import annotations

from dataclasses import asdict, dataclass

import torch
import torch.nn.functional as F
from torch import nn

from semcom.errors import ConfigError, InputError

#: The input is padded to a multiple of this (the U-Net's total stride in pixels).
STRIDE = 16
#: Pixel-unshuffle factor of the first level.
UNSHUFFLE = 4


@dataclass(frozen=True)
class RefinerConfig:
    """Architecture: channels and residual blocks at 1/4, 1/8 and 1/16 of the image size."""

    widths: tuple[int, int, int] = (48, 64, 96)
    blocks: tuple[int, int, int] = (2, 2, 4)

    def __post_init__(self):
        if len(self.widths) != 3 or len(self.blocks) != 3:
            raise ConfigError(f"refiner widths and blocks need 3 levels, got {self.widths}, {self.blocks}")
        if min(self.widths) < 1 or min(self.blocks) < 0:
            raise ConfigError(f"refiner widths must be >= 1 and blocks >= 0, got {self.widths}, {self.blocks}")

    def to_dict(self) -> dict:
        return {k: list(v) for k, v in asdict(self).items()}

    @classmethod
    def from_dict(cls, data: dict) -> "RefinerConfig":
        unknown = set(data) - {"widths", "blocks"}
        if unknown:
            raise ConfigError(f"unknown refiner config keys {sorted(unknown)}")
        return cls(**{k: tuple(int(x) for x in v) for k, v in data.items()})


class ResidualBlock(nn.Module):
    """conv3x3 -> ReLU -> conv3x3, added to the input (EDSR style, no normalisation)."""

    def __init__(self, channels: int):
        super().__init__()
        self.conv1 = nn.Conv2d(channels, channels, 3, padding=1)
        self.conv2 = nn.Conv2d(channels, channels, 3, padding=1)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return x + self.conv2(F.relu(self.conv1(x), inplace=True))


def _stage(channels: int, blocks: int) -> nn.Sequential:
    return nn.Sequential(*[ResidualBlock(channels) for _ in range(blocks)])


class Refiner(nn.Module):
    """x_up [B, 3, H, W] in [0, 1] -> refined image [B, 3, H, W] in [0, 1] (any H, W >= 1)."""

    def __init__(self, config: RefinerConfig | None = None):
        super().__init__()
        self.config = config or RefinerConfig()
        w0, w1, w2 = self.config.widths
        b0, b1, b2 = self.config.blocks
        lifted = 3 * UNSHUFFLE**2
        self.head = nn.Conv2d(lifted, w0, 3, padding=1)
        self.level0 = _stage(w0, b0)
        self.down1 = nn.Conv2d(w0, w1, 3, stride=2, padding=1)
        self.level1 = _stage(w1, b1)
        self.down2 = nn.Conv2d(w1, w2, 3, stride=2, padding=1)
        self.level2 = _stage(w2, b2)
        self.up2 = nn.Sequential(nn.Conv2d(w2, 4 * w1, 1), nn.PixelShuffle(2))
        self.merge1 = _stage(w1, 1)
        self.up1 = nn.Sequential(nn.Conv2d(w1, 4 * w0, 1), nn.PixelShuffle(2))
        self.merge0 = _stage(w0, 1)
        self.tail = nn.Conv2d(w0, lifted, 3, padding=1)
        nn.init.zeros_(self.tail.weight)  # starts as the identity on x_up
        nn.init.zeros_(self.tail.bias)

    def forward(self, x_up: torch.Tensor) -> torch.Tensor:
        if x_up.dim() != 4 or x_up.shape[1] != 3:
            raise InputError(f"refiner input must be [B, 3, H, W], got {tuple(x_up.shape)}")
        h, w = x_up.shape[-2:]
        ph, pw = (-h) % STRIDE, (-w) % STRIDE
        x = F.pad(x_up, (0, pw, 0, ph), mode="replicate") if ph or pw else x_up
        f0 = self.level0(self.head(F.pixel_unshuffle(x, UNSHUFFLE)))
        f1 = self.level1(self.down1(f0))
        f2 = self.level2(self.down2(f1))
        g1 = self.merge1(self.up2(f2) + f1)
        g0 = self.merge0(self.up1(g1) + f0)
        out = (x + F.pixel_shuffle(self.tail(g0), UNSHUFFLE))[..., :h, :w]
        # clamped for use; unclamped while training, so saturated pixels keep their gradient
        return out if self.training else out.clamp(0.0, 1.0)


def refiner_macs_per_pixel(config: RefinerConfig) -> float:
    """Multiply-accumulates per output pixel of :class:`Refiner` (convolutions only)."""
    w0, w1, w2 = config.widths
    b0, b1, b2 = config.blocks
    lifted = 3 * UNSHUFFLE**2
    at0 = 9 * (lifted * w0 + 2 * (b0 + 1) * w0 * w0 + w0 * lifted)  # head, level 0, merge 0, tail
    at1 = 9 * (w0 * w1 + 2 * (b1 + 1) * w1 * w1) + w1 * 4 * w0  # down 1, level 1, merge 1, 1x1 up to level 0
    at2 = 9 * (w1 * w2 + 2 * b2 * w2 * w2) + w2 * 4 * w1  # down 2, level 2, 1x1 up to level 1
    return at0 / 16 + at1 / 64 + at2 / 256
