"""OFDM over the 3GPP TDL channel: shapes, overhead, receiver quality, SNR convention, seeding."""

from __future__ import annotations

import math

import pytest
import torch

from channels import CHANNELS, TDLOFDMChannel, make_channel
from semcore.errors import ConfigError, InputError


def qpsk(batch: int, n: int, seed: int = 0) -> tuple[torch.Tensor, torch.Tensor]:
    """Random Gray-mapped unit-energy QPSK symbols and their bits [batch, n, 2]."""
    g = torch.Generator().manual_seed(seed)
    bits = torch.randint(0, 2, (batch, n, 2), generator=g)
    x = torch.complex(1 - 2 * bits[..., 0].float(), 1 - 2 * bits[..., 1].float()) / math.sqrt(2)
    return bits, x


def bit_error_rate(symbols: torch.Tensor, bits: torch.Tensor) -> float:
    wrong = ((symbols.real < 0).long() != bits[..., 0]).float().mean()
    wrong = wrong + ((symbols.imag < 0).long() != bits[..., 1]).float().mean()
    return (wrong / 2).item()


@pytest.fixture(scope="module")
def channel() -> TDLOFDMChannel:
    return TDLOFDMChannel(model="A", delay_spread=30e-9, seed=0)


def test_registered_and_built_by_name():
    assert "tdl" in CHANNELS
    ch = make_channel("tdl", model="c", fft_size=24, seed=3)
    assert isinstance(ch, TDLOFDMChannel) and ch.name == "tdl" and ch.model == "C"


def test_shapes_and_dtypes(channel):
    _, x = qpsk(3, 1000)  # 1000 symbols: two slots, the second one partly zero padding
    out = channel(x, snr_db=torch.tensor([0.0, 10.0, 20.0]))
    for field in (out.symbols, out.gain):
        assert field.shape == (3, 1000) and field.dtype == torch.complex64
    for field in (out.noise_var, out.bias):
        assert field.shape == (3, 1000) and field.dtype == torch.float32
    assert torch.equal(out.bias, torch.ones(3, 1000))
    assert (out.noise_var > 0).all() and torch.isfinite(out.noise_var).all()
    assert torch.isfinite(torch.view_as_real(out.symbols)).all()
    assert out.snr_db.tolist() == [0.0, 10.0, 20.0]
    assert out.channel_uses == channel.channel_uses(1000)
    # Per-row SNR: the noisier row has the larger effective noise.
    med = out.noise_var.median(dim=1).values
    assert med[0] > med[1] > med[2]


def test_channel_uses_formula():
    ch = TDLOFDMChannel(fft_size=48, num_ofdm_symbols=14, cyclic_prefix_length=4, pilot_ofdm_symbol_indices=[2, 11])
    per_slot = 14 * (48 + 4)
    data_per_slot = 12 * 48
    assert ch.data_symbols_per_slot == data_per_slot
    assert ch.channel_uses(1) == per_slot
    assert ch.channel_uses(data_per_slot) == per_slot
    assert ch.channel_uses(data_per_slot + 1) == 2 * per_slot
    assert ch.channel_uses(10 * data_per_slot) == 10 * per_slot
    guarded = TDLOFDMChannel(fft_size=48, cyclic_prefix_length=4, num_guard_carriers=(3, 2), dc_null=True)
    assert guarded.data_symbols_per_slot == 12 * (48 - 6)  # guards and DC carry nothing ...
    assert guarded.channel_uses(1) == per_slot  # ... but are counted
    out = guarded(qpsk(2, 600)[1], snr_db=20.0)
    assert out.symbols.shape == (2, 600) and out.channel_uses == 2 * per_slot


def test_high_snr_recovers_symbols(channel):
    bits, x = qpsk(16, 2000, seed=1)
    out = channel(x, snr_db=40.0)
    symbols_wrong = (bits != torch.stack([out.symbols.real < 0, out.symbols.imag < 0], -1).long()).any(-1)
    assert symbols_wrong.float().mean() < 3e-3  # only the rare deep fade of a Rayleigh-like channel
    assert (out.symbols - x).abs().square().median() < 1e-3
    # The unbiased equaliser inverts the estimated channel; the estimate has unit average power.
    assert 0.5 < out.gain.abs().square().mean() < 1.6


def test_noise_variance_rises_as_snr_falls(channel):
    _, x = qpsk(8, 900, seed=2)
    medians = []
    for snr in (30.0, 20.0, 10.0, 0.0):
        out = channel(x, snr, generator=torch.Generator().manual_seed(5))  # same channel draw
        medians.append(out.noise_var.median().item())
    assert medians == sorted(medians)
    assert medians[-1] > 100 * medians[0]


def test_reported_noise_variance_matches_actual_error(channel):
    _, x = qpsk(32, 1728, seed=3)
    out = channel(x, snr_db=10.0)
    ratio = ((out.symbols - x).abs().square() / out.noise_var).mean().item()
    assert 0.9 < ratio < 1.1


def test_seeding_reproducible():
    _, x = qpsk(4, 900, seed=4)
    a = TDLOFDMChannel(seed=7)(x, 10.0)
    b = TDLOFDMChannel(seed=7)(x, 10.0)
    c = TDLOFDMChannel(seed=8)(x, 10.0)
    assert torch.equal(a.symbols, b.symbols) and torch.equal(a.gain, b.gain)
    assert torch.equal(a.noise_var, b.noise_var)
    assert not torch.allclose(a.symbols, c.symbols)
    ch = TDLOFDMChannel(seed=7)
    d = ch(x, 10.0, generator=torch.Generator().manual_seed(11))
    e = ch(x, 10.0, generator=torch.Generator().manual_seed(11))
    f = ch(x, 10.0, generator=torch.Generator().manual_seed(12))
    assert torch.equal(d.symbols, e.symbols) and not torch.allclose(d.symbols, f.symbols)
    # Successive calls on one channel draw fresh realisations.
    assert not torch.allclose(ch(x, 10.0).symbols, ch(x, 10.0).symbols)


def test_sionna_generator_state_restored(channel):
    from sionna.phy import config

    rng = config.torch_rng("cpu")
    before = rng.get_state()
    channel(qpsk(2, 100)[1], snr_db=10.0)
    assert torch.equal(rng.get_state(), before)


def test_qpsk_ber_matches_snr_convention():
    """Uncoded QPSK on TDL-A, LS "nn" estimate, static channel, at Es/N0 = 10 dB.

    Every resource element sees a CN(0, 1) channel known up to an LS error of variance N0, so
    the bit error rate is the Rayleigh one at the effective Eb/N0 g = 1 / (2 N0 (2 + N0)):
    P = (1 - sqrt(g / (1 + g))) / 2 = 0.080. Perfect CSI would give 0.044 (AWGN: 7.7e-4), and an
    SNR convention 3 dB off would give 0.046 or 0.131: the 25 % band below tells them apart.
    """
    snr_db = 10.0
    no = 10 ** (-snr_db / 10)
    g_eff = 1 / (2 * no * (2 + no))
    expected = 0.5 * (1 - math.sqrt(g_eff / (1 + g_eff)))
    g_perfect = 1 / (2 * no)
    rayleigh_perfect_csi = 0.5 * (1 - math.sqrt(g_perfect / (1 + g_perfect)))
    awgn = 0.5 * math.erfc(math.sqrt(g_perfect))

    ch = TDLOFDMChannel(model="A", delay_spread=300e-9, interpolation="nn", seed=1)
    bits, x = qpsk(128, 2 * ch.data_symbols_per_slot, seed=5)
    ber = bit_error_rate(ch(x, snr_db).symbols, bits)
    assert awgn < rayleigh_perfect_csi < ber
    assert 0.75 * expected < ber < 1.25 * expected


def test_bad_settings_raise_config_error():
    bad = [
        {"model": "F"},
        {"model": 1},
        {"delay_spread": 0.0},
        {"delay_spread": 100.0},
        {"carrier_frequency": -1.0},
        {"subcarrier_spacing": float("nan")},
        {"min_speed": -1.0},
        {"min_speed": 10.0, "max_speed": 5.0},
        {"fft_size": 0},
        {"fft_size": 64.0},
        {"num_ofdm_symbols": 1},
        {"cyclic_prefix_length": -1},
        {"cyclic_prefix_length": 100, "fft_size": 72},
        {"pilot_ofdm_symbol_indices": []},
        {"pilot_ofdm_symbol_indices": [14]},
        {"pilot_ofdm_symbol_indices": [2, 2]},
        {"pilot_ofdm_symbol_indices": "2,11"},
        {"num_ofdm_symbols": 2, "pilot_ofdm_symbol_indices": [0, 1]},
        {"num_guard_carriers": (40, 40)},
        {"num_guard_carriers": (1,)},
        {"interpolation": "cubic"},
    ]
    for options in bad:
        with pytest.raises(ConfigError):
            TDLOFDMChannel(**options)
    with pytest.raises(ConfigError):
        make_channel("tdl", no_such_option=1)


def test_bad_input_raises_input_error(channel):
    with pytest.raises(InputError):
        channel(torch.ones(2, 10), snr_db=10.0)  # real, not complex
    with pytest.raises(InputError):
        channel(torch.ones(10, dtype=torch.complex64), snr_db=10.0)  # not [batch, n]
    with pytest.raises(InputError):
        channel(torch.ones(2, 10, dtype=torch.complex64), snr_db=torch.zeros(3))
