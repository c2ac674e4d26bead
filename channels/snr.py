"""The one SNR convention of semcom.

SNR is Es/N0 per *complex* channel symbol, in dB, with unit average symbol energy (Es = 1).
The complex noise variance is therefore ``no = 10**(-snr_db/10)`` (``no/2`` per real dimension).
Everything that adds noise or reports an SNR goes through this module.
"""

from __future__ import annotations

import math

import torch

from semcore.errors import InputError


def check_snr_db(snr_db: float | torch.Tensor) -> None:
    """Raise InputError if an SNR (scalar or tensor, dB) is NaN or infinite."""
    if isinstance(snr_db, torch.Tensor):
        if not torch.isfinite(snr_db).all():
            raise InputError(f"SNR must be finite (dB), got {snr_db.flatten()[:8].tolist()}")
        return
    if not isinstance(snr_db, (int, float)) or isinstance(snr_db, bool):
        raise InputError(f"SNR must be a number in dB, got {snr_db!r}")
    if not math.isfinite(snr_db):
        raise InputError(f"SNR must be finite (dB), got {snr_db}")


def snr_db_to_noise_var(snr_db: float | torch.Tensor) -> float | torch.Tensor:
    """Complex noise variance N0 for Es/N0 = ``snr_db`` with Es = 1."""
    check_snr_db(snr_db)
    if isinstance(snr_db, torch.Tensor):
        return torch.pow(10.0, -snr_db / 10.0)
    return 10.0 ** (-snr_db / 10.0)


def noise_var_to_snr_db(noise_var: float) -> float:
    """Es/N0 in dB for complex noise variance ``noise_var`` and Es = 1."""
    if not noise_var > 0 or not math.isfinite(noise_var):
        raise InputError(f"noise variance must be positive and finite, got {noise_var}")
    return -10.0 * math.log10(noise_var)


def _check_rate(bits_per_symbol: int, code_rate: float) -> None:
    if bits_per_symbol < 1:
        raise InputError(f"bits per symbol must be >= 1, got {bits_per_symbol}")
    if not 0 < code_rate <= 1:
        raise InputError(f"code rate must be in (0, 1], got {code_rate}")


def ebno_db_to_snr_db(ebno_db: float, bits_per_symbol: int, code_rate: float = 1.0) -> float:
    """Es/N0 (dB) from Eb/N0 (dB): Es = Eb * bits_per_symbol * code_rate."""
    check_snr_db(ebno_db)
    _check_rate(bits_per_symbol, code_rate)
    return ebno_db + 10.0 * math.log10(bits_per_symbol * code_rate)


def snr_db_to_ebno_db(snr_db: float, bits_per_symbol: int, code_rate: float = 1.0) -> float:
    """Eb/N0 (dB) from Es/N0 (dB)."""
    check_snr_db(snr_db)
    _check_rate(bits_per_symbol, code_rate)
    return snr_db - 10.0 * math.log10(bits_per_symbol * code_rate)


def awgn_capacity(snr_db: float) -> float:
    """Shannon capacity of the complex AWGN channel, bits per complex channel use."""
    check_snr_db(snr_db)
    return math.log2(1.0 + 10.0 ** (snr_db / 10.0))
