import numpy as np
import pytest
from skimage import data

from channels.base import ChannelOutput
from channels.awgn import AWGNChannel
from semcom import metrics
from semcom.errors import ConfigError
from semcom.schemes import make_scheme
from semcom.schemes.separation import SeparationScheme, channel_budget
from semcom.source.rate_control import fit_to_budget


@pytest.fixture(scope="module")
def image():
    return np.ascontiguousarray(data.astronaut()[100:196, 160:288])  # 96 x 128


class _Erasing(AWGNChannel):
    """Destroys every code block on its first ``bad_calls`` calls, then behaves like AWGN."""

    name = "erasing"

    def __init__(self, bad_calls=1, **kw):
        super().__init__(**kw)
        self.calls, self.bad_calls = 0, bad_calls

    def _propagate(self, x, no, snr_db, gen):
        out = super()._propagate(x, no, snr_db, gen)
        self.calls += 1
        if self.calls <= self.bad_calls:
            return ChannelOutput(-out.symbols, out.noise_var, out.bias, out.gain, out.channel_uses, out.snr_db)
        return out


def test_high_snr_equals_codec_only_decode_bit_for_bit(image):
    scheme = SeparationScheme(codec="webp", cbr=1 / 8, mcs=6, reserve_blocks=0, seed=0)
    result = scheme.transmit(image, snr_db=40.0)
    assert not result.failed
    budget = channel_budget(image, 1 / 8)
    assert result.channel_uses <= budget
    fit = fit_to_budget("webp", image, scheme.link.max_payload_bits(budget, 40.0), decode=True)
    assert result.bits == fit.bits
    assert np.array_equal(result.reconstruction, fit.reconstruction)


def test_failed_link_gives_fallback_and_recorded_failure(image):
    scheme = SeparationScheme(codec="jpeg", cbr=1 / 2, channel=_Erasing(bad_calls=10**6, seed=0), mcs=2)
    result = scheme.transmit(image, snr_db=30.0)
    assert result.failed
    assert (result.reconstruction == 128).all() and result.reconstruction.shape == image.shape
    assert result.details["blocks_lost"] == result.details["blocks"] >= 1
    assert "lost" in result.details["reason"]


def test_arq_recovers_lost_blocks_and_counts_their_channel_uses(image):
    # every block of the first transmission is erased: resending them all must fit in the budget
    blocks = SeparationScheme(codec="jpeg", cbr=1 / 2, mcs=2, reserve_blocks=0, seed=0).transmit(image, 30.0)
    half = blocks.details["blocks"] // 2 + 1
    plain = SeparationScheme(codec="jpeg", cbr=1 / 2, mcs=2, reserve_blocks=half, seed=0).transmit(image, 30.0)
    scheme = SeparationScheme(codec="jpeg", cbr=1 / 2, channel=_Erasing(bad_calls=1, seed=0), mcs=2, arq=2,
                              reserve_blocks=half)
    result = scheme.transmit(image, snr_db=30.0)
    assert not result.failed and result.details["arq_rounds"] == 1
    assert plain.channel_uses < result.channel_uses <= channel_budget(image, 1 / 2)  # resent within the budget
    assert np.array_equal(result.reconstruction, plain.reconstruction)


def test_retransmissions_never_exceed_the_budget(image):
    budget = channel_budget(image, 1 / 8)
    # without a reserve the stream fills the budget: a lost block cannot be resent and the image is lost
    full = SeparationScheme(codec="jpeg", cbr=1 / 8, channel=_Erasing(bad_calls=1, seed=0), mcs=2, arq=2,
                            reserve_blocks=0).transmit(image, snr_db=30.0)
    assert full.failed and full.details["arq_rounds"] == 0 and full.channel_uses <= budget
    kept = SeparationScheme(codec="jpeg", cbr=1 / 2, mcs=2, reserve_blocks=0, seed=0).transmit(image, 30.0)
    reserved = SeparationScheme(codec="jpeg", cbr=1 / 2, mcs=2, seed=0).transmit(image, 30.0)
    assert reserved.bits < kept.bits  # the reserve is paid in source bits
    with pytest.raises(ConfigError, match="reserve_blocks"):
        SeparationScheme(reserve_blocks=-1)


def test_snr_below_every_threshold_reports_failures(image):
    result = SeparationScheme(codec="webp", cbr=1 / 2, seed=0).transmit(image, snr_db=-15.0)
    assert result.failed and result.details["below_threshold"]
    assert result.details["blocks_lost"] >= 1 and result.channel_uses > 0


def test_bound_is_never_below_the_practical_scheme(image):
    for snr in (4.0, 10.0):
        practical = make_scheme("separation", codec="webp", cbr=1 / 16, seed=0).transmit(image, snr)
        bound = make_scheme("bound", cbr=1 / 16, codecs=("webp", "jpeg")).transmit(image, snr)
        assert metrics.psnr(image, bound.reconstruction) >= metrics.psnr(image, practical.reconstruction)
        assert bound.bits >= practical.bits


def test_bad_settings():
    with pytest.raises(ConfigError, match="unknown codec"):
        make_scheme("separation", codec="bpg")
    with pytest.raises(ConfigError, match="arq"):
        make_scheme("separation", arq=-1)
    with pytest.raises(ConfigError, match="unknown scheme"):
        make_scheme("carrier-pigeon")
    with pytest.raises(ConfigError, match="awgn and rayleigh"):
        make_scheme("bound", channel="tdl")
