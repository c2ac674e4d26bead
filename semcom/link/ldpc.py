"""A faster 5G LDPC decoder: Sionna's rate recovery with an early-stopping belief-propagation core.

Sionna's :class:`~sionna.phy.fec.ldpc.LDPC5GDecoder` runs a fixed number of flooding iterations
on ragged edge lists. :class:`EarlyStoppingLDPC5GDecoder` keeps Sionna's 5G rate matching and
recovery (puncturing, filler bits, pruning, bit interleaving) and swaps the BP core for one that

* uses the layered schedule (one lifted base-graph row at a time), which converges in about
  half the iterations of flooding, with the exact boxplus (phi) check-node update,
* keeps each layer's messages as dense [batch, Z, degree] tensors, and
* stops each codeword as soon as its hard decision satisfies all parity checks, dropping it from
  the batch, so iterations are spent only where they are needed.

With the same iteration cap its block error rate is at or below the plain flooding decoder's
(tests and ``experiments/bench_link.py`` compare the BLER curves).
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import scipy.sparse as sp
import torch
from sionna.phy.fec.ldpc import LDPC5GDecoder
from sionna.phy.fec.ldpc.decoding import LDPCBPDecoder

_PHI_MIN, _PHI_MAX = 1e-6, 20.0


def _phi(x: torch.Tensor) -> torch.Tensor:
    """phi(x) = -log(tanh(x/2)), its own inverse for x > 0."""
    return -torch.log(torch.tanh(x.clamp(_PHI_MIN, _PHI_MAX) * 0.5))


@dataclass
class _CheckGroup:
    """Check nodes of one degree d: ``vns`` [num_checks, d] holds their variable-node indices."""

    vns: torch.Tensor
    flat: torch.Tensor


class _LayeredEarlyStoppingBP(LDPCBPDecoder):
    """Layered BP core (replaces :meth:`LDPCBPDecoder.call`); sees the full pruned 5G code.

    A layer is one lifted base-graph row: Z check nodes that share no variable node, so they
    update together and the a-posteriori LLRs are refreshed after every layer.
    """

    last_iterations: torch.Tensor = torch.zeros(0, dtype=torch.long)  # [batch] of the last call

    def _structure(self) -> tuple[list[_CheckGroup], list[list[_CheckGroup]]]:
        """(all checks grouped by degree, for syndromes; per-layer groups by degree, for updates)."""
        cached = getattr(self, "_cached_structure", None)
        if cached is None:
            pcm = sp.csr_matrix(self._pcm)
            z = self._encoder.z
            everything = _groups_by_degree(pcm, np.arange(pcm.shape[0]))
            layers = [_groups_by_degree(pcm, np.arange(i, min(i + z, pcm.shape[0]))) for i in range(0, pcm.shape[0], z)]
            cached = self._cached_structure = (everything, layers)
        return cached

    def call(self, llr_ch: torch.Tensor, /, *, num_iter: int | None = None, msg_v2c=None) -> torch.Tensor:
        if msg_v2c is not None or self._return_state or not self._hard_out:
            raise ValueError("the early-stopping decoder returns hard decisions only, without decoder state")
        num_iter = self._num_iter if num_iter is None else num_iter
        shape = llr_ch.shape
        total = llr_ch.reshape(-1, self._num_vns)
        if self._llr_max is not None:
            total = total.clamp(-self._llr_max, self._llr_max)
        total = -total  # Sionna passes logits log(p1/p0); BP below uses L = log(p0/p1)
        checks, layers = self._structure()

        batch = total.shape[0]
        decided = torch.zeros(batch, self._num_vns, dtype=torch.bool, device=total.device)
        active = torch.arange(batch, device=total.device)
        c2v = [[torch.zeros(batch, *g.vns.shape, device=total.device) for g in layer] for layer in layers]
        iterations_of = torch.zeros(batch, dtype=torch.long)
        for iteration in range(num_iter + 1):
            hard = total < 0
            unsatisfied = torch.zeros(active.numel(), dtype=torch.bool, device=total.device)
            for group in checks:
                parity = hard.index_select(1, group.flat).view(-1, *group.vns.shape).sum(-1) & 1
                unsatisfied |= parity.any(-1)
            done = ~unsatisfied
            if done.any():
                decided[active[done]] = hard[done]
                iterations_of[active[done]] = iteration
                keep = unsatisfied.nonzero().squeeze(1)
                active, total = active[keep], total[keep]
                c2v = [[m[keep] for m in layer] for layer in c2v]
            if active.numel() == 0 or iteration == num_iter:
                break
            for layer, messages in zip(layers, c2v):
                for i, group in enumerate(layer):
                    v2c = total.index_select(1, group.flat).view_as(messages[i]) - messages[i]
                    messages[i] = _boxplus_extrinsic(v2c)
                    total.index_copy_(1, group.flat, (v2c + messages[i]).view(total.shape[0], -1))
        if active.numel():
            decided[active] = total < 0
            iterations_of[active] = num_iter
        self.last_iterations = iterations_of
        return decided.to(self.dtype).reshape(shape)


def _groups_by_degree(pcm: sp.csr_matrix, rows: np.ndarray) -> list[_CheckGroup]:
    degrees = np.diff(pcm.indptr)[rows]
    groups = []
    for degree in np.unique(degrees):
        members = rows[degrees == degree]
        vns = np.stack([pcm.indices[pcm.indptr[r] : pcm.indptr[r + 1]] for r in members])
        vns_t = torch.as_tensor(vns, dtype=torch.long)
        groups.append(_CheckGroup(vns=vns_t, flat=vns_t.flatten()))
    return groups


def _boxplus_extrinsic(v2c: torch.Tensor) -> torch.Tensor:
    """Check-node update [..., d] -> [..., d]: boxplus of all other inputs (exact, phi form)."""
    magnitude = _phi(v2c.abs())
    sign = torch.copysign(torch.ones_like(v2c), v2c)  # +0 counts as positive
    extrinsic = _phi(magnitude.sum(-1, keepdim=True) - magnitude)
    return extrinsic.mul_(sign).mul_(sign.prod(-1, keepdim=True))


class EarlyStoppingLDPC5GDecoder(LDPC5GDecoder, _LayeredEarlyStoppingBP):
    """Drop-in for :class:`~sionna.phy.fec.ldpc.LDPC5GDecoder` (hard output, boxplus-phi), layered.

    Input ``llr`` [..., n] float32 logits log(p(1)/p(0)) from a Sionna demapper;
    output [..., k] float32 hard information bits.

    >>> from sionna.phy.fec.ldpc import LDPC5GEncoder
    >>> enc = LDPC5GEncoder(100, 200)
    >>> dec = EarlyStoppingLDPC5GDecoder(enc, num_iter=20)
    >>> bits = torch.randint(0, 2, (3, 100)).float()
    >>> bool((dec(20.0 * (2 * enc(bits) - 1)) == bits).all())
    True
    """

    def __init__(self, encoder, num_iter: int = 20, **kwargs):
        # layered: Sionna then prunes punctured nodes in whole lifted blocks, keeping layers intact
        super().__init__(encoder, num_iter=num_iter, cn_schedule="layered", **kwargs)
