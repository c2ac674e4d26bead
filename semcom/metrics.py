"""Image quality metrics on uint8 images (data range 255), one implementation for the project.

* :func:`psnr` -- scikit-image's PSNR, capped at :data:`PSNR_CAP_DB` (100 dB): identical images
  give exactly 100 dB instead of infinity, so that means over a data set stay finite.
* :func:`ssim` -- scikit-image's SSIM with the settings of Wang et al. (2004): 11x11 Gaussian
  window with sigma 1.5, population covariances, K1 = 0.01, K2 = 0.03; RGB images are scored
  per channel and averaged (``channel_axis=-1``).
* :func:`ms_ssim` -- multi-scale SSIM of Wang, Simoncelli and Bovik (2003): 5 scales, weights
  (0.0448, 0.2856, 0.3001, 0.2363, 0.1333), the same Gaussian window computed on the "valid"
  region only, 2x2 average down-sampling between scales; RGB images are scored per channel and
  averaged (as pytorch_msssim does). Small images use fewer scales, see :func:`ms_ssim`.
* :func:`bits_per_pixel`.

Arrays of different shapes raise :class:`~semcom.errors.InputError`.
"""

from __future__ import annotations

import math

import numpy as np

from semcom.errors import InputError

PSNR_CAP_DB = 100.0
DATA_RANGE = 255.0
MS_SSIM_WEIGHTS = (0.0448, 0.2856, 0.3001, 0.2363, 0.1333)
SSIM_WINDOW = 11
SSIM_SIGMA = 1.5
SSIM_K1 = 0.01
SSIM_K2 = 0.03


def _check_pair(ref: np.ndarray, test: np.ndarray) -> None:
    for name, arr in (("reference", ref), ("test", test)):
        if not isinstance(arr, np.ndarray):
            raise InputError(f"{name} image must be a numpy array, got {type(arr).__name__}")
        if arr.dtype != np.uint8:
            raise InputError(f"{name} image must be uint8 (data range 255), got {arr.dtype}")
        if arr.ndim not in (2, 3) or arr.size == 0:
            raise InputError(f"{name} image must be [H, W] or [H, W, C] and non-empty, got shape {list(arr.shape)}")
    if ref.shape != test.shape:
        raise InputError(f"image shapes differ: reference {list(ref.shape)} vs test {list(test.shape)}")


def psnr(ref: np.ndarray, test: np.ndarray) -> float:
    """Peak signal-to-noise ratio in dB, data range 255, capped at 100 dB (identical images -> 100.0)."""
    from skimage.metrics import mean_squared_error, peak_signal_noise_ratio

    _check_pair(ref, test)
    if mean_squared_error(ref, test) == 0:
        return PSNR_CAP_DB
    value = float(peak_signal_noise_ratio(ref, test, data_range=DATA_RANGE))
    return min(value, PSNR_CAP_DB)


def ssim(ref: np.ndarray, test: np.ndarray) -> float:
    """Structural similarity (Gaussian 11x11 window, sigma 1.5); needs at least 11 pixels per side."""
    from skimage.metrics import structural_similarity

    _check_pair(ref, test)
    if min(ref.shape[:2]) < SSIM_WINDOW:
        raise InputError(f"SSIM needs images of at least {SSIM_WINDOW}x{SSIM_WINDOW} pixels, got {list(ref.shape[:2])}")
    return float(
        structural_similarity(
            ref,
            test,
            channel_axis=-1 if ref.ndim == 3 else None,
            data_range=DATA_RANGE,
            gaussian_weights=True,
            sigma=SSIM_SIGMA,
            use_sample_covariance=False,
            K1=SSIM_K1,
            K2=SSIM_K2,
        )
    )


def _gaussian_window() -> np.ndarray:
    x = np.arange(SSIM_WINDOW, dtype=np.float64) - SSIM_WINDOW // 2
    g = np.exp(-(x**2) / (2.0 * SSIM_SIGMA**2))
    return g / g.sum()


def _filter_valid(img: np.ndarray, g: np.ndarray) -> np.ndarray:
    """Separable correlation with ``g`` over the 'valid' region (no padding enters the result)."""
    from scipy.ndimage import correlate1d

    r = len(g) // 2
    out = correlate1d(img, g, axis=0, mode="reflect")
    out = correlate1d(out, g, axis=1, mode="reflect")
    return out[r:-r, r:-r]


def _ssim_and_cs(x: np.ndarray, y: np.ndarray, g: np.ndarray) -> tuple[float, float]:
    """Mean SSIM and mean contrast-structure term of two float64 [H, W] planes."""
    c1 = (SSIM_K1 * DATA_RANGE) ** 2
    c2 = (SSIM_K2 * DATA_RANGE) ** 2
    mu_x = _filter_valid(x, g)
    mu_y = _filter_valid(y, g)
    sxx = _filter_valid(x * x, g) - mu_x * mu_x
    syy = _filter_valid(y * y, g) - mu_y * mu_y
    sxy = _filter_valid(x * y, g) - mu_x * mu_y
    cs_map = (2.0 * sxy + c2) / (sxx + syy + c2)
    l_map = (2.0 * mu_x * mu_y + c1) / (mu_x * mu_x + mu_y * mu_y + c1)
    return float(np.mean(l_map * cs_map)), float(np.mean(cs_map))


def _downsample(img: np.ndarray) -> np.ndarray:
    """2x2 average; an odd last row/column is repeated first (the reference MATLAB code's
    2x2 box filter with symmetric borders followed by taking every second sample)."""
    h, w = img.shape
    if h % 2:
        img = np.concatenate([img, img[-1:, :]], axis=0)
    if w % 2:
        img = np.concatenate([img, img[:, -1:]], axis=1)
    return 0.25 * (img[0::2, 0::2] + img[1::2, 0::2] + img[0::2, 1::2] + img[1::2, 1::2])


def ms_ssim_scales(height: int, width: int) -> int:
    """Number of MS-SSIM scales used for an image: the largest M <= 5 such that the smallest
    side is still >= 11 pixels (the window) after M - 1 halvings (rounding up); 0 if the image
    itself is smaller than the window. Images of 176 pixels or more per side use all 5."""
    side = min(height, width)
    if side < SSIM_WINDOW:
        return 0
    scales = 1
    while scales < len(MS_SSIM_WEIGHTS) and math.ceil(side / 2) >= SSIM_WINDOW:
        side = math.ceil(side / 2)
        scales += 1
    return scales


def ms_ssim(ref: np.ndarray, test: np.ndarray) -> float:
    """Multi-scale SSIM (Wang et al. 2003), in [0, 1] for natural images.

    MS-SSIM = prod_{j<M} cs_j ** w_j * ssim_M ** w_M per channel, averaged over channels, with
    negative terms clipped to 0 (as pytorch_msssim does). Small images: M = :func:`ms_ssim_scales`
    scales and the first M standard weights renormalised to sum to 1 (M = 1 is plain SSIM;
    with M = 5 the published weights are used as they are, although they sum to 1.0001);
    images under 11 pixels on a side raise InputError.
    """
    _check_pair(ref, test)
    h, w = ref.shape[:2]
    scales = ms_ssim_scales(h, w)
    if scales == 0:
        raise InputError(f"MS-SSIM needs images of at least {SSIM_WINDOW}x{SSIM_WINDOW} pixels, got {[h, w]}")
    weights = np.asarray(MS_SSIM_WEIGHTS[:scales], dtype=np.float64)
    if scales < len(MS_SSIM_WEIGHTS):  # the published weights themselves sum to 1.0001: kept as they are
        weights = weights / weights.sum()
    g = _gaussian_window()
    ref3 = ref[:, :, None] if ref.ndim == 2 else ref
    test3 = test[:, :, None] if test.ndim == 2 else test
    values = []
    for c in range(ref3.shape[2]):
        x = ref3[:, :, c].astype(np.float64)
        y = test3[:, :, c].astype(np.float64)
        value = 1.0
        for j in range(scales):
            s, cs = _ssim_and_cs(x, y, g)
            if j < scales - 1:
                value *= max(cs, 0.0) ** weights[j]
                x, y = _downsample(x), _downsample(y)
            else:
                value *= max(s, 0.0) ** weights[j]
        values.append(value)
    return float(np.mean(values))


def bits_per_pixel(bits: float, image: np.ndarray | tuple[int, ...]) -> float:
    """``bits`` divided by the number of pixels H * W of ``image`` (an array, or its shape)."""
    shape = image.shape if isinstance(image, np.ndarray) else tuple(image)
    if len(shape) < 2 or shape[0] < 1 or shape[1] < 1:
        raise InputError(f"need an image or a shape (H, W, ...), got {shape!r}")
    if isinstance(bits, bool) or not isinstance(bits, (int, float, np.integer, np.floating)) or not bits >= 0:
        raise InputError(f"bits must be a non-negative number, got {bits!r}")
    return float(bits) / (int(shape[0]) * int(shape[1]))
