import math

import numpy as np
import pytest
import skimage.data

from semcom.errors import InputError
from semcom.metrics import (
    MS_SSIM_WEIGHTS,
    PSNR_CAP_DB,
    bits_per_pixel,
    ms_ssim,
    ms_ssim_scales,
    psnr,
    ssim,
)


@pytest.fixture(scope="module")
def pair():
    a = np.ascontiguousarray(skimage.data.astronaut()[64:320, 96:352])  # 256 x 256
    noise = np.random.default_rng(0).normal(0, 10, a.shape)
    b = np.clip(np.round(a + noise), 0, 255).astype(np.uint8)
    return a, b


def test_psnr_identical_and_known_value():
    a = np.full((8, 8, 3), 100, dtype=np.uint8)
    assert psnr(a, a) == PSNR_CAP_DB == 100.0
    b = a + 1  # MSE 1 -> 20 log10(255)
    assert psnr(a, b) == pytest.approx(20 * math.log10(255), abs=1e-9)
    c = a.copy()
    c[0, 0, 0] = 110  # MSE 100 / 192
    assert psnr(a, c) == pytest.approx(10 * math.log10(255**2 / (100 / 192)), abs=1e-9)


def test_shape_and_dtype_checks(pair):
    a, b = pair
    for fn in (psnr, ssim, ms_ssim):
        with pytest.raises(InputError, match="shapes differ"):
            fn(a, b[:-1])
        with pytest.raises(InputError, match="uint8"):
            fn(a.astype(np.float32), b)
        with pytest.raises(InputError):
            fn(a, list(b))


def test_ssim_values(pair):
    a, b = pair
    assert ssim(a, a) == pytest.approx(1.0)
    s = ssim(a, b)
    assert 0.3 < s < 0.99
    assert ssim(a[..., 0], b[..., 0]) > 0  # grayscale works too
    with pytest.raises(InputError, match="at least 11"):
        ssim(a[:10, :10], b[:10, :10])


def test_ms_ssim_constant_offset_known_value():
    # Flat images: every variance and covariance is 0, so cs = C2 / C2 = 1 at every scale and
    # only the luminance term of the coarsest scale remains: MS-SSIM = l ** 0.1333.
    x = np.full((200, 200, 3), 100, dtype=np.uint8)
    y = np.full((200, 200, 3), 120, dtype=np.uint8)
    c1 = (0.01 * 255) ** 2
    lum = (2 * 100 * 120 + c1) / (100**2 + 120**2 + c1)
    assert ms_ssim(x, y) == pytest.approx(lum**0.1333, rel=1e-12)
    assert ms_ssim(x, x) == pytest.approx(1.0)


def test_ms_ssim_matches_pytorch_msssim(pair):
    import pytorch_msssim as pm  # reference implementation, a dev dependency
    import torch
    a, b = pair

    def t(x):
        return torch.from_numpy(x).permute(2, 0, 1)[None].double()

    reference = float(pm.ms_ssim(t(a), t(b), data_range=255, size_average=True))
    assert ms_ssim(a, b) == pytest.approx(reference, abs=1e-4)
    reference_ssim = float(pm.ssim(t(a), t(b), data_range=255, size_average=True))
    assert ssim(a, b) == pytest.approx(reference_ssim, abs=1e-4)


def test_ms_ssim_orders_distortions(pair):
    a, _ = pair
    rng = np.random.default_rng(1)
    values = []
    for sigma in (2, 8, 25):
        noisy = np.clip(np.round(a + rng.normal(0, sigma, a.shape)), 0, 255).astype(np.uint8)
        values.append(ms_ssim(a, noisy))
    assert 1 > values[0] > values[1] > values[2] > 0


def test_ms_ssim_scale_rule():
    assert MS_SSIM_WEIGHTS == (0.0448, 0.2856, 0.3001, 0.2363, 0.1333)
    assert ms_ssim_scales(176, 300) == 5
    assert ms_ssim_scales(161, 161) == 5  # 161 -> 81 -> 41 -> 21 -> 11
    assert ms_ssim_scales(160, 500) == 4  # the fifth scale would be 10 pixels
    assert ms_ssim_scales(21, 21) == 2
    assert ms_ssim_scales(11, 40) == 1
    assert ms_ssim_scales(10, 40) == 0


def test_ms_ssim_small_images(pair):
    a, b = pair
    small_a, small_b = a[:40, :50], b[:40, :50]
    assert ms_ssim(small_a, small_a) == pytest.approx(1.0)
    assert 0 < ms_ssim(small_a, small_b) < 1
    # one scale: MS-SSIM is SSIM averaged over channels
    one_a, one_b = a[:15, :15], b[:15, :15]
    assert ms_ssim_scales(15, 15) == 1
    assert ms_ssim(one_a, one_b) == pytest.approx(ssim(one_a, one_b), abs=1e-6)
    with pytest.raises(InputError, match="at least 11"):
        ms_ssim(a[:8, :8], b[:8, :8])


def test_bits_per_pixel():
    img = np.zeros((10, 20, 3), dtype=np.uint8)
    assert bits_per_pixel(400, img) == 2.0
    assert bits_per_pixel(0, (10, 20)) == 0.0
    with pytest.raises(InputError):
        bits_per_pixel(-1, img)
    with pytest.raises(InputError):
        bits_per_pixel(10, (0, 5))
