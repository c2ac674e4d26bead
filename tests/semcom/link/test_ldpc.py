import torch
from sionna.phy.channel import AWGN
from sionna.phy.fec.ldpc import LDPC5GDecoder, LDPC5GEncoder
from sionna.phy.mapping import Demapper, Mapper

from semcom.link.ldpc import EarlyStoppingLDPC5GDecoder


def block_errors(decoder, llr, bits):
    return (decoder(llr) != bits).any(-1)


def test_layered_early_stopping_decoder_is_at_least_as_good_as_plain_sionna():
    torch.manual_seed(0)
    k, n = 400, 800
    enc = LDPC5GEncoder(k, n, num_bits_per_symbol=2)
    mapper, demapper = Mapper("qam", 2), Demapper("app", "qam", 2)
    plain = LDPC5GDecoder(enc, num_iter=20)
    fast = EarlyStoppingLDPC5GDecoder(enc, num_iter=20)
    for snr_db in (1.0, 2.0):
        bits = torch.randint(0, 2, (300, k)).float()
        no = 10 ** (-snr_db / 10)
        llr = demapper(AWGN()(mapper(enc(bits)), no), no)
        plain_err = block_errors(plain, llr, bits)
        fast_err = block_errors(fast, llr, bits)
        assert fast_err.float().mean() <= plain_err.float().mean() + 0.02
        # codewords the plain decoder gets right, the fast one gets right too (but for rare ties)
        assert (fast_err & ~plain_err).sum() <= 2
        assert 1 <= fast.last_iterations.float().mean() < 20


def test_clean_codewords_stop_at_once_and_noise_runs_to_the_cap():
    enc = LDPC5GEncoder(300, 600)
    dec = EarlyStoppingLDPC5GDecoder(enc, num_iter=7)
    bits = torch.randint(0, 2, (4, 300)).float()
    assert torch.equal(dec(30.0 * (2 * enc(bits) - 1)), bits)
    assert dec.last_iterations.max() <= 1  # punctured bits need one pass
    dec(torch.randn(4, 600) * 0.1)
    assert dec.last_iterations.max() == 7
