"""The separation bound: the best codec at the channel's capacity.

With bandwidth ratio CBR (complex channel uses per source symbol, H x W x 3 source symbols)
and a capacity of C bits per channel use, an ideal channel code delivers

    budget = floor(CBR x H x W x 3 x C) bits

without error. The separation bound of an image is the best PSNR any available codec reaches
with a stream of at most that many bits (:func:`~semcom.source.rate_control.fit_to_budget`).

Capacities (channels.snr convention: SNR = Es/N0 per complex symbol):

* ``"awgn"``: C = log2(1 + SNR) (:func:`channels.snr.awgn_capacity`);
* ``"rayleigh"``: block Rayleigh fading, h ~ CN(0, 1), CSI at the receiver only: the
  **ergodic** capacity C = E[log2(1 + |h|^2 SNR)] = log2(e) exp(1/SNR) E1(1/SNR)
  (:func:`ergodic_rayleigh_capacity`). It is achievable only with coding across many fading
  blocks; for a short block the outage capacity would be lower.
"""

from __future__ import annotations

import math
from dataclasses import dataclass, field
from typing import Sequence

import numpy as np

from channels.snr import awgn_capacity, check_snr_db
from semcom.errors import ConfigError, InputError
from semcom.images import check_image
from semcom.metrics import psnr as psnr_db
from semcom.metrics import ssim as ssim_value
from semcom.source.codecs import CODECS, ImageCodec, get_codec
from semcom.source.rate_control import fit_to_budget

#: Codecs tried by default, strongest first.
DEFAULT_BOUND_CODECS = ("heif", "avif", "webp", "jpeg")
CHANNELS = ("awgn", "rayleigh")


def ergodic_rayleigh_capacity(snr_db: float) -> float:
    """E[log2(1 + |h|^2 SNR)] for h ~ CN(0, 1), bits per complex channel use.

    Closed form log2(e) * exp(1/SNR) * E1(1/SNR) (scipy's exp1); below about -27 dB, where
    exp(1/SNR) overflows, the asymptotic series of exp(x) E1(x) is used instead.
    """
    from scipy.special import exp1

    check_snr_db(snr_db)
    x = 10.0 ** (-snr_db / 10.0)  # 1 / SNR
    if x < 500.0:
        value = math.exp(x) * float(exp1(x))
    else:
        value = (1.0 - 1.0 / x + 2.0 / x**2 - 6.0 / x**3 + 24.0 / x**4) / x
    return value / math.log(2.0)


def channel_capacity(snr_db: float, channel: str = "awgn") -> float:
    """Capacity in bits per complex channel use of ``channel`` ("awgn" or "rayleigh", ergodic)."""
    if channel == "awgn":
        return awgn_capacity(snr_db)
    if channel == "rayleigh":
        return ergodic_rayleigh_capacity(snr_db)
    raise ConfigError(f"channel must be one of {', '.join(CHANNELS)}, got {channel!r}")


def _check_cbr(cbr: float) -> float:
    if isinstance(cbr, bool) or not isinstance(cbr, (int, float, np.integer, np.floating)):
        raise InputError(f"CBR must be a number, got {cbr!r}")
    if not math.isfinite(cbr) or cbr <= 0:
        raise InputError(f"CBR must be positive and finite, got {cbr}")
    return float(cbr)


def capacity_bits(num_source_symbols: int, cbr: float, snr_db: float, channel: str = "awgn") -> int:
    """floor(CBR x num_source_symbols x C(snr_db)) bits; num_source_symbols = H x W x 3 for an image."""
    if isinstance(num_source_symbols, bool) or not isinstance(num_source_symbols, (int, np.integer)):
        raise InputError(f"number of source symbols must be an integer, got {num_source_symbols!r}")
    if num_source_symbols < 1:
        raise InputError(f"number of source symbols must be positive, got {num_source_symbols}")
    cbr = _check_cbr(cbr)
    bits = cbr * int(num_source_symbols) * channel_capacity(snr_db, channel)
    return int(math.floor(bits + 1e-9))


@dataclass(frozen=True)
class BoundResult:
    """Separation bound of one image at one (CBR, SNR).

    ``codec`` is the winning codec (None when no codec fits the budget: then ``bits`` is 0 and
    the reconstruction is the zero-rate guess, a mid-grey image). ``per_codec`` maps every codec
    tried to its PSNR at the budget (None: did not fit; absent: not available).
    """

    codec: str | None
    budget_bits: int
    bits: int
    psnr: float
    ssim: float
    quality: int | None
    cbr: float
    snr_db: float
    channel: str
    bpp: float
    reconstruction: np.ndarray = field(repr=False, compare=False)
    per_codec: dict = field(default_factory=dict)


def separation_bound(
    image: np.ndarray,
    cbr: float,
    snr_db: float,
    codecs: Sequence[str | ImageCodec] = DEFAULT_BOUND_CODECS,
    channel: str = "awgn",
) -> BoundResult:
    """Best PSNR over ``codecs`` at the capacity budget of (``cbr``, ``snr_db``, ``channel``).

    Codecs whose libraries are missing are skipped; at least one must be available.
    """
    check_image(image)
    cbr = _check_cbr(cbr)
    h, w = image.shape[:2]
    budget = capacity_bits(h * w * 3, cbr, snr_db, channel)
    instances: list[ImageCodec] = []
    for codec in codecs:
        if isinstance(codec, str) and codec in CODECS and not CODECS.get(codec).available():
            continue
        instances.append(get_codec(codec))
    if not instances:
        raise ConfigError(f"none of the codecs {list(codecs)} is available")

    best = None
    per_codec: dict[str, float | None] = {}
    for codec in instances:
        if min(h, w) < codec.min_size or max(h, w) > codec.max_size:
            continue
        result = fit_to_budget(codec, image, budget, decode=True)
        per_codec[codec.name] = result.psnr if result.fits else None
        if result.fits and (best is None or result.psnr > best.psnr):
            best = result

    if best is None:
        recon = np.full_like(image, 128)
        return BoundResult(
            codec=None, budget_bits=budget, bits=0, psnr=psnr_db(image, recon), ssim=_ssim_or_nan(image, recon),
            quality=None, cbr=cbr, snr_db=float(snr_db), channel=channel, bpp=0.0, reconstruction=recon,
            per_codec=per_codec,
        )  # fmt: skip
    return BoundResult(
        codec=best.codec, budget_bits=budget, bits=best.bits, psnr=best.psnr,
        ssim=_ssim_or_nan(image, best.reconstruction), quality=best.quality, cbr=cbr, snr_db=float(snr_db),
        channel=channel, bpp=best.bits / (h * w), reconstruction=best.reconstruction, per_codec=per_codec,
    )  # fmt: skip


def _ssim_or_nan(ref: np.ndarray, test: np.ndarray) -> float:
    """SSIM, or NaN for images too small for the SSIM window."""
    if min(ref.shape[:2]) < 11:
        return float("nan")
    return ssim_value(ref, test)
