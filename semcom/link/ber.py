"""Bit and block error rates of the digital link by simulation, and their closed forms."""

from __future__ import annotations

import math
import sys
from dataclasses import asdict, dataclass

import numpy as np
import torch
from scipy.special import erfc
from tqdm import tqdm

from channels.snr import check_snr_db
from semcom.errors import ConfigError
from semcom.link.digital import DigitalLink
from semcom.link.mcs import MCS, modulation_bits


def format_rate(errors: int, count: int, spec: str = ".3e") -> str:
    """An error rate as measured: ``errors / count``, or its bound ``< 1/count`` when no error was seen."""
    if errors == 0:
        return f"< {1 / count:{spec}}"
    return format(errors / count, spec)


def qam_ber_awgn(snr_db: float, modulation: str) -> float:
    """Exact BER of Gray-coded square M-QAM on complex AWGN at Es/N0 = ``snr_db`` (Cho & Yoon, 2002)."""
    check_snr_db(snr_db)
    bits = modulation_bits(modulation)
    m = 2**bits
    sqrt_m = int(round(math.sqrt(m)))
    snr = 10 ** (snr_db / 10)
    total = 0.0
    for k in range(1, int(math.log2(sqrt_m)) + 1):
        pk = 0.0
        for i in range(int((1 - 2.0**-k) * sqrt_m)):
            w = math.floor(i * 2 ** (k - 1) / sqrt_m)
            weight = (-1) ** w * (2 ** (k - 1) - math.floor(i * 2 ** (k - 1) / sqrt_m + 0.5))
            pk += weight * float(erfc((2 * i + 1) * math.sqrt(3 * snr / (2 * (m - 1)))))
        total += pk / sqrt_m
    return total / math.log2(sqrt_m)


def qpsk_ber_rayleigh(snr_db: float) -> float:
    """BER of Gray QPSK on flat Rayleigh fading with perfect CSI at Es/N0 = ``snr_db``."""
    check_snr_db(snr_db)
    gamma_b = 10 ** (snr_db / 10) / 2
    return 0.5 * (1 - math.sqrt(gamma_b / (1 + gamma_b)))


def closed_form_ber(channel: str, modulation: str, code: str, snr_db: float, csi: str = "perfect") -> float | None:
    """Closed-form uncoded BER where one exists (AWGN: square QAM; Rayleigh with perfect CSI: QPSK)."""
    if code != "none":
        return None
    if channel == "awgn":
        return qam_ber_awgn(snr_db, modulation)
    if channel == "rayleigh" and modulation == "qpsk" and csi == "perfect":
        return qpsk_ber_rayleigh(snr_db)
    return None


@dataclass
class BerPoint:
    """Measured error rates at one SNR."""

    snr_db: float
    ber: float
    bler: float
    ber_theory: float | None
    bit_errors: int
    bits: int
    block_errors: int
    blocks: int
    channel_uses: int

    def as_dict(self) -> dict:
        return asdict(self)


def simulate_ber(
    link: DigitalLink,
    snr_db: list[float],
    num_bits: int = 200_000,
    max_bits: int = 2_000_000,
    min_block_errors: int = 100,
    seed: int = 0,
    theory: bool = True,
    progress: bool = False,
) -> list[BerPoint]:
    """Send random payloads until ``num_bits`` are counted (continuing up to ``max_bits`` while fewer
    than ``min_block_errors`` block errors were seen) at each SNR; the link's MCS must be fixed.
    ``progress``: a progress bar of the bits sent (on stderr)."""
    if link.mcs is None:
        raise ConfigError("BER simulation needs a fixed MCS (modulation and code rate)")
    if num_bits < 1 or max_bits < num_bits:
        raise ConfigError(f"need 1 <= num_bits <= max_bits, got {num_bits}, {max_bits}")
    rng = np.random.default_rng(seed)
    gen = torch.Generator().manual_seed(seed)
    chunk = _chunk_bits(link, link.mcs)
    points = []
    for snr in snr_db:
        check_snr_db(snr)
    bar = tqdm(total=num_bits * len(snr_db), unit="bit", unit_scale=True, desc="BER", disable=not progress,
               file=sys.stderr)
    for snr in snr_db:
        bar.set_postfix_str(f"{snr:g} dB")
        bit_err = bits = blk_err = blks = uses = 0
        while bits < num_bits or (blk_err < min_block_errors and bits < max_bits):
            payload = rng.integers(0, 2, chunk, dtype=np.uint8)
            out = link.transmit_bits(payload, snr, generator=gen)
            errors = out.raw_bits != payload
            bit_err += int(errors.sum())
            bits += chunk
            bar.total += max(0, bits - max(num_bits, bits - chunk))  # bits sent beyond num_bits, for block errors
            bar.update(chunk)
            blk_err += int((~out.block_ok).sum())
            blks += out.num_blocks
            uses += out.channel_uses
        ber_theory = None
        if theory:
            csi = getattr(link.channel, "csi", "perfect")
            ber_theory = closed_form_ber(link.channel_name, link.mcs.modulation, link.code, snr, csi)
        points.append(BerPoint(snr, bit_err / bits, blk_err / blks, ber_theory, bit_err, bits, blk_err, blks, uses))
    bar.close()
    return points


def _chunk_bits(link: DigitalLink, mcs: MCS) -> int:
    """Payload bits per simulation call: many full code blocks."""
    per_block = link.segment(10**6, mcs, link.resolve_code(10**6, mcs))[0]
    return 64 * (per_block[1] - per_block[0])
