import os

import numpy as np
import pytest
import torch

from channels import AWGNChannel, CHANNELS
from channels.base import ChannelOutput
from semcom.errors import ConfigError, InputError
from semcom.link.digital import (
    MAX_PAYLOAD_BITS,
    POLAR_INNER_CRC_BITS,
    POLAR_MAX_CODED_BITS,
    POLAR_OUTER_CRC_BITS,
    DigitalLink,
)
from semcom.link.mcs import MCS_TABLE, select_mcs


@pytest.mark.parametrize("mcs", MCS_TABLE, ids=str)
def test_bytes_round_trip_at_high_snr_for_every_mcs(mcs):
    payload = os.urandom(3000)
    out = DigitalLink("awgn", mcs=mcs, code="ldpc", seed=0).transmit(payload, snr_db=40.0)
    assert out.ok and out.data == payload
    assert out.payload_bits == 8 * len(payload)
    assert out.coded_bits >= out.payload_bits / mcs.code_rate
    assert out.channel_uses == out.coded_bits // mcs.bits_per_symbol
    assert out.mcs == mcs


@pytest.mark.parametrize("code", ["polar", "none", "auto"])
def test_short_payloads_round_trip(code):
    payload = b"a red door on a stone wall"
    out = DigitalLink("rayleigh", mcs=2, code=code, seed=0).transmit(payload, snr_db=45.0)
    assert out.data == payload and out.ok
    if code == "auto":
        assert out.code == "polar"


class _OneBadRow(AWGNChannel):
    """A channel that wipes out the second code block and leaves the others clean."""

    name = "one-bad-row"

    def _propagate(self, x, no, snr_db, gen):
        out = super()._propagate(x, no, snr_db, gen)
        symbols = out.symbols.clone()
        symbols[1] = -symbols[1]
        return ChannelOutput(symbols, out.noise_var, out.bias, out.gain, out.channel_uses, out.snr_db)


def test_corrupted_block_is_flagged_and_never_passed_on():
    payload = os.urandom(700)  # three LDPC blocks of at most 2024 bits
    link = DigitalLink(_OneBadRow(seed=0), mcs=3, code="ldpc")
    out = link.transmit(payload, snr_db=30.0)
    assert out.num_blocks == 3
    assert out.block_ok.tolist() == [True, False, True]
    start, stop = out.block_ranges[1]
    sent = np.unpackbits(np.frombuffer(payload, dtype=np.uint8))
    assert not out.bits[start:stop].any()  # erased, not garbage
    assert np.array_equal(out.bits[:start], sent[:start]) and np.array_equal(out.bits[stop:], sent[stop:])
    assert not out.ok


def test_no_failed_block_passes_as_good_at_low_snr():
    rng = np.random.default_rng(0)
    bits = rng.integers(0, 2, 2024 * 40, dtype=np.uint8)
    out = DigitalLink("awgn", mcs=5, code="ldpc", seed=4).transmit_bits(bits, snr_db=5.5)
    assert 0 < out.block_ok.sum() < out.num_blocks  # some pass, some fail
    for ok, (start, stop) in zip(out.block_ok, out.block_ranges):
        if ok:
            assert np.array_equal(out.bits[start:stop], bits[start:stop])
        else:
            assert not out.bits[start:stop].any()


def test_polar_link_never_passes_a_wrong_block_at_very_low_snr():
    """3000 short polar blocks at -5 dB all fail. The list decoder's CRC11 alone passes about
    8 * 2**-11 of them with wrong bits; the outer CRC16 must stop every one."""
    rng = np.random.default_rng(0)
    blocks = rng.integers(0, 2, (3000, 20), dtype=np.uint8)
    link = DigitalLink("awgn", mcs=3, code="polar", seed=0)
    out = link.send_blocks(blocks, -5.0, torch.Generator().manual_seed(0))
    wrong = (out.decoded != blocks).any(axis=1)
    assert wrong.sum() > 2900
    assert (wrong & out.list_crc_ok).sum() > 0  # what a CRC11-only link would have passed on
    assert not (wrong & out.ok).any()
    assert not (out.ok & ~out.list_crc_ok).any()


@pytest.mark.parametrize("bits", [1, 3, 13, 100, 190])
def test_polar_accounting_counts_both_crcs_as_coded_bits(bits):
    mcs = MCS_TABLE[0]
    link = DigitalLink("awgn", mcs=mcs, code="polar", seed=0)
    payload = np.random.default_rng(bits).integers(0, 2, bits, dtype=np.uint8)
    out = link.transmit_bits(payload, 30.0)
    assert out.ok and np.array_equal(out.bits, payload) and out.num_blocks == 1
    info = max(bits + POLAR_OUTER_CRC_BITS, 20) + POLAR_INNER_CRC_BITS  # short blocks padded to the encoder's 20
    assert link.block_info_bits(bits, "polar") == info
    n = 2 * -(-int(np.ceil(info / mcs.code_rate)) // 2)
    assert out.payload_bits == bits and out.coded_bits == n <= POLAR_MAX_CODED_BITS
    assert out.channel_uses == n // 2
    plan = link.plan(bits, 30.0)
    assert (plan.coded_bits, plan.channel_uses, plan.num_blocks) == (out.coded_bits, out.channel_uses, 1)
    assert link.plan(191, 30.0).num_blocks == 2  # 190 payload bits is what one block at MCS 0 carries


def test_link_adaptation_picks_higher_mcs_at_higher_snr():
    chosen = [select_mcs(snr, "awgn") for snr in (-2.0, 3.0, 10.0, 25.0)]
    rates = [m.spectral_efficiency for m in chosen if m is not None]
    assert rates == sorted(rates) and len(set(rates)) >= 3
    assert select_mcs(-20.0, "awgn") is None
    out = DigitalLink("awgn", seed=0).transmit(b"x" * 100, snr_db=-20.0)
    assert out.below_threshold and out.mcs == MCS_TABLE[0]


def test_accounting_with_pilots():
    link = DigitalLink("rayleigh", mcs=0, code="ldpc", seed=0, csi="pilot", num_pilots=2, block_length=32)
    out = link.transmit(os.urandom(200), snr_db=20.0)
    symbols = out.coded_bits // 2
    assert out.channel_uses == symbols + 2 * -(-symbols // 32)


def test_seeded_link_repeats():
    payload = os.urandom(600)
    a = DigitalLink("rayleigh", mcs=4, code="none", seed=9).transmit(payload, 6.0)
    b = DigitalLink("rayleigh", mcs=4, code="none", seed=9).transmit(payload, 6.0)
    c = DigitalLink("rayleigh", mcs=4, code="none", seed=10).transmit(payload, 6.0)
    assert np.array_equal(a.raw_bits, b.raw_bits)
    assert not np.array_equal(a.raw_bits, c.raw_bits)


def test_bad_input_is_named():
    link = DigitalLink("awgn", mcs=0)
    with pytest.raises(InputError, match="empty"):
        link.transmit(b"", 10.0)
    with pytest.raises(InputError, match="bytes"):
        link.transmit("text", 10.0)
    with pytest.raises(InputError, match="finite"):
        link.transmit(b"abc", float("nan"))
    with pytest.raises(InputError, match="finite"):
        link.transmit(b"abc", float("inf"))
    with pytest.raises(InputError, match="maximum"):
        link.transmit_bits(np.zeros(MAX_PAYLOAD_BITS + 1, dtype=np.uint8), 10.0)
    with pytest.raises(InputError, match="one-dimensional"):
        link.transmit_bits(np.zeros((2, 8), dtype=np.uint8), 10.0)
    with pytest.raises(InputError, match="only 0 and 1"):
        link.transmit_bits(np.array([0, 2, 1]), 10.0)
    with pytest.raises(InputError, match=r"\[num_blocks, k\]"):
        link.send_blocks(np.zeros(8, dtype=np.uint8), 10.0)
    with pytest.raises(InputError, match="do not fit in one polar block"):
        DigitalLink("awgn", mcs=0, code="polar").send_blocks(np.zeros((2, 191), dtype=np.uint8), 10.0)
    with pytest.raises(ConfigError, match="unknown channel code"):
        DigitalLink("awgn", code="turbo")
    with pytest.raises(ConfigError, match="MCS index"):
        DigitalLink("awgn", mcs=99)
    with pytest.raises(ConfigError, match="unknown channel"):
        DigitalLink("optical")
    assert "one-bad-row" not in CHANNELS


def test_payloads_of_equal_bits_cross_as_random_ones_do():
    """Codewords are scrambled before QAM: a run of zeros must not sit on one constellation point."""
    import numpy as np
    import torch

    from semcom.link.digital import DigitalLink

    link = DigitalLink("awgn")
    failed = {}
    for name, payload in (("zeros", bytes(6000)), ("random", np.random.default_rng(0).bytes(6000))):
        failed[name] = sum(int((~link.transmit(payload, 5.5, generator=torch.Generator().manual_seed(s)).block_ok).sum())
                           for s in range(2))
    assert failed["zeros"] <= failed["random"] + 1


def test_scrambling_sequence_is_the_5g_gold_sequence_and_undone_at_the_receiver():
    import torch
    from sionna.phy.fec.scrambling import TB5GScrambler

    from semcom.link.digital import DigitalLink
    from semcom.link.mcs import get_mcs

    link = DigitalLink("awgn")
    coders = link._coders("ldpc", 500, 1000, get_mcs(4).bits_per_symbol)
    sequence, signs = coders[-2], coders[-1]
    expected = TB5GScrambler(n_rnti=1, n_id=1, binary=True)(torch.zeros(1, 1000))[0]
    assert torch.equal(sequence, expected) and 400 < int(sequence.sum()) < 600
    assert torch.equal(signs, 1 - 2 * expected)
    t = link.transmit(bytes(200), 30.0, generator=torch.Generator().manual_seed(0))
    assert t.ok and t.data == bytes(200)
