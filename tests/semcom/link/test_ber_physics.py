"""Simulated error rates against closed forms (Es/N0 per complex symbol)."""

import pytest

from semcom.link.ber import qam_ber_awgn, qpsk_ber_rayleigh, simulate_ber
from semcom.link.digital import DigitalLink
from semcom.link.mcs import MCS


def uncoded(channel, modulation, **options):
    return DigitalLink(channel, mcs=MCS(-1, modulation, 1.0), code="none", seed=11, **options)


@pytest.mark.parametrize("modulation,snrs", [("qpsk", [0.0, 4.0, 7.0]), ("16qam", [6.0, 10.0, 13.0])])
def test_uncoded_qam_awgn_matches_closed_form(modulation, snrs):
    points = simulate_ber(uncoded("awgn", modulation), snrs, num_bits=300_000, max_bits=300_000)
    for p in points:
        assert p.ber_theory == pytest.approx(qam_ber_awgn(p.snr_db, modulation))
        assert p.ber == pytest.approx(p.ber_theory, rel=0.15), p


def test_uncoded_qpsk_rayleigh_block_fading_matches_closed_form():
    link = uncoded("rayleigh", "qpsk", block_length=4, csi="perfect", equalizer="zf")
    points = simulate_ber(link, [0.0, 8.0, 16.0], num_bits=400_000, max_bits=400_000)
    for p in points:
        assert p.ber_theory == pytest.approx(qpsk_ber_rayleigh(p.snr_db))
        assert p.ber == pytest.approx(p.ber_theory, rel=0.15), p


def test_closed_forms_known_values():
    # QPSK at Eb/N0 = 9.6 dB (Es/N0 = 12.6 dB) has BER ~1e-5
    assert qam_ber_awgn(12.61, "qpsk") == pytest.approx(1e-5, rel=0.05)
    assert qpsk_ber_rayleigh(-100.0) == pytest.approx(0.5, abs=1e-3)


def test_coded_bler_falls_with_snr_and_beats_uncoded_at_same_ebno():
    rate = 0.5
    coded = DigitalLink("awgn", mcs=MCS(-1, "qpsk", rate), code="ldpc", seed=2)
    # Es/N0 = Eb/N0 + 10 log10(2 * 0.5) = Eb/N0 for QPSK at rate 1/2
    snrs = [0.0, 0.6, 1.2]
    points = simulate_ber(coded, snrs, num_bits=60_000, max_bits=60_000, theory=False)
    blers = [p.bler for p in points]
    assert blers[0] >= blers[1] >= blers[2] and blers[0] > blers[2]
    assert blers[0] > 0.2 and blers[2] < 0.1
    # uncoded QPSK at the same Eb/N0 (Es/N0 = Eb/N0 + 3 dB) with the same payload block size
    plain = DigitalLink("awgn", mcs=MCS(-1, "qpsk", 1.0), code="none", seed=2)
    for p in points:
        ber = qam_ber_awgn(p.snr_db + 3.0103, "qpsk")
        uncoded_bler = 1 - (1 - ber) ** 2024
        assert p.bler <= uncoded_bler and (p.bler < uncoded_bler or p.bler == 1.0)
    measured = simulate_ber(plain, [p.snr_db + 3.0103 for p in points], num_bits=20_000, max_bits=20_000)
    assert all(c.bler <= u.bler for c, u in zip(points, measured))
    assert all(c.bler < u.bler for c, u in zip(points[1:], measured[1:]))
