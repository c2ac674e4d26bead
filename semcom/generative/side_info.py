"""Very low-rate side information: a thumbnail of the image through a real image codec, bits counted.

The transmitter shrinks the image so that its long side is ``size`` pixels (8-16 px: a colour
layout, no detail) or to ``1/scale`` of its size, codes it with a registered codec of
:mod:`semcom.source.codecs` at the highest quality whose stream fits ``max_bits``
(:func:`~semcom.source.rate_control.fit_to_budget`), and sends the stream over the same digital
link as the prompt. The receiver decodes it and upsamples it to the image's size; the generator
uses it as the init image of image-to-image diffusion, or the refiner trained here sharpens it.

Given several scales, the transmitter codes the thumbnail at each within the same budget and
sends the one whose decoded thumbnail, upsampled, is closest to the image (PSNR): a small
thumbnail at high quality where the image is smooth, a larger one at low quality where it has
structure. The stream announces its own dimensions, so the choice costs no extra bits; the
receiver accepts any of the scales' shapes. On BSDS500 val at Kodak's bits per pixel (785 bits
per 481 x 321 image) choosing among 1/6, 1/8, 1/10, 1/12, 1/16 gives 19.33 dB against 19.13 for 1/8
alone (``experiments/bench_refiner.py --bits 785 --no-codecs``, bicubic upsampling).

>>> side = ThumbnailSideInfo(size=8, max_bits=600, codec="webp")
>>> enc = side.encode(np.full((64, 96, 3), 90, np.uint8))
>>> enc.bits <= 600 and side.decode(enc.data, (64, 96)).shape
(64, 96, 3)
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Sequence

import numpy as np

from semcom.errors import CodecError, ConfigError
from semcom.images import check_image
from semcom.metrics import psnr
from semcom.source.codecs import ImageCodec, get_codec
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
    given; several scales: the best per image, see the module's text), at most ``max_bits`` bits, with
    ``codec`` (a registered name or an :class:`~semcom.source.codecs.ImageCodec`)."""

    def __init__(self, size: int = 16, max_bits: int = 600, codec: str | ImageCodec = "webp",
                 scale: int | Sequence[int] | None = None):
        if size < 1 or max_bits < 1:
            raise ConfigError(f"thumbnail size and bit budget must be >= 1, got {size}, {max_bits}")
        scales = None if scale is None else (scale,) if not isinstance(scale, (list, tuple)) else tuple(scale)
        if scales is not None and (not scales or any(isinstance(s, bool) or not isinstance(s, int) or s < 1
                                                    for s in scales)):
            raise ConfigError(f"thumbnail scale must be whole factors >= 1 (8: 1/8 of the image), got {scale!r}")
        self.size, self.max_bits = int(size), int(max_bits)
        self.scales = None if scales is None else tuple(sorted(set(scales)))
        self.codec = get_codec(codec)

    def describe(self) -> dict:
        size = {"scale": ", ".join(f"1/{s}" for s in self.scales)} if self.scales else {"size": self.size}
        return {"side_info": "thumbnail", **size, "max_bits": self.max_bits, "codec": self.codec.name}

    def thumb_shapes(self, height: int, width: int) -> list[tuple[int, int]]:
        """The (h, w) thumbnails an H x W image may be sent as, one per scale (largest first)."""
        if not self.scales:
            return [thumbnail_shape(height, width, self.size)]
        shapes = [thumbnail_shape(height, width, max(1, round(max(height, width) / s))) for s in self.scales]
        return list(dict.fromkeys(shapes))

    def thumb_shape(self, height: int, width: int) -> tuple[int, int]:
        """(h, w) of the largest thumbnail an H x W image may be sent as (the smallest scale factor)."""
        return self.thumb_shapes(height, width)[0]

    def encode(self, image: np.ndarray) -> SideInfo:
        """The coded thumbnail (of the best scale, when there are several), ``data`` None when none fits."""
        image = check_image(image)
        shapes = self.thumb_shapes(image.shape[0], image.shape[1])
        choose = len(shapes) > 1
        coded = [(shape, fit_to_budget(self.codec, resize(image, shape), self.max_bits, decode=choose))
                 for shape in shapes]
        fitting = [(shape, fit) for shape, fit in coded if fit.fits]
        if choose and fitting:
            shape, fit = max(fitting, key=lambda c: psnr(image, resize(c[1].reconstruction, image.shape[:2])))
        else:
            shape, fit = (fitting or coded)[0]
        return SideInfo(fit.data if fit.fits else None, fit.bits, shape, self.codec.name, fit.quality)

    def decode(self, data: bytes, shape: tuple[int, int], thumb_shape: tuple[int, int] | None = None) -> np.ndarray | None:
        """The thumbnail upsampled to ``shape`` = (H, W), or None when the stream does not decode, or
        announces a size other than ``thumb_shape`` (default: any of the scales' sizes for this image)."""
        try:
            expected = None if thumb_shape is None else (thumb_shape[0], thumb_shape[1], 3)
            thumb = self.codec.decode(data, expected)
        except CodecError:
            return None
        if thumb_shape is None and tuple(thumb.shape[:2]) not in self.thumb_shapes(*shape):
            return None
        return resize(thumb, shape)


class EdgeSideInfo:
    """Edge-map side information: Canny edges of the image at ``1/scale`` of its size, coded losslessly.

    The map is a 1-bit image (PNG, Pillow's lossless deflate coder, ancillary chunks dropped); the
    receiver upsamples it (nearest) to white edges on black at the image's size, the control image of
    a Canny ControlNet. ``max_bits``: a map whose stream exceeds it is not sent (``data`` None).

    >>> side = EdgeSideInfo(scale=4, max_bits=20000)
    >>> enc = side.encode(np.tile(np.arange(96, dtype=np.uint8)[None, :, None] * 2, (64, 1, 3)))
    >>> side.decode(enc.data, (64, 96), enc.thumb_shape).shape
    (64, 96, 3)
    """

    def __init__(self, scale: int = 4, sigma: float = 2.0, max_bits: int = 20000):
        if isinstance(scale, bool) or not isinstance(scale, int) or scale < 1:
            raise ConfigError(f"edge-map scale must be a whole factor >= 1, got {scale!r}")
        if not sigma > 0 or max_bits < 1:
            raise ConfigError(f"edge sigma must be > 0 and the bit budget >= 1, got {sigma}, {max_bits}")
        self.scale, self.sigma, self.max_bits = scale, float(sigma), int(max_bits)

    def describe(self) -> dict:
        return {"side_info": "edges", "scale": f"1/{self.scale}", "sigma": self.sigma, "max_bits": self.max_bits,
                "codec": "png (1 bit, lossless)"}

    def map_shape(self, height: int, width: int) -> tuple[int, int]:
        """(h, w) of the edge map of an H x W image."""
        return max(1, round(height / self.scale)), max(1, round(width / self.scale))

    def edges(self, image: np.ndarray) -> np.ndarray:
        """[h, w] bool Canny edges of the image shrunk to 1/scale."""
        from skimage.color import rgb2gray
        from skimage.feature import canny

        image = check_image(image)
        small = resize(image, self.map_shape(*image.shape[:2]))
        return canny(rgb2gray(small), sigma=self.sigma)

    def encode(self, image: np.ndarray) -> SideInfo:
        import io

        from PIL import Image

        edges = self.edges(image)
        buf = io.BytesIO()
        Image.fromarray(edges).convert("1").save(buf, format="PNG", optimize=True)
        data = _strip_png_ancillary(buf.getvalue())
        fits = 8 * len(data) <= self.max_bits
        return SideInfo(data if fits else None, 8 * len(data), edges.shape, "png-1bit", None)

    def decode(self, data: bytes, shape: tuple[int, int], thumb_shape: tuple[int, int] | None = None) -> np.ndarray | None:
        """White edges on black, [H, W, 3] uint8 at ``shape``, or None when the stream does not decode or
        announces a size other than ``thumb_shape`` (default: the map size of an image of ``shape``)."""
        import io

        from PIL import Image, UnidentifiedImageError

        try:
            with Image.open(io.BytesIO(data)) as im:
                edges = np.asarray(im.convert("L"), dtype=np.uint8)
        except (OSError, UnidentifiedImageError, ValueError):
            return None
        if edges.shape != tuple(thumb_shape or self.map_shape(*shape)):
            return None
        h, w = shape
        rows = np.minimum(np.arange(h) * edges.shape[0] // h, edges.shape[0] - 1)
        cols = np.minimum(np.arange(w) * edges.shape[1] // w, edges.shape[1] - 1)
        full = np.where(edges[rows][:, cols] > 127, 255, 0).astype(np.uint8)
        return np.repeat(full[:, :, None], 3, axis=2)


def _strip_png_ancillary(data: bytes) -> bytes:
    """A PNG stream with only its critical chunks (IHDR, PLTE, IDAT, IEND): nothing the decoder needs is lost."""
    out, pos = [data[:8]], 8
    while pos + 8 <= len(data):
        length = int.from_bytes(data[pos : pos + 4], "big")
        kind = data[pos + 4 : pos + 8]
        end = pos + 12 + length
        if kind[:1].isupper():  # critical chunk
            out.append(data[pos:end])
        pos = end
    return b"".join(out)
