"""Published Kodak figures of image JSCC and separation schemes (not measured here).

From ``ANCHORS.md`` section 2: PSNR (dB) on Kodak's 24 images. "≈" figures there are read off
the papers' plots. Every use labels them as published; none is a result of this project.
"""

from __future__ import annotations

#: The SNRs (dB) of the published curves.
ANCHOR_SNRS_DB = (1.0, 4.0, 7.0, 10.0, 13.0)

#: Kodak, AWGN, CBR 1/16: scheme -> PSNR at ANCHOR_SNRS_DB.
AWGN_CBR_1_16 = {
    "SwinJSCC": (29.54, 31.09, 32.27, 33.17, 33.80),
    "WITT": (29.7, 31.3, 32.6, 33.6, 34.3),
    "NTSCC": (29.0, 31.1, 32.5, 33.9, 35.5),
    "Deep JSCC": (28.1, 29.5, 30.4, 31.5, 32.1),
    "BPG + capacity-achieving code": (29.9, 31.6, 33.0, 34.5, 36.0),
}

#: Kodak, AWGN, CBR 1/16: BPG + 5G LDPC + QAM, a staircase (SNR dB, PSNR dB).
BPG_LDPC_CBR_1_16 = ((1.0, 28.5), (2.0, 29.25), (6.0, 30.25), (8.0, 32.0), (10.0, 33.3))

#: Kodak, AWGN, SNR 10 dB: PSNR against CBR.
AWGN_10DB_BY_CBR = {
    "SwinJSCC": {"1/48": 29.04, "1/24": 31.55, "1/16": 33.17, "1/12": 34.41, "1/8": 36.05},
    "Deep JSCC": {"0.021": 27.4, "0.042": 29.95, "0.083": 33.05},
}

#: Kodak, per-symbol Rayleigh fading (amplitude), CBR 1/16: scheme -> PSNR at ANCHOR_SNRS_DB.
RAYLEIGH_SYMBOL_CBR_1_16 = {
    "WITT": (28.3, 29.45, 30.25, 30.8, 31.2),
    "Deep JSCC": (26.65, 27.7, 28.35, 29.2, 29.55),
}

SOURCE = "published figures from ../shared/ANCHORS.md (papers and their repositories; not measured here)"


def published_rows(curves: dict[str, tuple[float, ...]], snrs_db=ANCHOR_SNRS_DB) -> list[dict]:
    """Curves as ``{"scheme", "snr_db", "psnr"}`` rows for :func:`semcom.plots.plot_psnr_vs_snr`."""
    return [{"scheme": name, "snr_db": snr, "psnr": psnr} for name, values in curves.items()
            for snr, psnr in zip(snrs_db, values)]
