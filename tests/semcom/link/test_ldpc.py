import numpy as np
import pytest
import scipy.sparse as sp
import torch
from sionna.phy.channel import AWGN
from sionna.phy.fec.ldpc import LDPC5GDecoder, LDPC5GEncoder
from sionna.phy.fec.ldpc.decoding import LDPCBPDecoder
from sionna.phy.mapping import Demapper, Mapper

from semcom.link.ldpc import CompiledLDPC5GEncoder, EarlyStoppingLDPC5GDecoder, QuasiCyclic, _phi, pruned_pcm


def block_errors(decoder, llr, bits):
    return (decoder(llr) != bits).any(-1)


def noisy_llr(enc, bits, snr_db, bits_per_symbol, seed):
    """Channel logits of ``bits`` encoded by ``enc``, QAM over AWGN, with seeded noise."""
    x = Mapper("qam", bits_per_symbol)(enc(bits))
    no = 10 ** (-snr_db / 10)
    gen = torch.Generator().manual_seed(seed)
    noise = torch.complex(torch.randn(x.shape, generator=gen), torch.randn(x.shape, generator=gen))
    return Demapper("app", "qam", bits_per_symbol)(x + noise * (no / 2) ** 0.5, no)


class _TorchLayeredBP(LDPCBPDecoder):
    """The previous decoder's BP core (torch, layered, early stopping), kept as the reference."""

    def call(self, llr_ch, /, *, num_iter=None, msg_v2c=None):
        pcm, z = sp.csr_matrix(self._pcm), self._encoder.z
        phi = lambda x: -torch.log(torch.tanh(x.clamp(1e-6, 20.0) * 0.5))  # noqa: E731
        layers = []
        for first in range(0, pcm.shape[0], z):
            rows = np.arange(first, first + z)
            degrees = np.diff(pcm.indptr)[rows]
            layers.append([torch.as_tensor(np.stack([pcm.indices[pcm.indptr[r]:pcm.indptr[r + 1]]
                                                     for r in rows[degrees == d]])) for d in np.unique(degrees)])
        total = -llr_ch.reshape(-1, self._num_vns).clamp(-self._llr_max, self._llr_max)
        batch = total.shape[0]
        decided = torch.zeros(batch, self._num_vns, dtype=torch.bool)
        self.iterations = torch.full((batch,), self._num_iter)
        active = torch.arange(batch)
        c2v = [[torch.zeros(batch, *g.shape) for g in layer] for layer in layers]
        for iteration in range(self._num_iter + 1):
            hard = total < 0
            done = torch.ones(active.numel(), dtype=torch.bool)
            for layer in layers:
                for g in layer:
                    done &= ~((hard[:, g].sum(-1) & 1).any(-1))
            decided[active[done]] = hard[done]
            self.iterations[active[done]] = iteration
            keep = (~done).nonzero().squeeze(1)
            active, total = active[keep], total[keep]
            c2v = [[m[keep] for m in layer] for layer in c2v]
            if active.numel() == 0 or iteration == self._num_iter:
                break
            for layer, messages in zip(layers, c2v):
                for i, g in enumerate(layer):
                    v2c = total[:, g] - messages[i]
                    magnitude = phi(v2c.abs())
                    sign = torch.copysign(torch.ones_like(v2c), v2c)
                    messages[i] = phi(magnitude.sum(-1, keepdim=True) - magnitude) * sign * sign.prod(-1, keepdim=True)
                    total[:, g.flatten()] = (v2c + messages[i]).reshape(total.shape[0], -1)
        decided[active] = total < 0
        return decided.float().reshape(llr_ch.shape)


class _ReferenceDecoder(LDPC5GDecoder, _TorchLayeredBP):
    def __init__(self, encoder, num_iter=20):
        super().__init__(encoder, num_iter=num_iter, cn_schedule="layered")


@pytest.mark.parametrize("k, n, bits_per_symbol, snr_db", [(400, 800, 2, 1.0), (2048, 2216, 8, 24.5),
                                                           (1000, 1500, 6, 13.5)])
def test_compiled_decoder_takes_the_previous_decoders_decisions(k, n, bits_per_symbol, snr_db):
    torch.manual_seed(0)
    enc = LDPC5GEncoder(k, n, num_bits_per_symbol=bits_per_symbol)
    bits = torch.randint(0, 2, (48, k)).float()
    llr = noisy_llr(enc, bits, snr_db, bits_per_symbol, seed=1)
    reference, compiled = _ReferenceDecoder(enc), EarlyStoppingLDPC5GDecoder(enc)
    expected = reference(llr)
    assert torch.equal(compiled(llr), expected)
    assert torch.equal(compiled.last_iterations, reference.iterations)
    errors = (expected != bits).any(-1)
    assert 0 < errors.sum() < 48  # the operating point has both decoded and failed codewords


def test_layered_early_stopping_decoder_is_at_least_as_good_as_plain_sionna():
    torch.manual_seed(0)
    k, n = 400, 800
    enc = LDPC5GEncoder(k, n, num_bits_per_symbol=2)
    plain = LDPC5GDecoder(enc, num_iter=20)
    fast = EarlyStoppingLDPC5GDecoder(enc, num_iter=20)
    for seed, snr_db in enumerate((1.0, 2.0)):
        bits = torch.randint(0, 2, (300, k)).float()
        llr = noisy_llr(enc, bits, snr_db, 2, seed)
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
    assert torch.equal(dec.last_iterations, torch.full((4,), 7))
    assert dec(torch.zeros(0, 600)).shape == (0, 300)


def test_decoder_checks_its_settings_and_input():
    enc = LDPC5GEncoder(100, 200)
    with pytest.raises(TypeError, match="LDPC5GEncoder"):
        EarlyStoppingLDPC5GDecoder("not an encoder")
    with pytest.raises(ValueError, match="num_iter"):
        EarlyStoppingLDPC5GDecoder(enc, num_iter=-1)
    with pytest.raises(ValueError, match="llr_max"):
        EarlyStoppingLDPC5GDecoder(enc, llr_max=0.0)
    with pytest.raises(ValueError, match="n=200"):
        EarlyStoppingLDPC5GDecoder(enc)(torch.zeros(2, 150))


@pytest.mark.parametrize("k, n, bits_per_symbol", [(2048, 10232, 2), (2048, 2216, 8), (100, 200, None),
                                                   (500, 2400, 2)])
def test_decoder_works_on_the_code_sionnas_layered_decoder_prunes(k, n, bits_per_symbol):
    enc = LDPC5GEncoder(k, n, num_bits_per_symbol=bits_per_symbol)
    sionna = sp.csr_matrix(LDPC5GDecoder(enc, cn_schedule="layered")._pcm)
    ours = pruned_pcm(enc)
    assert ours.shape == sionna.shape and (ours != sionna).nnz == 0


@pytest.mark.parametrize("k, n, bits_per_symbol", [(2048, 10232, 2), (2048, 2216, 8), (100, 200, None),
                                                   (40, 120, 2), (1000, 1200, 4), (8000, 9000, 6)])
def test_compiled_encoder_gives_sionnas_codewords(k, n, bits_per_symbol):
    torch.manual_seed(k + n)
    bits = torch.randint(0, 2, (5, 3, k)).float()
    ours = CompiledLDPC5GEncoder(k, n, num_bits_per_symbol=bits_per_symbol)
    sionna = LDPC5GEncoder(k, n, num_bits_per_symbol=bits_per_symbol)
    assert torch.equal(ours(bits), sionna(bits))
    assert torch.equal(ours(bits, rv=[0, 3]), sionna(bits, rv=[0, 3]))  # HARQ runs Sionna's code on our matrices
    assert ours(bits[:0]).shape == (0, 3, n)
    for name in ("_pcm_a_ind", "_pcm_b_inv_ind", "_pcm_c1_ind", "_pcm_c2_ind"):  # same rows, columns sorted
        assert torch.equal(getattr(ours, name).sort(-1).values, getattr(sionna, name).sort(-1).values)


def test_compiled_encoder_checks_its_input():
    enc = CompiledLDPC5GEncoder(100, 200)
    with pytest.raises(ValueError, match="binary"):
        enc(torch.full((2, 100), 0.5))


def test_phi_is_within_a_few_ulp_of_the_closed_form():
    x = np.concatenate([np.logspace(-7, np.log10(25.0), 20000), np.linspace(0.01, 20, 20000)]).astype(np.float32)
    ours = np.array([_phi(v) for v in x], dtype=np.float32)
    exact = -np.log(np.tanh(np.clip(x.astype(np.float64), 1e-6, 20.0) / 2))
    ulp = np.abs(ours - exact) / np.spacing(exact.astype(np.float32))
    assert ulp.max() <= 4
    inside = (x > 0.01) & (x < 10)  # phi is its own inverse where float32 keeps enough digits
    assert np.allclose([_phi(v) for v in ours[inside]], x[inside], rtol=1e-4)


def test_quasi_cyclic_structure_is_read_off_the_5g_matrix():
    enc = LDPC5GEncoder(500, 1000)
    pcm = pruned_pcm(enc)
    qc = QuasiCyclic.from_pcm(pcm, enc.z)
    assert (qc.to_csr() != pcm).nnz == 0
    assert qc.layer_ptr.size - 1 == pcm.shape[0] // enc.z
    shuffled = pcm[np.random.default_rng(0).permutation(pcm.shape[0])]
    with pytest.raises(ValueError, match="quasi-cyclic"):
        QuasiCyclic.from_pcm(shuffled, enc.z)
    with pytest.raises(ValueError, match="lifted"):
        QuasiCyclic.from_pcm(pcm[:-1], enc.z)
