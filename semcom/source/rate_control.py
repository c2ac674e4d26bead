"""Rate control: the highest codec quality whose stream fits a bit budget.

:func:`fit_to_budget` searches the codec's integer quality range. The search is a safeguarded
interpolation search: stream size is close to exponential in quality for these codecs, so the
next probe interpolates log(bits) between the highest quality known to fit and the lowest one
known not to fit (extrapolating with the codec's ``log_rate_slope`` hint while only one side is
known), and falls back to bisection when two probes in a row land on the same side. Typical
cost: 3-6 encodes. Every encode is cached.

Guarantees:

* the returned stream never exceeds ``max_bits`` (``bits = 8 * len(data) <= max_bits``);
* the returned quality is the highest *measured* quality that fits. For a monotone codec
  (more quality -> more bytes) it is the highest quality that fits; where a codec is not
  monotone the search still returns a fitting stream, possibly not the highest fitting one.
* if even the lowest quality does not fit, the result has ``fits=False``, ``data=None``,
  ``quality=None`` and ``bits=0`` -- a defined outcome, not an exception (``min_bits`` then
  tells how many bits the lowest quality needs).
"""

from __future__ import annotations

import hashlib
import math
from collections import OrderedDict
from dataclasses import dataclass, field

import numpy as np

from semcom.errors import InputError
from semcom.images import check_image
from semcom.metrics import psnr as psnr_db
from semcom.source.codecs import ImageCodec, get_codec


@dataclass(frozen=True)
class RateControlResult:
    """Outcome of :func:`fit_to_budget`.

    ``data`` is the stream to send (None when nothing fits), ``bits = 8 * len(data)`` (0 when
    nothing fits), ``psnr`` and ``reconstruction`` are filled when decoding was asked for.
    ``min_bits`` is the size of the lowest-quality stream when it was measured (always when
    ``fits`` is False). ``encodes`` counts the qualities probed (recent encodes of the same image,
    codec and settings are reused from a small process-wide cache).
    """

    codec: str
    max_bits: int
    fits: bool
    data: bytes | None
    quality: int | None
    bits: int
    psnr: float | None = None
    reconstruction: np.ndarray | None = field(default=None, repr=False, compare=False)
    min_bits: int | None = None
    encodes: int = 0


def _check_budget(max_bits) -> int:
    if isinstance(max_bits, bool) or not isinstance(max_bits, (int, np.integer)):
        if isinstance(max_bits, (float, np.floating)) and math.isfinite(max_bits) and max_bits >= 0:
            return int(math.floor(max_bits))
        raise InputError(f"max_bits must be a non-negative integer, got {max_bits!r}")
    if max_bits < 0:
        raise InputError(f"max_bits must be a non-negative integer, got {max_bits}")
    return int(max_bits)


_ENCODED: OrderedDict[tuple, bytes] = OrderedDict()
_ENCODED_LIMIT = 256


def _remember(key: tuple, data: bytes) -> None:
    """Keep recent encodes: the separation scheme and the bound search the same image with the same codec."""
    _ENCODED[key] = data
    _ENCODED.move_to_end(key)
    while len(_ENCODED) > _ENCODED_LIMIT:
        _ENCODED.popitem(last=False)


def fit_to_budget(
    codec: str | ImageCodec,
    image: np.ndarray,
    max_bits: int,
    *,
    decode: bool = True,
    start_quality: int | None = None,
) -> RateControlResult:
    """Highest quality of ``codec`` whose stream for ``image`` has at most ``max_bits`` bits.

    ``codec``: a registry name or an ImageCodec. ``decode``: also decode the chosen stream and
    report its PSNR and reconstruction. ``start_quality``: first quality to try (default: the
    codec's guess for the budget's bits per pixel).
    """
    codec = get_codec(codec)
    check_image(image)
    max_bits = _check_budget(max_bits)
    qmin, qmax = codec.quality_range
    pixels = image.shape[0] * image.shape[1]
    cache: dict[int, int] = {}
    streams: dict[int, bytes] = {}
    image_key = (codec.name, repr(sorted(codec.settings.items())), image.shape,
                 hashlib.blake2b(np.ascontiguousarray(image).tobytes(), digest_size=16).digest())

    def measure(q: int) -> int:
        if q not in cache:
            data = _ENCODED.get((*image_key, q))
            if data is None:
                data = codec.encode(image, q)
                _remember((*image_key, q), data)
            cache[q] = 8 * len(data)
            streams[q] = data
        return cache[q]

    if start_quality is None:
        start_quality = codec.quality_guess(max(max_bits, 1) / pixels)
    probe = int(min(max(round(start_quality), qmin), qmax))
    side_history: list[bool] = []
    target = math.log(max(max_bits, 1))

    while True:
        side_history.append(measure(probe) <= max_bits)
        fitting = [q for q, b in cache.items() if b <= max_bits]
        lo = max(fitting) if fitting else None
        failing = [q for q, b in cache.items() if b > max_bits and (lo is None or q > lo)]
        hi = min(failing) if failing else None
        if lo is None and hi == qmin:
            break  # not even the lowest quality fits
        if lo == qmax:
            break
        if lo is not None and hi is not None and hi - lo <= 1:
            break
        probe = _next_probe(lo, hi, cache, target, codec.log_rate_slope, qmin, qmax, side_history)

    fitting = [q for q, b in cache.items() if b <= max_bits]
    min_bits = cache.get(qmin)
    if not fitting:
        return RateControlResult(
            codec=codec.name, max_bits=max_bits, fits=False, data=None, quality=None, bits=0,
            min_bits=min_bits, encodes=len(cache),
        )  # fmt: skip
    quality = max(fitting)
    data = streams[quality]
    recon = value = None
    if decode:
        recon = codec.decode(data, image.shape)
        value = psnr_db(image, recon)
    return RateControlResult(
        codec=codec.name, max_bits=max_bits, fits=True, data=data, quality=quality, bits=8 * len(data),
        psnr=value, reconstruction=recon, min_bits=min_bits, encodes=len(cache),
    )  # fmt: skip


def _log_bits(bits: int) -> float:
    return math.log(max(bits, 1))


def _slope(cache: dict[int, int], default: float) -> float:
    """d ln(bits) / d quality from the two most distant measurements, else the codec's hint."""
    if len(cache) >= 2:
        qs = sorted(cache)
        q0, q1 = qs[0], qs[-1]
        s = (_log_bits(cache[q1]) - _log_bits(cache[q0])) / (q1 - q0)
        if s > 1e-6:
            return s
    return default


def _next_probe(lo, hi, cache, target, slope_hint, qmin, qmax, side_history) -> int:
    if lo is not None and hi is not None:
        if len(side_history) >= 2 and side_history[-1] == side_history[-2]:
            guess = (lo + hi) / 2  # two probes on the same side: bisect
        else:
            b_lo, b_hi = _log_bits(cache[lo]), _log_bits(cache[hi])
            if b_hi > b_lo:
                guess = lo + (target - b_lo) / (b_hi - b_lo) * (hi - lo)
            else:
                guess = (lo + hi) / 2
        return int(min(max(round(guess), lo + 1), hi - 1))
    slope = _slope(cache, slope_hint)
    if lo is not None:  # everything measured fits: go up
        step = (target - _log_bits(cache[lo])) / slope
        return int(min(lo + max(1, math.ceil(step)), qmax))
    step = (_log_bits(cache[hi]) - target) / slope  # nothing fits yet: go down
    return int(max(hi - max(1, math.ceil(step)), qmin))
