import pytest
import torch

from channels import AWGNChannel, RayleighBlockFading, make_channel
from semcore.errors import ConfigError, InputError


def unit_symbols(batch=4, n=20000, seed=0):
    g = torch.Generator().manual_seed(seed)
    phase = torch.rand(batch, n, generator=g) * 6.283
    return torch.polar(torch.ones(batch, n), phase)


def test_awgn_noise_variance_matches_snr():
    x = unit_symbols()
    out = AWGNChannel(seed=1)(x, snr_db=torch.tensor([0.0, 5.0, 10.0, 20.0]))
    measured = (out.symbols - x).abs().square().mean(dim=1)
    expected = torch.tensor([1.0, 10**-0.5, 0.1, 0.01])
    assert torch.allclose(measured, expected, rtol=0.05)
    # per real dimension: half the complex variance
    assert (out.symbols - x).real.var(dim=1)[0] == pytest.approx(0.5, rel=0.05)
    assert torch.allclose(out.noise_var[:, 0], expected)
    assert out.channel_uses == x.shape[1]


def test_rayleigh_gain_statistics_and_blocks():
    x = unit_symbols(batch=2, n=64 * 400)
    ch = RayleighBlockFading(block_length=64, seed=3)
    out = ch(x, snr_db=30.0)
    h = out.gain
    assert h.abs().square().mean() == pytest.approx(1.0, rel=0.1)
    blocks = h.reshape(2, 400, 64)
    assert torch.equal(blocks, blocks[:, :, :1].expand_as(blocks))  # constant within a block
    assert out.channel_uses == x.shape[1]


def test_rayleigh_pilot_csi_counts_pilots_and_adds_estimation_noise():
    x = unit_symbols(batch=1, n=1000)
    ch = RayleighBlockFading(block_length=100, csi="pilot", num_pilots=2, seed=0)
    out = ch(x, snr_db=10.0)
    assert out.channel_uses == 1000 + 10 * 2
    # effective noise = N0 (1 + 1/num_pilots) / |h_hat|^2
    expected = 0.1 * 1.5 / out.gain.abs().square()
    assert torch.allclose(out.noise_var, expected, rtol=1e-4)


def test_mmse_is_biased_zf_is_not():
    x = unit_symbols(batch=1, n=4000)
    zf = RayleighBlockFading(block_length=8, equalizer="zf", seed=5)(x, 5.0)
    mmse = RayleighBlockFading(block_length=8, equalizer="mmse", seed=5)(x, 5.0)
    assert torch.all(zf.bias == 1)
    assert torch.all(mmse.bias < 1)
    y_zf, _ = zf.unbiased()
    y_mmse, no_mmse = mmse.unbiased()
    assert torch.allclose(y_zf, y_mmse, atol=1e-4)  # scalar channel: unbiased MMSE equals ZF
    # the biased MMSE estimate has lower mean squared error than ZF
    assert (mmse.symbols - x).abs().square().mean() < (zf.symbols - x).abs().square().mean()


@pytest.mark.parametrize("name,options", [("awgn", {}), ("rayleigh", {"block_length": 16})])
def test_seed_repeats_and_differs(name, options):
    x = unit_symbols(batch=2, n=256)
    a = make_channel(name, seed=7, **options)(x, 3.0).symbols
    b = make_channel(name, seed=7, **options)(x, 3.0).symbols
    c = make_channel(name, seed=8, **options)(x, 3.0).symbols
    assert torch.equal(a, b)
    assert not torch.equal(a, c)
    g1, g2 = torch.Generator().manual_seed(1), torch.Generator().manual_seed(1)
    ch = make_channel(name, **options)
    assert torch.equal(ch(x, 3.0, generator=g1).symbols, ch(x, 3.0, generator=g2).symbols)


@pytest.mark.parametrize(
    "x,snr,match",
    [
        (torch.ones(2, 4), 1.0, "complex"),
        (torch.ones(4, dtype=torch.complex64), 1.0, r"\[batch, n\]"),
        (torch.ones(2, 0, dtype=torch.complex64), 1.0, "empty"),
        (torch.ones(2, 4, dtype=torch.complex64), float("nan"), "finite"),
        (torch.ones(2, 4, dtype=torch.complex64), torch.tensor([1.0, 2.0, 3.0]), "batch of 2"),
        ([1, 2], 1.0, "torch.Tensor"),
    ],
)
def test_bad_input_is_named(x, snr, match):
    with pytest.raises(InputError, match=match):
        AWGNChannel()(x, snr)


def test_bad_settings_are_named():
    with pytest.raises(ConfigError, match="unknown channel 'wifi'"):
        make_channel("wifi")
    with pytest.raises(ConfigError, match="block_length"):
        RayleighBlockFading(block_length=0)
    with pytest.raises(ConfigError, match="csi"):
        RayleighBlockFading(csi="genie")
    with pytest.raises(ConfigError, match="equalizer"):
        RayleighBlockFading(equalizer="ml")
