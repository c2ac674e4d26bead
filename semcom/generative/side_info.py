"""Very low-rate side information: a thumbnail of the image through a real image codec, bits counted.

The transmitter shrinks the image so that its long side is ``size`` pixels (8-16 px: a colour
layout, no detail), codes it with a registered codec of :mod:`semcom.source.codecs` at the highest
quality whose stream fits ``max_bits`` (:func:`~semcom.source.rate_control.fit_to_budget`), and
sends the stream over the same digital link as the prompt. The receiver decodes it and upsamples
it to the image's size; the generator uses it as the init image of image-to-image diffusion.

>>> side = ThumbnailSideInfo(size=8, max_bits=600, codec="webp")
>>> enc = side.encode(np.full((64, 96, 3), 90, np.uint8))
>>> enc.bits <= 600 and side.decode(enc.data, (64, 96)).shape
(64, 96, 3)
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from semcom.errors import CodecError, ConfigError
from semcom.images import check_image
from semcom.source.codecs import get_codec
from semcom.source.rate_control import fit_to_budget


@dataclass
class SideInfo:
    """A coded thumbnail: ``data`` (None when nothing fits ``max_bits``), ``bits = 8 * len(data)``."""

    data: bytes | None
    bits: int
    thumb_shape: tuple[int, int]
    codec: str
    quality: int | None


def thumbnail_shape(height: int, width: int, size: int) -> tuple[int, int]:
    """(h, w) with the long side ``size`` and the aspect ratio kept (each side at least 1)."""
    scale = size / max(height, width)
    return max(1, round(height * scale)), max(1, round(width * scale))


def resize(image: np.ndarray, shape: tuple[int, int]) -> np.ndarray:
    """Resize an [H, W, 3] uint8 image to ``shape`` = (h, w) (Lanczos down, bicubic up)."""
    from PIL import Image

    h, w = shape
    if image.shape[:2] == (h, w):
        return image
    down = h * w < image.shape[0] * image.shape[1]
    out = Image.fromarray(image).resize((w, h), Image.LANCZOS if down else Image.BICUBIC)
    return np.asarray(out, dtype=np.uint8)


class ThumbnailSideInfo:
    """Thumbnail side information: long side ``size`` px (or ``1/scale`` of the image's when ``scale`` is
    given), at most ``max_bits`` bits, with ``codec``."""

    def __init__(self, size: int = 16, max_bits: int = 600, codec: str = "webp", scale: int | None = None):
        if size < 1 or max_bits < 1:
            raise ConfigError(f"thumbnail size and bit budget must be >= 1, got {size}, {max_bits}")
        if scale is not None and (isinstance(scale, bool) or not isinstance(scale, int) or scale < 1):
            raise ConfigError(f"thumbnail scale must be a whole factor >= 1 (8: 1/8 of the image), got {scale!r}")
        self.size, self.max_bits, self.scale = int(size), int(max_bits), scale
        self.codec = get_codec(codec)

    def describe(self) -> dict:
        size = {"scale": f"1/{self.scale}"} if self.scale else {"size": self.size}
        return {"side_info": "thumbnail", **size, "max_bits": self.max_bits, "codec": self.codec.name}

    def thumb_shape(self, height: int, width: int) -> tuple[int, int]:
        """(h, w) of the thumbnail of an H x W image."""
        size = max(1, round(max(height, width) / self.scale)) if self.scale else self.size
        return thumbnail_shape(height, width, size)

    def encode(self, image: np.ndarray) -> SideInfo:
        image = check_image(image)
        shape = self.thumb_shape(image.shape[0], image.shape[1])
        fit = fit_to_budget(self.codec, resize(image, shape), self.max_bits, decode=False)
        return SideInfo(fit.data if fit.fits else None, fit.bits, shape, self.codec.name, fit.quality)

    def decode(self, data: bytes, shape: tuple[int, int], thumb_shape: tuple[int, int] | None = None) -> np.ndarray | None:
        """The thumbnail upsampled to ``shape`` = (H, W), or None when the stream does not decode."""
        try:
            expected = None if thumb_shape is None else (thumb_shape[0], thumb_shape[1], 3)
            thumb = self.codec.decode(data, expected)
        except CodecError:
            return None
        return resize(thumb, shape)
