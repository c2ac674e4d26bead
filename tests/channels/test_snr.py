import math

import pytest
import torch

from channels.snr import (
    awgn_capacity,
    ebno_db_to_snr_db,
    noise_var_to_snr_db,
    snr_db_to_ebno_db,
    snr_db_to_noise_var,
)
from semcore.errors import InputError


def test_noise_variance_is_inverse_snr():
    assert snr_db_to_noise_var(0.0) == pytest.approx(1.0)
    assert snr_db_to_noise_var(10.0) == pytest.approx(0.1)
    assert noise_var_to_snr_db(0.01) == pytest.approx(20.0)
    t = snr_db_to_noise_var(torch.tensor([0.0, 20.0]))
    assert torch.allclose(t, torch.tensor([1.0, 0.01]))


def test_ebno_conversion_round_trips():
    # 16-QAM rate 1/2 carries 2 information bits per symbol: Es/N0 = Eb/N0 + 3.01 dB
    assert ebno_db_to_snr_db(4.0, 4, 0.5) == pytest.approx(4.0 + 10 * math.log10(2))
    assert snr_db_to_ebno_db(ebno_db_to_snr_db(1.3, 6, 0.75), 6, 0.75) == pytest.approx(1.3)


def test_capacity():
    assert awgn_capacity(0.0) == pytest.approx(1.0)
    assert awgn_capacity(10 * math.log10(3)) == pytest.approx(2.0)


@pytest.mark.parametrize("bad", [float("nan"), float("inf"), -float("inf"), "10", None])
def test_bad_snr_is_rejected(bad):
    with pytest.raises(InputError, match="SNR"):
        snr_db_to_noise_var(bad)


def test_bad_rate_is_rejected():
    with pytest.raises(InputError, match="code rate"):
        ebno_db_to_snr_db(1.0, 2, 1.5)
    with pytest.raises(InputError, match="bits per symbol"):
        snr_db_to_ebno_db(1.0, 0, 0.5)
