import math

import numpy as np
import pytest
import skimage.data
from scipy.integrate import quad

from channels.snr import awgn_capacity
from semcom.errors import ConfigError, InputError
from semcom.source.bound import (
    BoundResult,
    capacity_bits,
    channel_capacity,
    ergodic_rayleigh_capacity,
    separation_bound,
)
from semcom.source.codecs import available_codecs
from semcom.source.rate_control import fit_to_budget


@pytest.fixture(scope="module")
def image():
    return np.ascontiguousarray(skimage.data.astronaut()[100:196, 120:248])  # 96 x 128


def test_capacity_bits_formula():
    n = 768 * 512 * 3
    assert capacity_bits(n, 1 / 16, 10.0) == math.floor(n / 16 * math.log2(11))
    assert capacity_bits(n, 1 / 16, 10.0) == 255056
    # exactly representable case: SNR = 3 -> C = 2 bits; 48 symbols / 16 = 3 channel uses -> 6 bits
    assert capacity_bits(48, 1 / 16, 10 * math.log10(3)) == 6
    assert capacity_bits(n, 1 / 16, 10.0, channel="rayleigh") < capacity_bits(n, 1 / 16, 10.0)
    with pytest.raises(InputError):
        capacity_bits(0, 1 / 16, 10.0)
    with pytest.raises(InputError):
        capacity_bits(n, 0.0, 10.0)
    with pytest.raises(InputError):
        capacity_bits(n, float("inf"), 10.0)
    with pytest.raises(InputError):
        capacity_bits(n, 1 / 16, float("nan"))
    with pytest.raises(ConfigError):
        capacity_bits(n, 1 / 16, 10.0, channel="rician")


@pytest.mark.parametrize("snr_db", [-10.0, 0.0, 5.0, 10.0, 20.0, 30.0])
def test_ergodic_rayleigh_capacity_matches_integration(snr_db):
    snr = 10 ** (snr_db / 10)
    numeric, _ = quad(lambda t: math.log2(1 + snr * t) * math.exp(-t), 0, math.inf, limit=200)
    value = ergodic_rayleigh_capacity(snr_db)
    assert value == pytest.approx(numeric, rel=1e-7)
    assert value < awgn_capacity(snr_db)  # Jensen
    assert channel_capacity(snr_db, "rayleigh") == value
    assert channel_capacity(snr_db, "awgn") == awgn_capacity(snr_db)


def test_ergodic_rayleigh_limits():
    gamma = 0.5772156649015329
    # high SNR: C_awgn - C_ergodic -> Euler's constant / ln 2 (0.83 bit)
    assert awgn_capacity(70.0) - ergodic_rayleigh_capacity(70.0) == pytest.approx(gamma / math.log(2), abs=1e-5)
    # low SNR (series branch): exp(x) E1(x) = s - s^2 + 2 s^3 - ... with x = 1 / s
    for snr_db in (-30.0, -40.0):
        snr = 10 ** (snr_db / 10)
        assert ergodic_rayleigh_capacity(snr_db) == pytest.approx((snr - snr**2 + 2 * snr**3) / math.log(2), rel=1e-7)
    # both branches agree where they meet
    x = 500.0
    snr_db = -10 * math.log10(x)
    assert ergodic_rayleigh_capacity(snr_db - 1e-9) == pytest.approx(ergodic_rayleigh_capacity(snr_db + 1e-9), rel=1e-9)


def test_bound_is_best_codec(image):
    result = separation_bound(image, 1 / 16, 7.0)
    assert isinstance(result, BoundResult)
    budget = capacity_bits(image.size, 1 / 16, 7.0)
    assert result.budget_bits == budget
    assert result.codec in available_codecs()
    assert 0 < result.bits <= budget
    assert result.reconstruction.shape == image.shape
    assert result.bpp == pytest.approx(result.bits / (96 * 128))
    assert 0 < result.ssim <= 1
    for name in available_codecs():
        single = fit_to_budget(name, image, budget)
        if single.fits:
            assert result.psnr >= single.psnr - 1e-12
            assert result.per_codec[name] == pytest.approx(single.psnr)


def test_bound_grows_with_snr(image):
    low = separation_bound(image, 1 / 16, 1.0, codecs=("heif", "jpeg"))
    high = separation_bound(image, 1 / 16, 13.0, codecs=("heif", "jpeg"))
    assert high.budget_bits > low.budget_bits
    assert high.psnr > low.psnr
    rayleigh = separation_bound(image, 1 / 16, 13.0, codecs=("heif",), channel="rayleigh")
    assert rayleigh.budget_bits < high.budget_bits and rayleigh.channel == "rayleigh"


def test_bound_when_nothing_fits(image):
    result = separation_bound(image, 1 / 16, -30.0, codecs=("jpeg", "heif"))
    assert result.codec is None and result.bits == 0 and result.quality is None
    assert (result.reconstruction == 128).all()
    assert result.per_codec == {"jpeg": None, "heif": None}
    assert np.isfinite(result.psnr)


def test_bound_checks(image):
    with pytest.raises(InputError):
        separation_bound(image, -1.0, 10.0)
    with pytest.raises(ConfigError):
        separation_bound(image, 1 / 16, 10.0, codecs=("nope",))
    with pytest.raises(ConfigError):
        separation_bound(image, 1 / 16, 10.0, codecs=())
